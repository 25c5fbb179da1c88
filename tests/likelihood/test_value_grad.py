"""The one-pass kernel of each route (per-cluster values and the gradient of their sum from
one factorisation pass) equals the two-call result (per-cluster, then the unit-weight
gradient)."""

import numpy as np
import pytest

import pm_mlvm as pmv
from pm_mlvm.likelihood.routes import ROUTES, data_arrays
from tests.oracles import random_twolevel


def _case(rng, route, missing, sizes=None):
    sizes = rng.integers(1, 7, size=25) if sizes is None else sizes
    y, clusters, mu, sw, sb = random_twolevel(rng, 4, sizes, missing=missing)
    stats = pmv.TwoLevelStats.from_arrays(y, clusters, route=route)
    name, data = data_arrays(stats)
    return ROUTES[name], (mu, sw, sb, *data)


@pytest.mark.parametrize("route,missing,sizes", [
    ("sizes", 0.0, None), ("rows", 0.0, None), ("rows", 0.2, None),
    ("sizes", 0.0, [1] * 12),  # singletons only: Sigma_W is never factorised alone
], ids=["sizes", "rows", "rows-missing", "sizes-singletons"])
def test_one_pass_kernel_equals_per_cluster_then_weighted_gradient(rng, route, missing, sizes):
    kernels, args = _case(rng, route, missing, sizes)
    assert kernels.name == route
    per_cluster, *grad = kernels.value_grad(*args)
    expected = kernels.per_cluster(*args)
    expected_grad = kernels.weighted_grad(np.ones(len(expected)), *args)
    assert np.all(np.isfinite(per_cluster))
    np.testing.assert_allclose(per_cluster, expected, rtol=1e-12, atol=0)
    for got, want in zip(grad, expected_grad):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


@pytest.mark.parametrize("route,missing", [("sizes", 0.0), ("rows", 0.0), ("rows", 0.2)])
def test_one_pass_kernel_fails_as_minus_infinity_with_zero_gradient(rng, route, missing):
    kernels, (mu, sw, sb, *data) = _case(rng, route, missing)
    not_pd = sw - 10.0 * np.eye(len(mu))
    per_cluster, *grad = kernels.value_grad(mu, not_pd, sb, *data)
    assert np.all(per_cluster == -np.inf)
    for g in grad:
        assert np.all(g == 0.0)
