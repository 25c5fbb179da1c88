"""A structure owns its behaviour: registering a new one (in a test-local registry entry) is
enough for it to get arguments, start values, a default prior, derived matrices, dims and a
search role, and to be fitted — no other file changes (docs/developer/adding_a_structure.md)."""

import numpy as np
import pytest

import pm_mlvm as pmv
from pm_mlvm.spec.prior import PriorSpec, RolePriors
from pm_mlvm.spec.structures import STRUCTURES, VIEW_PREFIXES, Cov, MatrixRole, Structure

TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


class DiagCov(Structure):
    """Toy: a diagonal-only covariance, Σ = diag(variance)."""

    name = "diagcov"
    roles = (MatrixRole("variance", "diagonal", "diag", "diag", lower_diag=0.0,
                        priors=RolePriors(diag=PriorSpec("half_normal", "variance", 3.0))),)
    scale_role = "variance"

    def implied(self, mats, be):
        return mats["variance"]

    def start(self, cov, masks):
        return {"variance": np.diag(np.diag(cov))}


class CovNetwork(Cov):
    """Toy: a covariance whose off-diagonal cells are the network (a covariance graph)."""

    name = "covnet"
    network_role = "sigma"


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setitem(STRUCTURES, "diagcov", DiagCov())
    monkeypatch.setitem(STRUCTURES, "covnet", CovNetwork())


@pytest.fixture(scope="module")
def data():
    return pmv.load_seed_example()


def test_every_registered_structure_describes_priors_for_the_cells_its_roles_can_have():
    for structure in STRUCTURES.values():
        assert structure.roles and structure.scale_role in [r.prefix for r in structure.roles]
        assert structure.network_role in (None, *[r.prefix for r in structure.roles])
        for role in structure.roles:
            if role.kind != "offdiag":
                assert role.priors.diag is not None, (structure.name, role.prefix)
            if role.kind not in ("diagonal",):
                assert role.priors.offdiag is not None, (structure.name, role.prefix)


def test_default_derived_matrices_are_the_covariance_views(rng):
    a = rng.standard_normal((4, 4))
    cov = a @ a.T + np.eye(4)
    views = Cov().derived(cov)
    assert tuple(views) == VIEW_PREFIXES
    np.testing.assert_allclose(views["kappa"], np.linalg.inv(cov))
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(views["rho"] + np.eye(4), cov / np.outer(sd, sd))
    np.testing.assert_allclose(views["SD"], np.diag(sd))


def test_a_registered_toy_structure_gets_arguments_dims_and_derived_matrices(toys, data):
    model = pmv.ml_lvm(data, TWO, clusters="cluster", within_residual="diagcov",
                       variance_epsilon_within="diag")
    spec = model.spec
    assert spec.matrices["variance_epsilon_within"].n_free == 6
    assert spec.matrix_dims("variance_epsilon_within") == ("variable", "variable_")
    assert spec.matrix_labels("variance_epsilon_within") == (list(spec.var_names),
                                                             list(spec.var_names))
    assert spec.role_priors("variance_epsilon_within").diag.factor == 3.0
    fit = model.fit()
    # oracle: a diagonal-only covariance is the default (diagonal) cov residual block
    reference = pmv.ml_lvm(data, TWO, clusters="cluster").fit()
    assert fit.logl == pytest.approx(reference.logl, abs=1e-6)
    np.testing.assert_allclose(fit.matrix("variance_epsilon_within").to_numpy(),
                               reference.matrix("sigma_epsilon_within").to_numpy(), atol=1e-4)
    sigma = fit.matrix("sigma_epsilon_within").to_numpy()
    np.testing.assert_allclose(fit.matrix("kappa_epsilon_within").to_numpy(),
                               np.linalg.inv(sigma), rtol=1e-10)
    # the structure is not a network: searches leave it alone, and its scale matrix is no path
    assert spec.network_matrices() == []
    assert not [p for p in spec.search_candidates() if p.matrix == "variance_epsilon_within"]


def test_a_registered_toy_structure_gets_its_prior_and_model_dims(toys, data):
    from pm_mlvm.bayes.sample import bayesian_model
    import pymc as pm

    model = pmv.ml_lvm(data, TWO, clusters="cluster", within_residual="diagcov")
    built = bayesian_model(model)
    rv = built.model["variance_epsilon_within__free"]
    assert isinstance(rv.owner.op, type(pm.HalfNormal.dist(1.0).owner.op))
    scale = rv.owner.inputs[-1].eval()
    np.testing.assert_allclose(scale, 3.0 * np.diag(model.stats.total_cov))
    assert built.model.named_vars_to_dims["variance_epsilon_within"] == ("variable",
                                                                         "variable_")
    assert built.model.named_vars_to_dims["sigma_epsilon_within"] == ("variable", "variable_")


def test_a_toy_network_role_makes_its_matrix_the_default_search_target(toys, data):
    model = pmv.ml_lvm(data, TWO, clusters="cluster", between_latent="covnet",
                       within_residual="covnet")
    spec = model.spec
    assert set(spec.network_matrices()) == {"sigma_zeta_between", "sigma_epsilon_within"}
    edges = [p for p in spec.search_candidates(spec.network_matrices())]
    assert edges and all(p.matrix == "sigma_epsilon_within" and p.row != p.col for p in edges)
    assert len(edges) == 15  # the empty residual network: every pair is a candidate edge
