"""The compact LKJ Cholesky covariance prior is PyMC's LKJCholeskyCov: same density (any n,
η, sd), same transform and support point, covariance cells equal to (L Lᵀ)[rows, cols]."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest

from pm_mlvm.bayes.priors import PackedLKJCholeskyCov


def _packed(rng, n):
    low = np.tril(rng.normal(size=(n, n)))
    low[np.diag_indices(n)] = np.exp(rng.normal(size=n))
    return low, low[np.tril_indices(n)]  # row-major packing, as PyMC's


def _pymc_log_normaliser(n, eta):
    from pymc.distributions.multivariate import _lkj_normalizing_constant

    return float(_lkj_normalizing_constant(eta, n).eval())


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("eta", [1.0, 2.0, 3.5])
def test_density_is_pymcs_lkj_cholesky_cov_with_the_normalising_constant_corrected(rng, n, eta):
    sd = 0.7 + rng.random()
    prior = PackedLKJCholeskyCov(n, eta, sd)
    value = pt.dvector("value")
    ours = pytensor.function([value], prior.logp(value, pt.constant(sd)))
    theirs = pytensor.function([value], pm.logp(pm.LKJCholeskyCov.dist(
        n=n, eta=eta, sd_dist=pm.HalfNormal.dist(sd, size=n), compute_corr=False), value))
    offsets = [ours(packed) - float(theirs(packed))
               for packed in (_packed(rng, n)[1] for _ in range(4))]
    assert np.ptp(offsets) < 1e-12  # the same function of the value
    # PyMC adds -log c where log c belongs (its gammaln is good to ~1e-9 only)
    assert offsets[0] == pytest.approx(-2.0 * _pymc_log_normaliser(n, eta), abs=1e-7)


@pytest.mark.parametrize("eta", [1.0, 2.0, 3.5])
def test_the_lkj_correlation_density_integrates_to_one(eta):
    # n = 2: c ∫ (1 - r²)^(η-1) dr over (-1, 1); n = 3: over the elliptope of (r12, r13, r23)
    grid = np.linspace(-1.0, 1.0, 4001)[1:-1]
    step = grid[1] - grid[0]
    c2 = np.exp(PackedLKJCholeskyCov(2, eta, 1.0).log_normaliser)
    assert c2 * np.sum((1.0 - grid**2) ** (eta - 1.0)) * step == pytest.approx(1.0, abs=2e-3)
    g = np.linspace(-1.0, 1.0, 161)[1:-1]
    step = g[1] - g[0]
    a, b, c = np.meshgrid(g, g, g, indexing="ij")
    det = 1.0 - a**2 - b**2 - c**2 + 2.0 * a * b * c
    inside = det > 0
    c3 = np.exp(PackedLKJCholeskyCov(3, eta, 1.0).log_normaliser)
    total = c3 * np.sum(det[inside] ** (eta - 1.0)) * step**3
    assert total == pytest.approx(1.0, abs=2e-2)


def test_the_registered_variable_has_pymcs_transform_draws_and_support_point(rng):
    prior = PackedLKJCholeskyCov(3, 2.0, 1.5)
    reference = pm.LKJCholeskyCov.dist(n=3, eta=2.0, sd_dist=pm.HalfNormal.dist(1.5, size=3),
                                       compute_corr=False)
    with pm.Model() as ours:
        ours.register_rv(prior.dist(), "L", transform=prior.transform)
    with pm.Model() as theirs:
        theirs.register_rv(reference, "L")
    mine, pymcs = ours.rvs_to_transforms[ours["L"]], theirs.rvs_to_transforms[theirs["L"]]
    v = rng.normal(size=6) * 3.0
    x = pt.constant(v)
    for method in ("backward", "log_jac_det"):
        np.testing.assert_allclose(getattr(mine, method)(x).eval(),
                                   getattr(pymcs, method)(x).eval(), rtol=1e-14)
    low = pymcs.backward(x).eval()
    np.testing.assert_allclose(mine.forward(pt.constant(low)).eval(), v, rtol=1e-13)
    point = theirs.initial_point()
    assert ours.initial_point().keys() == point.keys()
    np.testing.assert_array_equal(ours.initial_point()["L_cholesky-cov-packed__"],
                                  point["L_cholesky-cov-packed__"])
    offsets = []  # the whole log density, Jacobian included, on the unconstrained scale
    for _ in range(3):
        x = {"L_cholesky-cov-packed__": rng.normal(size=6)}
        offsets.append(ours.compile_logp()(x) - theirs.compile_logp()(x))
    assert np.ptp(offsets) < 1e-11
    assert offsets[0] == pytest.approx(-2.0 * _pymc_log_normaliser(3, 2.0), abs=1e-7)
    draws = pm.draw(prior.dist(), draws=200, random_seed=1)
    assert draws.shape == (200, 6)
    assert np.all(draws[:, [0, 2, 5]] > 0)  # diagonal of L


def test_cells_are_the_covariance_cells(rng):
    prior = PackedLKJCholeskyCov(4, 2.0, 1.0)
    low, packed = _packed(rng, 4)
    rows, cols = np.tril_indices(4)
    order = np.lexsort((rows, cols))  # column-major, as a matrix's free cells
    rows, cols = rows[order], cols[order]
    got = prior.cells(pt.constant(packed), rows, cols).eval()
    np.testing.assert_allclose(got, (low @ low.T)[rows, cols], rtol=1e-13)
