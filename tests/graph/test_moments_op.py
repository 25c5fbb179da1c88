"""ImpliedMoments / ImpliedMomentsVJP: the moment map as two Ops. Values and gradients equal the
symbolic moment graph on every backend (C, Numba without object mode, JAX); second derivatives
through the VJP's own L_op equal finite differences; the Numba operations and C callbacks equal
their NumPy twins."""

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import verify_grad

from pm_mlvm.graph import backends
from pm_mlvm.graph.implied import symbolic_moments
from pm_mlvm.graph.moments import ImpliedMoments, implied_moments
from pm_mlvm.graph.numba_program import NUMBA_OPERATIONS, program_functions
from pm_mlvm.likelihood import numba_kernels as nk
from pm_mlvm.likelihood.numba_callbacks import value_grad_callback
from pm_mlvm.likelihood.routes import data_arrays
from pm_mlvm.spec.mlvm import build_spec
from pm_mlvm.spec.program import NUMPY_OPERATIONS, moment_program
from pm_mlvm.stats.twolevel import TwoLevelStats
from tests.oracles import random_twolevel
from tests.spec.test_moments import NAMES, SPECS, _theta

MODES = ["NUMBA", pytest.param("JAX", marks=pytest.mark.skipif(
    not backends.HAS_JAX, reason="jax is the optional [backends] extra"))]


@pytest.fixture(params=list(SPECS), ids=list(SPECS))
def spec(request):
    return build_spec(NAMES, **SPECS[request.param])


def _paired(moments, weights):
    """A scalar that reads every output: Σ w ⊙ (μ, Σ_W, Σ_B), plus a curved term."""
    mu, sw, sb = moments
    return ((weights[0] * mu).sum() + (weights[1] * sw).sum() + (weights[2] * sb).sum()
            + 0.1 * (sw * sb).sum())


def _weights(spec, rng):
    p = spec.n_vars
    return rng.normal(size=p), rng.normal(size=(p, p)), rng.normal(size=(p, p))


def test_the_op_has_static_shapes_and_equals_the_symbolic_graph(spec, rng):
    theta = pt.dvector("theta")
    op_out = implied_moments(spec, theta)
    assert [o.type.shape for o in op_out] == [(6,), (6, 6), (6, 6)]
    sym = symbolic_moments(spec, theta)
    w = _weights(spec, rng)
    f = pytensor.function([theta], [*op_out, pytensor.grad(_paired(op_out, w), theta)])
    g = pytensor.function([theta], [sym["mu"], sym["sigma_within"], sym["sigma_between"],
                                    pytensor.grad(_paired((sym["mu"], sym["sigma_within"],
                                                           sym["sigma_between"]), w), theta)])
    x = _theta(spec, rng)
    for a, b in zip(f(x), g(x)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11 * max(1.0, np.abs(b).max()))


def test_gradient_passes_pytensors_verify_grad(spec, rng):
    w = _weights(spec, rng)
    verify_grad(lambda t: _paired(implied_moments(spec, t), w), [_theta(spec, rng)], rng=rng)


def test_hessian_through_the_vjp_equals_finite_differences_of_the_gradient(spec, rng):
    theta = pt.dvector("theta")
    w = _weights(spec, rng)
    value = _paired(implied_moments(spec, theta), w)
    grad = pytensor.function([theta], pytensor.grad(value, theta))
    hess = pytensor.function([theta], pytensor.gradient.hessian(value, theta))
    x = _theta(spec, rng)
    h = 1e-6
    fd = np.array([(grad(x + h * e) - grad(x - h * e)) / (2 * h) for e in np.eye(len(x))])
    np.testing.assert_allclose(hess(x), fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())


def test_an_unused_output_is_a_zero_cotangent(rng):
    spec = build_spec(NAMES, **SPECS["cfa"])
    theta = pt.dvector("theta")
    _, sw, _ = implied_moments(spec, theta)
    f = pytensor.function([theta], pytensor.grad(sw.sum(), theta))
    x = _theta(spec, rng)
    program = moment_program(spec)
    p = spec.n_vars
    np.testing.assert_allclose(f(x), program.vjp(x, np.zeros(p), np.ones((p, p)),
                                                 np.zeros((p, p))))


@pytest.mark.parametrize("mode", MODES)
def test_native_backends_equal_the_c_backend_without_object_mode(spec, rng, mode):
    theta = pt.dvector("theta")
    out = implied_moments(spec, theta)
    w = _weights(spec, rng)
    outputs = [*out, pytensor.grad(_paired(out, w), theta)]
    reference = pytensor.function([theta], outputs)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*object mode.*")
        native = pytensor.function([theta], outputs, mode=mode)
        x = _theta(spec, rng)
        for a, b in zip(native(x), reference(x)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_numba_operations_equal_the_numpy_ones(rng):
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    square = rng.normal(size=(4, 4)) + 4 * np.eye(4)
    for name, args in (("mm", (a, b)), ("tr", (a,)), ("inv", (square,)), ("col", (a, 2)),
                       ("uncol", (a[:, 0], 3, 1)), ("add", (a, a)), ("scale", (-0.5, a)),
                       ("copy", (a,)), ("zeros", (3,)), ("zeros2", (2, 3))):
        np.testing.assert_allclose(NUMBA_OPERATIONS[name](*args), NUMPY_OPERATIONS[name](*args),
                                   rtol=1e-12, atol=1e-12, err_msg=name)
    # a pivot is needed, and a singular matrix is non-finite, not an exception
    perm = np.array([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(NUMBA_OPERATIONS["inv"](perm), perm)
    assert not np.isfinite(NUMBA_OPERATIONS["inv"](np.ones((2, 2)))).all()


def test_program_callbacks_equal_the_program_with_fortran_ordered_inputs(rng):
    spec = build_spec(NAMES, **SPECS["every_structure"])
    program = moment_program(spec)
    forward, vjp = program_functions(program)
    x = _theta(spec, rng)
    for a, b in zip(forward(x), program.forward(x)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    g_mu, g_w, g_b = _weights(spec, rng)
    g_w, g_b = np.asfortranarray(g_w), g_b.T  # not C-contiguous: copied before the call
    np.testing.assert_allclose(vjp(x, g_mu, g_w, g_b), program.vjp(x, g_mu, g_w, g_b),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("missing", [0.0, 0.15], ids=["complete", "rows"])
def test_kernel_callbacks_equal_the_kernels_with_fortran_ordered_inputs(rng, missing):
    y, cl, mu, sw, sb = random_twolevel(rng, 3, [2, 5, 1, 3, 4, 4, 2], missing)
    route, data = data_arrays(TwoLevelStats.from_arrays(y, cl))
    moments = (mu, np.asfortranarray(sw), sb.T.copy().T)  # two Fortran-ordered matrices
    got = value_grad_callback(route)(*moments, *data)
    if route == "sizes":
        want = nk.complete_value_grad(mu, sw, sb, *data)
    else:
        want = nk.rows_value_grad(np.ones(data[4].shape[0]), mu, sw, sb, *data)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_ops_compare_by_program():
    a = build_spec(NAMES, **SPECS["cfa"])
    b = build_spec(NAMES, **SPECS["every_structure"])
    assert ImpliedMoments(moment_program(a)) == ImpliedMoments(moment_program(a))
    assert ImpliedMoments(moment_program(a)) != ImpliedMoments(moment_program(b))
