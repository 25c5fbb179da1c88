"""Symbolic statistics (pm_mlvm.graph.statistics): the route's inputs as expressions of the
data equal TwoLevelStats, follow a new value of the same layout, refuse another layout."""

import numpy as np
import pytensor
import pytest

import pm_mlvm as pmv
from pm_mlvm.graph.ops import data_arrays, loglik_per_cluster
from pm_mlvm.graph.statistics import symbolic_statistics
from pm_mlvm.likelihood.routes import ROUTES
from tests.oracles import random_twolevel

CASES = [(0.0, "sizes"), (0.0, "rows"), (0.25, "rows")]


def _setup(rng, missing, route):
    y, cl, mu, sw, sb = random_twolevel(rng, 3, [1, 2, 3, 3, 4, 2, 5], missing)
    order = rng.permutation(len(y))
    y, cl = y[order], np.array(list("gfedcba"))[cl[order]]  # rows shuffled, labels unsorted
    stats = pmv.TwoLevelStats.from_arrays(y, cl, route=route)
    codes = stats.cluster_labels.get_indexer(cl)
    shared = pytensor.shared(y)
    route_name, inputs = symbolic_statistics(shared, stats, codes, ~np.isnan(y))
    return y, cl, stats, shared, route_name, inputs, (mu, sw, sb)


@pytest.mark.parametrize("missing,route", CASES)
def test_value_dependent_statistics_equal_those_of_twolevelstats(rng, missing, route):
    _, _, stats, _, route_name, inputs, _ = _setup(rng, missing, route)
    assert route_name == route
    values = pytensor.function([], list(inputs))()
    for field, got, want in zip(ROUTES[route].fields, values, data_arrays(stats)[1]):
        if field in ("y", "row_pattern"):  # row order within clusters may differ
            continue
        np.testing.assert_allclose(got, want, atol=1e-12, err_msg=field)


@pytest.mark.parametrize("missing,route", CASES)
def test_the_likelihood_follows_a_new_value_of_the_same_layout(rng, missing, route):
    y, cl, stats, shared, route_name, inputs, moments = _setup(rng, missing, route)
    f = pytensor.function([], loglik_per_cluster((route_name, inputs), *moments))
    np.testing.assert_allclose(f(), loglik_per_cluster(stats, *moments).eval(), atol=1e-10)
    new = np.where(np.isnan(y), np.nan, rng.normal(size=y.shape))
    shared.set_value(new)
    fresh = pmv.TwoLevelStats.from_arrays(new, cl, route=route)
    np.testing.assert_allclose(f(), loglik_per_cluster(fresh, *moments).eval(), atol=1e-10)


def test_changed_missing_cells_raise(rng):
    y, _, _, shared, route_name, inputs, moments = _setup(rng, 0.25, "rows")
    f = pytensor.function([], loglik_per_cluster((route_name, inputs), *moments))
    filled = np.where(np.isnan(y), 0.0, y)
    shared.set_value(filled)
    with pytest.raises(AssertionError, match="missing cells differ"):
        f()
