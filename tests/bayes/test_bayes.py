"""Bayesian estimation: model.sample, priors, posterior predictive p-value, edge tables.

Fast tests check structure with tiny runs or synthetic posteriors; the statistical claims
(convergence, agreement with ML, LOO, ppp, edge separation, coverage) are slow tests:
``.venv/bin/python -m pytest -m slow tests/bayes``.
"""

import json

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats as sps

import pm_mlvm as pmv
from pm_mlvm.bayes.sample import bayesian_model

TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


@pytest.fixture(scope="module")
def seed_model():
    return pmv.ml_lvm(pmv.load_seed_example(), TWO, clusters="cluster")


def _ggm_cov(omega, sd):
    d = np.diag(sd)
    return d @ np.linalg.inv(np.eye(len(sd)) - omega) @ d


@pytest.fixture(scope="module")
def small_run():
    df = pmv.simulate_twolevel(25, 6, np.zeros(4), np.eye(4) + 0.5, 0.3 * np.eye(4) + 0.2,
                               rng=3)
    df["cluster"] = "school_" + df["cluster"].astype(str)
    model = pmv.ml_lvm(df, {"F": ["y1", "y2", "y3", "y4"]}, clusters="cluster",
                       between_latent="ggm")
    idata = model.sample(draws=100, tune=100, chains=2, random_seed=1, cores=1,
                         progressbar=False)
    return df, model, idata


def test_sample_returns_free_parameters_matrices_and_per_cluster_loglik(small_run):
    df, model, idata = small_run
    post = idata.posterior
    free = [name for name, mat in model.spec.matrices.items() if mat.n_free]
    assert set(post.data_vars) == set(free)
    assert list(post["lambda"].coords["lambda_cell"].values) == \
        model.spec.matrices["lambda"].cell_labels()
    mats = idata.matrices
    assert {"lambda", "sigma_zeta_between", "mu", "sigma_within", "sigma_between"} <= \
        set(mats.data_vars)
    assert mats["lambda"].dims[2:] == ("variable", "latent")
    assert list(mats["sigma_within"].coords["variable"].values) == ["y1", "y2", "y3", "y4"]
    loglik = idata.log_likelihood["y"]
    assert loglik.dims == ("chain", "draw", "cluster") and loglik.shape[-1] == 25
    assert list(loglik.coords["cluster"].values) == list(model.stats.cluster_labels)
    np.testing.assert_array_equal(idata.observed_data["y"].to_numpy(),
                                  df[["y1", "y2", "y3", "y4"]].to_numpy())
    attrs = post.attrs
    assert attrs["pm_mlvm_version"] and json.loads(attrs["pm_mlvm_model"])["types"][
        "zeta_between"] == "ggm"


def test_summary_of_a_ready_model_has_no_nan_rhat_and_no_warnings(small_run):
    import warnings

    _, model, idata = small_run
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = az.summary(idata)
    assert len(summary) == model.spec.npar
    assert not summary["r_hat"].isna().any()


def test_posterior_predictive_has_the_layout_and_ppc_and_loo_pit_plot(small_run, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pm_mlvm.bayes.sample import loo_pit_log_weights

    df, model, idata = small_run
    model.sample_posterior_predictive(idata, random_seed=2, progressbar=False)
    pred = idata.posterior_predictive["y"]
    assert pred.dims == ("chain", "draw", "row", "variable")
    assert pred.shape == (2, 100, len(df), 4)
    for name, draw in (("ppc", lambda: az.plot_ppc(idata, num_pp_samples=20)),
                       ("loo_pit", lambda: az.plot_loo_pit(
                           idata, y="y",
                           log_weights=loo_pit_log_weights(idata, df["cluster"])))):
        draw()
        png = tmp_path / f"{name}.png"
        plt.gcf().savefig(png)
        plt.close("all")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bayesian_model_is_the_sampled_model_with_priors_and_prior_predictive(small_run):
    df, model, _ = small_run
    pm_model = model.bayesian_model()
    assert isinstance(pm_model, pm.Model)
    assert [v.name for v in pm_model.observed_RVs] == ["y"]
    prior = pm.sample_prior_predictive(draws=5, model=pm_model, random_seed=1)
    assert prior.prior_predictive["y"].shape == (1, 5, len(df), 4)


def test_var_names_and_return_inferencedata_pass_through(small_run):
    _, model, _ = small_run
    idata = model.sample(draws=5, tune=5, chains=1, random_seed=1, cores=1,
                         progressbar=False, var_names=["lambda", "sigma_between"])
    assert list(idata.posterior.data_vars) == ["lambda"]
    assert list(idata.matrices.data_vars) == ["lambda", "sigma_between"]  # both groups
    trace = model.sample(draws=5, tune=5, chains=1, random_seed=1, cores=1,
                         progressbar=False, return_inferencedata=False)
    assert len(trace) == 5
    with pytest.raises(pmv.MLVMInputError, match=r"var_names: unknown name\(s\) \['gamma'\]"):
        model.sample(draws=5, tune=5, chains=1, var_names=["gamma"])
    with pytest.raises(pmv.MLVMInputError, match="return_inferencedata='no' is not valid"):
        model.sample(draws=5, tune=5, chains=1, return_inferencedata="no")


def test_default_priors_are_scale_aware_and_overridable(seed_model):
    built = bayesian_model(seed_model)
    m = built.model
    assert isinstance(m["lambda__free"].owner.op, type(pm.Normal.dist(0, 1).owner.op))
    custom = bayesian_model(seed_model, priors={"lambda": pm.Normal.dist(0.0, 0.5)})
    value = np.array([0.3, -0.2, 0.1, 0.4])
    logp = custom.model.compile_logp(vars=[custom.model["lambda__free"]])(
        {**custom.model.initial_point(), "lambda__free": value})
    assert logp == pytest.approx(sps.norm(0, 0.5).logpdf(value).sum())
    # nu's prior is centred on the data means
    mu0 = m["nu__free"].owner.inputs[2].eval()
    np.testing.assert_allclose(mu0, seed_model.stats.total_mean)
    with pytest.raises(ValueError, match="priors: unknown keys \\['gamma'\\]"):
        bayesian_model(seed_model, priors={"gamma": pm.Normal.dist()})
    with pytest.raises(ValueError, match="sparsity='lasso'"):
        bayesian_model(seed_model, sparsity="lasso")


def test_ggm_prior_keeps_i_minus_omega_positive_definite():
    data = pmv.simulate_twolevel(20, 5, np.zeros(5), np.eye(5), 0.5 * np.eye(5), rng=1)
    model = pmv.ml_lnm(data, None, clusters="cluster")
    built = bayesian_model(model)
    omega = pm.draw(built.model["omega_zeta_between"], draws=300, random_seed=2)
    eig = np.linalg.eigvalsh(np.eye(5)[None] - omega)
    assert eig.min() > 0
    assert np.abs(omega).max() < 1


def test_full_latent_covariance_prior_is_positive_definite_by_construction(seed_model):
    built = bayesian_model(seed_model)
    names = {v.name for v in built.model.free_RVs}
    assert "sigma_zeta_between__free" in names  # one joint LKJ group, not diag / offdiag
    assert "sigma_zeta_between__free_diag" not in names
    draws = pm.draw(built.model["sigma_zeta_between"], draws=300, random_seed=4)
    assert np.linalg.eigvalsh(draws).min() > 0
    # an override of the block falls back to per-cell priors
    custom = bayesian_model(seed_model, priors={"sigma_zeta_between_diag": pm.HalfNormal.dist(1)})
    assert "sigma_zeta_between__free_diag" in {v.name for v in custom.model.free_RVs}


def test_horseshoe_option_shrinks_partial_correlations_with_hyperparameters():
    data = pmv.simulate_twolevel(20, 5, np.zeros(5), np.eye(5), 0.5 * np.eye(5), rng=1)
    built = bayesian_model(pmv.ml_lnm(data, None, clusters="cluster"), sparsity="horseshoe")
    names = set(built.model.named_vars)
    assert {"omega_zeta_within__free_tau", "omega_zeta_within__free_c2"} <= names
    omega = pm.draw(built.model["omega_zeta_within"], draws=300, random_seed=3)
    off = omega[:, np.tril_indices(5, -1)[0], np.tril_indices(5, -1)[1]]
    assert np.abs(off).max() < 1
    assert np.median(np.abs(off)) < 0.1  # most edges shrunk towards zero


def test_edge_table_summarises_every_edge():
    rng = np.random.default_rng(0)
    draws = np.zeros((2, 400, 3, 3))
    draws[..., 1, 0] = draws[..., 0, 1] = rng.normal(0.4, 0.05, size=(2, 400))
    draws[..., 2, 0] = draws[..., 0, 2] = rng.normal(0.0, 0.03, size=(2, 400))
    idata = az.from_dict(posterior={"omega_zeta_between": draws},
                         coords={"latent": ["a", "b", "c"], "latent_": ["a", "b", "c"]},
                         dims={"omega_zeta_between": ["latent", "latent_"]})
    table = pmv.edge_table(idata, "omega_zeta_between", threshold=0.1)
    assert len(table) == 3
    top = table.iloc[0]
    assert (top["row"], top["col"]) == ("b", "a") and top["prob_nonzero"] == 1.0
    assert top["hdi_lower"] < 0.4 < top["hdi_upper"]
    assert table.set_index(["row", "col"]).loc[("c", "a"), "prob_nonzero"] < 0.01
    with pytest.raises(pmv.MLVMInputError, match="not in the posterior"):
        pmv.edge_table(idata, "omega_zeta_within")
    for kwargs, message in ((dict(threshold=-0.1), r"threshold=-0.1 is not valid"),
                            (dict(hdi_prob=1.0), r"hdi_prob=1.0 is not valid; it must be a "
                             r"number in \(0, 1\)"),
                            (dict(hdi_prob="0.9"), r"hdi_prob='0.9' is not valid")):
        with pytest.raises(pmv.MLVMInputError, match=message):
            pmv.edge_table(idata, "omega_zeta_between", **kwargs)
    with pytest.raises(pmv.MLVMInputError, match=r"idata must be .*; got ndarray"):
        pmv.edge_table(draws, "omega_zeta_between")


def _fake_posterior(fit, n=40):
    implied = fit.implied()
    post = {k: np.broadcast_to(implied[k].to_numpy(), (1, n, *implied[k].shape)).copy()
            for k in ("mu", "sigma_within", "sigma_between")}
    return az.from_dict(posterior=post)


def test_ppp_rejects_a_clearly_misspecified_model(seed_model):
    one = pmv.ml_lvm(pmv.load_seed_example(), {"F": [f"y{k}" for k in range(1, 7)]},
                     clusters="cluster")
    result = pmv.ppp(one, _fake_posterior(one.fit()), n_draws=30, random_seed=1)
    assert result.ppp < 0.05
    assert result.observed.shape == result.replicated.shape == (30,)
    frame = result.to_frame()
    assert list(frame.columns) == ["observed", "replicated"]
    good = pmv.ppp(seed_model, _fake_posterior(seed_model.fit()), n_draws=30, random_seed=1)
    assert good.ppp > 0.1


# ----------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_ppp_refuses_a_posterior_of_another_model(seed_model):
    p = seed_model.stats.n_vars
    post = {"mu": np.zeros((1, 5, p - 1)), "sigma_within": np.ones((1, 5, p - 1, p - 1)),
            "sigma_between": np.ones((1, 5, p - 1, p - 1))}
    with pytest.raises(pmv.MLVMInputError, match=r"idata.posterior\['mu'\] has shape \(5,\) "
                       r"per draw; this model needs \(6,\)"):
        pmv.ppp(seed_model, az.from_dict(posterior=post))
    with pytest.raises(pmv.MLVMInputError, match=r"idata.posterior has no 'sigma_within'"):
        pmv.ppp(seed_model, az.from_dict(posterior={"mu": np.zeros((1, 5, p))}))


@pytest.mark.parametrize("kwargs,message", [
    (dict(chains=0), r"chains=0 is not valid"),
    (dict(draws=0), r"draws=0 is not valid"),
    (dict(tune=-5), r"tune=-5 is not valid"),
    (dict(tagret_accept=0.9), r"unknown keyword\(s\) \['tagret_accept'\]"),
])
def test_sample_mlvm_checks_its_arguments_before_building_the_model(seed_model, kwargs,
                                                                    message, monkeypatch):
    import pm_mlvm.bayes.sample as sample_module

    def never(*args, **kw):
        raise AssertionError("the model was built before the arguments were checked")

    monkeypatch.setattr(sample_module, "bayesian_model", never)
    with pytest.raises(pmv.MLVMInputError, match=message):
        sample_module.sample_mlvm(seed_model, **kwargs)


def test_seed_example_posterior_converges_and_agrees_with_ml():
    model = pmv.ml_lvm(pmv.simulate_seed_design(n_clusters=200, rng=5), TWO, clusters="cluster")
    idata = model.sample(draws=1000, tune=1000, chains=2, random_seed=3, cores=2)
    assert int(idata.sample_stats["diverging"].sum()) == 0
    fit = model.fit()
    names = ["lambda", "nu", "sigma_zeta_within", "sigma_zeta_between",
             "sigma_epsilon_within", "sigma_epsilon_between"]
    summary = az.summary(idata, var_names=names)
    assert summary["r_hat"].max() <= 1.01
    assert summary["ess_bulk"].min() >= 400
    for name in names:
        post = idata.matrices[name].mean(("chain", "draw")).to_numpy().reshape(-1)
        ml = fit.matrix(name).to_numpy().reshape(-1)
        np.testing.assert_allclose(post, ml, atol=0.1)


@pytest.mark.slow
def test_loo_prefers_the_true_model_and_ppp_separates():
    data = pmv.load_seed_example()
    good = pmv.ml_lvm(data, TWO, clusters="cluster")
    bad = pmv.ml_lvm(data, {"F": [f"y{k}" for k in range(1, 7)]}, clusters="cluster")
    ig = good.sample(draws=500, tune=700, chains=2, random_seed=1, cores=2)
    ib = bad.sample(draws=500, tune=700, chains=2, random_seed=1, cores=2)
    assert az.loo(ig).n_data_points == 60
    table = az.compare({"two": ig, "one": ib})
    assert table.index[0] == "two"
    assert 0.1 < pmv.ppp(good, ig, random_seed=1).ppp < 0.9
    assert pmv.ppp(bad, ib, random_seed=1).ppp < 0.05


@pytest.mark.slow
def test_edge_table_separates_true_and_absent_between_edges():
    p = 5
    ob = np.zeros((p, p))
    ob[1, 0], ob[3, 2], ob[4, 1] = 0.45, -0.4, 0.4
    ob = ob + ob.T
    data = pmv.simulate_twolevel(200, 10, np.zeros(p), np.eye(p), _ggm_cov(ob, np.ones(p)),
                                 rng=8)
    model = pmv.ml_lnm(data, None, clusters="cluster")
    idata = model.sample(draws=500, tune=700, chains=2, random_seed=2, cores=2)
    table = pmv.edge_table(idata, "omega_zeta_between").set_index(["row", "col"])
    true = {("y2", "y1"), ("y4", "y3"), ("y5", "y2")}
    present = table.loc[[k for k in table.index if k in true], "prob_nonzero"]
    absent = table.loc[[k for k in table.index if k not in true], "prob_nonzero"]
    assert present.min() > absent.max()


@pytest.mark.slow
def test_nutpie_sampler_works_where_installed():
    pytest.importorskip("nutpie")  # optional: pip install nutpie
    model = pmv.ml_lvm(pmv.load_seed_example(), TWO, clusters="cluster")
    idata = model.sample(draws=300, tune=300, chains=2, random_seed=1, nuts_sampler="nutpie")
    assert int(idata.sample_stats["diverging"].sum()) == 0
    assert idata.log_likelihood["y"].shape[-1] == 60
    assert "lambda" in idata.posterior


def test_posterior_factor_scores_apply_the_ml_score_map_to_each_draw(small_run):
    from pm_mlvm.bayes.scores import theta_draws

    df, model, idata = small_run
    thetas = theta_draws(model.spec, idata)
    assert thetas.shape == (200, model.spec.npar)
    # the θ read from the posterior rebuilds that draw's full matrices exactly
    lam = model.spec.derived_matrices(thetas[0])["lambda"]
    first = idata.matrices["lambda"].stack(sample=("chain", "draw")).transpose("sample", ...)
    np.testing.assert_allclose(lam, first.to_numpy()[0], rtol=1e-12)
    # one draw at the ML estimates gives the ML factor scores (exact oracle)
    fit = model.fit()
    for level in ("within", "between"):
        post = model.posterior_factor_scores(idata, level=level, max_draws=50)
        ml = fit.factor_scores(level=level)
        assert post.mean.shape == ml.shape and list(post.mean.index) == list(ml.index)
        assert post.draws.shape == (50, *ml.shape) and (post.sd.to_numpy() > 0).all()
        assert np.corrcoef(post.mean.to_numpy().ravel(), ml.to_numpy().ravel())[0, 1] > 0.95
    from pm_mlvm.ml.scores import scores_frame

    at_ml = scores_frame(model.spec, model.spec.derived_matrices(fit.theta), df, "cluster",
                         "between")
    pd.testing.assert_frame_equal(at_ml, fit.factor_scores(level="between"))


def _same_layout(a, b):
    warmup = {"warmup_posterior", "warmup_sample_stats"}  # nutpie keeps its warm-up draws
    assert set(a.groups()) - warmup == set(b.groups()) - warmup
    for group in ("posterior", "matrices", "log_likelihood"):
        assert set(a[group].data_vars) == set(b[group].data_vars), group
        for name, var in b[group].data_vars.items():
            assert a[group][name].dims == var.dims, (group, name)


def test_a_nutpie_run_has_the_layout_of_a_pymc_run_and_matrices_from_its_draws():
    # with nutpie the deterministics are computed after sampling, not by nutpie
    pytest.importorskip("nutpie")
    from pm_mlvm.bayes.scores import theta_draws
    from pm_mlvm.spec.moments import MomentMap

    model = pmv.ml_lvm(pmv.load_seed_example(), TWO, clusters="cluster")
    nut = model.sample(draws=20, tune=20, chains=1, random_seed=1, nuts_sampler="nutpie",
                       progressbar=False)
    ref = model.sample(draws=5, tune=5, chains=1, random_seed=1, progressbar=False)
    _same_layout(nut, ref)
    thetas = theta_draws(model.spec, nut)
    sigma_b = nut.matrices["sigma_between"].stack(sample=("chain", "draw"))
    sigma_b = sigma_b.transpose("sample", ...).to_numpy()
    moments = MomentMap(model.spec)
    for k in (0, 7, 19):
        np.testing.assert_allclose(moments.moments(thetas[k])[2], sigma_b[k], rtol=1e-12)
