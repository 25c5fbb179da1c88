"""The Numba Hessian-vector products equal the NumPy closed forms (both routes, equal and
unequal per-cluster weights), and fail as zeros like them."""

import numpy as np
import pytest

import pm_mlvm as pmv
from pm_mlvm.likelihood import hessian
from pm_mlvm.likelihood import numba_kernels as nk
from pm_mlvm.likelihood.routes import data_arrays
from tests.oracles import random_twolevel

KERNELS = {"sizes": nk.complete_hvp, "rows": nk.rows_hvp}


def _case(rng, route, missing):
    y, clusters, mu, sw, sb = random_twolevel(rng, 4, rng.integers(1, 7, size=20),
                                              missing=missing)
    stats = pmv.TwoLevelStats.from_arrays(y, clusters, route=route)
    name, data = data_arrays(stats)
    return name, stats.n_clusters, (mu, sw, sb), data


@pytest.mark.parametrize("route,missing", [("sizes", 0.0), ("rows", 0.0), ("rows", 0.2)],
                         ids=["sizes", "rows", "rows-missing"])
@pytest.mark.parametrize("weights", ["ones", "constant", "unequal"])
def test_numba_hvp_equals_the_numpy_closed_form(rng, route, missing, weights):
    name, n_clusters, moments, data = _case(rng, route, missing)
    g = {"ones": np.ones(n_clusters), "constant": np.full(n_clusters, 2.5),
         "unequal": rng.uniform(0.5, 1.5, n_clusters)}[weights]
    direction = (rng.normal(size=4), rng.normal(size=(4, 4)), rng.normal(size=(4, 4)))
    expected = hessian.hvp(name, g, *moments, *direction, *data)
    got = KERNELS[name](g, *moments, *direction, *data)
    for a, b in zip(got, expected):
        assert np.abs(b).max() > 0
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())


@pytest.mark.parametrize("route,missing", [("sizes", 0.0), ("rows", 0.2)])
def test_numba_hvp_is_zero_when_the_moments_are_not_positive_definite(rng, route, missing):
    name, n_clusters, (mu, sw, sb), data = _case(rng, route, missing)
    direction = (rng.normal(size=4), rng.normal(size=(4, 4)), rng.normal(size=(4, 4)))
    got = KERNELS[name](np.ones(n_clusters), mu, sw - 10.0 * np.eye(4), sb, *direction, *data)
    for a in got:
        assert np.all(a == 0.0)
