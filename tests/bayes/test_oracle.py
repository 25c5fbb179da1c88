"""Oracles for the Bayesian path (slow): the ready model against an independent PyMC model of
the same two-level CFA, and simulation-based calibration of the ready model.

Run: ``OPENBLAS_NUM_THREADS=1 python -m pytest -m slow -s tests/bayes/test_oracle.py``
(each test prints its wall time and statistics).
"""

import time
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import pytest
from scipy import stats as sps

import pm_mlvm as pmv
from pm_mlvm.bayes.sample import bayesian_model
from pm_mlvm.graph.ops import data_arrays

TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}
LOADINGS = ["y2,F1", "y3,F1", "y5,F2", "y6,F2"]
PSI_CELLS = ["F1,F1", "F2,F1", "F2,F2"]


def _independent_seed_model(df: pd.DataFrame) -> pm.Model:
    """The seed two-level CFA written the usual way: explicit (non-centred) between-cluster
    latent and residual effects per cluster, the within part a row-wise MvNormal; priors
    as documented in ``pm_mlvm.bayes.priors`` (scales from the data: mean m, sd s and
    variance v of each variable, v̄ their mean variance)."""
    names = [c for c in df.columns if c != "cluster"]
    y = df[names].to_numpy()
    codes, _ = pd.factorize(df["cluster"])
    n_clusters, p = codes.max() + 1, len(names)
    m, s = y.mean(axis=0), y.std(axis=0, ddof=1)
    v = s**2
    v_bar = v.mean()
    with pm.Model() as model:
        nu = pm.Normal("nu", m, 2 * s)                        # Normal(m, 2 s)
        free = pm.Normal("lambda_free", 0.0, 2.0, shape=4)    # Normal(0, 2)
        lam = pt.zeros((p, 2))
        lam = pt.set_subtensor(lam[[0, 3], [0, 1]], 1.0)
        lam = pt.set_subtensor(lam[[1, 2, 4, 5], [0, 0, 1, 1]], free)
        chols = {}
        for level in ("within", "between"):                   # Ψ = L L', LKJ(2), HalfNormal(2√v̄)
            packed = pm.LKJCholeskyCov(f"chol_{level}", n=2, eta=2.0, compute_corr=False,
                                       sd_dist=pm.HalfNormal.dist(2 * np.sqrt(v_bar), size=2))
            chols[level] = pm.expand_packed_triangular(2, packed, lower=True)
            psi = chols[level] @ chols[level].T
            pm.Deterministic(f"psi_{level}", pt.stack([psi[0, 0], psi[1, 0], psi[1, 1]]))
        theta_w = pm.HalfNormal("theta_w", 2 * v)             # HalfNormal(2 v) on variances
        theta_b = pm.HalfNormal("theta_b", 2 * v)
        z_eta = pm.Normal("z_eta", 0.0, 1.0, shape=(n_clusters, 2))
        z_eps = pm.Normal("z_eps", 0.0, 1.0, shape=(n_clusters, p))
        effect = (z_eta @ chols["between"].T) @ lam.T + z_eps * pt.sqrt(theta_b)
        sigma_w = lam @ (chols["within"] @ chols["within"].T) @ lam.T + pt.diag(theta_w)
        pm.MvNormal("y", mu=nu + effect[codes], cov=sigma_w, observed=y)
        pm.Deterministic("lambda", free)
    return model


def _mean_sd_mcse(draws: np.ndarray):
    """(mean, sd, MCSE of the mean, MCSE of the sd) of (chain, draw) draws. The sd's MCSE is
    the delta method on the MCSE of the mean of the squared deviations (ArviZ's
    ``method="sd"`` fails on this NumPy)."""
    mean, sd = float(draws.mean()), float(draws.std())

    def mcse(x):
        return float(az.mcse(az.convert_to_dataset(np.asarray(x)), method="mean")["x"])

    return mean, sd, mcse(draws), mcse((draws - mean) ** 2) / (2 * sd)


def compare_with_independent_model(draws=2000, tune=1000, chains=2):
    """(table of means / sds with z-scores, divergences, wall times)."""
    df = pmv.load_seed_example()
    kwargs = dict(draws=draws, tune=tune, chains=chains, cores=1, progressbar=False,
                  target_accept=0.9)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ready = pmv.ml_lvm(df, TWO, clusters="cluster").sample(random_seed=11, **kwargs)
    t_ready = time.perf_counter() - t0
    with _independent_seed_model(df), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = pm.sample(random_seed=12, **kwargs)
    t_other = time.perf_counter() - t0 - t_ready
    post_a, post_b = ready.posterior, other.posterior
    pairs = [(f"lambda {c}", post_a["lambda"].sel(lambda_cell=c).values,
              post_b["lambda"].values[..., k]) for k, c in enumerate(LOADINGS)]
    for level in ("within", "between"):
        name = f"sigma_zeta_{level}"
        pairs += [(f"{name} {c}", post_a[name].sel({f"{name}_cell": c}).values,
                   post_b[f"psi_{level}"].values[..., k]) for k, c in enumerate(PSI_CELLS)]
    rows = []
    for label, a, b in pairs:
        ma, sa, ea, esa = _mean_sd_mcse(a)
        mb, sb, eb, esb = _mean_sd_mcse(b)
        rows.append({"parameter": label, "mean ready": ma, "mean independent": mb,
                     "z mean": (ma - mb) / np.hypot(ea, eb), "sd ready": sa,
                     "sd independent": sb, "z sd": (sa - sb) / np.hypot(esa, esb)})
    table = pd.DataFrame(rows)
    n_div = int(other.sample_stats["diverging"].sum()) + int(
        ready.sample_stats["diverging"].sum())
    return table, n_div, t_ready, t_other


@pytest.mark.slow
def test_ready_model_posterior_equals_an_independent_explicit_effects_model():
    table, n_div, t_ready, t_other = compare_with_independent_model()
    print(f"\nwall: ready {t_ready:.0f} s, independent {t_other:.0f} s; divergences {n_div}")
    print(table.round(3).to_string(index=False))
    # 20 comparisons: |z| < 4 for each keeps the family-wise false-alarm rate near 0.1 %
    assert table["z mean"].abs().max() < 4.0
    assert table["z sd"].abs().max() < 4.0
    # and the comparison has power: the MC error is small relative to the posterior sd
    assert (table["sd ready"] > 0).all()


def _sbc_model(rng):
    """One-factor, p = 3, 12 clusters of 4: the ready model on a pilot data set (its default
    priors are then fixed constants) with the statistics in shared variables."""
    pilot = pmv.simulate_twolevel(12, 4, np.zeros(3), np.eye(3) + 0.5, 0.5 * np.eye(3) + 0.2,
                                  rng=rng)
    mlvm = pmv.ml_lvm(pilot, {"F": ["y1", "y2", "y3"]}, clusters="cluster")
    return mlvm, bayesian_model(mlvm, shared_statistics=True)


def simulation_based_calibration(n_sims=100, tune=300, draws=400, thin=4):
    """Ranks of the true values among thinned posterior draws, for n_sims prior draws."""
    rng = np.random.default_rng(2026)
    mlvm, built = _sbc_model(rng)
    model = built.model
    free = [name for name, mat in mlvm.spec.matrices.items() if mat.n_free]
    values = [f"{name}__values" for name in free]
    t0 = time.perf_counter()
    with model:
        prior = pm.sample_prior_predictive(draws=n_sims, var_names=values + ["y"],
                                           random_seed=rng)
        step = pm.NUTS(target_accept=0.9)  # compiled once; the data are swapped below
    codes = np.repeat(np.arange(12), 4)
    ranks = {}
    for i in range(n_sims):
        y = prior.prior_predictive["y"].values[0, i]
        stats = pmv.TwoLevelStats.from_arrays(y, codes, route=built.route)
        for shared, array in zip(built.data_vars, data_arrays(stats)[1]):
            shared.set_value(array)
        with model, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trace = pm.sample(draws=draws, tune=tune, chains=1, step=step, progressbar=False,
                              random_seed=int(rng.integers(2**31)), var_names=values,
                              compute_convergence_checks=False)
        for name in values:
            truth = prior.prior[name].values[0, i]
            post = trace.posterior[name].values[0, ::thin]
            for k in range(len(truth)):
                ranks.setdefault(f"{name}[{k}]", []).append(int(np.sum(post[:, k] < truth[k])))
    wall = time.perf_counter() - t0
    n_post = len(range(0, draws, thin))
    p_values = {}
    for label, r in ranks.items():  # 10 bins of the n_post + 1 possible ranks
        counts = np.bincount(np.asarray(r) * 10 // (n_post + 1), minlength=10)
        p_values[label] = float(sps.chisquare(counts).pvalue)
    return pd.Series(p_values), ranks, wall


@pytest.mark.slow
def test_simulation_based_calibration_of_the_ready_model_has_uniform_ranks():
    p_values, ranks, wall = simulation_based_calibration()
    print(f"\nSBC: {len(next(iter(ranks.values())))} data sets, {len(ranks)} parameters, "
          f"wall {wall:.0f} s; min chi-square p {p_values.min():.4f}")
    print(p_values.round(4).to_string())
    # chi-square per parameter, Bonferroni over the parameters at 1 %
    assert p_values.min() > 0.01 / len(p_values)
