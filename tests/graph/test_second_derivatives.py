"""Exact second derivatives through the likelihood Ops: Hessians equal central differences of
the analytic gradient, for both Ops and both routes, and PyMC's Hessian tools work."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest

import pm_mlvm as pmv
from pm_mlvm.graph import ops
from tests.oracles import random_twolevel

P = 3


def _moments(theta):
    """Unconstrained θ -> (mu, A_w A_w' + I/2, A_b A_b' + I/10): always PD, Σ not diagonal."""
    mu = theta[:P]
    a_w = theta[P:P + P * P].reshape((P, P))
    a_b = theta[P + P * P:].reshape((P, P))
    return mu, a_w @ a_w.T + 0.5 * pt.eye(P), a_b @ a_b.T + 0.1 * pt.eye(P)


def _costs(stats, theta, weights):
    return {
        "total": ops.loglik(stats, *_moments(theta)),
        "sum-per-cluster": pt.sum(ops.loglik_per_cluster(stats, *_moments(theta))),
        "weighted-per-cluster": pt.sum(weights * ops.loglik_per_cluster(stats, *_moments(theta))),
    }


@pytest.mark.parametrize("missing", [0.0, 0.15], ids=["complete", "rows"])
def test_hessian_through_every_op_equals_central_differences_of_the_gradient(rng, missing):
    y, cl, *_ = random_twolevel(rng, P, [2, 5, 1, 3, 4, 4, 2], missing)
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    assert (stats.route == "rows") == (missing > 0)
    theta = pt.dvector("theta")
    weights = rng.uniform(0.5, 1.5, size=stats.n_clusters)
    t0 = 0.5 * rng.normal(size=P + 2 * P * P)
    for name, cost in _costs(stats, theta, weights).items():
        grad = pytensor.function([theta], pytensor.grad(cost, theta))
        hess = pytensor.function([theta], pytensor.gradient.hessian(cost, theta))(t0)
        h = 1e-5
        fd = np.array([(grad(t0 + h * e) - grad(t0 - h * e)) / (2 * h)
                       for e in np.eye(len(t0))])
        scale = np.abs(hess).max()
        assert np.abs(hess - fd).max() <= 1e-6 * scale, name
        np.testing.assert_allclose(hess, hess.T, atol=1e-12 * scale)


def _user_model(stats, p):
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 5, shape=p)
        sd_w = pm.HalfNormal("sd_w", 2, shape=p)
        sd_b = pm.HalfNormal("sd_b", 2, shape=p)
        corr = pm.Uniform("corr", -0.5, 0.5)
        off = corr * (pt.ones((p, p)) - pt.eye(p))
        sw = pt.outer(sd_w, sd_w) * (pt.eye(p) + off)
        pmv.TwoLevelNormal("y", mu, sw, pt.diag(sd_b ** 2), observed=stats)
    return model


@pytest.mark.parametrize("missing", [0.0, 0.1], ids=["complete", "rows"])
def test_compile_d2logp_and_find_hessian_work_on_a_two_level_normal_model(rng, missing):
    y, cl, *_ = random_twolevel(rng, 3, [3, 4, 2, 5, 3, 6], missing)
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    model = _user_model(stats, 3)
    point = model.initial_point()
    point = {k: v + 0.1 * rng.normal(size=np.shape(v)) for k, v in point.items()}
    d2 = model.compile_d2logp(negate_output=False)(point)
    dlogp = model.compile_dlogp()
    flat = np.concatenate([np.ravel(point[v.name]) for v in model.value_vars])
    sizes = [int(np.size(point[v.name])) for v in model.value_vars]

    def grad_at(x):
        parts = np.split(x, np.cumsum(sizes)[:-1])
        return dlogp({v.name: part.reshape(np.shape(point[v.name]))
                      for v, part in zip(model.value_vars, parts)})

    h = 1e-6
    fd = np.array([(grad_at(flat + h * e) - grad_at(flat - h * e)) / (2 * h)
                   for e in np.eye(len(flat))])
    assert np.abs(d2 - fd).max() <= 1e-6 * np.abs(d2).max()
    with model:
        neg = pm.find_hessian(point, negate_output=True)
    np.testing.assert_allclose(neg, -d2, rtol=1e-12, atol=1e-12 * np.abs(d2).max())
