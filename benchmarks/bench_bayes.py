"""Benchmark: NUTS on the seed example (wall time, diagnostics) and a coverage study.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_bayes.py [--coverage 20]

Part 1 samples the seed example (60 clusters x 10, two factors) with ``model.sample`` —
2 chains x 1000 draws after 1000 tuning steps, ``cores=2`` — and prints wall time, divergences,
the largest r_hat and the smallest bulk ESS. Part 2 (``--coverage N``) simulates N data sets
from the seed design, samples each (2 x 500 draws) and reports how often the 90 % equal-tailed
intervals of the free loadings and of the latent and residual variances on both levels cover
the generating values, with a binomial 95 % interval for the rate.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import TWO  # noqa: E402
from scipy import stats as sps  # noqa: E402

import pm_mlvm as pmv  # noqa: E402

TRUTH = {  # matrix -> {(row, col): value} for the checked cells
    "lambda": {("y2", "F1"): 0.8, ("y3", "F1"): 0.6, ("y5", "F2"): 0.8, ("y6", "F2"): 0.6},
    "sigma_zeta_within": {("F1", "F1"): 1.0, ("F2", "F2"): 1.0},
    "sigma_zeta_between": {("F1", "F1"): 0.5, ("F2", "F2"): 0.5},
    "sigma_epsilon_within": {(f"y{k}", f"y{k}"): 0.5 for k in range(1, 7)},
    "sigma_epsilon_between": {(f"y{k}", f"y{k}"): 0.3 for k in range(1, 7)},
}


def seed_run():
    model = pmv.ml_lvm(pmv.load_seed_example(), TWO, clusters="cluster")
    t0 = time.perf_counter()
    idata = model.sample(draws=1000, tune=1000, chains=2, random_seed=1, cores=2)
    wall = time.perf_counter() - t0
    with warnings.catch_warnings():  # fixed (constant) cells have no r_hat
        warnings.simplefilter("ignore", RuntimeWarning)
        summary = az.summary(idata, var_names=list(TRUTH) + ["nu"])
    summary = summary[summary["sd"] > 0]
    return pd.DataFrame([{
        "model": "seed example 60 x 10", "chains x draws": "2 x 1000", "wall s": round(wall, 1),
        "divergences": int(idata.sample_stats["diverging"].sum()),
        "max r_hat": summary["r_hat"].max(), "min ess_bulk": int(summary["ess_bulk"].min()),
    }])


def coverage(n_sets: int):
    hits = []
    for k in range(n_sets):
        data = pmv.simulate_seed_design(rng=1000 + k)
        model = pmv.ml_lvm(data, TWO, clusters="cluster")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = model.sample(draws=500, tune=700, chains=2, random_seed=k, cores=2)
        for name, cells in TRUTH.items():
            var = idata.posterior[name]
            for (r, c), true in cells.items():
                draws = var.sel({var.dims[2]: r, var.dims[3]: c}).to_numpy().reshape(-1)
                lo, hi = np.quantile(draws, [0.05, 0.95])
                hits.append(lo <= true <= hi)
        print(f"data set {k + 1}/{n_sets}: running coverage {np.mean(hits):.3f}", flush=True)
    hits = np.array(hits)
    n, x = len(hits), int(hits.sum())
    lo, hi = sps.beta.ppf(0.025, x, n - x + 1), sps.beta.ppf(0.975, x + 1, n - x)
    return pd.DataFrame([{"data sets": n_sets, "intervals": n, "coverage": x / n,
                          "95% CI low": lo, "95% CI high": hi}])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coverage", type=int, default=0, help="number of simulated data sets")
    args = parser.parse_args()
    print(seed_run().to_string(index=False))
    if args.coverage:
        print(coverage(args.coverage).to_string(index=False))


if __name__ == "__main__":
    main()
