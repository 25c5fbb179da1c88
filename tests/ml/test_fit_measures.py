"""Fit measures against lavaan 0.6.14, the saturated model's maximum, conventions, compare()
and the seed example's claim."""

import numpy as np
import pandas as pd
import pytest

import pm_mlvm as pmv
from pm_mlvm.likelihood.evaluate import twolevel_loglik_grad
from pm_mlvm.ml import fitmeasures as fmx
from pm_mlvm.likelihood.reference_models import reference_models
from tests.lavaan_reference import COMPLETE_CASES, EXTRA, LAMBDAS, load_case

TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


@pytest.fixture(scope="module", params=COMPLETE_CASES)
def case(request):
    from tests.ml.test_lavaan_parity import START_AT_LAVAAN, _lavaan_start

    ref, data = load_case(request.param)
    model = pmv.ml_lvm(data, lambda_=LAMBDAS[request.param], clusters="cluster",
                       estimator="ML", **EXTRA.get(request.param, {}))
    start = _lavaan_start(ref, model) if request.param in START_AT_LAVAAN else None
    fit = model.fit(start=start)
    return ref, fit, fit.fit_measures()


def test_df_and_chisq_match_lavaan(case):
    ref, fit, fm = case
    lav = ref["fit_measures"]
    assert fm["df"] == lav["df"] and fm["baseline_df"] == lav["baseline.df"]
    # lavaan's h1 EM stops early, so its chi-square is slightly smaller than ours
    assert fm["chisq"] == pytest.approx(lav["chisq"], abs=2e-3)
    assert fm["chisq"] >= lav["chisq"] - 1e-6
    assert fm["baseline_chisq"] == pytest.approx(lav["baseline.chisq"], abs=2e-3)
    assert fm["pvalue"] == pytest.approx(lav["pvalue"], abs=1e-3)


@pytest.mark.parametrize("ours,theirs", [
    ("cfi", "cfi"), ("tli", "tli"), ("nfi", "nfi"), ("rni", "rni"), ("rmsea_n", "rmsea"),
    ("rmsea_n_ci_lower", "rmsea.ci.lower"), ("rmsea_n_ci_upper", "rmsea.ci.upper"),
    ("rmsea_n_pvalue", "rmsea.pvalue"), ("srmr_within", "srmr_within"),
    ("srmr_between", "srmr_between"),
])
def test_indices_match_lavaan(case, ours, theirs):
    ref, fit, fm = case
    assert fm[ours] == pytest.approx(ref["fit_measures"][theirs], abs=1e-3)


@pytest.mark.parametrize("ours,theirs", [("aic", "aic"), ("bic_n", "bic"), ("sabic_n", "bic2"),
                                         ("logl", "logl")])
def test_information_criteria_match_lavaan(case, ours, theirs):
    ref, fit, fm = case
    assert fm[ours] == pytest.approx(ref["fit_measures"][theirs], rel=1e-6)


def test_rmsea_conventions_differ_by_sqrt_n_over_j(case):
    ref, fit, fm = case
    if fm["rmsea_n"] > 0:
        assert fm["rmsea"] / fm["rmsea_n"] == pytest.approx(np.sqrt(fm["nobs"] / fm["nclusters"]),
                                                            rel=1e-12)
    assert fm["bic"] - fm["bic_n"] == pytest.approx(
        fm["npar"] * (np.log(fm["nclusters"]) - np.log(fm["nobs"])), rel=1e-12)


def test_saturated_model_is_at_its_maximum_and_never_below_lavaans_h1(case):
    ref, fit, fm = case
    sat, base = reference_models(fit.stats)
    assert sat.converged and base.converged
    _, g_mu, g_w, g_b = twolevel_loglik_grad(fit.stats, sat.mu, sat.sigma_within,
                                             sat.sigma_between)
    grad = np.concatenate([g_mu, g_w.ravel(), g_b.ravel()])
    assert np.linalg.norm(grad) < 1e-6
    assert sat.logl >= ref["unrestricted_logl"] - 1e-9
    assert fm["unrestricted_logl"] == sat.logl


def test_reference_models_are_fitted_once_per_data_set(rng):
    df = pmv.simulate_twolevel(30, 8, np.zeros(6), np.eye(6) + 0.3, 0.2 * np.eye(6) + 0.1,
                               rng=rng)
    a = pmv.ml_lvm(df, TWO, clusters="cluster").fit()
    b = pmv.ml_lvm(df.sample(frac=1, random_state=2), {"F": list(df.columns[:6])},
                   clusters="cluster").fit()
    assert a.stats.digest == b.stats.digest
    assert reference_models(a.stats)[0] is reference_models(b.stats)[0]
    other = pmv.ml_lvm(df.assign(y1=df["y1"] * 2), TWO, clusters="cluster").fit()
    assert other.stats.digest != a.stats.digest


def test_network_parameterisations_give_the_same_fit_measures_as_cov():
    ref, data = load_case("cfa_balanced")
    base = pmv.ml_lvm(data, TWO, clusters="cluster").fit().fit_measures()
    for kwargs in (dict(within_latent="ggm", between_latent="prec"),
                   dict(within_latent="prec", between_latent="ggm", within_residual="ggm")):
        other = pmv.ml_lvm(data, TWO, clusters="cluster", **kwargs).fit().fit_measures()
        pd.testing.assert_series_equal(other.drop(["logl", "chisq", "pvalue"]),
                                       base.drop(["logl", "chisq", "pvalue"]), atol=1e-6,
                                       rtol=1e-6)
        assert other["chisq"] == pytest.approx(base["chisq"], abs=1e-5)


def test_compare_gives_the_chisq_difference_of_nested_models():
    ref, data = load_case("cfa_balanced")
    two = pmv.ml_lvm(data, TWO, clusters="cluster").fit()
    one = pmv.ml_lvm(data, {"F": [f"y{k}" for k in range(1, 7)]}, clusters="cluster").fit()
    table = pmv.compare(one, two, names=["one", "two"])
    assert list(table.index) == ["two", "one"]  # ordered by df
    diff = one.fit_measures()["chisq"] - two.fit_measures()["chisq"]
    assert table.loc["one", "chisq_diff"] == pytest.approx(diff, rel=1e-10)
    assert table.loc["one", "chisq_diff"] == pytest.approx(2 * (two.logl - one.logl), rel=1e-10)
    assert table.loc["one", "df_diff"] == 3
    assert table.loc["one", "pvalue_diff"] < 1e-10


def test_compare_refuses_fits_of_different_data(rng):
    a = pmv.ml_lvm(pmv.simulate_twolevel(30, 8, np.zeros(6), np.eye(6), np.eye(6), rng=1), TWO,
                   clusters="cluster").fit()
    b = pmv.ml_lvm(pmv.simulate_twolevel(30, 8, np.zeros(6), np.eye(6), np.eye(6), rng=2), TWO,
                   clusters="cluster").fit()
    with pytest.raises(ValueError, match="different data"):
        pmv.compare(a, b)
    with pytest.raises(ValueError, match="at least two"):
        pmv.compare(a)


def test_index_functions_follow_their_definitions():
    assert fmx.cfi(10, 20, 500, 30) == 1.0
    assert fmx.cfi(50, 20, 500, 30) == pytest.approx(1 - 30 / 470)
    assert fmx.tli(50, 20, 500, 30) == pytest.approx((500 / 30 - 50 / 20) / (500 / 30 - 1))
    assert fmx.rmsea(50, 20, 100) == pytest.approx(np.sqrt(50 / 2000 - 1 / 100))
    lo, hi = fmx.rmsea_ci(50, 20, 100)
    assert lo < fmx.rmsea(50, 20, 100) < hi
    # X² far below df: the central χ² already puts X² under both quantiles
    assert fmx.rmsea_ci(5, 20, 100) == (0.0, 0.0)
    assert fmx.srmr(np.eye(3) * 2, np.eye(3)) == pytest.approx(0.0, abs=1e-12)
    off = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert fmx.srmr(off, np.eye(2)) == pytest.approx(np.sqrt(0.25 / 3))


def _seed_data(seed):
    """The psychonetrics seed example's design: 60 clusters of 10, two factors."""
    lam = np.zeros((6, 2))
    lam[:3, 0] = lam[3:, 1] = [1.0, 0.8, 0.6]
    sw = lam @ lam.T + 0.5 * np.eye(6)
    sb = lam @ (0.5 * np.eye(2)) @ lam.T + 0.3 * np.eye(6)
    return pmv.simulate_twolevel(60, 10, np.zeros(6), sw, sb, rng=seed)


# On some replications the misspecified one-factor model has no finite maximum (the marker's
# loading collapses and the others diverge); the fit warns that it did not converge, and its
# chi-square is then a lower bound of nothing better than rejection.
@pytest.mark.filterwarnings("ignore:the ML optimiser did not converge")
def test_the_seed_examples_claim_holds_over_replications():
    """A correct two-factor model fits; a one-factor model is rejected (20 replications)."""
    p_two, cfi_two, p_one = [], [], []
    for seed in range(20):
        data = _seed_data(1000 + seed)
        two = pmv.ml_lvm(data, TWO, clusters="cluster").fit().fit_measures()
        one = pmv.ml_lvm(data, {"F": list(data.columns[:6])}, clusters="cluster").fit()
        p_two.append(two["pvalue"])
        cfi_two.append(two["cfi"])
        p_one.append(one.fit_measures()["pvalue"])
    assert np.mean(np.array(p_two) > 0.05) > 0.5
    assert np.all(np.array(cfi_two) > 0.95)
    assert np.all(np.array(p_one) < 0.01)


def test_summary_shows_the_fit_measures_block():
    text = pmv.ml_lvm(_seed_data(3), TWO, clusters="cluster").fit().summary()
    assert "Fit measures" in text and "CFI" in text and "RMSEA" in text
