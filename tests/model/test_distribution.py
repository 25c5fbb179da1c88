"""TwoLevelNormal inside a user's own pm.Model."""

import numpy as np
import pymc as pm
import pytest

import pm_mlvm as pmv


@pytest.fixture
def data(rng):
    p = 3
    sw = np.array([[1.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.0]])
    sb = 0.4 * np.eye(p) + 0.1
    df = pmv.simulate_twolevel(40, (3, 8), np.array([0.5, 0.0, -0.5]), sw, sb, rng=rng)
    df["cluster"] = "c" + df["cluster"].astype(str)
    return pmv.TwoLevelStats.from_dataframe(df, clusters="cluster")


def _model(stats):
    p = stats.n_vars
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0, shape=p)
        chol_w, _, _ = pm.LKJCholeskyCov("chol_w", n=p, eta=2.0,
                                         sd_dist=pm.HalfNormal.dist(2.0, shape=p))
        chol_b, _, _ = pm.LKJCholeskyCov("chol_b", n=p, eta=2.0,
                                         sd_dist=pm.HalfNormal.dist(2.0, shape=p))
        sw = pm.Deterministic("sigma_w", chol_w @ chol_w.T)
        sb = pm.Deterministic("sigma_b", chol_b @ chol_b.T)
        pmv.TwoLevelNormal("y", mu, sw, sb, observed=stats)
    return model


def test_compiled_logp_is_priors_plus_the_two_level_loglik(data):
    model = _model(data)
    point = model.initial_point()
    point["mu"] = np.array([0.3, -0.1, 0.2])
    logp = model.compile_logp()(point)
    priors = model.compile_logp(vars=[model["mu"], model["chol_w"], model["chol_b"]])(point)
    moments = model.replace_rvs_by_values([model["sigma_w"], model["sigma_b"]])
    sw, sb = model.compile_fn(moments, inputs=model.value_vars, on_unused_input="ignore")(point)
    expected = pmv.twolevel_loglik(data, point["mu"], sw, sb)
    assert logp - priors == pytest.approx(expected, rel=1e-10)
    dlogp = model.compile_dlogp()(point)
    assert np.all(np.isfinite(dlogp))


def test_log_likelihood_is_one_value_per_cluster_labelled_by_cluster_id(data):
    model = _model(data)
    assert list(model.coords["cluster"]) == list(data.cluster_labels)
    point = model.initial_point()
    elementwise = model.compile_fn(model.logp(vars=[model["y"]], sum=False)[0])(point)
    assert elementwise.shape == (data.n_clusters,)
    assert elementwise.sum() == pytest.approx(model.compile_logp(vars=[model["y"]])(point))


def test_a_flat_model_gives_the_normal_theory_mle_for_one_variable(rng):
    # one variable, balanced: the two-level MLE has closed form (ANOVA estimators)
    df = pmv.simulate_twolevel(30, 6, [1.0], [[1.0]], [[0.5]], rng=rng)
    stats = pmv.TwoLevelStats.from_dataframe(df, clusters="cluster")
    with pm.Model():
        mu = pm.Flat("mu")
        vw = pm.HalfFlat("vw")
        vb = pm.HalfFlat("vb")
        pmv.TwoLevelNormal("y", mu[None], vw[None, None], vb[None, None], observed=stats)
        mle = pm.find_MAP(progressbar=False, maxeval=5000)
    n, j = 6, 30
    ms_within = stats.scatter_within[0, 0] / (j * (n - 1))
    means = stats.cluster_means[:, 0]
    ms_between_ml = n * np.var(means)  # ML divisor J
    assert float(mle["vw"]) == pytest.approx(ms_within, rel=1e-3)
    assert float(mle["vb"]) == pytest.approx((ms_between_ml - ms_within) / n, rel=1e-2)
    assert float(mle["mu"]) == pytest.approx(means.mean(), abs=1e-4)


def test_bad_observed_and_shapes_are_named(data):
    with pm.Model():
        with pytest.raises(pmv.MLVMInputError, match="clusters= is required with raw observed data"):
            pmv.TwoLevelNormal("y", np.zeros(3), np.eye(3), np.eye(3), observed=np.zeros(3))
        with pytest.raises(pmv.MLVMInputError, match=r"sigma_between must have shape \(3, 3\)"):
            pmv.TwoLevelNormal("y", np.zeros(3), np.eye(3), np.zeros(3), observed=data)


@pytest.mark.parametrize("arg,value", [
    ("mu", np.zeros(1)), ("mu", np.zeros(4)), ("sigma_within", np.eye(1)),
    ("sigma_between", np.eye(4)), ("sigma_within", np.ones((3, 1))),
])
def test_moments_of_the_wrong_dimension_are_refused_when_the_graph_is_built(data, arg, value):
    moments = dict(mu=np.zeros(3), sigma_within=np.eye(3), sigma_between=np.eye(3))
    moments[arg] = value
    with pm.Model():
        with pytest.raises(pmv.MLVMInputError, match=rf"{arg} must have shape .* for the "
                           r"data's p=3 variables; got shape"):
            pmv.TwoLevelNormal("y", observed=data, **moments)


def test_moments_of_unknown_static_shape_are_checked_symbolically(data):
    import pytensor
    import pytensor.tensor as pt

    mu = pt.vector("mu")  # static shape (None,)
    with pm.Model() as model:
        y = pmv.TwoLevelNormal("y", mu, np.eye(3), 0.5 * np.eye(3), observed=data)
    logp = pytensor.function([mu], model.logp(vars=[y]), on_unused_input="ignore")
    assert np.isfinite(logp(np.zeros(3)))
    with pytest.raises(AssertionError):
        logp(np.zeros(1))  # p = 1 moments on p = 3 data never give a finite log-density


@pytest.mark.slow
def test_nuts_samples_without_divergences(data):
    model = _model(data)
    with model:
        idata = pm.sample(draws=500, tune=500, chains=2, random_seed=3, progressbar=False,
                          idata_kwargs={"log_likelihood": True})
    assert int(idata.sample_stats["diverging"].sum()) == 0
    assert idata.log_likelihood["y"].shape[-1] == data.n_clusters
    post_mu = idata.posterior["mu"].mean(("chain", "draw")).to_numpy()
    np.testing.assert_allclose(post_mu, [0.5, 0.0, -0.5], atol=0.5)
