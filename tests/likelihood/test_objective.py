"""The ML objective: gradient and exact observed information against finite differences."""

import numpy as np
import pytest

import pm_mlvm as pmv
from pm_mlvm.likelihood.objective import Objective
from pm_mlvm.spec.mlvm import build_spec
from tests.oracles import random_twolevel

TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


def _stats(rng, route, missing):
    y, clusters, *_ = random_twolevel(rng, 6, rng.integers(1, 7, size=25), missing=missing)
    names = [f"y{i}" for i in range(1, 7)]
    return pmv.TwoLevelStats.from_arrays(y, clusters, var_names=names, route=route)


@pytest.mark.parametrize("route,missing", [("auto", 0.0), ("rows", 0.0), ("auto", 0.15)],
                         ids=["per-size", "rows", "rows-missing"])
@pytest.mark.parametrize("kwargs", [dict(), dict(within_latent="ggm", between_residual="chol",
                                                 beta_between=np.array([[0, 1], [0, 0]]))],
                         ids=["cfa", "ggm-chol-beta"])
def test_observed_information_is_minus_the_finite_difference_hessian(rng, route, missing,
                                                                     kwargs):
    stats = _stats(rng, route, missing)
    spec = build_spec(stats.var_names, lambda_=TWO, **kwargs)
    objective = Objective(spec, stats)
    theta = _interior_theta(spec, stats, objective)
    info = objective.observed_information(theta)
    h = 1e-6
    fd = np.empty_like(info)
    for k in range(spec.npar):
        step = h * max(1.0, abs(theta[k]))
        up, down = theta.copy(), theta.copy()
        up[k] += step
        down[k] -= step
        fd[:, k] = -(objective.value_grad(up)[1] - objective.value_grad(down)[1]) / (2 * step)
    scale = np.abs(info).max()
    np.testing.assert_allclose(info, 0.5 * (fd + fd.T), atol=1e-6 * scale)


def _interior_theta(spec, stats, objective):
    from pm_mlvm.ml.fit import data_start

    theta = data_start(spec, stats)
    assert np.isfinite(objective.value(theta))
    return theta


def test_gradient_equals_finite_differences_of_the_value(rng):
    stats = _stats(rng, "auto", 0.1)
    spec = build_spec(stats.var_names, lambda_=TWO, within_latent="prec")
    objective = Objective(spec, stats)
    from pm_mlvm.ml.fit import data_start

    theta = data_start(spec, stats)
    _, grad = objective.value_grad(theta)
    for k in range(spec.npar):
        e = np.zeros(spec.npar)
        e[k] = 1e-6
        fd = (objective.value(theta + e) - objective.value(theta - e)) / 2e-6
        assert grad[k] == pytest.approx(fd, rel=1e-5, abs=1e-5)


def test_a_singular_network_structure_is_an_infeasible_point_not_an_error(rng):
    """A trial step with I − Ω singular (partial correlation 1) is -inf for the optimiser's
    line search, never a raw LinAlgError."""
    stats = _stats(rng, "auto", 0.0)
    spec = build_spec(stats.var_names, lambda_=TWO, within_latent="ggm")
    objective = Objective(spec, stats)
    theta = _interior_theta(spec, stats, objective)
    theta[spec.offsets["omega_zeta_within"]] = 1.0
    assert objective.value(theta) == -np.inf
    assert objective.value_grad(theta) == (-np.inf, None)
