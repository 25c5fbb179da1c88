"""The Ops follow PyTensor's contract: static output types, disconnected statistics inputs,
and one kernel pass for the log-density and its gradient."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import DisconnectedType

import pm_mlvm as pmv
from pm_mlvm.graph import ops
from tests.oracles import random_twolevel


@pytest.mark.parametrize("missing", [0.0, 0.2], ids=["complete", "rows"])
def test_outputs_carry_static_shapes_from_the_inputs(rng, missing):
    y, cl, *_ = random_twolevel(rng, 3, [2, 3, 4, 1, 2], missing)
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    route, inputs = ops.data_inputs(stats)
    mu = pt.tensor("mu", shape=(3,))
    sw, sb = pt.dmatrix("sw"), pt.tensor("sb", shape=(3, 3))
    total = ops.TwoLevelLogLik(route)(mu, sw, sb, *inputs)
    assert [o.type.shape for o in total] == [(), (3,), (3, 3), (3, 3)]
    per_cluster = ops.TwoLevelClusterLogLik(route)(mu, sw, sb, *inputs)
    assert [o.type.shape for o in per_cluster] == [(5,), (3,), (3, 3), (3, 3)]
    per_grad = ops.TwoLevelGradPerCluster(route)(mu, sw, sb, *inputs)
    assert [o.type.shape for o in per_grad] == [(5, 3), (5, 3, 3), (5, 3, 3)]
    # unknown static shapes stay unknown (shared statistics)
    route, shared = ops.data_inputs(stats, shared=True)
    free = ops.TwoLevelClusterLogLik(route)(pt.dvector(), pt.dmatrix(), pt.dmatrix(), *shared)
    assert free[0].type.shape == (None,) and free[2].type.shape == (None, None)


def test_statistics_inputs_are_disconnected_not_null(rng):
    y, cl, *_ = random_twolevel(rng, 2, [2, 3, 2])
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    route, inputs = ops.data_inputs(stats)
    mu, sw, sb = pt.dvector(), pt.dmatrix(), pt.dmatrix()
    for op, args in ((ops.TwoLevelLogLik(route), (mu, sw, sb)),
                     (ops.TwoLevelClusterLogLik(route), (mu, sw, sb)),
                     (ops.TwoLevelLogLikWeightedGrad(route), (pt.dvector(), mu, sw, sb))):
        node = op.make_node(*args, *inputs)
        cot = [pt.as_tensor_variable(np.ones(1)).reshape(()) if o.ndim == 0 else o.zeros_like()
               for o in node.outputs]
        grads = op.L_op(node.inputs, node.outputs, cot)
        assert all(isinstance(g.type, DisconnectedType) for g in grads[len(args):])
        assert not any(isinstance(g.type, DisconnectedType) for g in grads[:len(args)])


def test_a_two_level_normal_model_evaluates_the_kernel_once_per_logp_and_gradient(rng):
    y, cl, *_ = random_twolevel(rng, 3, [4, 4, 5, 6, 3])
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 5, shape=3)
        sd_w = pm.HalfNormal("sd_w", 2, shape=3)
        sd_b = pm.HalfNormal("sd_b", 2, shape=3)
        pmv.TwoLevelNormal("y", mu, pt.diag(sd_w ** 2), pt.diag(sd_b ** 2), observed=stats)
    fn = pytensor.function(model.value_vars, [model.logp(), model.dlogp()])
    names = [type(node.op).__name__ for node in fn.maker.fgraph.apply_nodes]
    assert names.count("TwoLevelClusterLogLik") == 1
    assert "TwoLevelLogLikWeightedGrad" not in names and "IfElse" not in names


def test_a_non_uniform_cotangent_known_only_at_run_time_uses_the_weighted_gradient(rng):
    y, cl, mu0, sw0, sb0 = random_twolevel(rng, 3, [2, 5, 1, 3])
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    mu, sw, sb, w = pt.dvector("mu"), pt.dmatrix("sw"), pt.dmatrix("sb"), pt.dvector("w")
    cost = pt.sum(w * ops.loglik_per_cluster(stats, mu, sw, sb))
    f = pytensor.function([w, mu, sw, sb], pytensor.grad(cost, [mu, sw, sb]))
    route, data = ops.data_arrays(stats)
    for weights in (np.full(4, 2.5), np.array([1.0, 0.5, 2.0, 0.0])):
        expected = ops.ROUTES[route].weighted_grad(weights, mu0, sw0, sb0, *data)
        for got, want in zip(f(weights, mu0, sw0, sb0), expected):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
