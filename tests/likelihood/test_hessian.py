"""Second derivatives and per-cluster scores of the two-level likelihood, both routes.

Oracles: central differences of the analytic (weighted) gradient kernels and of the
per-cluster log-likelihood; second differences of the brute-force stacked multivariate normal;
the complete route and the rows route on the same complete data.
"""

import numpy as np
import pytest

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.likelihood import hessian as hs
from pm_mlvm.likelihood.routes import ROUTES, data_arrays
from pm_mlvm.stats.twolevel import TwoLevelStats
from tests.oracles import random_spd, random_twolevel, stacked_mvn_loglik

# unbalanced sizes with singletons
SIZES = [1, 3, 2, 1, 5, 4, 2, 7, 1, 3]
CASES = [  # (stats route, fraction of missing cells)
    ("auto", 0.0),  # complete route
    ("rows", 0.0),  # rows route on complete data
    ("rows", 0.2),  # rows route with missing cells
]
CASE_IDS = ["complete", "rows", "rows-missing"]
STEP = 1e-5


def _setup(rng, p, stats_route, missing, sizes=SIZES):
    y, cl, mu, sw, sb = random_twolevel(rng, p, sizes, missing)
    stats = TwoLevelStats.from_arrays(y, cl, route=stats_route)
    route, data = data_arrays(stats)
    assert route == ("sizes" if stats_route == "auto" else "rows")
    return route, data, stats.n_clusters, (mu, sw, sb), (y, cl)


def _direction(rng, p):
    v_w, v_b = rng.normal(size=(2, p, p))
    return rng.normal(size=p), v_w + v_w.T, v_b + v_b.T


def _central(fn, moments, direction, step=STEP):
    plus = fn(*[m + step * v for m, v in zip(moments, direction)])
    minus = fn(*[m - step * v for m, v in zip(moments, direction)])
    return [(a - b) / (2 * step) for a, b in zip(plus, minus)]


def _assert_close(actual, expected, rel):
    for a, e in zip(actual, expected):
        scale = max(1.0, np.max(np.abs(e)))
        assert np.max(np.abs(np.asarray(a) - e)) <= rel * scale


def _phi(moments):
    mu, sw, sb = moments
    rows, cols = np.tril_indices(len(mu))
    return np.concatenate([mu, sw[rows, cols], sb[rows, cols]])


def _moments_of(phi, p):
    rows, cols = np.tril_indices(p)
    nv = len(rows)
    out = [phi[:p]]
    for block in (phi[p : p + nv], phi[p + nv :]):
        m = np.zeros((p, p))
        m[rows, cols] = block
        m[cols, rows] = block
        out.append(m)
    return out


@pytest.mark.parametrize("p", range(1, 7))
@pytest.mark.parametrize("stats_route,missing", CASES, ids=CASE_IDS)
def test_hvp_equals_central_differences_of_the_gradient(rng, p, stats_route, missing):
    route, data, n_clusters, moments, _ = _setup(rng, p, stats_route, missing)
    ones = np.ones(n_clusters)
    direction = _direction(rng, p)
    expected = _central(
        lambda *m: ROUTES[route].weighted_grad(ones, *m, *data), moments, direction)
    actual = hs.hvp(route, ones, *moments, *direction, *data)
    _assert_close(actual, expected, 1e-6)
    assert np.allclose(actual[1], actual[1].T) and np.allclose(actual[2], actual[2].T)


@pytest.mark.parametrize("p", [1, 3, 6])
@pytest.mark.parametrize("stats_route,missing", CASES, ids=CASE_IDS)
def test_hvp_with_unequal_weights_equals_differences_of_the_weighted_gradient(
    rng, p, stats_route, missing
):
    route, data, n_clusters, moments, _ = _setup(rng, p, stats_route, missing)
    weights = rng.uniform(0.0, 2.0, size=n_clusters)
    direction = _direction(rng, p)
    expected = _central(
        lambda *m: ROUTES[route].weighted_grad(weights, *m, *data), moments, direction)
    _assert_close(hs.hvp(route, weights, *moments, *direction, *data), expected, 1e-6)


def test_hvp_is_linear_in_the_weights(rng):
    route, data, n_clusters, moments, _ = _setup(rng, 3, "rows", 0.2)
    g1, g2 = rng.uniform(0.1, 2.0, size=(2, n_clusters))
    direction = _direction(rng, 3)
    both = hs.hvp(route, g1 + 2 * g2, *moments, *direction, *data)
    parts = [hs.hvp(route, g, *moments, *direction, *data) for g in (g1, g2)]
    _assert_close(both, [a + 2 * b for a, b in zip(*parts)], 1e-12)


def test_equal_weights_on_the_complete_route_read_only_the_per_size_statistics(rng):
    route, data, n_clusters, moments, _ = _setup(rng, 3, "auto", 0.0)
    direction = _direction(rng, 3)
    expected = hs.hvp(route, np.full(n_clusters, 0.7), *moments, *direction, *data)
    blind = list(data)
    blind[6] = np.full_like(data[6], np.nan)  # cluster_means
    blind[7] = np.full_like(data[7], np.nan)  # cluster_scatter
    actual = hs.hvp(route, np.full(n_clusters, 0.7), *moments, *direction, *blind)
    _assert_close(actual, expected, 1e-13)
    assert np.all(np.isfinite(hs.hessian(route, *moments, *blind)))


@pytest.mark.parametrize("p", [1, 2, 4, 6])
@pytest.mark.parametrize("stats_route,missing", CASES, ids=CASE_IDS)
def test_hessian_equals_the_matrix_of_hvps_and_is_symmetric(rng, p, stats_route, missing):
    route, data, n_clusters, moments, _ = _setup(rng, p, stats_route, missing)
    ones = np.ones(n_clusters)
    k = hs.n_moments(p)
    columns = np.array([
        hs.moment_gradient(*hs.hvp(route, ones, *moments, *d, *data))
        for d in zip(*hs.moment_directions(p))
    ])
    assert columns.shape == (k, k)
    scale = np.max(np.abs(columns))
    assert np.max(np.abs(columns - columns.T)) <= 1e-10 * scale
    hess = hs.hessian(route, *moments, *data)
    assert np.max(np.abs(hess - columns)) <= 1e-10 * scale
    assert np.array_equal(hess, hess.T)


@pytest.mark.parametrize("stats_route,missing", CASES, ids=CASE_IDS)
def test_hessian_equals_differences_of_the_gradient_in_moment_coordinates(
    rng, stats_route, missing
):
    p = 3
    route, data, _, moments, _ = _setup(rng, p, stats_route, missing)
    phi = _phi(moments)

    def grad_phi(x):
        _, *grads = ROUTES[route].total(*_moments_of(x, p), *data)
        return hs.moment_gradient(*grads)

    eye = np.eye(len(phi))
    fd = np.array([(grad_phi(phi + STEP * e) - grad_phi(phi - STEP * e)) / (2 * STEP)
                   for e in eye])
    hess = hs.hessian(route, *moments, *data)
    assert np.max(np.abs(hess - fd)) <= 1e-6 * np.max(np.abs(fd))


@pytest.mark.parametrize("missing", [0.0, 0.25])
def test_hessian_equals_second_differences_of_the_stacked_normal(rng, missing):
    p, sizes = 2, [1, 2, 3, 2, 1, 4]
    y, cl, mu, sw, sb = random_twolevel(rng, p, sizes, missing)
    stats = TwoLevelStats.from_arrays(y, cl)
    route, data = data_arrays(stats)
    phi = _phi((mu, sw, sb))
    k, h = len(phi), 1e-3

    def loglik(x):
        return stacked_mvn_loglik(y, cl, *_moments_of(x, p))

    fd = np.empty((k, k))
    eye = np.eye(k)
    for a in range(k):
        for b in range(k):
            ea, eb = h * eye[a], h * eye[b]
            fd[a, b] = (loglik(phi + ea + eb) - loglik(phi + ea - eb) - loglik(phi - ea + eb)
                        + loglik(phi - ea - eb)) / (4 * h * h)
    hess = hs.hessian(route, mu, sw, sb, *data)
    assert np.max(np.abs(hess - fd)) <= 1e-4 * np.max(np.abs(fd))


@pytest.mark.parametrize("p", [1, 2, 5])
@pytest.mark.parametrize("stats_route,missing", CASES, ids=CASE_IDS)
def test_per_cluster_scores_sum_to_the_total_gradient(rng, p, stats_route, missing):
    route, data, n_clusters, moments, _ = _setup(rng, p, stats_route, missing)
    scores = hs.grad_per_cluster(route, *moments, *data)
    assert [s.shape for s in scores] == [(n_clusters, p), (n_clusters, p, p),
                                         (n_clusters, p, p)]
    _, *total = ROUTES[route].total(*moments, *data)
    _assert_close([s.sum(axis=0) for s in scores], total, 1e-12)


@pytest.mark.parametrize("p", [1, 3, 6])
@pytest.mark.parametrize("stats_route,missing", CASES, ids=CASE_IDS)
def test_per_cluster_scores_equal_differences_of_the_per_cluster_loglik(
    rng, p, stats_route, missing
):
    route, data, _, moments, _ = _setup(rng, p, stats_route, missing)
    v_mu, v_w, v_b = _direction(rng, p)
    (fd,) = _central(lambda *m: [ROUTES[route].per_cluster(*m, *data)], moments,
                     (v_mu, v_w, v_b))
    g_mu, g_w, g_b = hs.grad_per_cluster(route, *moments, *data)
    directional = g_mu @ v_mu + np.einsum("jab,ab->j", g_w, v_w) + np.einsum(
        "jab,ab->j", g_b, v_b)
    assert np.max(np.abs(directional - fd)) <= 1e-6 * max(1.0, np.max(np.abs(fd)))


@pytest.mark.parametrize("p", [1, 4])
def test_complete_and_rows_routes_agree_on_complete_data(rng, p):
    y, cl, mu, sw, sb = random_twolevel(rng, p, SIZES)
    (r1, d1), (r2, d2) = (data_arrays(TwoLevelStats.from_arrays(y, cl, route=r))
                          for r in ("auto", "rows"))
    assert (r1, r2) == ("sizes", "rows")
    moments = (mu, sw, sb)
    n_clusters = len(SIZES)
    direction = _direction(rng, p)
    weights = rng.uniform(0.1, 2.0, size=n_clusters)
    for g in (np.ones(n_clusters), weights):
        _assert_close(hs.hvp(r1, g, *moments, *direction, *d1),
                      hs.hvp(r2, g, *moments, *direction, *d2), 1e-10)
    h1, h2 = (hs.hessian(r, *moments, *d) for r, d in ((r1, d1), (r2, d2)))
    assert np.max(np.abs(h1 - h2)) <= 1e-10 * np.max(np.abs(h1))
    # both routes order clusters as the stats' cluster_labels
    _assert_close(hs.grad_per_cluster(r1, *moments, *d1),
                  hs.grad_per_cluster(r2, *moments, *d2), 1e-10)


@pytest.mark.parametrize("stats_route,missing", CASES, ids=CASE_IDS)
def test_every_singleton_data_set_has_finite_derivatives_without_a_within_inverse(
    rng, stats_route, missing
):
    route, data, n_clusters, (mu, sw, sb), _ = _setup(rng, 3, stats_route, missing,
                                                      sizes=[1] * 12)
    # Σ_W indefinite but Σ_W + Σ_B PD: with singletons only Σ_W + Σ_B enters
    sw = sw - 0.9 * np.linalg.eigvalsh(sw).max() * np.eye(3)
    sb = sb + 2.0 * np.eye(3)
    direction = _direction(rng, 3)
    ones = np.ones(n_clusters)
    expected = _central(lambda *m: ROUTES[route].weighted_grad(ones, *m, *data),
                        (mu, sw, sb), direction)
    _assert_close(hs.hvp(route, ones, mu, sw, sb, *direction, *data), expected, 1e-6)
    assert np.all(np.isfinite(hs.hessian(route, mu, sw, sb, *data)))


@pytest.mark.parametrize("stats_route,missing", CASES, ids=CASE_IDS)
def test_non_positive_definite_moments_give_zeros(rng, stats_route, missing):
    p = 3
    route, data, n_clusters, (mu, sw, sb), _ = _setup(rng, p, stats_route, missing)
    bad_w = sw - 2.0 * np.linalg.eigvalsh(sw).max() * np.eye(p)
    direction = _direction(rng, p)
    for out in (hs.hvp(route, np.ones(n_clusters), mu, bad_w, sb, *direction, *data),
                hs.grad_per_cluster(route, mu, bad_w, sb, *data),
                (hs.hessian(route, mu, bad_w, sb, *data),)):
        assert all(np.all(x == 0) for x in out)


def test_moment_gradient_and_matrix_gradient_are_inverse(rng):
    p = 4
    g_mu = rng.normal(size=(3, p))
    g_w, g_b = (random_spd(rng, p) + np.zeros((3, 1, 1)) for _ in range(2))
    phi = hs.moment_gradient(g_mu, g_w, g_b)
    assert phi.shape == (3, hs.n_moments(p))
    for a, b in zip(hs.matrix_gradient(phi, p), (g_mu, g_w, g_b)):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_moment_gradient_is_the_derivative_along_each_coordinate(rng):
    p = 3
    g = (rng.normal(size=p), random_spd(rng, p), random_spd(rng, p))
    phi = hs.moment_gradient(*g)
    for i, (v_mu, v_w, v_b) in enumerate(zip(*hs.moment_directions(p))):
        assert phi[i] == pytest.approx(g[0] @ v_mu + np.sum(g[1] * v_w) + np.sum(g[2] * v_b))


def test_bad_route_weights_and_shapes_raise_input_errors(rng):
    route, data, n_clusters, moments, _ = _setup(rng, 2, "auto", 0.0)
    direction = _direction(rng, 2)
    with pytest.raises(MLVMInputError, match="route='wide'"):
        hs.hessian("wide", *moments, *data)
    with pytest.raises(MLVMInputError, match="weights has 3 entries"):
        hs.hvp(route, np.ones(3), *moments, *direction, *data)
    with pytest.raises(MLVMInputError, match="direction"):
        hs.hvp(route, np.ones(n_clusters), *moments, np.ones(3), *direction[1:], *data)
    with pytest.raises(MLVMInputError, match="8 statistics arrays"):
        hs.grad_per_cluster(route, *moments, *data[:-1])
    with pytest.raises(MLVMInputError, match="grad_phi"):
        hs.matrix_gradient(np.ones(5), 2)
