"""Estimators and within-cluster missing data: ML (statistics / per-cluster) and FIML (rows)
agree on complete data; missing-data fits match lavaan's missing = "ml"."""

import numpy as np
import pandas as pd
import pytest

import pm_mlvm as pmv
from tests.lavaan_reference import LAMBDAS, MISSING_CASES, lavaan_parameters, load_case

TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}
LAM = np.zeros((6, 2))
LAM[:3, 0] = LAM[3:, 1] = [1.0, 0.8, 0.6]
SW = LAM @ LAM.T + 0.5 * np.eye(6)
SB = LAM @ (0.5 * np.eye(2)) @ LAM.T + 0.3 * np.eye(6)


@pytest.fixture(scope="module", params=MISSING_CASES)
def missing_case(request):
    ref, data = load_case(request.param)
    model = pmv.ml_lvm(data, lambda_=LAMBDAS[request.param], clusters="cluster",
                       estimator="ML")
    return ref, model, model.fit(information="observed")


def test_missing_data_loglik_estimates_and_ses_match_lavaan(missing_case):
    ref, model, fit = missing_case
    assert model.stats.has_missing and fit.converged
    assert fit.logl == pytest.approx(ref["loglik"], rel=1e-6)
    ours = fit.parameters()
    ours = ours[ours["free"]].set_index(["matrix", "row", "col"])
    theirs = lavaan_parameters(ref, fit.spec.latent_names).set_index(["matrix", "row", "col"])
    joined = ours.join(theirs.add_suffix("_lavaan"))
    np.testing.assert_allclose(joined["est"], joined["est_lavaan"], atol=1e-3)
    np.testing.assert_allclose(joined["se"], joined["se_lavaan"], rtol=1e-2)


def test_missing_data_fit_measures_match_lavaan(missing_case):
    ref, model, fit = missing_case
    fm, lav = fit.fit_measures(), ref["fit_measures"]
    assert fm["df"] == lav["df"]
    # lavaan's missing-data h1 (quasi-Newton, rel.tol 1e-7) stops ~5e-4 short of the maximum
    assert fm["chisq"] == pytest.approx(lav["chisq"], abs=3e-3)
    assert fm["unrestricted_logl"] >= ref["unrestricted_logl"] - 1e-9
    assert fm["cfi"] == pytest.approx(lav["cfi"], abs=1e-3)


def test_expected_information_falls_back_to_observed_with_missing_cells(missing_case):
    ref, model, fit = missing_case
    default = model.fit()
    assert default.information == "observed"
    assert any("observed information used" in note for note in default.notes)


@pytest.mark.parametrize("sizes", [10, (2, 15), (1, 9)], ids=["balanced", "unbalanced",
                                                             "singletons"])
def test_ml_and_fiml_are_identical_on_complete_data(sizes):
    df = pmv.simulate_twolevel(50, sizes, np.zeros(6), SW, SB, rng=7)
    ml = pmv.ml_lvm(df, TWO, clusters="cluster", estimator="ML").fit()
    fiml = pmv.ml_lvm(df, TWO, clusters="cluster", estimator="FIML").fit()
    assert ml.stats.route == "sizes" and fiml.stats.route == "rows"
    assert fiml.logl == pytest.approx(ml.logl, rel=1e-8)
    np.testing.assert_allclose(fiml.theta, ml.theta, atol=1e-6)
    np.testing.assert_allclose(fiml.se, ml.se, atol=1e-6)
    a, b = ml.fit_measures(), fiml.fit_measures()
    assert b["chisq"] == pytest.approx(a["chisq"], abs=1e-6)


@pytest.mark.parametrize("size,missing,expected", [
    (10, False, "ML"), (5, False, "FIML"), ((2, 5), False, "FIML"), (10, True, "FIML")])
def test_the_default_estimator_rule(size, missing, expected):
    df = pmv.simulate_twolevel(60, size, np.zeros(6), SW, SB, rng=3)
    if missing:
        df.loc[5, "y3"] = np.nan
    model = pmv.ml_lvm(df, TWO, clusters="cluster")
    assert model.estimator == expected
    assert model.estimator_reason


def test_clusters_left_empty_by_all_missing_rows_are_reported():
    df = pmv.simulate_twolevel(20, 4, np.zeros(6), SW, SB, rng=5)
    vars_ = [f"y{k}" for k in range(1, 7)]
    df.loc[df["cluster"] == 3, vars_] = np.nan
    before = df.copy()
    with pytest.warns(UserWarning, match=r"4 row\(s\) missing on every variable.*1 cluster"):
        stats = pmv.TwoLevelStats.from_dataframe(df, clusters="cluster")
    assert stats.n_clusters == 19
    pd.testing.assert_frame_equal(df, before)
