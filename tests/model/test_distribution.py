"""TwoLevelNormal inside a user's own pm.Model."""

import numpy as np
import pymc as pm
import pytensor.tensor as pt
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
        with pytest.raises(pmv.MLVMInputError,
                           match="clusters= is required with raw observed data"):
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


# ------------------------------------------------------------- raw data, draws, coordinates
P = 2
SW = np.array([[1.0, 0.3], [0.3, 0.8]])
SB = np.array([[0.5, 0.1], [0.1, 0.4]])
MU = np.array([1.0, -0.5])


@pytest.fixture
def raw():
    df = pmv.simulate_twolevel(30, (3, 7), MU, SW, SB, rng=4)
    df["cluster"] = "c" + df["cluster"].astype(str)
    return df.sample(frac=1.0, random_state=1).reset_index(drop=True)  # rows in any order


def _raw_model(df, **kwargs):
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0, shape=P)
        sd = pm.HalfNormal("sd", 2.0, shape=P)
        y = pmv.TwoLevelNormal("y", mu, pt.diag(sd**2), SB, clusters=df["cluster"],
                               observed=df[["y1", "y2"]], **kwargs)
    return model, y


def test_raw_observed_data_give_the_statistics_loglik_and_are_stored(raw):
    model, y = _raw_model(raw)
    point = model.initial_point()
    logp = model.compile_fn(model.logp(vars=[y]), on_unused_input="ignore")(point)
    stats = pmv.TwoLevelStats.from_dataframe(raw, clusters="cluster")
    mu = point["mu"]
    sd = np.exp(point["sd_log__"])
    assert logp == pytest.approx(pmv.twolevel_loglik(stats, mu, np.diag(sd**2), SB), rel=1e-10)
    stored = model.rvs_to_values[y].data
    np.testing.assert_array_equal(stored, raw[["y1", "y2"]].to_numpy())


def test_a_cholesky_parametrisation_gives_the_same_logp(raw):
    chol_w, chol_b = np.linalg.cholesky(SW), np.linalg.cholesky(SB)
    with pm.Model() as model:
        y = pmv.TwoLevelNormal("y", MU, chol_within=chol_w, chol_between=chol_b,
                               clusters=raw["cluster"], observed=raw[["y1", "y2"]])
    stats = pmv.TwoLevelStats.from_dataframe(raw, clusters="cluster")
    assert model.compile_logp(vars=[y])({}) == pytest.approx(
        pmv.twolevel_loglik(stats, MU, SW, SB), rel=1e-10)
    with pm.Model(), pytest.raises(pmv.MLVMInputError, match="exactly one of sigma_within"):
        pmv.TwoLevelNormal("y", MU, SW, SB, chol_within=chol_w, clusters=raw["cluster"],
                           observed=raw[["y1", "y2"]])


def test_draws_have_the_observed_layout_and_the_model_moments(raw):
    with pm.Model():
        y = pmv.TwoLevelNormal("y", MU, SW, SB, clusters=raw["cluster"],
                               observed=raw[["y1", "y2"]])
    draws = pm.draw(y, draws=400, random_seed=11)
    assert draws.shape == (400, len(raw), P)
    codes = raw["cluster"].to_numpy()
    labels = np.unique(codes)
    # within: deviations from the cluster mean, pooled, divisor N - J
    within, between = np.zeros((P, P)), []
    for lab in labels:
        rows = draws[:, codes == lab, :]
        dev = rows - rows.mean(axis=1, keepdims=True)
        within += np.einsum("dni,dnj->ij", dev, dev)
        between.append(rows.mean(axis=1))
    within /= 400 * (len(raw) - len(labels))
    np.testing.assert_allclose(within, SW, atol=0.05)
    # a cluster mean of n rows has mean mu and covariance Sigma_B + Sigma_W / n
    lab = labels[0]
    n = int((codes == lab).sum())
    means = between[0]
    np.testing.assert_allclose(means.mean(axis=0), MU, atol=4 * np.sqrt(np.diag(SB + SW / n)
                                                                     / 400).max())
    np.testing.assert_allclose(np.cov(means.T), SB + SW / n, atol=0.15)


def test_missing_cells_stay_missing_in_every_draw(raw):
    df = raw.copy()
    df.loc[::7, "y2"] = np.nan
    with pm.Model() as model:
        y = pmv.TwoLevelNormal("y", MU, SW, SB, clusters=df["cluster"],
                               observed=df[["y1", "y2"]])
    assert not model.free_RVs  # NaN cells are not imputed: they are part of the layout
    draws = pm.draw(y, draws=3, random_seed=1)
    np.testing.assert_array_equal(np.isnan(draws[0]), df[["y1", "y2"]].isna().to_numpy())
    assert np.isfinite(draws[:, ~df["y2"].isna().to_numpy()]).all()


def test_prior_predictive_and_model_graph_build(raw):
    model, y = _raw_model(raw)
    prior = pm.sample_prior_predictive(draws=10, model=model, random_seed=2)
    assert prior.prior_predictive["y"].shape == (1, 10, len(raw), P)
    np.testing.assert_array_equal(prior.observed_data["y"].to_numpy(),
                                  raw[["y1", "y2"]].to_numpy())
    graph = pm.model_to_mermaid(model)
    assert "y" in graph and "mu" in graph


def test_dist_form_draws_with_the_layout(raw):
    y = pmv.TwoLevelNormal.dist(MU, SW, SB, clusters=raw["cluster"], observed=raw[["y1", "y2"]])
    assert pm.draw(y, random_seed=1).shape == (len(raw), P)


def test_a_cluster_coordinate_with_other_labels_is_refused(raw):
    labels = sorted(raw["cluster"].unique())
    with pm.Model(coords={"cluster": labels[::-1]}):
        with pytest.raises(pmv.MLVMInputError, match="does not list the data's clusters"):
            pmv.TwoLevelNormal("y", MU, SW, SB, clusters=raw["cluster"],
                               observed=raw[["y1", "y2"]])
    with pm.Model(coords={"cluster": labels}) as model:
        pmv.TwoLevelNormal("y", MU, SW, SB, clusters=raw["cluster"], observed=raw[["y1", "y2"]])
    assert list(model.coords["cluster"]) == labels
