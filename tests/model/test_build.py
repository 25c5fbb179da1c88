"""The one pm.Model of an ml_lvm specification."""

import numpy as np
import pytest

import pm_mlvm as pmv

TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


@pytest.mark.parametrize("kwargs", [{}, dict(within_latent="ggm", between_residual="cor")])
def test_pymc_model_has_named_matrices_and_its_loglik_is_the_fits(kwargs):
    model = pmv.ml_lvm(pmv.load_seed_example(), TWO, clusters="cluster", **kwargs)
    fit = model.fit()
    pm_model = model.pymc_model
    for name in ("lambda", "nu", "mu", "sigma_within", "sigma_between"):
        assert name in pm_model.named_vars
    assert pm_model.named_vars_to_dims["lambda"] == ("variable", "latent")
    assert list(pm_model.coords["latent"]) == ["F1", "F2"]
    assert len(pm_model.coords["cluster"]) == 60
    # put the ML estimates into the model's free variables and evaluate its log-likelihood
    point = {}
    table = fit.spec.parameter_table()
    from pm_mlvm.model.build import _groups

    for group in _groups(fit.spec):
        rv = pm_model[group.var_name]
        value_var = pm_model.rvs_to_values[rv]
        transform = pm_model.rvs_to_transforms.get(rv)
        value = fit.theta[group.theta_index]
        if transform is not None:
            value = transform.forward(value, *rv.owner.inputs).eval()
        point[value_var.name] = value
    assert len(table) == fit.npar
    logl = pm_model.compile_logp(vars=[pm_model["y"]])(point)
    assert logl == pytest.approx(fit.logl, rel=1e-10)
    mu = pm_model.compile_fn(pm_model.replace_rvs_by_values([pm_model["mu"]])[0],
                             inputs=pm_model.value_vars, on_unused_input="ignore")(point)
    np.testing.assert_allclose(mu, fit.matrix("mu")["mu"].to_numpy(), atol=1e-12)


def test_statistics_are_constants_unless_shared_and_shared_ones_take_new_data(rng):
    from pytensor.graph.basic import Constant

    from pm_mlvm.likelihood.routes import data_arrays
    from pm_mlvm.model.build import build_pymc_model

    first = pmv.simulate_seed_design(rng=1)
    second = pmv.simulate_seed_design(rng=2)
    spec = pmv.ml_lvm(first, TWO, clusters="cluster").spec
    stats = [pmv.TwoLevelStats.from_dataframe(df, clusters="cluster") for df in (first, second)]
    assert all(isinstance(v, Constant) for v in build_pymc_model(spec, stats[0]).data_vars)
    built = build_pymc_model(spec, stats[0], shared_statistics=True)
    assert not any(isinstance(v, Constant) for v in built.data_vars)
    logp = built.model.compile_logp()
    point = built.model.initial_point()
    before = logp(point)
    for shared, array in zip(built.data_vars, data_arrays(stats[1])[1]):
        shared.set_value(array)
    fresh = build_pymc_model(spec, stats[1]).model
    assert logp(point) == pytest.approx(fresh.compile_logp()(point), rel=1e-12)
    assert logp(point) != pytest.approx(before, rel=1e-6)


def test_a_prior_factory_answering_a_malformed_tuple_gets_a_clear_error():
    import pymc as pm

    from pm_mlvm.model.build import build_pymc_model

    mlvm = pmv.ml_lvm(pmv.load_seed_example(), TWO, clusters="cluster")

    def factory(group):
        return pm.Normal.dist(size=group.size), None, None, None

    with pytest.raises(ValueError, match="prior_factory: .*tuple of 4 entries"):
        build_pymc_model(mlvm.spec, mlvm.stats, prior_factory=factory)
