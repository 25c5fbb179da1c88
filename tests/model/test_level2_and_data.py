"""TwoLevelNormal with cluster-varying means (level-2 covariates) and with swappable data
(``pm.Data`` / ``TwoLevelData`` observed, ``pm.set_data``)."""

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import pytest

import pm_mlvm as pmv
from tests.oracles import random_twolevel, stacked_mvn_loglik

SIZES = [3, 1, 4, 2, 5, 3, 2, 4, 1, 3, 2]


def _labelled(rng, missing):
    """Data whose labels sort differently from their order of appearance ("c10" < "c2")."""
    y, cl, _, sw, sb = random_twolevel(rng, 3, SIZES, missing)
    labels = np.array([f"c{k}" for k in range(len(SIZES))])[cl]
    order = rng.permutation(len(y))  # rows not grouped by cluster
    return y[order], labels[order], sw, sb


@pytest.mark.parametrize("missing", [0.0, 0.2], ids=["complete", "missing"])
def test_a_j_by_p_mean_gives_the_stacked_mvn_logp_in_the_cluster_coordinate_order(rng,
                                                                                   missing):
    y, labels, sw, sb = _labelled(rng, missing)
    means = rng.normal(size=(len(SIZES), 3))
    with pm.Model() as model:
        mu = pt.as_tensor_variable(means)  # row j: the j-th label of model.coords["cluster"]
        pmv.TwoLevelNormal("y", mu, sw, sb, clusters=labels, observed=y)
    coord = list(model.coords["cluster"])
    assert coord == sorted(set(labels))
    expected = stacked_mvn_loglik(y, labels, dict(zip(coord, means)), sw, sb)
    assert model.compile_logp()({}) == pytest.approx(expected, abs=1e-9)


def test_draws_have_the_cluster_means_of_their_rows(rng):
    y, labels, _, _ = _labelled(rng, 0.2)
    means = 10.0 * rng.normal(size=(len(SIZES), 3))
    tiny = 1e-10 * np.eye(3)
    with pm.Model() as model:
        y_rv = pmv.TwoLevelNormal("y", means, tiny, tiny, clusters=labels, observed=y)
    codes = pd.Index(model.coords["cluster"]).get_indexer(labels)
    draw = pm.draw(y_rv, random_seed=1)
    np.testing.assert_array_equal(np.isnan(draw), np.isnan(y))
    np.testing.assert_allclose(draw, np.where(np.isnan(y), np.nan, means[codes]), atol=1e-3)


def test_a_mean_with_the_wrong_number_of_rows_is_refused(rng):
    y, labels, sw, sb = _labelled(rng, 0.0)
    with pm.Model():
        with pytest.raises(pmv.MLVMInputError, match=r"mu must have shape \(11, 3\) for the "
                           r"data's J=11 clusters and p=3 variables; got shape \(10, 3\)"):
            pmv.TwoLevelNormal("y", np.zeros((10, 3)), sw, sb, clusters=labels, observed=y)


def test_a_level2_covariate_model_recovers_the_slope_at_the_map(rng):
    n_clusters, size = 80, 6
    gamma = np.array([0.8, -0.5, 0.0])
    w = rng.normal(size=n_clusters)
    sw, sb = np.eye(3) + 0.3, 0.3 * np.eye(3)
    b = rng.multivariate_normal(np.zeros(3), sb, size=n_clusters) + w[:, None] * gamma
    codes = np.repeat(np.arange(n_clusters), size)
    y = b[codes] + rng.multivariate_normal(np.zeros(3), sw, size=len(codes))
    labels = np.array([f"school{k:02d}" for k in range(n_clusters)])[codes]  # sorted = k
    with pm.Model():
        nu = pm.Normal("nu", 0, 5, shape=3)
        g = pm.Normal("gamma", 0, 5, shape=3)
        sd_w = pm.HalfNormal("sd_w", 2, shape=3)
        sd_b = pm.HalfNormal("sd_b", 2, shape=3)
        pmv.TwoLevelNormal("y", nu + w[:, None] * g, pt.diag(sd_w**2),
                           pt.diag(sd_b**2), clusters=labels, observed=y)
        estimate = pm.find_MAP(progressbar=False)
    # SE of each slope ≈ sqrt((0.3 + 1.3 / 6) / 80) ≈ 0.08
    np.testing.assert_allclose(estimate["gamma"], gamma, atol=0.3)
    assert estimate["gamma"][0] > 0.4 and estimate["gamma"][1] < -0.2


def _fresh_logp(y, labels, point):
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 5, shape=3)
        sd_b = pm.HalfNormal("sd_b", 2, shape=3)
        pmv.TwoLevelNormal("y", mu, np.eye(3), pt.diag(sd_b**2), clusters=labels, observed=y)
    return model.compile_logp()(point)


@pytest.mark.parametrize("missing", [0.0, 0.2], ids=["pm.Data", "TwoLevelData"])
def test_set_data_swaps_the_data_without_recompiling(rng, missing):
    y, labels, _, _ = _labelled(rng, missing)
    with pm.Model() as model:
        container = (pmv.TwoLevelData("data", y) if missing else pm.Data("data", y))
        mu = pm.Normal("mu", 0, 5, shape=3)
        sd_b = pm.HalfNormal("sd_b", 2, shape=3)
        pmv.TwoLevelNormal("y", mu, np.eye(3), pt.diag(sd_b**2), clusters=labels,
                           observed=container)
    logp = model.compile_logp()
    point = model.initial_point()
    point["mu"] = np.array([0.2, -0.1, 0.4])
    before = logp(point)
    assert before == pytest.approx(_fresh_logp(y, labels, point), abs=1e-9)
    new = np.where(np.isnan(y), np.nan, y + rng.normal(size=y.shape))
    with model:
        pm.set_data({"data": new})
    after = logp(point)  # the same compiled function
    assert after != pytest.approx(before)
    assert after == pytest.approx(_fresh_logp(new, labels, point), abs=1e-9)


def test_swapped_data_with_another_layout_raise_when_evaluated(rng):
    y, labels, _, _ = _labelled(rng, 0.2)
    with pm.Model() as model:
        container = pmv.TwoLevelData("data", y)
        mu = pm.Normal("mu", 0, 5, shape=3)
        pmv.TwoLevelNormal("y", mu, np.eye(3), np.eye(3), clusters=labels, observed=container)
    logp = model.compile_logp()
    point = model.initial_point()
    moved = y.copy()
    observed_cell = np.argwhere(~np.isnan(y))[0]
    moved[tuple(observed_cell)] = np.nan
    with model:
        pm.set_data({"data": moved})
    with pytest.raises(AssertionError, match="missing cells differ"):
        logp(point)
    with model:
        pm.set_data({"data": y[:-1]})
    with pytest.raises(AssertionError):
        logp(point)


def test_with_a_data_container_logp_of_a_value_is_the_density_of_that_value(rng):
    y, labels, sw, sb = _labelled(rng, 0.0)
    mu = rng.normal(size=3)
    with pm.Model():
        y_rv = pmv.TwoLevelNormal("y", mu, sw, sb, clusters=labels,
                                  observed=pm.Data("data", y))
    other = y + 1.0
    assert pm.logp(y_rv, other).sum().eval() == pytest.approx(
        stacked_mvn_loglik(other, labels, mu, sw, sb), abs=1e-9)


def test_bad_data_containers_are_named(rng):
    y, labels, _, _ = _labelled(rng, 0.0)
    with pm.Model():
        with pytest.raises(pmv.MLVMInputError, match="value must be an \\(N, p\\) array"):
            pmv.TwoLevelData("data", y[:, 0])
        with pytest.raises(pmv.MLVMInputError, match="observed must be data"):
            pmv.TwoLevelNormal("y", np.zeros(3), np.eye(3), np.eye(3), clusters=labels,
                               observed=pt.matrix("m"))
        empty = y.copy()
        empty[0] = np.nan
        with pytest.raises(pmv.MLVMInputError, match="1 row\\(s\\) missing on every variable"):
            pmv.TwoLevelNormal("y", np.zeros(3), np.eye(3), np.eye(3), clusters=labels,
                               observed=pmv.TwoLevelData("data", empty))
