"""Benchmark: cold and repeat ML fits vs lavaan, measured side by side in one run.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_cold.py [--repeats 5] [--large]

Figures (each the median of ``--repeats`` runs):

1. **First full fit in a fresh process** (``python -c``: import pandas, read the CSV, import
   pm_mlvm, build the model, fit, SEs, fit measures), timed inside the process three ways:
   *with pandas* — from before ``import pandas`` (so numpy's and pandas' imports and the CSV
   read are included); *pm_mlvm only* — from after ``pd.read_csv`` (the data are in a
   DataFrame, as for a user who passes one: ``import pm_mlvm``, its own imports, the fit and
   the fit measures); and as the whole process. lavaan: ``sem()`` + ``fitMeasures()`` of the
   same data timed inside R after ``library(lavaan)`` and ``read.csv`` (lavaan's in-process
   time: its package load is *not* counted, while pm_mlvm's import is), and the whole
   ``Rscript`` process (load lavaan, read the CSV, fit, fit measures). pm_mlvm and R runs
   alternate (A B A B …) so that drift in the machine's load hits both.
2. **``pm-mlvm fit`` as a whole process** (the console script next to the interpreter, else
   ``python -m pm_mlvm.cli``) vs the same ``Rscript``.
3. **Repeat fits** of the seed model on new data in one process (estimates + SEs), vs lavaan's
   ``sem()`` per data set.
4. With ``--large``: p = 20, q = 4, 2·10⁵ rows in 2,000 clusters (first fit + fit measures in a
   fresh process, vs lavaan on the same data), and 10⁶ rows × 20 variables × 10⁴ clusters
   (statistics + fit + fit measures, and the process's peak memory).

Every timing is the median of the runs, with the range (min–max) beside it. Before timing,
pm_mlvm's bytecode is compiled (``compileall``), as ``pip install`` does: with
``PYTHONDONTWRITEBYTECODE`` set and no ``__pycache__``, every fresh process would compile
pm_mlvm's sources again (≈ 60 ms), a cost no installed copy has.

lavaan columns are blank when ``Rscript`` is not on PATH.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import LAVAAN_MODEL, SIGMA_B, SIGMA_W  # noqa: E402

TWO = "{'F1': ['y1', 'y2', 'y3'], 'F2': ['y4', 'y5', 'y6']}"

PM_FIRST_FIT = r"""
import time, sys
t0 = time.perf_counter()
import pandas as pd
data = pd.read_csv(sys.argv[1])
t1 = time.perf_counter()
import pm_mlvm as pmv
lam = eval(sys.argv[2])
fit = pmv.ml_lvm(data, lambda_=lam, clusters="cluster", estimator="ML").fit()
fm = fit.fit_measures()
t2 = time.perf_counter()
print(t2 - t0, t2 - t1, fit.logl, fm["chisq"])
"""

R_FIRST_FIT = r"""
t_all <- proc.time()[["elapsed"]]
suppressMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); model <- readLines(args[2])
t0 <- proc.time()[["elapsed"]]
fit <- sem(model, data = d, cluster = "cluster"); fm <- fitMeasures(fit)
t1 <- proc.time()[["elapsed"]]
cat(t1 - t0, as.numeric(logLik(fit)), fm[["chisq"]], t1 - t_all, "\n")
"""

R_REPEAT = r"""
suppressMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
model <- readLines(args[1]); files <- args[-1]
fit <- sem(model, data = read.csv(files[1]), cluster = "cluster")  # warm
times <- sapply(files, function(f) { d <- read.csv(f)
  system.time(sem(model, data = d, cluster = "cluster"))[["elapsed"]] })
cat(median(times), "\n")
"""


def _lavaan_model(p, q):
    if p == 6:
        return LAVAAN_MODEL
    per = p // q
    lines = []
    for level in (1, 2):
        lines.append(f"level: {level}")
        for k in range(q):
            items = [f"y{k * per + i + 1}" for i in range(per)]
            terms = [items[0]] + [f"l{k}_{i}*{v}" for i, v in enumerate(items[1:], 1)]
            lines.append(f"  F{k + 1} =~ " + " + ".join(terms))
    return "\n".join(lines) + "\n"


def _lambda_text(p, q):
    if p == 6:
        return TWO
    per = p // q
    return repr({f"F{k + 1}": [f"y{k * per + i + 1}" for i in range(per)] for k in range(q)})


def _run(cmd, env=None):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {out.stderr[-500:]}")
    return wall, out.stdout


def _median(values):
    return float(np.median(values)) if values else float("nan")


def _spread(values):
    return f"{min(values):.3f}-{max(values):.3f}" if values else ""


def _add(row, name, values):
    row[name] = _median(values)
    row[name.replace(" s", " range s")] = _spread(values)


def _compile_bytecode():
    """Compile pm_mlvm's bytecode, as an install does (see the module docstring)."""
    import pm_mlvm

    compileall.compile_dir(os.path.dirname(pm_mlvm.__file__), quiet=1)


def first_fit(csv, p, q, repeats, tmp):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    have_r = shutil.which("Rscript") is not None
    if have_r:
        model = os.path.join(tmp, f"m{p}.lav")
        script = os.path.join(tmp, "first.R")
        open(model, "w").write(_lavaan_model(p, q))
        open(script, "w").write(R_FIRST_FIT)
    inside, own, whole, lav_in, lav_whole = [], [], [], [], []
    row = {}
    for _ in range(repeats):  # alternate pm_mlvm and R runs
        wall, out = _run([sys.executable, "-c", PM_FIRST_FIT, csv, _lambda_text(p, q)], env)
        vals = list(map(float, out.split()))
        inside.append(vals[0])
        own.append(vals[1])
        whole.append(wall)
        row["pm logl"], row["pm chisq"] = vals[2], vals[3]
        if have_r:
            wall, out = _run(["Rscript", script, csv, model])
            vals = list(map(float, out.split()))
            lav_in.append(vals[0])
            lav_whole.append(wall)
            row["lavaan logl"], row["lavaan chisq"] = vals[1], vals[2]
    _add(row, "pm with pandas s", inside)
    _add(row, "pm_mlvm only s", own)
    _add(row, "pm process s", whole)
    if have_r:
        _add(row, "lavaan in-process s", lav_in)
        _add(row, "lavaan Rscript s", lav_whole)
        row.update({"ratio with pandas": row["pm with pandas s"] / _median(lav_in),
                    "ratio pm_mlvm only": row["pm_mlvm only s"] / _median(lav_in),
                    "ratio process": row["pm process s"] / _median(lav_whole)})
    return row


def _cli_command(csv):
    here = os.path.join(os.path.dirname(sys.executable), "pm-mlvm")
    exe = here if os.path.exists(here) else shutil.which("pm-mlvm")
    return ([exe] if exe else [sys.executable, "-m", "pm_mlvm.cli"]) + [
        "fit", csv, "--clusters", "cluster", "--factor", "F1=y1,y2,y3", "--factor",
        "F2=y4,y5,y6"]


def cli_fit(csv, repeats, tmp):
    """``pm-mlvm fit`` and the lavaan ``Rscript`` as whole processes, alternating."""
    cmd = _cli_command(csv)
    times, r_times = [], []
    script, model = os.path.join(tmp, "first.R"), os.path.join(tmp, "m6.lav")
    have_r = shutil.which("Rscript") is not None and os.path.exists(script)
    if have_r:
        open(model, "w").write(LAVAAN_MODEL)
    for _ in range(repeats):
        times.append(_run(cmd)[0])
        if have_r:
            r_times.append(_run(["Rscript", script, csv, model])[0])
    row = {}
    _add(row, "pm-mlvm fit process s", times)
    if have_r:
        _add(row, "Rscript process s", r_times)
        row["ratio"] = _median(times) / _median(r_times)
    return row


def repeat_fits(repeats, tmp):
    import pm_mlvm as pmv

    lam = eval(TWO)
    frames = [pmv.simulate_twolevel(60, 10, np.zeros(6), SIGMA_W, SIGMA_B, rng=300 + k)
              for k in range(repeats + 1)]
    pmv.ml_lvm(frames[0], lam, clusters="cluster").fit()  # warm: imports, caches
    times = []
    for frame in frames[1:]:
        t0 = time.perf_counter()
        pmv.ml_lvm(frame, lam, clusters="cluster").fit()
        times.append(time.perf_counter() - t0)
    row = {"pm repeat fit s": _median(times)}
    if shutil.which("Rscript"):
        files = []
        for k, frame in enumerate(frames):
            path = os.path.join(tmp, f"rep{k}.csv")
            frame.to_csv(path, index=False)
            files.append(path)
        model = os.path.join(tmp, "m6.lav")
        open(model, "w").write(LAVAAN_MODEL)
        script = os.path.join(tmp, "repeat.R")
        open(script, "w").write(R_REPEAT)
        row["lavaan sem() s"] = float(_run(["Rscript", script, model, *files])[1].split()[0])
        row["ratio"] = row["pm repeat fit s"] / row["lavaan sem() s"]
    return row


def _factor_design(p, q, n_clusters, size, rng):
    import pm_mlvm as pmv

    per = p // q
    lam = np.zeros((p, q))
    for k in range(q):
        lam[k * per:(k + 1) * per, k] = np.linspace(1.0, 0.6, per)
    psi_w = 0.3 + 0.7 * np.eye(q)
    sw = lam @ psi_w @ lam.T + 0.5 * np.eye(p)
    sb = lam @ (0.5 * psi_w) @ lam.T + 0.2 * np.eye(p)
    return pmv.simulate_twolevel(n_clusters, size, np.zeros(p), sw, sb, rng=rng)


def huge(repeats):
    """10⁶ rows × 20 variables × 10⁴ clusters, in a fresh process: time and peak memory."""
    code = r"""
import time, resource, numpy as np
t0 = time.perf_counter()
import pm_mlvm as pmv
rng = np.random.default_rng(1)
p, q, J = 20, 4, 10000
sizes = rng.integers(50, 151, size=J); sizes = (sizes * (10**6 / sizes.sum())).astype(int)
lam = np.zeros((p, q))
for k in range(q): lam[5*k:5*k+5, k] = np.linspace(1.0, 0.6, 5)
sw = lam @ (0.3 + 0.7*np.eye(q)) @ lam.T + 0.5*np.eye(p)
sb = lam @ (0.15 + 0.35*np.eye(q)) @ lam.T + 0.2*np.eye(p)
df = pmv.simulate_twolevel(J, sizes, np.zeros(p), sw, sb, rng=2)
t1 = time.perf_counter()
stats = pmv.TwoLevelStats.from_dataframe(df, clusters="cluster")
t2 = time.perf_counter()
model = pmv.ml_lvm(stats, lambda_={f"F{k+1}": [f"y{5*k+i+1}" for i in range(5)] for k in range(q)})
fit = model.fit()
t3 = time.perf_counter()
fm = fit.fit_measures()
t4 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(len(df), t2 - t1, t3 - t2, t4 - t3, t4 - t1, peak, df.memory_usage().sum() / 2**20,
      fit.converged)
"""
    rows = []
    for _ in range(repeats):
        out = _run([sys.executable, "-c", code])[1].split()
        rows.append(out)
    vals = np.array([[float(x) for x in r[:-1]] for r in rows])
    med = np.median(vals, axis=0)
    return {"rows": int(med[0]), "statistics s": med[1], "fit s": med[2],
            "fit measures s": med[3], "total s": med[4], "peak MB": med[5],
            "data MB": med[6], "converged": rows[-1][-1]}


def scaling():
    """Fit + fit measures (in-process, after a warm-up) over a grid of p, J and cluster size."""
    import pm_mlvm as pmv

    rows = []
    rng = np.random.default_rng(11)
    for p, q in ((6, 2), (12, 3), (20, 4)):
        for n_clusters in (100, 1000):
            for size in (10, 50):
                frame = _factor_design(p, q, n_clusters, size, rng)
                lam = eval(_lambda_text(p, q))
                t0 = time.perf_counter()
                stats = pmv.TwoLevelStats.from_dataframe(frame, clusters="cluster")
                t1 = time.perf_counter()
                fit = pmv.ml_lvm(stats, lam).fit()
                t2 = time.perf_counter()
                fit.fit_measures()
                t3 = time.perf_counter()
                rows.append({"p": p, "J": n_clusters, "n per cluster": size, "N": len(frame),
                             "statistics s": t1 - t0, "fit s": t2 - t1,
                             "fit measures s": t3 - t2, "converged": fit.converged})
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--large", action="store_true")
    args = parser.parse_args()
    _compile_bytecode()
    import pm_mlvm as pmv

    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        cases = {"seed example 60 x 10 (shipped data)": (pmv.load_seed_example(), 6, 2),
                 "100 clusters, sizes 18-25": (pmv.simulate_twolevel(
                     100, (18, 25), np.zeros(6), SIGMA_W, SIGMA_B, rng=rng), 6, 2),
                 "100 clusters, sizes 1-39": (pmv.simulate_twolevel(
                     100, (1, 39), np.zeros(6), SIGMA_W, SIGMA_B, rng=rng), 6, 2)}
        if args.large:
            cases["p=20, q=4, 2e5 rows, 2000 clusters"] = (
                _factor_design(20, 4, 2000, (50, 150), rng), 20, 4)
        rows = []
        for label, (frame, p, q) in cases.items():
            csv = os.path.join(tmp, f"{len(rows)}.csv")
            frame.to_csv(csv, index=False)
            row = {"case": label, "N": len(frame)}
            row.update(first_fit(csv, p, q, args.repeats if p == 6 else 1, tmp))
            if len(rows) == 0:
                cli = cli_fit(csv, args.repeats, tmp)
            rows.append(row)
        table = pd.DataFrame(rows).set_index("case").T
        print("First full fit (estimates, SEs, saturated + baseline, all fit measures), "
              f"median (range) of {args.repeats} fresh processes")
        print(table.to_string(float_format=lambda v: f"{v:.4g}"))
        print("\n`pm-mlvm fit` on the seed example vs Rscript (lavaan), whole processes")
        print(pd.Series(cli).to_string(float_format=lambda v: f"{v:.4g}"))
        print("\nRepeat fits of the seed model on new data (estimates + SEs), one process")
        print(pd.Series(repeat_fits(args.repeats, tmp)).to_string(float_format=lambda v:
                                                                     f"{v:.4g}"))
    print("\nScaling: statistics, fit (estimates + SEs) and fit measures, in-process")
    print(scaling().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.large:
        print("\n10^6 rows x 20 variables x 10^4 clusters (fresh process)")
        print(pd.Series(huge(1)).to_string())
    print(json.dumps({"python": sys.version.split()[0], "pm_mlvm": pmv.__version__}))


if __name__ == "__main__":
    main()
