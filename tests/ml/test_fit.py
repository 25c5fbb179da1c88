"""ML fits: equivalent parameterisations, exact recovery, results, reuse and warnings."""

import numpy as np
import pandas as pd
import pytest

import pm_mlvm as pmv

TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}
LAM = np.zeros((6, 2))
LAM[:3, 0] = [1.0, 0.8, 0.6]
LAM[3:, 1] = [1.0, 0.8, 0.6]
PSI_W = np.array([[1.0, 0.3], [0.3, 1.0]])
PSI_B = np.array([[0.5, 0.2], [0.2, 0.4]])
THETA_W, THETA_B = 0.5 * np.eye(6), 0.3 * np.eye(6)
SIGMA_W = LAM @ PSI_W @ LAM.T + THETA_W
SIGMA_B = LAM @ PSI_B @ LAM.T + THETA_B
NU = np.linspace(-0.5, 0.5, 6)


@pytest.fixture(scope="module")
def seed_data():
    return pmv.simulate_twolevel(60, 10, NU, SIGMA_W, SIGMA_B, rng=2)


@pytest.mark.parametrize("block", ["within_latent", "between_latent", "within_residual",
                                   "between_residual"])
@pytest.mark.parametrize("kind", ["chol", "prec", "ggm", "cor"])
def test_every_structure_gives_the_cov_loglik_on_every_block(seed_data, block, kind):
    base = pmv.ml_lvm(seed_data, TWO, clusters="cluster").fit()
    # (residual networks are empty by default, so ggm/cor residual blocks are diagonal too)
    other = pmv.ml_lvm(seed_data, TWO, clusters="cluster", **{block: kind}).fit()
    assert other.converged
    assert other.npar == base.npar
    assert other.logl == pytest.approx(base.logl, rel=1e-8)
    np.testing.assert_allclose(other.matrix("sigma_within"), base.matrix("sigma_within"),
                               atol=1e-4)


def test_ggm_network_of_observed_variables_equals_the_saturated_cov_model(seed_data):
    cov = pmv.ml_lvm(seed_data, None, clusters="cluster").fit()
    net = pmv.ml_lnm(seed_data, None, clusters="cluster").fit()
    assert net.npar == cov.npar == 48
    assert net.logl == pytest.approx(cov.logl, rel=1e-8)
    omega = net.matrix("omega_zeta_within").to_numpy()
    derived = cov.matrix("omega_zeta_within").to_numpy()
    np.testing.assert_allclose(omega, derived, atol=1e-4)


def test_fitting_population_moments_recovers_the_generating_values():
    stats = pmv.TwoLevelStats.from_moments(NU, SIGMA_W, SIGMA_B, [8] * 40 + [12] * 30)
    fit = pmv.ml_lvm(stats, TWO).fit()
    assert fit.converged
    np.testing.assert_allclose(fit.matrix("lambda").to_numpy(), LAM, atol=1e-6)
    np.testing.assert_allclose(fit.matrix("sigma_zeta_within").to_numpy(), PSI_W, atol=1e-6)
    np.testing.assert_allclose(fit.matrix("sigma_zeta_between").to_numpy(), PSI_B, atol=1e-6)
    np.testing.assert_allclose(fit.matrix("sigma_epsilon_within").to_numpy(), THETA_W, atol=1e-6)
    np.testing.assert_allclose(fit.matrix("sigma_epsilon_between").to_numpy(), THETA_B,
                               atol=1e-6)
    np.testing.assert_allclose(fit.matrix("nu")["nu"].to_numpy(), NU, atol=1e-6)


def test_recovery_with_structural_regressions_and_network_blocks():
    beta_w = np.array([[0.0, 0.0], [0.5, 0.0]])
    psi_w = np.diag([1.0, 0.6])
    b_w = np.linalg.inv(np.eye(2) - beta_w)
    sw = LAM @ b_w @ psi_w @ b_w.T @ LAM.T + THETA_W
    stats = pmv.TwoLevelStats.from_moments(NU, sw, SIGMA_B, [10] * 50)
    fit = pmv.ml_lvm(stats, TWO, beta_within=np.array([[0, 0], [1, 0]]),
                     between_latent="ggm").fit()
    np.testing.assert_allclose(fit.matrix("beta_within").to_numpy(), beta_w, atol=1e-6)
    np.testing.assert_allclose(fit.matrix("sigma_zeta_within").to_numpy(), psi_w, atol=1e-6)
    np.testing.assert_allclose(fit.matrix("sigma_zeta_between").to_numpy(), PSI_B, atol=1e-6)
    d = 1 / np.sqrt(np.diag(np.linalg.inv(PSI_B)))
    pcor = -np.linalg.inv(PSI_B)[1, 0] * d[0] * d[1]
    assert fit.matrix("omega_zeta_between").iloc[1, 0] == pytest.approx(pcor, abs=1e-6)


def test_results_are_labelled_and_immutable(seed_data):
    fit = pmv.ml_lvm(seed_data, TWO, clusters="cluster").fit()
    table = fit.parameters()
    assert list(table.columns) == ["matrix", "row", "col", "level", "est", "se", "z", "pvalue",
                                   "free", "par"]
    assert set(table.loc[table["matrix"] == "lambda", "col"]) == {"F1", "F2"}
    assert not table.loc[(table["matrix"] == "lambda") & (table["row"] == "y1"), "free"].item()
    assert list(fit.matrix("sigma_zeta_between").index) == ["F1", "F2"]
    implied = fit.implied()
    assert set(implied) == {"mu", "sigma_within", "sigma_between"}
    for name in ("kappa_zeta_within", "omega_zeta_between", "rho_epsilon_within",
                 "SD_zeta_between", "sigma_eta_within", "sigma_crosssection"):
        assert name in fit.matrix_names
    with pytest.raises(ValueError):
        fit.theta[0] = 1.0
    with pytest.raises(KeyError, match="unknown matrix 'gamma'"):
        fit.matrix("gamma")
    assert "Between level" in fit.summary()
    page = fit._repr_html_()
    assert "<table" in page and "cfi" in page and "sigma_zeta_between" in page


def test_fits_of_two_data_sets_of_one_structure_carry_no_state_between_them(rng):
    a = pmv.simulate_twolevel(40, (5, 9), NU, SIGMA_W, SIGMA_B, rng=rng)
    b = pmv.simulate_twolevel(55, (6, 12), NU, SIGMA_W, SIGMA_B, rng=rng)
    ma, mb = pmv.ml_lvm(a, TWO, clusters="cluster"), pmv.ml_lvm(b, TWO, clusters="cluster")
    fa = ma.fit()
    fb = mb.fit()
    assert fb.logl == pytest.approx(pmv.twolevel_loglik(mb.stats, *[
        fb.implied()[k].to_numpy() for k in ("mu", "sigma_within", "sigma_between")]), rel=1e-12)
    # refitting the first data set after the second gives the same answer
    assert ma.fit().logl == pytest.approx(fa.logl, rel=1e-12)


def test_default_estimator_rule_follows_psychonetrics(rng):
    def model(size, missing=False):
        df = pmv.simulate_twolevel(30, size, NU, SIGMA_W, SIGMA_B, rng=rng)
        if missing:
            df.loc[3, "y2"] = np.nan
        return pmv.ml_lvm(df, TWO, clusters="cluster")

    assert model(10).estimator == "ML"
    assert model(5).estimator == "FIML"
    assert model((2, 5)).estimator == "FIML"
    assert model(10, missing=True).estimator == "FIML"
    assert "5 or fewer" in model(5).estimator_reason


def test_ml_and_fiml_give_the_same_fit_on_complete_data(rng):
    df = pmv.simulate_twolevel(40, (1, 8), NU, SIGMA_W, SIGMA_B, rng=rng)
    ml = pmv.ml_lvm(df, TWO, clusters="cluster", estimator="ML").fit()
    fiml = pmv.ml_lvm(df, TWO, clusters="cluster", estimator="FIML").fit()
    assert fiml.stats.route == "rows" and ml.stats.route == "sizes"
    assert fiml.logl == pytest.approx(ml.logl, rel=1e-10)
    np.testing.assert_allclose(fiml.theta, ml.theta, atol=1e-5)
    np.testing.assert_allclose(fiml.se, ml.se, rtol=1e-5)


def test_a_zero_variance_is_reported_as_a_heywood_case():
    theta_b = np.diag([0.3, 0.3, 0.0, 0.3, 0.3, 0.3])
    sb = LAM @ PSI_B @ LAM.T + theta_b
    stats = pmv.TwoLevelStats.from_moments(NU, SIGMA_W, sb, [10] * 60)
    with pytest.warns(UserWarning, match=r"Heywood case\): sigma_epsilon_between\[y3,y3\]"):
        fit = pmv.ml_lvm(stats, TWO).fit()
    assert list(fit.heywood["row"]) == ["y3"]
    assert fit.matrix("sigma_epsilon_between").loc["y3", "y3"] == pytest.approx(0.0, abs=1e-8)


def test_bad_model_arguments_are_named(seed_data):
    with pytest.raises(ValueError, match="clusters is required"):
        pmv.ml_lvm(seed_data, TWO)
    with pytest.raises(ValueError, match="clusters='school' is not a column"):
        pmv.ml_lvm(seed_data, TWO, clusters="school")
    with pytest.raises(ValueError, match="estimator='MLR'"):
        pmv.ml_lvm(seed_data, TWO, clusters="cluster", estimator="MLR")
    with pytest.raises(ValueError, match="information='hessian'"):
        pmv.ml_lvm(seed_data, TWO, clusters="cluster").fit(information="hessian")
    with pytest.raises(pmv.MLVMInputError, match="ml_lnm\\(\\) sets \\['within_latent'\\]"):
        pmv.ml_lnm(seed_data, TWO, clusters="cluster", within_latent="cov")
    with pytest.raises(pmv.MLVMInputError, match="groups='g' is not a column"):
        pmv.ml_lvm(seed_data, TWO, clusters="cluster", groups="g")
    with pytest.raises(ValueError, match="start must hold 28 finite values"):
        pmv.ml_lvm(seed_data, TWO, clusters="cluster").fit(start=np.zeros(3))


def test_the_users_data_frame_is_not_modified(seed_data):
    df = seed_data.copy()
    df.loc[0, "y1"] = np.nan
    before = df.copy()
    pmv.ml_lvm(df, TWO, clusters="cluster").fit()
    pd.testing.assert_frame_equal(df, before)


def test_collinear_indicators_are_refused_with_a_clear_error(rng):
    df = pmv.simulate_twolevel(30, 6, NU, SIGMA_W, SIGMA_B, rng=rng)
    df["y2"] = df["y1"]
    with pytest.raises(pmv.MLVMInputError, match="'y1', 'y2' are perfectly collinear"):
        pmv.ml_lvm(df, TWO, clusters="cluster").fit()


def test_the_network_wrappers_show_ml_lvms_signature_without_their_presets():
    import inspect

    for wrapper, preset in ((pmv.ml_lnm, {"within_latent", "between_latent"}),
                            (pmv.ml_rnm, {"within_residual", "between_residual"}),
                            (pmv.ml_lrnm, {"within_latent", "within_residual"})):
        params = inspect.signature(wrapper).parameters
        assert {"data", "lambda_", "clusters", "estimator"} <= set(params)
        assert not preset & set(params)
