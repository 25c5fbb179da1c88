"""Benchmark: full ML fit (estimates + SEs) of two-level CFAs, pm_mlvm vs lavaan, one run.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_fit.py [--repeats 3]

Cases: the seed example (60 clusters x 10, p=6, two factors) and 100 clusters of sizes
18-25. A full fit is estimates, SEs, the saturated and baseline models and every fit
measure. For pm_mlvm it reports the first fit in this process (nothing is compiled: the ML
path is NumPy) and the median fit of *new* data sets of the same shape (``bench_cold.py``
measures first fits in fresh processes). For lavaan 0.6.14 (when ``Rscript``
is on PATH) it times ``sem(model, data, cluster=)`` + ``fitMeasures()`` in-process in R (median
of repeats, loadings equal across levels), on the same data written to CSV.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

t_import = time.perf_counter()
import pm_mlvm as pmv  # noqa: E402
from _common import LAM, LAVAAN_MODEL, SIGMA_B, SIGMA_W, TWO  # noqa: E402, F401

pmv.ml_lvm  # noqa: B018 - load the ML layer now so the import is timed here
import pm_mlvm.ml.fit  # noqa: E402, F401

IMPORT_S = time.perf_counter() - t_import

R_SCRIPT = r"""
suppressMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); reps <- as.integer(args[2])
model <- readLines(args[3])
times <- replicate(reps, system.time({
  fit <<- sem(model, data = d, cluster = "cluster"); fm <<- fitMeasures(fit)})[["elapsed"]])
cat(jsonlite::toJSON(list(seconds = median(times), logl = as.numeric(logLik(fit)),
                          version = as.character(packageVersion("lavaan"))), digits = NA,
                    auto_unbox = TRUE))
"""


def _time_pm(make_data, repeats):
    df = make_data(0)
    t0 = time.perf_counter()
    fit = pmv.ml_lvm(df, TWO, clusters="cluster", estimator="ML").fit()
    fit.fit_measures()
    first = time.perf_counter() - t0
    refits = []
    for k in range(1, repeats + 1):
        other = make_data(k)
        t0 = time.perf_counter()
        pmv.ml_lvm(other, TWO, clusters="cluster", estimator="ML").fit().fit_measures()
        refits.append(time.perf_counter() - t0)
    return fit, first, float(np.median(refits))


def _time_lavaan(df, repeats):
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, model, script = (os.path.join(tmp, n) for n in ("d.csv", "m.lav", "b.R"))
        df.to_csv(csv, index=False)
        open(model, "w").write(LAVAAN_MODEL)
        open(script, "w").write(R_SCRIPT)
        out = subprocess.run(["Rscript", script, csv, str(repeats), model], capture_output=True,
                             text=True, check=False)
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1:]}
        return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cases = {
        "seed example 60 x 10": lambda k: pmv.simulate_twolevel(
            60, 10, np.zeros(6), SIGMA_W, SIGMA_B, rng=100 + k),
        "100 clusters, sizes 18-25": lambda k: pmv.simulate_twolevel(
            100, (18, 25), np.zeros(6), SIGMA_W, SIGMA_B, rng=200 + k),
    }
    rows = []
    for label, make in cases.items():
        fit, first, refit = _time_pm(make, args.repeats)
        lav = _time_lavaan(make(0), args.repeats)
        lav_s = lav.get("seconds") if isinstance(lav, dict) else None
        rows.append({
            "case": label, "N": fit.stats.n_obs, "J": fit.stats.n_clusters,
            "pm_mlvm first fit s": round(first, 3), "pm_mlvm refit s": round(refit, 3),
            "lavaan sem()+fitMeasures() s": (
                round(lav_s, 3) if lav_s is not None
                else "Rscript not found" if lav is None else f"error: {lav.get('error')}"),
            "logl pm_mlvm": round(fit.logl, 4),
            "logl lavaan": round(lav["logl"], 4) if lav_s is not None else None,
        })
    print(f"\nimport pm_mlvm: {IMPORT_S:.2f} s")
    print("Full ML fit = estimates + expected-information SEs + saturated and baseline models + "
          "all fit measures "
          f"(median of {args.repeats} refits on new data of the same shape)")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
