"""Robust (MLR) standard errors, the Yuan–Bentler scaled test and the robust fit indices
(pm_mlvm.ml.robust) against lavaan 0.6.14's estimator = "MLR"
(tests/reference/lavaan/extras/*.json, made by make_extras.R), finite differences, the
identity of the two likelihood routes on complete data, and a missing-data run."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pm_mlvm as pmv
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.likelihood.objective import Objective
from pm_mlvm.likelihood.reference_models import ReferenceFit
from pm_mlvm.likelihood.routes import data_arrays, route_of
from pm_mlvm.ml import robust

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = ROOT / "tests" / "reference" / "lavaan" / "extras"
COMPLETE = ["seed_example", "demo_twolevel", "cfa_unbalanced"]
LEVEL = {1: "within", 2: "between"}
ROBUST_COLUMNS = ["chisq_scaled", "chisq_scaling_factor", "pvalue_scaled", "cfi_robust",
                  "tli_robust", "rmsea_robust", "rmsea_robust_n"]


def load(case: str) -> dict:
    return json.loads((EXTRAS / f"{case}.json").read_text())


def model_of(ref: dict, estimator: str = "ML", data=None):
    data = pd.read_csv(ROOT / ref["data_file"]) if data is None else data
    return pmv.ml_lvm(data, lambda_=ref["lambda"], clusters="cluster", vars=ref["vars"],
                      estimator=estimator)


def lavaan_free(ref: dict) -> pd.DataFrame:
    """lavaan's free MLR parameters keyed by pm_mlvm's (matrix, row, col): est and robust se
    (the level-2 copies of the loadings are equal to the level-1 ones by constraint)."""
    factors = list(ref["lambda"])
    rows = []
    for prm in ref["mlr"]["parameters"]:
        if prm["op"] == "==" or prm["free_index"] == 0:
            continue
        level = LEVEL[prm["level"]]
        lhs, op, rhs = prm["lhs"], prm["op"], prm["rhs"]
        if op == "=~":
            if level == "between":
                continue
            key = ("lambda", rhs, lhs)
        elif op == "~1":
            key = ("nu", lhs, "")
        elif op == "~~":
            block = "zeta" if lhs in factors else "epsilon"
            a, b = sorted([lhs, rhs])
            key = (f"sigma_{block}_{level}", b, a)
        else:
            raise AssertionError(f"unexpected lavaan row {prm}")
        rows.append(dict(matrix=key[0], row=key[1], col=key[2], est=prm["est"], se=prm["se"]))
    return pd.DataFrame(rows).set_index(["matrix", "row", "col"])


def joined(ref: dict, fit) -> pd.DataFrame:
    ours = fit.parameters()
    ours = ours[ours["free"]].set_index(["matrix", "row", "col"])
    theirs = lavaan_free(ref)
    assert sorted(ours.index) == sorted(theirs.index)
    return ours.join(theirs.add_suffix("_lavaan"))


@pytest.fixture(scope="module", params=COMPLETE)
def case(request):
    ref = load(request.param)
    model = model_of(ref)
    fit = model.fit(se="robust")
    return request.param, ref, model, fit, fit.fit_measures()


# --------------------------------------------------------------------------- against lavaan

def test_robust_ses_match_lavaans_mlr_ses(case):
    _, ref, _, fit, _ = case
    assert fit.converged and fit.se_type == "robust" and fit.information == "observed"
    table = joined(ref, fit)
    np.testing.assert_allclose(table["est"], table["est_lavaan"], atol=1e-4)
    # the issue asks for 2e-2; the sandwich reproduces lavaan to ~5e-5
    np.testing.assert_allclose(table["se"], table["se_lavaan"], rtol=1e-3)


def test_sandwich_at_lavaans_estimates_reproduces_its_ses_and_h0_trace(case):
    # lavaan's own estimates in, lavaan's robust SEs and tr(E⁺B0) out (its bread is a
    # finite-difference Hessian, equal to ours to ~1e-7)
    _, ref, model, fit, _ = case
    table = model.parameter_table().set_index(["matrix", "row", "col"])
    theirs = lavaan_free(ref)
    theta = theirs.loc[table.index, "est"].to_numpy()
    sw = robust.sandwich(Objective(model.spec, model.stats), theta)
    np.testing.assert_allclose(np.sqrt(np.diag(sw.vcov)), theirs.loc[table.index, "se"],
                               rtol=1e-5)
    assert sw.trace == pytest.approx(ref["mlr"]["yuan_bentler"]["trace_h0"], rel=1e-6)


def test_h1_trace_at_lavaans_h1_moments_equals_lavaans_trace_h1(case):
    # lavaan's h1 (EM) moments in: the within mean of a split variable adds to its between
    # mean, μ = μ_W + μ_B
    _, ref, model, _, _ = case
    h1 = ref["ml"]["h1"]
    mu = np.add(h1["within"]["mean"], h1["between"]["mean"])
    moments = ReferenceFit("saturated", np.nan, 48, mu, np.array(h1["within"]["cov"]),
                           np.array(h1["between"]["cov"]), 0.0, 0, True)
    got = robust.trace_reference(model.stats, moments)
    assert got == pytest.approx(ref["mlr"]["yuan_bentler"]["trace_h1"], rel=1e-7)


def test_scaled_test_and_robust_indices_match_lavaan(case):
    # differences come from lavaan's h1 EM, stopped at a logL gain of 1e-4 (our h1 is at its
    # maximum): they move χ² and tr(A1⁻¹B1) in the 4th decimal
    _, ref, _, _, fm = case
    lav = ref["mlr"]["fit_measures"]
    assert fm["df_scaled"] == lav["df.scaled"]
    assert fm["chisq_scaled"] == pytest.approx(lav["chisq.scaled"], rel=1e-3)
    assert fm["chisq_scaling_factor"] == pytest.approx(lav["chisq.scaling.factor"], rel=1e-3)
    assert fm["pvalue_scaled"] == pytest.approx(lav["pvalue.scaled"], abs=1e-3)
    assert fm["trace_h1"] == pytest.approx(ref["mlr"]["yuan_bentler"]["trace_h1"], rel=1e-3)
    assert fm["trace_h0"] == pytest.approx(ref["mlr"]["yuan_bentler"]["trace_h0"], rel=1e-4)
    assert fm["baseline_chisq_scaling_factor"] == pytest.approx(
        lav["baseline.chisq.scaling.factor"], rel=1e-3)
    assert fm["baseline_chisq_scaled"] == pytest.approx(lav["baseline.chisq.scaled"], rel=1e-3)
    for ours, theirs in [("cfi_robust", "cfi.robust"), ("tli_robust", "tli.robust"),
                         ("rmsea_robust_n", "rmsea.robust"),
                         ("rmsea_robust_n_ci_lower", "rmsea.ci.lower.robust"),
                         ("rmsea_robust_n_ci_upper", "rmsea.ci.upper.robust"),
                         ("rmsea_robust_n_pvalue", "rmsea.pvalue.robust")]:
        assert fm[ours] == pytest.approx(lav[theirs], abs=1e-3), ours


def test_robust_rmsea_uses_clusters_and_rows_like_the_plain_rmsea(case):
    _, ref, _, _, fm = case
    if fm["rmsea_robust_n"] > 0:
        assert fm["rmsea_robust"] / fm["rmsea_robust_n"] == pytest.approx(
            np.sqrt(fm["nobs"] / fm["nclusters"]))
    else:
        assert fm["rmsea_robust"] == 0.0


def test_a_robust_fit_keeps_the_estimates_and_the_plain_fit_measures(case):
    _, ref, model, fit, fm = case
    plain = model.fit(information="observed")
    np.testing.assert_allclose(fit.theta, plain.theta, atol=1e-12)
    assert not np.allclose(fit.se, plain.se, rtol=1e-3, equal_nan=True)
    plain_fm = plain.fit_measures()
    assert not set(ROBUST_COLUMNS) & set(plain_fm.index)  # as lavaan: scaled only for MLR
    pd.testing.assert_series_equal(fm[plain_fm.index], plain_fm)


# --------------------------------------------------------------------------- derivatives

def test_cluster_scores_are_finite_differences_of_the_cluster_loglikelihoods(rng):
    ref = load("cfa_unbalanced")
    data = pd.read_csv(ROOT / ref["data_file"])
    y = data[ref["vars"]].to_numpy().copy()
    y[rng.random(y.shape) < 0.05] = np.nan          # the rows route, with missing cells
    data[ref["vars"]] = y
    model = model_of(ref, data=data)
    objective = Objective(model.spec, model.stats)
    theta = model.fit().theta + 0.01 * rng.normal(size=model.npar)   # not at the maximum
    scores = robust.cluster_scores(objective, theta)
    _, arrays = data_arrays(model.stats)
    per_cluster = route_of(model.stats).per_cluster

    def loglik(t):
        return per_cluster(*objective.moments(t), *arrays)

    h = 1e-6
    for k in range(model.npar):
        step = np.zeros(model.npar)
        step[k] = h
        numeric = (loglik(theta + step) - loglik(theta - step)) / (2 * h)
        np.testing.assert_allclose(scores[:, k], numeric, rtol=1e-5, atol=1e-6)
    _, grad = objective.value_grad(theta)
    np.testing.assert_allclose(scores.sum(axis=0), grad, rtol=1e-9, atol=1e-8)


# --------------------------------------------------------------------------- routes, missing

@pytest.fixture(scope="module")
def seed_fits():
    ref = load("seed_example")
    ml = model_of(ref, "ML").fit(se="robust")
    fiml = model_of(ref, "FIML").fit(se="robust")
    return ref, ml, fiml


def test_rows_route_gives_the_same_robust_ses_and_scaled_test_on_complete_data(seed_fits):
    _, ml, fiml = seed_fits
    assert (ml.stats.route, fiml.stats.route) == ("sizes", "rows")
    np.testing.assert_allclose(fiml.se, ml.se, rtol=1e-8)
    a, b = ml.fit_measures(), fiml.fit_measures()
    for key in ROBUST_COLUMNS + ["baseline_chisq_scaling_factor", "trace_h1", "trace_h0"]:
        assert b[key] == pytest.approx(a[key], rel=1e-7, abs=1e-10), key


def test_missing_cells_give_finite_robust_ses_close_to_the_complete_data_ones(seed_fits, rng):
    # lavaan 0.6.14 fails here (two-level MLR with missing = "ml"): removing 5 % of the cells
    # at random loses little information, so the SEs move by a few percent, not more
    ref, complete, _ = seed_fits
    data = pd.read_csv(ROOT / ref["data_file"])
    y = data[ref["vars"]].to_numpy().copy()
    y[rng.random(y.shape) < 0.05] = np.nan
    data[ref["vars"]] = y
    fit = model_of(ref, data=data).fit(se="robust")
    assert fit.stats.has_missing and fit.converged and fit.se_type == "robust"
    ratio = fit.se / complete.se
    free = np.isfinite(complete.se)
    assert np.all(np.isfinite(fit.se[free]))
    assert np.all(np.abs(np.log(ratio[free])) < np.log(1.3))
    assert 0.97 < np.median(ratio[free]) < 1.15
    fm, fm_complete = fit.fit_measures(), complete.fit_measures()
    assert np.all(np.isfinite(fm[ROBUST_COLUMNS]))
    assert fm["chisq_scaling_factor"] == pytest.approx(fm_complete["chisq_scaling_factor"],
                                                       abs=0.05)


@pytest.mark.slow
def test_robust_ses_with_missing_cells_agree_with_a_cluster_bootstrap(rng):
    # the sandwich estimates the sampling variance over clusters; resampling clusters with
    # replacement (B = 150 refits) estimates the same thing with ~6 % Monte Carlo error per SE
    ref = load("seed_example")
    data = pd.read_csv(ROOT / ref["data_file"])
    y = data[ref["vars"]].to_numpy().copy()
    y[rng.random(y.shape) < 0.05] = np.nan
    data[ref["vars"]] = y
    fit = model_of(ref, data=data).fit(se="robust")
    groups = {c: g for c, g in data.groupby("cluster")}
    labels = np.array(list(groups))
    draws = []
    for _ in range(150):
        pick = rng.choice(labels, size=len(labels), replace=True)
        boot = pd.concat([groups[c].assign(cluster=k) for k, c in enumerate(pick)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            draws.append(model_of(ref, data=boot).fit(start=fit.theta).theta)
    sd = np.std(np.array(draws), axis=0, ddof=1)
    free = np.isfinite(fit.se)
    ratio = sd[free] / fit.se[free]
    assert 0.9 < np.median(ratio) < 1.1
    assert np.all(np.abs(np.log(ratio)) < np.log(1.35))


# --------------------------------------------------------------------------- options, input

def test_refits_of_a_robust_fit_stay_robust(seed_fits):
    _, ml, _ = seed_fits
    again = ml.fitter.fit(ml.spec, start=ml.theta)
    assert again.se_type == "robust"
    np.testing.assert_allclose(again.se, ml.se, rtol=1e-6)
    assert ml.fitter.fit(ml.spec, start=ml.theta, se="standard").se_type == "standard"


def test_the_expected_information_is_the_bread_when_asked_for(seed_fits):
    ref, ml, _ = seed_fits
    fit = model_of(ref).fit(se="robust", information="expected")
    assert fit.information == "expected" and fit.se_type == "robust"
    objective = Objective(fit.spec, fit.stats)
    inv = np.linalg.inv(objective.expected_information(fit.theta))
    scores = robust.cluster_scores(objective, fit.theta)
    np.testing.assert_allclose(fit.vcov, inv @ scores.T @ scores @ inv, rtol=1e-8, atol=1e-14)
    # the between-level variances of J = 60 clusters move most (by ~10 %), the rest little
    assert np.median(np.abs(fit.se / ml.se - 1)) < 0.03


def test_bad_se_choice_raises_an_input_error_naming_it():
    ref = load("seed_example")
    with pytest.raises(MLVMInputError, match="se='sandwich'.*'robust'"):
        model_of(ref).fit(se="sandwich")


def test_robust_index_formulas_follow_lavaans_definitions():
    # reference note §2 (b): T 7.529127, df 6, c 1.016870, T_b 2139.155, df_b 12,
    # c_b 1.113856 gave lavaan cfi.robust 0.9993283, tli.robust 0.9986566
    args = (7.529127, 6, 1.016870, 2139.155, 12, 1.113856)
    assert robust.cfi_robust(*args) == pytest.approx(0.9993283, abs=2e-7)
    assert robust.tli_robust(*args) == pytest.approx(0.9986566, abs=2e-7)
    assert robust.rmsea_robust(7.529127, 6, 1.016870, 2500)["rmsea"] == pytest.approx(
        0.0097567, abs=2e-7)
    assert robust.cfi_robust(5.0, 10, 1.0, 500.0, 15, 1.0) == 1.0
    assert np.isnan(robust.cfi_robust(5.0, 10, np.nan, 500.0, 15, 1.0))
    r = robust.rmsea_robust(60.0, 10, 1.5, 400)
    assert r["rmsea"] == pytest.approx(np.sqrt(60.0 / (400 * 10) - 1.5 / 400))
    assert r["ci_lower"] < r["rmsea"] < r["ci_upper"]
