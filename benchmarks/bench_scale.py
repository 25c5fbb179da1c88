"""Benchmark: statistics of large data from parquet, Dask on a local cluster vs pandas.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_scale.py [--rows 1e6 1e7] [--pandas-max 1e6]

Writes (once, reused) 20 variables in parquet files of 500,000 rows each under ``--dir``; the
rows are in random order and every cluster's rows are spread over all files (cluster ids are
drawn per row, about 200 rows per cluster). Each measurement runs in a fresh process and
reports wall time, rows/s and that process's peak resident memory (``ru_maxrss``):

* ``dask``: ``TwoLevelStats.from_dataframe(dd.read_parquet(...))`` on a
  ``dask.distributed.LocalCluster`` (2 worker processes, 1 thread each); the peak is the
  driving process's (workers are separate processes);
* ``pandas``: ``pd.read_parquet`` of the same files, then ``from_dataframe``.

Where both ran on the same files the table says whether the two digests are equal (the Dask
route reproduces the pandas route bit for bit). Target: 10⁷ rows × 20 variables (1.6 GB in
memory) with the driver's peak below 1.6 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROWS_PER_FILE = 500_000
P = 20
ROWS_PER_CLUSTER = 200

_CHILD = r"""
import json, os, resource, sys, time, warnings
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
warnings.simplefilter("ignore")
import logging
logging.getLogger("distributed").setLevel(logging.ERROR)
import pm_mlvm as pmv
route, files = sys.argv[1], json.loads(sys.argv[2])
t0 = time.perf_counter()
if route == "dask":
    import dask.dataframe as dd
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster):
        t0 = time.perf_counter()
        st = pmv.TwoLevelStats.from_dataframe(dd.read_parquet(files), clusters="cluster")
        seconds = time.perf_counter() - t0
else:
    import pandas as pd
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    st = pmv.TwoLevelStats.from_dataframe(df, clusters="cluster")
    seconds = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(dict(seconds=seconds, peak_mb=peak_mb, digest=st.digest, n_obs=st.n_obs,
                      n_clusters=st.n_clusters, distinct_sizes=len(st.sizes))))
"""


def write_files(directory: Path, n_files: int, seed: int = 1) -> list[str]:
    """The parquet files (written once): 500,000 rows each, clusters spread over all."""
    import numpy as np
    import pandas as pd

    directory.mkdir(parents=True, exist_ok=True)
    total_files = max(n_files, 20)
    n_clusters = total_files * ROWS_PER_FILE // ROWS_PER_CLUSTER
    rng = np.random.default_rng(seed)
    effects = rng.normal(size=(n_clusters, P)) * 0.5
    loadings = rng.uniform(0.5, 1.0, size=P)
    files = []
    for k in range(n_files):
        path = directory / f"part{k:03d}.parquet"
        files.append(str(path))
        if path.exists():
            continue
        file_rng = np.random.default_rng([seed, k])
        cluster = file_rng.integers(0, n_clusters, size=ROWS_PER_FILE)
        factor = file_rng.normal(size=(ROWS_PER_FILE, 1))
        y = effects[cluster] + factor * loadings + file_rng.normal(size=(ROWS_PER_FILE, P))
        frame = pd.DataFrame(y, columns=[f"y{j + 1}" for j in range(P)])
        frame["cluster"] = cluster
        frame.to_parquet(path, index=False)
    return files


def measure(route: str, files: list[str]) -> dict:
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root), OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", _CHILD, route, json.dumps(files)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--pandas-max", type=float, default=1e6,
                        help="largest row count also run through pandas")
    parser.add_argument("--dir", default="/tmp/pm_mlvm_bench_scale")
    args = parser.parse_args(argv)
    header = (f"{'route':>6} {'rows':>9} {'files':>5} {'clusters':>8} {'data_mb':>8} "
              f"{'seconds':>8} {'rows_per_s':>10} {'peak_mb':>8} {'same_digest':>11}")
    print(header)
    for rows in args.rows:
        n_files = max(1, int(round(rows / ROWS_PER_FILE)))
        files = write_files(Path(args.dir), n_files)
        n_rows = n_files * ROWS_PER_FILE
        results = {"dask": measure("dask", files)}
        if rows <= args.pandas_max:
            results["pandas"] = measure("pandas", files)
        same = (results["dask"]["digest"] == results["pandas"]["digest"]
                if "pandas" in results else None)
        for route, r in results.items():
            print(f"{route:>6} {n_rows:>9d} {n_files:>5d} {r['n_clusters']:>8d} "
                  f"{n_rows * P * 8 / 1e6:>8.0f} {r['seconds']:>8.1f} "
                  f"{n_rows / r['seconds']:>10.0f} {r['peak_mb']:>8.0f} "
                  f"{'' if same is None else str(same):>11}", flush=True)


if __name__ == "__main__":
    main()
