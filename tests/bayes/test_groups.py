"""The Bayesian path with several groups: one pm.Model in which a parameter equal across
groups is one variable, each group's likelihood on its own data, and ArviZ output with a group
dimension and per-cluster log-likelihoods of every group."""

import warnings

import arviz as az
import numpy as np
import pytest
from pymc.model.transform.conditioning import remove_value_transforms

import pm_mlvm as pmv
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.model.build import global_param_groups
from tests.ml.test_groups import _two_group_data

LAMBDA = {"F": ["y1", "y2", "y3", "y4"]}


@pytest.fixture(scope="module")
def scalar_model():
    data = _two_group_data(n_clusters=(40, 40))
    return pmv.ml_lvm(data, lambda_=LAMBDA, clusters="cluster", groups="school",
                      equal=["lambda", "nu"])


def test_equal_parameters_are_one_variable_shared_by_the_groups(scalar_model):
    model = scalar_model.bayesian_model()
    names = {rv.name for rv in model.free_RVs}
    assert {"lambda__free", "nu__free"} <= names
    assert not any(n.startswith("lambda__free__") or n.startswith("nu__free__") for n in names)
    assert {"sigma_zeta_within__free__public", "sigma_zeta_within__free__private",
            "nu_eta__free__private"} <= names
    assert [rv.name for rv in model.observed_RVs] == ["y__public", "y__private"]


def test_likelihood_of_the_model_at_the_ml_estimates_is_the_ml_log_likelihood(scalar_model):
    fit = scalar_model.fit()
    model = remove_value_transforms(scalar_model.bayesian_model())
    point = {group.var_name: fit.theta[group.theta_index]
             for group in global_param_groups(fit.spec)}
    assert set(point) == {rv.name for rv in model.free_RVs}
    logp = model.compile_logp(vars=model.observed_RVs, jacobian=False)
    assert logp(point) == pytest.approx(fit.logl, rel=1e-10)


def test_posterior_has_clean_diagnostics_and_group_dimensions(scalar_model):
    fit = scalar_model.fit()
    idata = scalar_model.sample(draws=300, tune=300, chains=2, random_seed=2,
                                progressbar=False)
    lam = idata.posterior["lambda"]
    assert list(lam["lambda_param"].values) == ["y2,F", "y3,F", "y4,F"]
    assert "F@private" in list(idata.posterior["nu_eta"]["nu_eta_param"].values)
    assert idata.matrices["lambda"].dims[2:] == ("group", "variable", "latent")
    assert list(idata.matrices["group"].values) == ["public", "private"]
    ll = idata.log_likelihood["y"]
    assert ll.sizes["cluster"] == 80
    assert set(ll["group"].values) == {"public", "private"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = az.summary(idata)
    assert not summary["r_hat"].isna().any()
    # the posterior of the loadings sits on the ML estimates (weak priors, 80 clusters)
    est = fit.parameters().query("matrix == 'lambda' and free and group == 'public'")
    post = lam.mean(("chain", "draw")).to_numpy()
    sd = lam.std(("chain", "draw")).to_numpy()
    assert np.all(np.abs(post - est["est"].to_numpy()) < 0.5 * sd)
    assert np.isfinite(az.loo(idata).elpd_loo)


def test_sample_arguments_are_checked_before_sampling(scalar_model):
    with pytest.raises(MLVMInputError, match="draws"):
        scalar_model.sample(draws=0)
    with pytest.raises(MLVMInputError, match="var_names"):
        scalar_model.sample(draws=10, tune=10, chains=1, var_names=["lambdas"])


def test_a_nutpie_run_has_the_layout_of_a_pymc_run(scalar_model):
    pytest.importorskip("nutpie")
    from tests.bayes.test_bayes import _same_layout

    nut = scalar_model.sample(draws=20, tune=20, chains=1, random_seed=1,
                              nuts_sampler="nutpie", progressbar=False)
    ref = scalar_model.sample(draws=5, tune=5, chains=1, random_seed=1, progressbar=False)
    _same_layout(nut, ref)
