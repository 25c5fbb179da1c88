"""Benchmark: NUTS on the seed example (wall time, diagnostics) and a coverage study.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_bayes.py [--coverage 20] [--samplers]

Part 1 samples the seed example (60 clusters x 10, two factors) with ``model.sample`` — 2 chains
x 1000 draws after 1000 tuning steps, ``cores=2`` — and prints wall time, divergences, the
largest r_hat and the smallest bulk ESS. Part 2 (``--coverage N``) simulates N data sets from
the seed design, samples each (2 x 500 draws) and reports how often the 90 % equal-tailed
intervals of the free loadings and of the latent and residual variances on both levels cover the
generating values, with a binomial 95 % interval for the rate. Part 3 (``--samplers``) samples
the seed model and a p = 20, J = 500 model side by side with ``pm.sample`` (C backend), nutpie
(Numba) and numpyro (JAX), 2 chains x 1000 draws after 1000 tuning steps (``--draws``,
``--tune``; ``--models`` picks a subset of seed,p20,naive). Per sampler: the first call (a
10-draw run: compilation and cache filling), the whole second call's wall time, the sampler's
own sampling time and the rest (model build, compilation, post-processing), ESS/s of the whole
call, the gradient evaluations (leapfrog steps; ``~`` = extrapolated from the draws) times the
backend's bare kernel cost per chain beside the sampling time; plus a naive PyMC model of the
seed CFA (non-centred cluster effects, row-wise multivariate normal likelihood) for scale.
Run it twice with fresh ``PYTENSOR_FLAGS=base_compiledir=...`` and ``NUMBA_CACHE_DIR`` to see the
cold and the on-disk-cache cost of compilation.
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


def _simulated(p, n_clusters, size, rng):
    """A two-factor CFA with p indicators (half per factor), J clusters of ``size`` rows."""
    half = p // 2
    lam = np.zeros((p, 2))
    lam[:half, 0] = np.linspace(1.0, 0.6, half)
    lam[half:, 1] = np.linspace(1.0, 0.6, p - half)
    sw = lam @ lam.T + 0.5 * np.eye(p)
    sb = 0.5 * lam @ lam.T + 0.3 * np.eye(p)
    df = pmv.simulate_twolevel(n_clusters, size, np.zeros(p), sw, sb, rng=rng)
    names = [c for c in df.columns if c != "cluster"]
    return df, {"F1": names[:half], "F2": names[half:]}


def _diagnostics(idata):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        summary = az.summary(idata, var_names=["lambda"], kind="diagnostics")
    summary = summary[np.isfinite(summary["r_hat"])]
    return float(summary["r_hat"].max()), float(summary["ess_bulk"].min())


def _best_time(f, n):
    f()
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def _kernel_costs(model):
    """Seconds per call of each backend's bare kernel (per-cluster values + gradient of the
    sum, what one logp + dlogp evaluation of the fused Op computes) at the ML estimates:
    NumPy (pm.sample's C backend calls the Op's NumPy perform), Numba (nutpie), JAX (numpyro,
    which differentiates the per-cluster values)."""
    from pm_mlvm.likelihood import numba_kernels as nk
    from pm_mlvm.likelihood.routes import ROUTES, data_arrays

    implied = model.fit().implied()
    route, data = data_arrays(model.stats)
    moments = (np.asarray(implied["mu"]), np.asarray(implied["sigma_within"]),
               np.asarray(implied["sigma_between"]))
    n = 50
    costs = {"pymc": _best_time(lambda: ROUTES[route].value_grad(*moments, *data), n)}
    if route == "sizes":
        costs["nutpie"] = _best_time(lambda: nk.complete_value_grad(*moments, *data), n)
    else:
        ones = np.ones(model.stats.n_clusters)
        costs["nutpie"] = _best_time(lambda: nk.rows_value_grad(ones, *moments, *data), n)
    try:
        import jax

        from pm_mlvm.likelihood import jax_kernels as jk
    except ImportError:
        return costs
    per_cluster = jk.PER_CLUSTER[route]
    f = jax.jit(jax.value_and_grad(lambda m, w, b: per_cluster(m, w, b, *data).sum(),
                                   argnums=(0, 1, 2)))
    costs["numpyro"] = _best_time(lambda: jax.block_until_ready(f(*moments)), n)
    return costs


def _sampling_time(idata):
    for attrs in (idata.posterior.attrs, idata.sample_stats.attrs, idata.attrs):
        if "sampling_time" in attrs:
            return float(attrs["sampling_time"])
    return float("nan")


def _gradient_evaluations(idata, draws, tune):
    """Leapfrog steps (one logp + gradient each) over tuning and draws, and whether exact:
    from the warm-up statistics when the sampler keeps them (nutpie), else the draws' mean
    steps times all iterations (tuning trajectories are often longer: a lower bound)."""
    steps = int(idata.sample_stats["n_steps"].sum())
    if "warmup_sample_stats" in idata.groups() and "n_steps" in idata.warmup_sample_stats:
        return steps + int(idata.warmup_sample_stats["n_steps"].sum()), True
    return int(round(steps * (draws + tune) / draws)), False


def sampler_run(label, data, lambda_, draws=1000, tune=1000, samplers=("pymc", "nutpie",
                                                                        "numpyro")):
    model = pmv.ml_lvm(data, lambda_, clusters="cluster")
    rows = []
    for sampler in samplers:
        kwargs = dict(chains=2, random_seed=1, nuts_sampler=sampler, progressbar=False)
        if sampler == "pymc":
            kwargs["cores"] = 2
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.sample(draws=10, tune=10, **kwargs)  # first call: compile, fill the caches
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = model.sample(draws=draws, tune=tune, **kwargs)
        wall = time.perf_counter() - t0
        sampling = _sampling_time(idata)
        rhat, ess = _diagnostics(idata)
        n_grad, exact = _gradient_evaluations(idata, draws, tune)
        rows.append((first, wall, sampling, rhat, ess, n_grad, exact))
        print(f"{label} {sampler}: first call {first:.1f} s, whole call {wall:.1f} s, "
              f"sampling {sampling:.1f} s", flush=True)
    # after the samplers, so that their first call includes the kernels' JIT compilation
    kernel = _kernel_costs(model)
    out = []
    for sampler, (first, wall, sampling, rhat, ess, n_grad, exact) in zip(samplers, rows):
        row = {"model": label, "sampler": sampler, "draws": f"2x{draws}+{tune}",
               "first call s": round(first, 1), "wall s": round(wall, 1),
               "sampling s": round(sampling, 1), "overhead s": round(wall - sampling, 1),
               "max r_hat": round(rhat, 3), "min ess": int(ess),
               "ESS/s": round(ess / wall, 1), "grad evals": f"{n_grad}{'' if exact else '~'}",
               "kernel us": round(1e6 * kernel.get(sampler, np.nan), 1),
               "kernel x evals / chain s": round(n_grad * kernel.get(sampler, np.nan) / 2, 1)}
        out.append(row)
    print(pd.DataFrame(out).to_string(index=False), flush=True)
    return out


def naive_run(draws=1000, tune=1000):
    """The seed CFA as a naive PyMC model: explicit non-centred cluster effects (latent and
    residual), within part marginalised, row-wise MvNormal likelihood."""
    import pymc as pm
    import pytensor.tensor as pt

    df = pmv.load_seed_example()
    names = [c for c in df.columns if c != "cluster"]
    y = df[names].to_numpy()
    codes, _ = pd.factorize(df["cluster"])
    n_clusters, p = codes.max() + 1, len(names)
    with pm.Model() as model:
        free = pm.Normal("lambda_free", 0.7, 1.0, shape=4)
        lam = pt.zeros((p, 2))
        lam = pt.set_subtensor(lam[[0, 3], [0, 1]], 1.0)
        lam = pt.set_subtensor(lam[[1, 2, 4, 5], [0, 0, 1, 1]], free)
        nu = pm.Normal("nu", 0, 5, shape=p)
        psi_w = pm.HalfNormal("psi_w", 1.0, shape=2)
        psi_b = pm.HalfNormal("psi_b", 1.0, shape=2)
        theta_w = pm.HalfNormal("theta_w", 1.0, shape=p)
        theta_b = pm.HalfNormal("theta_b", 1.0, shape=p)
        z_eta = pm.Normal("z_eta", 0, 1, shape=(n_clusters, 2))
        z_eps = pm.Normal("z_eps", 0, 1, shape=(n_clusters, p))
        effect = (z_eta * pt.sqrt(psi_b)) @ lam.T + z_eps * pt.sqrt(theta_b)
        sigma_w = lam @ pt.diag(psi_w) @ lam.T + pt.diag(theta_w)
        pm.MvNormal("y", mu=nu + effect[codes], cov=sigma_w, observed=y)
        pm.Deterministic("lambda", lam)
    t0 = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = pm.sample(draws=draws, tune=tune, chains=2, cores=2, random_seed=1,
                          progressbar=False)
    wall = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        summary = az.summary(idata, var_names=["lambda_free"], kind="diagnostics")
    ess = float(summary["ess_bulk"].min())
    sampling = _sampling_time(idata)
    n_grad, exact = _gradient_evaluations(idata, draws, tune)
    row = {"model": "seed, naive PyMC", "sampler": "pymc", "draws": f"2x{draws}+{tune}",
           "wall s": round(wall, 1), "sampling s": round(sampling, 1),
           "overhead s": round(wall - sampling, 1),
           "max r_hat": round(float(summary["r_hat"].max()), 3), "min ess": int(ess),
           "ESS/s": round(ess / wall, 1), "grad evals": f"{n_grad}{'' if exact else '~'}"}
    print(pd.DataFrame([row]).to_string(index=False), flush=True)
    return [row]


def samplers(models=("seed", "p20", "naive"), draws=1000, tune=1000):
    rows = []
    if "seed" in models:
        rows += sampler_run("seed 60 x 10", pmv.load_seed_example(), TWO, draws, tune)
    if "p20" in models:
        data, lam = _simulated(20, 500, 10, rng=7)
        rows += sampler_run("p=20, J=500", data, lam, draws, tune)
    if "naive" in models:
        rows += naive_run(draws, tune)
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coverage", type=int, default=0, help="number of simulated data sets")
    parser.add_argument("--samplers", action="store_true", help="pymc vs nutpie vs numpyro")
    parser.add_argument("--models", default="seed,p20,naive",
                        help="with --samplers: comma-separated subset of seed,p20,naive")
    parser.add_argument("--draws", type=int, default=1000, help="with --samplers")
    parser.add_argument("--tune", type=int, default=1000, help="with --samplers")
    args = parser.parse_args()
    if args.samplers:
        table = samplers(tuple(args.models.split(",")), args.draws, args.tune)
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print(table.to_string(index=False))
        return
    print(seed_run().to_string(index=False))
    if args.coverage:
        print(coverage(args.coverage).to_string(index=False))


if __name__ == "__main__":
    main()
