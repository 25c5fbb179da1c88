"""Benchmark: the ML (per-size statistics) and FIML (cluster-wise rows) estimators, and ML with
10 % missing cells against lavaan's ``missing = "ml"``, in one run.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_estimators.py [--repeats 3]

Times full fits (estimates + SEs + reference models + fit measures) on 100 clusters of sizes
18-25 (psychonetrics reports < 1 s for its ML versus ~90 s for its wide-format FIML there).
Each pm_mlvm time is the median over fits of new data sets of the same shape, after one
warm-up fit that compiles the model's functions. pm_mlvm's FIML evaluates each cluster's
stacked vector through the Woodbury identity (cost linear in the cluster size), not psychonetrics'
wide (pT)³ covariance, so the ML/FIML ratio here is far smaller than psychonetrics'.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import warnings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import pm_mlvm as pmv  # noqa: E402
from _common import LAM, LAVAAN_MODEL, SIGMA_B, SIGMA_W, TWO  # noqa: E402, F401

R_SCRIPT = r"""
suppressMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); reps <- as.integer(args[2]); model <- readLines(args[3])
times <- replicate(reps, system.time({
  fit <<- sem(model, data = d, cluster = "cluster", missing = "ml"); fm <<- fitMeasures(fit)
})[["elapsed"]])
cat(jsonlite::toJSON(list(seconds = median(times), logl = as.numeric(logLik(fit))),
                     digits = NA, auto_unbox = TRUE))
"""


def make_data(seed, missing=0.0):
    df = pmv.simulate_twolevel(100, (18, 25), np.zeros(6), SIGMA_W, SIGMA_B, rng=seed)
    if missing:
        rng = np.random.default_rng(seed + 1)
        cols = [f"y{k}" for k in range(1, 7)]
        mask = rng.random((len(df), 6)) < missing
        mask[mask.all(axis=1), 0] = False
        df[cols] = df[cols].mask(mask)
    return df


def full_fit(df, estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pmv.ml_lvm(df, TWO, clusters="cluster", estimator=estimator).fit(
            information="observed" if df.isna().any().any() else "expected")
        fit.fit_measures()
    return fit


def timed(estimator, missing, repeats):
    full_fit(make_data(1, missing), estimator)  # warm-up: compile
    times, fit = [], None
    for k in range(repeats):
        df = make_data(10 + k, missing)
        t0 = time.perf_counter()
        fit = full_fit(df, estimator)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), fit


def lavaan_missing(df, repeats):
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, n) for n in ("d.csv", "m.lav", "b.R")]
        df.to_csv(paths[0], index=False)
        open(paths[1], "w").write(LAVAAN_MODEL)
        open(paths[2], "w").write(R_SCRIPT)
        out = subprocess.run(["Rscript", paths[2], paths[0], str(repeats), paths[1]],
                             capture_output=True, text=True, check=False)
        return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-300:]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    ml_s, ml_fit = timed("ML", 0.0, args.repeats)
    fiml_s, fiml_fit = timed("FIML", 0.0, args.repeats)
    rows.append(dict(data="complete, 100 clusters of 18-25", estimator="ML", seconds=ml_s))
    rows.append(dict(data="complete, 100 clusters of 18-25", estimator="FIML", seconds=fiml_s))
    miss_s, miss_fit = timed("ML", 0.10, args.repeats)
    rows.append(dict(data="10% MCAR cells", estimator="ML (per-cluster)", seconds=miss_s))
    lav = lavaan_missing(make_data(10 + args.repeats - 1, 0.10), args.repeats)
    if lav is None:
        rows.append(dict(data="10% MCAR cells", estimator="lavaan missing='ml'",
                         seconds="Rscript not found"))
    elif "error" in lav:
        rows.append(dict(data="10% MCAR cells", estimator="lavaan missing='ml'",
                         seconds=f"error: {lav['error']}"))
    else:
        rows.append(dict(data="10% MCAR cells", estimator="lavaan missing='ml' + fitMeasures",
                         seconds=lav["seconds"]))
        print(f"same data, logL pm_mlvm {miss_fit.logl:.4f} vs lavaan {lav['logl']:.4f}")
    table = pd.DataFrame(rows)
    print("\nFull fits (estimates, SEs, reference models, fit measures); median of "
          f"{args.repeats} new data sets")
    print(table.to_string(index=False))
    print(f"\nML is {fiml_s / ml_s:.1f}x faster than FIML on complete data; "
          f"logL ML {ml_fit.logl:.6f} vs FIML {fiml_fit.logl:.6f} (last data set)")


if __name__ == "__main__":
    main()
