"""The two-level likelihood equals the brute-force stacked multivariate normal."""

import numpy as np
import pytest

import pm_mlvm as pmv
from tests.oracles import random_twolevel, stacked_mvn_loglik

CONFIGS = [
    # (p, cluster sizes, fraction of missing cells)
    (1, [4] * 6, 0.0),
    (1, [1, 2, 3, 1, 5, 2], 0.15),
    (2, [3] * 8, 0.0),
    (2, [1, 1, 2, 4, 6, 1, 3], 0.0),
    (2, [1] * 9, 0.0),
    (2, [1] * 9, 0.2),
    (3, [5, 5, 5, 5, 5], 0.1),
    (3, [2, 7, 1, 1, 4, 3, 3, 6], 0.0),
    (3, [2, 7, 1, 1, 4, 3, 3, 6], 0.25),
    (4, [10, 8, 9, 10, 12, 7], 0.0),
    (4, [10, 8, 9, 10, 12, 7], 0.1),
    (5, [1, 2, 3, 4, 5, 6, 7], 0.0),
    (5, [2, 2, 2, 3, 3, 3, 1, 1], 0.3),
    (6, [6] * 10, 0.0),
    (6, [6] * 10, 0.05),
    (7, [3, 1, 4, 1, 5, 9, 2, 6], 0.0),
    (8, [4, 4, 5, 5, 6, 6, 1, 2], 0.12),
    (9, [8, 3, 5, 7, 2, 9], 0.0),
    (10, [5, 6, 7, 3, 2, 8], 0.08),
    (11, [2, 4, 6, 8, 3], 0.0),
    (12, [3, 5, 4, 6, 2, 1], 0.0),
    (12, [3, 5, 4, 6, 2, 1], 0.1),
]


@pytest.mark.parametrize("p,sizes,missing", CONFIGS)
def test_loglik_equals_the_stacked_multivariate_normal(rng, p, sizes, missing):
    y, cl, mu, sw, sb = random_twolevel(rng, p, sizes, missing)
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    assert stats.has_missing == bool(np.isnan(y).any())
    expected = stacked_mvn_loglik(y, cl, mu, sw, sb)
    assert pmv.twolevel_loglik(stats, mu, sw, sb) == pytest.approx(expected, rel=1e-9)
    per_cluster = pmv.twolevel_loglik_per_cluster(stats, mu, sw, sb)
    np.testing.assert_allclose(
        per_cluster.to_numpy(), stacked_mvn_loglik(y, cl, mu, sw, sb, per_cluster=True),
        rtol=1e-9,
    )
    assert per_cluster.sum() == pytest.approx(expected, rel=1e-12)


def test_missing_route_without_missing_cells_equals_complete_route(rng):
    y, cl, mu, sw, sb = random_twolevel(rng, 4, [1, 3, 5, 2, 6, 4])
    complete = pmv.TwoLevelStats.from_arrays(y, cl)
    y_nan = y.copy()
    y_nan[0, 0] = np.nan
    with_missing = pmv.TwoLevelStats.from_arrays(y_nan, cl)
    # evaluate the missing-data kernels on the complete data by restoring the cell
    with_missing.y[0, 0] = y[0, 0]
    with_missing.patterns[with_missing.row_pattern[0]] = True
    assert pmv.twolevel_loglik(with_missing, mu, sw, sb) == pytest.approx(
        pmv.twolevel_loglik(complete, mu, sw, sb), rel=1e-12
    )


def test_gradient_matches_central_differences(rng):
    for missing in (0.0, 0.15):
        y, cl, mu, sw, sb = random_twolevel(rng, 3, [2, 4, 1, 5, 3, 3], missing)
        stats = pmv.TwoLevelStats.from_arrays(y, cl)
        _, dmu, dw, db = pmv.twolevel_loglik_grad(stats, mu, sw, sb)
        h = 1e-6
        e = rng.normal(size=(3, 3))
        e = e + e.T
        v = rng.normal(size=3)

        def f(m, w, b, stats=stats):
            return pmv.twolevel_loglik(stats, m, w, b)

        fd_w = (f(mu, sw + h * e, sb) - f(mu, sw - h * e, sb)) / (2 * h)
        fd_b = (f(mu, sw, sb + h * e) - f(mu, sw, sb - h * e)) / (2 * h)
        fd_mu = (f(mu + h * v, sw, sb) - f(mu - h * v, sw, sb)) / (2 * h)
        assert np.sum(dw * e) == pytest.approx(fd_w, rel=1e-6)
        assert np.sum(db * e) == pytest.approx(fd_b, rel=1e-6)
        assert dmu @ v == pytest.approx(fd_mu, rel=1e-6)


@pytest.mark.parametrize("missing", [0.0, 0.1])
def test_non_positive_definite_moments_give_minus_infinity(rng, missing):
    y, cl, mu, sw, sb = random_twolevel(rng, 3, [2, 3, 4, 2, 3], missing)
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    bad_w = sw.copy()
    bad_w[0, 0] = -1.0
    assert pmv.twolevel_loglik(stats, mu, bad_w, sb) == -np.inf
    # Sigma_B so negative that Sigma_W + n Sigma_B is indefinite
    assert pmv.twolevel_loglik(stats, mu, sw, -sb * 10) == -np.inf
    logl, dmu, dw, db = pmv.twolevel_loglik_grad(stats, mu, bad_w, sb)
    assert logl == -np.inf and not dmu.any() and not dw.any() and not db.any()


def test_an_indefinite_between_matrix_is_allowed_while_every_cluster_covariance_is_pd(rng):
    y, cl, mu, sw, sb = random_twolevel(rng, 2, [3, 3, 3, 3])
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    sb_indef = np.array([[0.2, 0.0], [0.0, -0.05]])
    sw = np.eye(2)
    assert pmv.twolevel_loglik(stats, mu, sw, sb_indef) == pytest.approx(
        stacked_mvn_loglik(y, cl, mu, sw, sb_indef), rel=1e-9
    )


def test_every_singleton_ignores_the_separate_within_matrix(rng):
    y, cl, mu, sw, sb = random_twolevel(rng, 2, [1] * 8)
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    # only Sigma_W + Sigma_B matters, so an indefinite Sigma_W is allowed
    shift = np.diag([1.5, 0.0])
    value = pmv.twolevel_loglik(stats, mu, sw - shift, sb + shift)
    assert value == pytest.approx(pmv.twolevel_loglik(stats, mu, sw, sb), rel=1e-12)


def test_bad_moment_shapes_name_the_argument(rng):
    y, cl, mu, sw, sb = random_twolevel(rng, 3, [2, 2, 2])
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    with pytest.raises(ValueError, match=r"sigma_between must have shape \(3, 3\)"):
        pmv.twolevel_loglik(stats, mu, sw, sb[:2, :2])
    with pytest.raises(ValueError, match="mu contains non-finite"):
        pmv.twolevel_loglik(stats, mu * np.nan, sw, sb)
    with pytest.raises(pmv.MLVMInputError, match="stats must be a TwoLevelStats"):
        pmv.twolevel_loglik(y, mu, sw, sb)
