"""fit.bootstrap(): the cluster bootstrap (pm_mlvm.ml.bootstrap) — replicate statistics
against statistics rebuilt from explicitly resampled rows, reproducibility under a seed
whatever the number of processes, percentile intervals, and (slow) their coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pm_mlvm as pmv
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.likelihood.objective import Objective
from pm_mlvm.ml.bootstrap import replicate_stats, resample_clusters
from tests.ml._lavaan_fits import fit
from tests.lavaan_reference import REF_DIR

LAMBDA = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


def stacked_rows(df: pd.DataFrame, idx, labels) -> pd.DataFrame:
    """The rows of clusters labels[idx], each copy under a new cluster id."""
    parts = [df[df["cluster"] == labels[j]].assign(cluster=k) for k, j in enumerate(idx)]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("case", ["cfa_unbalanced", "missing_mcar_balanced"])
def test_replicate_statistics_equal_those_of_the_resampled_rows(case, rng):
    df = pd.read_csv(REF_DIR / f"{case}.csv")
    m = pmv.ml_lvm(df, lambda_=LAMBDA, clusters="cluster")
    res = m.fit()
    idx = resample_clusters(m.stats.n_clusters, rng)
    assert len(np.unique(idx)) < len(idx)          # some cluster drawn twice
    boot = replicate_stats(m.stats, idx)
    want = pmv.TwoLevelStats.from_dataframe(stacked_rows(df, idx, m.stats.cluster_labels),
                                            clusters="cluster", route=m.stats.route)
    assert boot.route == m.stats.route
    assert (boot.n_obs, boot.n_clusters) == (want.n_obs, want.n_clusters)
    assert Objective(m.spec, boot).value(res.theta) == \
        pytest.approx(Objective(m.spec, want).value(res.theta), rel=1e-12)


def test_a_fixed_seed_reproduces_the_draws_whatever_the_number_of_processes():
    res = fit("seed_example")
    one = res.bootstrap(n=6, seed=11, fit_measures=False).bootstrap_draws
    again = res.bootstrap(n=6, seed=11, fit_measures=False).bootstrap_draws
    two = res.bootstrap(n=6, seed=11, n_jobs=2, fit_measures=False).bootstrap_draws
    other = res.bootstrap(n=6, seed=12, fit_measures=False).bootstrap_draws
    assert one.converged.all()
    np.testing.assert_array_equal(one.estimates, again.estimates)
    np.testing.assert_array_equal(one.estimates, two.estimates)
    assert not np.allclose(one.estimates, other.estimates)
    # replicates scatter around the estimates
    assert np.all(np.abs(one.estimates.mean(axis=0) - res.theta) < 4 * res.se)


def test_bootstrap_returns_a_new_result_with_intervals_and_fit_measures():
    res = fit("seed_example")
    boot = res.bootstrap(n=5, seed=3)
    assert res.bootstrap_draws is None and boot.bootstrap_draws is not None
    np.testing.assert_array_equal(boot.theta, res.theta)
    draws = boot.bootstrap_draws
    table = boot.parameters(ci="bootstrap", level=0.9)
    free = table[table["free"]].sort_values("par")
    lower, upper = np.quantile(draws.estimates[draws.converged], [0.05, 0.95], axis=0)
    np.testing.assert_allclose(free["ci_lower"], lower)
    np.testing.assert_allclose(free["ci_upper"], upper)
    assert table.loc[~table["free"], "ci_lower"].isna().all()
    measures = draws.fit_measures
    assert len(measures) == 5 and {"logl", "chisq", "cfi", "rmsea"} <= set(measures.columns)
    assert (measures["chisq"] >= 0).all()
    intervals = draws.fit_measure_intervals(0.9)
    assert (intervals["lower"] <= intervals["upper"]).all()


def test_wald_intervals_and_the_errors_of_intervals():
    res = fit("seed_example")
    wald = res.parameters(ci="wald")
    free = wald[wald["free"]]
    np.testing.assert_allclose(free["ci_upper"] - free["est"], 1.959963984540054 * free["se"])
    with pytest.raises(MLVMInputError, match="bootstrap"):
        res.parameters(ci="bootstrap")
    with pytest.raises(MLVMInputError, match="ci"):
        res.parameters(ci="profile")
    with pytest.raises(MLVMInputError, match="level"):
        res.parameters(ci="wald", level=95)
    with pytest.raises(MLVMInputError, match="n="):
        res.bootstrap(n=1)
    with pytest.raises(MLVMInputError, match="n_jobs"):
        res.bootstrap(n=5, n_jobs=0)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pm_mlvm.errors.MLVMWarning")   # Heywood data sets
def test_percentile_intervals_cover_the_truth_at_the_nominal_rate():
    # one-factor model, 40 clusters of 6: the share of data sets whose 90 % percentile
    # interval holds the generating value, over the loadings and the means, is 0.90 within
    # Monte Carlo error (n_sets data sets, several parameters each: binomial SE ≈ 0.02)
    lam = np.array([1.0, 0.8, 0.7, 0.6])
    nu = np.array([0.5, 0.0, -0.3, 0.2])
    sw = 0.9 * np.outer(lam, lam) + 0.5 * np.eye(4)
    sb = 0.4 * np.outer(lam, lam) + 0.15 * np.eye(4)
    n_sets, level = 60, 0.9
    rng = np.random.default_rng(20260101)
    hits = []
    for _ in range(n_sets):
        df = pmv.simulate_twolevel(40, 6, nu, sw, sb, rng=rng)
        res = pmv.ml_lvm(df, lambda_={"F": ["y1", "y2", "y3", "y4"]}, clusters="cluster").fit()
        boot = res.bootstrap(n=200, seed=int(rng.integers(2**31)), n_jobs=2,
                             fit_measures=False)
        table = boot.parameters(ci="bootstrap", level=level).set_index(["matrix", "row"])
        for k, name in enumerate(["y2", "y3", "y4"]):
            row = table.loc[("lambda", name)]
            hits.append(row["ci_lower"] <= lam[k + 1] <= row["ci_upper"])
        for k in range(4):
            row = table.loc[("nu", f"y{k + 1}")]
            hits.append(row["ci_lower"] <= nu[k] <= row["ci_upper"])
    coverage = np.mean(hits)
    # 7 correlated parameters per data set: an effective sample of ~n_sets·3 → SE ≈ 0.022
    assert abs(coverage - level) < 0.07, coverage
