"""Cluster-varying (J, p) means on both likelihood routes: exact values, exact first
derivatives, the native backends, and the documented limit (no second derivatives)."""

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import NullTypeGradError, verify_grad

import pm_mlvm as pmv
from pm_mlvm.graph import backends
from pm_mlvm.graph.ops import (
    TwoLevelClusterLogLik,
    TwoLevelGradPerCluster,
    data_inputs,
    loglik,
    loglik_per_cluster,
)
from tests.oracles import random_twolevel, stacked_mvn_loglik

SIZES = [2, 5, 1, 3, 4, 4, 2]
ROUTES = [pytest.param(0.0, "sizes", id="sizes"), pytest.param(0.0, "rows", id="rows-complete"),
          pytest.param(0.2, "rows", id="rows-missing")]


def _case(rng, missing, route):
    y, cl, _, sw, sb = random_twolevel(rng, 3, SIZES, missing)
    stats = pmv.TwoLevelStats.from_arrays(y, cl, route=route)
    mu = rng.normal(size=(len(SIZES), 3))  # row j: cluster label j (sorted labels 0..J-1)
    return y, cl, stats, mu, sw, sb


@pytest.mark.parametrize("missing,route", ROUTES)
def test_per_cluster_and_total_equal_stacked_mvn_with_a_cluster_varying_mean(rng, missing,
                                                                             route):
    y, cl, stats, mu, sw, sb = _case(rng, missing, route)
    assert stats.route == route
    expected = stacked_mvn_loglik(y, cl, {j: mu[j] for j in range(len(SIZES))}, sw, sb,
                                  per_cluster=True)
    per_cluster = loglik_per_cluster(stats, mu, sw, sb).eval()
    np.testing.assert_allclose(per_cluster, expected, rtol=0, atol=1e-9)
    assert loglik(stats, mu, sw, sb).eval() == pytest.approx(expected.sum(), abs=1e-9)


@pytest.mark.parametrize("missing,route", ROUTES)
def test_a_common_mean_repeated_per_cluster_gives_the_grand_mean_likelihood(rng, missing,
                                                                          route):
    _, _, stats, mu, sw, sb = _case(rng, missing, route)
    repeated = np.tile(mu[0], (len(SIZES), 1))
    assert loglik(stats, repeated, sw, sb).eval() == pytest.approx(
        loglik(stats, mu[0], sw, sb).eval(), abs=1e-10)


@pytest.mark.parametrize("missing,route", ROUTES)
def test_gradients_of_per_cluster_and_total_pass_verify_grad(rng, missing, route):
    _, _, stats, mu, sw, sb = _case(rng, missing, route)
    inputs = data_inputs(stats)
    chols = [np.linalg.cholesky(sw), np.linalg.cholesky(sb)]

    def per_cluster(m, lw, lb):  # a random projection: the weighted-gradient Op
        return loglik_per_cluster(inputs, m, lw @ lw.T, lb @ lb.T)

    def total(m, lw, lb):  # uniform cotangent: the fused gradient output
        return loglik(inputs, m, lw @ lw.T, lb @ lb.T)

    verify_grad(per_cluster, [mu, *chols], rng=np.random.default_rng(1))
    verify_grad(total, [mu, *chols], rng=np.random.default_rng(2))
    verify_grad(lambda m, lw, lb: per_cluster(m, lw, lb).sum(), [mu, *chols],
                rng=np.random.default_rng(3))


def test_a_two_dimensional_mean_switches_to_the_cluster_mean_op_with_a_j_by_p_gradient(rng):
    _, _, stats, mu, sw, sb = _case(rng, 0.0, "sizes")
    route, data = data_inputs(stats)
    m = pt.matrix("m")
    out = TwoLevelClusterLogLik(route)(m, sw, sb, *data)
    assert out[0].owner.op == TwoLevelClusterLogLik(route, cluster_mean=True)
    assert out[1].type.ndim == 2
    grad = pytensor.function([m], pt.grad(out[0].sum(), m))(mu)
    assert grad.shape == mu.shape
    with pytest.raises(ValueError, match="one row per cluster: got 6 rows for 7 clusters"):
        loglik(stats, mu[:-1], sw, sb).eval()  # static shapes: when the graph is built
    with pytest.raises(ValueError, match="one row per cluster: got 6 rows for 7 clusters"):
        pytensor.function([m], loglik(stats, m, sw, sb))(mu[:-1])  # at run time


def test_second_derivatives_with_a_cluster_varying_mean_are_not_implemented(rng):
    _, _, stats, mu, sw, sb = _case(rng, 0.0, "sizes")
    m = pt.matrix("m")
    total = loglik(stats, m, sw, sb)
    with pytest.raises(NullTypeGradError):
        pytensor.grad(pt.grad(total, m).sum(), m)
    with pytest.raises(NotImplementedError, match=r"\(p,\) mean only"):
        TwoLevelGradPerCluster("sizes", cluster_mean=True)


MODES = ["NUMBA", pytest.param("JAX", marks=pytest.mark.skipif(
    not backends.HAS_JAX, reason="jax is the optional [backends] extra"))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("missing,route", [ROUTES[0], ROUTES[2]])
def test_numba_and_jax_natively_equal_the_c_backend_with_a_cluster_varying_mean(
        rng, mode, missing, route):
    _, _, stats, mu, sw, sb = _case(rng, missing, route)
    inputs = data_inputs(stats)
    m, lw = pt.matrix("m"), pt.matrix("lw")
    per_cluster = loglik_per_cluster(inputs, m, lw @ lw.T, sb)
    weights = rng.normal(size=len(SIZES))
    outputs = [per_cluster, *pt.grad(per_cluster.sum(), [m, lw]),
               *pt.grad(per_cluster @ weights, [m, lw])]
    chol = np.linalg.cholesky(sw)
    reference = pytensor.function([m, lw], outputs)(mu, chol)
    with warnings.catch_warnings():  # natively: object mode would warn
        warnings.filterwarnings("error", message=".*object mode.*")
        native = pytensor.function([m, lw], outputs + [loglik(inputs, m, lw @ lw.T, sb)],
                                   mode=mode)(mu, chol)
    reference.append(loglik(inputs, mu, sw, sb).eval())
    for a, b in zip(native, reference):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())
