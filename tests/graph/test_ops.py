"""The likelihood Ops: analytic gradients (verify_grad), agreement with the reference graph,
failure as a value, shapes, and reuse of a compiled function on new data."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import verify_grad

import pm_mlvm as pmv
from pm_mlvm.graph import ops
from pm_mlvm.graph.reference import reference_loglik, reference_loglik_per_cluster
from tests.oracles import random_twolevel

FAST = "FAST_COMPILE"


def _pd_map(p):
    """Unconstrained (mu, A_w, A_b) -> (mu, A_w A_w' + I/2, A_b A_b' + I/10): always PD."""

    def moments(mu, a_w, a_b):
        return mu, a_w @ a_w.T + 0.5 * pt.eye(p), a_b @ a_b.T + 0.1 * pt.eye(p)

    return moments


@pytest.mark.parametrize("missing", [0.0, 0.15], ids=["complete", "missing"])
@pytest.mark.parametrize("per_cluster", [False, True], ids=["total", "per-cluster"])
def test_analytic_gradient_passes_verify_grad(rng, missing, per_cluster):
    p = 3
    y, cl, *_ = random_twolevel(rng, p, [2, 5, 1, 3, 4, 4, 2], missing)
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    moments = _pd_map(p)
    weights = rng.uniform(0.5, 1.5, size=stats.n_clusters)

    def f(mu, a_w, a_b):
        m, w, b = moments(mu, a_w, a_b)
        if per_cluster:  # a non-uniform weighting exercises the weighted-gradient Op
            return pt.sum(weights * ops.loglik_per_cluster(stats, m, w, b))
        return ops.loglik(stats, m, w, b)

    point = [rng.normal(size=p), np.eye(p) + 0.2 * rng.normal(size=(p, p)),
             0.6 * np.eye(p) + 0.1 * rng.normal(size=(p, p))]
    # verify_grad takes one-sided differences (error ~ step × curvature ≈ 1e-6 here); the
    # central-difference checks of tests/likelihood hold the gradients to 1e-8
    verify_grad(f, point, rng=rng, mode=FAST, abs_tol=1e-5, rel_tol=1e-5)


@pytest.mark.parametrize(
    "p,sizes,missing",
    [(3, [2, 5, 1, 3, 4, 4, 2], 0.0), (2, [1, 1, 1, 1, 1], 0.0), (3, [2, 5, 1, 3, 4], 0.2),
     (4, [6, 6, 6, 6], 0.0)],
)
def test_op_and_reference_graph_agree_in_value_and_gradient(rng, p, sizes, missing):
    y, cl, mu0, sw0, sb0 = random_twolevel(rng, p, sizes, missing)
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    mu, sw, sb = pt.dvector("mu"), pt.dmatrix("sw"), pt.dmatrix("sb")
    weights = rng.uniform(0.5, 1.5, size=stats.n_clusters)
    op_total = ops.loglik(stats, mu, sw, sb)
    op_weighted = pt.sum(weights * ops.loglik_per_cluster(stats, mu, sw, sb))
    ref_total = reference_loglik(stats, mu, sw, sb)
    outputs = [op_total, *pytensor.grad(op_total, [mu, sw, sb]),
               ref_total, *pytensor.grad(ref_total, [mu, sw, sb])]
    if stats.has_missing:
        ref_weighted = pt.sum(weights * reference_loglik_per_cluster(stats, mu, sw, sb))
        outputs += [op_weighted, *pytensor.grad(op_weighted, [mu, sw, sb]),
                    ref_weighted, *pytensor.grad(ref_weighted, [mu, sw, sb])]
    f = pytensor.function([mu, sw, sb], outputs, mode=FAST)
    values = f(mu0, sw0, sb0)
    for k in range(0, len(values), 8):
        op_vals, ref_vals = values[k : k + 4], values[k + 4 : k + 8]
        assert op_vals[0] == pytest.approx(ref_vals[0], rel=1e-10)
        for a, b in zip(op_vals[1:], ref_vals[1:]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())


def test_non_pd_input_is_minus_infinity_with_zero_gradient_not_an_exception(rng):
    y, cl, mu0, sw0, sb0 = random_twolevel(rng, 2, [3, 3, 3])
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    mu, sw, sb = pt.dvector("mu"), pt.dmatrix("sw"), pt.dmatrix("sb")
    total = ops.loglik(stats, mu, sw, sb)
    f = pytensor.function([mu, sw, sb], [total, *pytensor.grad(total, [mu, sw, sb]),
                                         ops.loglik_per_cluster(stats, mu, sw, sb)], mode=FAST)
    logl, dmu, dw, db, per_cluster = f(mu0, -np.eye(2), sb0)
    assert logl == -np.inf and np.all(per_cluster == -np.inf)
    assert not dmu.any() and not dw.any() and not db.any()


def test_infer_shape_needs_no_evaluation(rng):
    y, cl, *_ = random_twolevel(rng, 3, [2, 3, 4, 1], 0.1)
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    mu, sw, sb = pt.dvector("mu"), pt.dmatrix("sw"), pt.dmatrix("sb")
    per_cluster = ops.loglik_per_cluster(stats, mu, sw, sb)
    shape_fn = pytensor.function([mu, sw, sb], per_cluster.shape, on_unused_input="ignore")
    assert tuple(shape_fn(np.zeros(3), np.eye(3), np.eye(3))) == (4,)
    node = ops.loglik(stats, mu, sw, sb).owner
    assert node.op.infer_shape(None, node, [(3,), (3, 3), (3, 3)] + [None] * 8)[0] == ()


def test_a_compiled_function_is_reused_on_new_data_of_the_same_structure(rng):
    y1, cl1, mu0, sw0, sb0 = random_twolevel(rng, 3, [4, 5, 6, 4, 5])
    y2, cl2, *_ = random_twolevel(rng, 3, [2, 2, 9, 3, 3, 7, 1])
    s1, s2 = pmv.TwoLevelStats.from_arrays(y1, cl1), pmv.TwoLevelStats.from_arrays(y2, cl2)
    route, shared = ops.data_inputs(s1, shared=True)
    mu, sw, sb = pt.dvector("mu"), pt.dmatrix("sw"), pt.dmatrix("sb")
    f = pytensor.function([mu, sw, sb], ops.loglik((route, shared), mu, sw, sb))
    assert f(mu0, sw0, sb0) == pytest.approx(pmv.twolevel_loglik(s1, mu0, sw0, sb0), rel=1e-12)
    for var, value in zip(shared, ops.data_arrays(s2)[1]):
        var.set_value(value)
    assert f(mu0, sw0, sb0) == pytest.approx(pmv.twolevel_loglik(s2, mu0, sw0, sb0), rel=1e-12)


def test_wrong_inputs_raise_type_errors_naming_them(rng):
    y, cl, *_ = random_twolevel(rng, 2, [2, 3])
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    route, inputs = ops.data_inputs(stats)
    with pytest.raises(TypeError, match="sigma_within must have 2 dimension"):
        ops.TwoLevelLogLik(route)(pt.dvector(), pt.dvector(), pt.dmatrix(), *inputs)
    with pytest.raises(TypeError, match="takes 8 statistics inputs"):
        ops.TwoLevelLogLik(route)(pt.dvector(), pt.dmatrix(), pt.dmatrix(), *inputs[:3])
    with pytest.raises(ValueError, match="route must be one of"):
        ops.TwoLevelLogLik("wide")
