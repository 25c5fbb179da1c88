"""The moment program: compose_moments written out as straight-line code with its reverse pass
equals the MomentMap (values, Jacobian-transpose products) and finite differences."""

import pickle
from dataclasses import replace

import numpy as np
import pytest

from pm_mlvm.spec.mlvm import build_spec
from pm_mlvm.spec.moments import MomentMap
from pm_mlvm.spec.program import NUMPY_OPERATIONS, OPERATIONS, MomentProgram, moment_program
from tests.spec.test_moments import NAMES, SPECS, TWO, _theta

PROGRAM_SPECS = {
    **SPECS,
    "lambda_fixed_network": dict(lambda_=None, within_latent="ggm", between_latent="prec"),
    "latent_intercepts": dict(lambda_=TWO, beta_between=np.array([[0, 1], [0, 0]])),
}


@pytest.fixture(params=list(PROGRAM_SPECS), ids=list(PROGRAM_SPECS))
def spec(request):
    spec = build_spec(NAMES, **PROGRAM_SPECS[request.param])
    if request.param == "latent_intercepts":  # as a later group frees them: μ = ν + Λ B ν_η
        nu_eta = spec.matrices["nu_eta"]
        spec = spec.with_matrix(replace(nu_eta, free=np.ones(nu_eta.shape, bool)))
    return spec


def _cotangents(spec, rng):
    p = spec.n_vars
    return rng.normal(size=p), rng.normal(size=(p, p)), rng.normal(size=(p, p))


def test_forward_equals_the_moment_map(spec, rng):
    program, mm = moment_program(spec), MomentMap(spec)
    for _ in range(3):
        theta = _theta(spec, rng)
        for got, want in zip(program.forward(theta), mm.moments(theta)):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def test_vjp_equals_the_exact_jacobian_transpose(spec, rng):
    program, mm = moment_program(spec), MomentMap(spec)
    theta = _theta(spec, rng)
    g = _cotangents(spec, rng)
    want = mm.derivatives(theta).chain(*g)
    np.testing.assert_allclose(program.vjp(theta, *g), want, rtol=1e-11,
                               atol=1e-11 * np.abs(want).max())


def test_vjp_equals_central_finite_differences(spec, rng):
    program = moment_program(spec)
    theta = _theta(spec, rng)
    g = _cotangents(spec, rng)

    def paired(t):
        return sum(np.sum(m * c) for m, c in zip(program.forward(t), g))

    h = 1e-6
    fd = np.array([(paired(theta + h * e) - paired(theta - h * e)) / (2 * h)
                   for e in np.eye(spec.npar)])
    np.testing.assert_allclose(program.vjp(theta, *g), fd, rtol=1e-6,
                               atol=1e-7 * np.abs(fd).max())


def test_the_program_holds_only_what_depends_on_theta():
    # the seed CFA: Λ Ψ Λᵀ + Θ per level, symmetrised: fixed zero blocks, identities and
    # B = 0 are folded away
    spec = build_spec(NAMES, lambda_=TWO)
    program = moment_program(spec)
    ops = [op for op, *_ in program._tape.instructions if op not in ("const", "leaf")]
    assert "inv" not in ops
    assert ops.count("dot") == 4
    assert program.n_operations == len(ops)


def test_equal_specs_give_one_program_and_it_pickles_by_spec():
    a = moment_program(build_spec(NAMES, lambda_=TWO))
    b = MomentProgram(build_spec(NAMES, lambda_=TWO))
    assert a == b and hash(a) == hash(b)
    c = moment_program(build_spec(NAMES, lambda_=TWO, within_latent="ggm"))
    assert a != c
    clone = pickle.loads(pickle.dumps(a))
    assert clone == a
    theta = np.linspace(0.5, 1.0, a.npar)
    for x, y in zip(clone.forward(theta), a.forward(theta)):
        np.testing.assert_array_equal(x, y)


def test_the_source_calls_only_the_named_operations():
    program = moment_program(build_spec(NAMES, **SPECS["every_structure"]))
    assert set(NUMPY_OPERATIONS) == set(OPERATIONS)
    assert "np." not in program.source  # no NumPy call a backend would have to specialise
    with pytest.raises(ValueError, match="operations missing"):
        program.build({"mm": np.dot})
