"""The spec → moments map: one definition, NumPy (with exact derivatives) and PyTensor agree."""

import numpy as np
import pytest

from pm_mlvm.spec.mlvm import build_spec
from pm_mlvm.spec.moments import MomentMap

NAMES = [f"y{i}" for i in range(1, 7)]
TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}
SPECS = {
    "cfa": dict(lambda_=TWO),
    "every_structure": dict(lambda_=TWO, beta_within=np.array([[0, 0], [1, 0]]),
                            within_latent="ggm", between_latent="prec",
                            within_residual="chol", between_residual="cor"),
    "observed_ggm": dict(lambda_=None, within_latent="ggm", between_latent="cov"),
    "beta_between_cor": dict(lambda_=TWO, beta_between=np.array([[0, 1], [0, 0]]),
                             between_latent="cor", within_residual="prec"),
}


def _theta(spec, rng):
    """A well-conditioned point: variances near 1, correlations and partial correlations
    small, loadings near 1, so inverses are stable for finite differences."""
    low, high = spec.bounds()
    theta = 0.05 * rng.standard_normal(spec.npar)
    table = spec.parameter_table()
    diag = (table["row"] == table["col"]).to_numpy() & (table["matrix"] != "lambda").to_numpy()
    theta[diag] = 1.0 + 0.1 * rng.random(diag.sum())
    lam = (table["matrix"] == "lambda").to_numpy()
    theta[lam] = 0.8 + 0.1 * rng.random(lam.sum())
    return np.clip(theta, low + 1e-3, high - 1e-3)


@pytest.fixture(params=list(SPECS), ids=list(SPECS))
def spec(request):
    return build_spec(NAMES, **SPECS[request.param])


def test_numpy_and_pytensor_moments_agree_for_random_theta(spec, rng):
    import pytensor
    import pytensor.tensor as pt

    from pm_mlvm.graph.implied import symbolic_moments

    x = pt.dvector("theta")
    sym = symbolic_moments(spec, x)
    f = pytensor.function([x], [sym["mu"], sym["sigma_within"], sym["sigma_between"]],
                          mode="FAST_COMPILE")
    mm = MomentMap(spec)
    for _ in range(5):
        theta = _theta(spec, rng)
        for a, b in zip(mm.moments(theta), f(theta)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_jacobian_and_second_derivatives_equal_finite_differences(spec, rng):
    mm = MomentMap(spec)
    theta = _theta(spec, rng)
    der = mm.derivatives(theta, order=2)
    h = 1e-5
    for a in range(spec.npar):
        e = np.zeros(spec.npar)
        e[a] = h
        up, down = mm.derivatives(theta + e), mm.derivatives(theta - e)
        for value_up, value_down, first in ((up.mu, down.mu, der.d_mu[a]),
                                            (up.sigma_within, down.sigma_within, der.d_w[a]),
                                            (up.sigma_between, down.sigma_between, der.d_b[a])):
            fd = (value_up - value_down) / (2 * h)
            np.testing.assert_allclose(first, fd, rtol=1e-6, atol=1e-7)
        full_w, full_b = _full(der, der.dd_w), _full(der, der.dd_b)
        for d_up, d_down, second in ((up.d_w, down.d_w, full_w[:, a]),
                                     (up.d_b, down.d_b, full_b[:, a]),
                                     (up.d_mu, down.d_mu, _full(der, der.dd_mu)[:, a])):
            fd = (d_up - d_down) / (2 * h)
            np.testing.assert_allclose(second, fd, rtol=1e-5, atol=1e-6)


def _full(der, dd):
    """Second derivatives over every parameter (zeros outside the curved set)."""
    k = der.d_mu.shape[0]
    out = np.zeros((k, k, *dd.shape[2:]))
    out[np.ix_(der.curved, der.curved)] = dd
    return out


def test_the_saturated_model_has_no_curved_parameters():
    spec = build_spec(NAMES, lambda_=None)
    assert len(MomentMap(spec).curved) == 0


def test_second_derivatives_are_symmetric_in_the_parameters(spec, rng):
    der = MomentMap(spec).derivatives(_theta(spec, rng), order=2)
    for dd in (der.dd_w, der.dd_b):
        np.testing.assert_allclose(dd, np.swapaxes(dd, 0, 1), atol=1e-12)
