"""Benchmark: one log-likelihood + gradient evaluation, fused Op vs reference graph, and the
cost of computing the statistics for large data.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_loglik.py [--quick]

Prints a table. Evaluation timings are the minimum over repeated calls of a compiled
``pytensor.function([mu, Sigma_W, Sigma_B], [logp, *grads])`` (trust_input). Each problem is
timed at two sizes of N with the same distinct cluster sizes (10x the rows): the Op's cost
must not grow with N. The statistics
timing builds ``TwoLevelStats`` from a 1,000,000-row DataFrame and reports peak memory
(tracemalloc) relative to the data size.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

import pm_mlvm as pmv  # noqa: E402
from pm_mlvm.graph import ops  # noqa: E402
from pm_mlvm.graph.reference import reference_loglik  # noqa: E402


def _data(rng, p, k_sizes, per_size, n_scale=1):
    sizes = np.repeat(np.arange(2, 2 + k_sizes) * n_scale, per_size)
    cl = np.repeat(np.arange(len(sizes)), sizes)
    y = rng.normal(size=(len(cl), p)) + np.repeat(rng.normal(size=(len(sizes), p)), sizes, 0)
    return pmv.TwoLevelStats.from_arrays(y, cl)


def _time(f, args, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        f(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def bench_eval(p, k_sizes, repeat, reference_mode="FAST_RUN"):
    rng = np.random.default_rng(1)
    rows = []
    for n_scale in (1, 10):  # same number of sizes, 10x the rows
        stats = _data(rng, p, k_sizes, 3, n_scale)
        mu, sw, sb = pt.dvector("mu"), pt.dmatrix("sw"), pt.dmatrix("sb")
        args = (np.zeros(p), np.eye(p), 0.5 * np.eye(p))
        variants = [("fused Op", ops.loglik(stats, mu, sw, sb), "FAST_RUN")]
        if reference_mode and n_scale == 1:
            variants.append((f"reference graph ({reference_mode})",
                             reference_loglik(stats, mu, sw, sb), reference_mode))
        for label, logp, mode in variants:
            if mode == "PY_UNOPTIMISED":
                mode = pytensor.compile.mode.Mode(linker="py", optimizer=None)
            t0 = time.perf_counter()
            f = pytensor.function([mu, sw, sb], [logp, *pytensor.grad(logp, [mu, sw, sb])],
                                  trust_input=True, mode=mode)
            compile_s = time.perf_counter() - t0
            f(*args)
            rows.append(dict(p=p, sizes=k_sizes, N=stats.n_obs, variant=label,
                             compile_s=round(compile_s, 2),
                             eval_ms=round(1e3 * _time(f, args, repeat), 3)))
    return rows


def bench_stats(n_rows, p, n_clusters):
    rng = np.random.default_rng(2)
    cl = rng.integers(0, n_clusters, size=n_rows)
    y = rng.normal(size=(n_rows, p)) + rng.normal(size=(n_clusters, p))[cl]
    df = pd.DataFrame(y, columns=[f"y{k}" for k in range(p)])
    df["cluster"] = cl
    data_mb = df.memory_usage(deep=True).sum() / 2**20
    tracemalloc.start()
    t0 = time.perf_counter()
    stats = pmv.TwoLevelStats.from_dataframe(df, clusters="cluster")
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    args = (np.zeros(p), np.eye(p), 0.5 * np.eye(p))
    t0 = time.perf_counter()
    pmv.twolevel_loglik_grad(stats, *args)
    eval_s = time.perf_counter() - t0
    return dict(rows=n_rows, p=p, clusters=stats.n_clusters, distinct_sizes=len(stats.sizes),
                stats_s=round(seconds, 2), peak_mb=round(peak / 2**20, 1),
                data_mb=round(data_mb, 1), peak_over_data=round(peak / 2**20 / data_mb, 2),
                loglik_grad_ms=round(1e3 * eval_s, 2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller problems, fewer repeats")
    args = parser.parse_args()
    repeat = 20 if args.quick else 200
    rows = bench_eval(6, 10, repeat)
    # the reference graph unrolls one Cholesky per size: at p=30 with 50 sizes its C compile
    # runs for more than 20 minutes, so it is timed with the Python linker and no graph
    # rewrites there (PyTensor's fused n-ary Add also breaks NumPy's 32-argument ufunc limit)
    rows += bench_eval(30, 50, max(5, repeat // 10), reference_mode="PY_UNOPTIMISED")
    print("\nOne logp + gradient evaluation (minimum over repeats)")
    print(pd.DataFrame(rows).to_string(index=False))
    n_rows = 100_000 if args.quick else 1_000_000
    n_cl = 1_000 if args.quick else 10_000
    print("\nStatistics from a DataFrame (target: 1e6 rows x 20 vars x 1e4 clusters in < 5 s)")
    print(pd.DataFrame([bench_stats(n_rows, 20, n_cl)]).to_string(index=False))


if __name__ == "__main__":
    main()
