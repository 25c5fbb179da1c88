"""pm_mlvm.ml.lavaan_outputs against lavaan 0.6.14 (tests/reference/lavaan/extras/*.json,
made by make_extras.R and make_groups.R): lavaan's own estimates go in, lavaan's
standardized solutions, ICCs, factor scores, robust covariance and scaling factor come out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.ml import lavaan_outputs as lo
from tests.oracles import stacked_mvn_loglik

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = ROOT / "tests" / "reference" / "lavaan" / "extras"
COMPLETE = ["seed_example", "demo_twolevel", "cfa_unbalanced"]
ALL_CASES = COMPLETE + ["missing_mcar_balanced"]
LEVEL = {1: "within", 2: "between"}


def load(case: str) -> dict:
    return json.loads((EXTRAS / f"{case}.json").read_text())


def data_of(ref: dict) -> pd.DataFrame:
    return pd.read_csv(ROOT / ref["data_file"])


def model_matrices(ref: dict, fit: str = "ml") -> dict:
    """lavaan's estimates as psychonetrics-named matrices (Λ from the level-1 rows)."""
    vars_ = ref["vars"]
    factors = list(ref["lambda"])
    p, q = len(vars_), len(factors)
    mats = {"lambda": np.zeros((p, q)), "nu": np.zeros(p)}
    for level in LEVEL.values():
        mats[f"sigma_zeta_{level}"] = np.zeros((q, q))
        mats[f"sigma_epsilon_{level}"] = np.zeros((p, p))
    for prm in ref[fit]["parameters"]:
        if prm["op"] == "==":
            continue
        level = LEVEL[prm["level"]]
        lhs, op, rhs, est = prm["lhs"], prm["op"], prm["rhs"], prm["est"]
        if op == "=~" and level == "within":
            mats["lambda"][vars_.index(rhs), factors.index(lhs)] = est
        elif op == "~~" and lhs in factors:
            i, j = factors.index(lhs), factors.index(rhs)
            mats[f"sigma_zeta_{level}"][i, j] = mats[f"sigma_zeta_{level}"][j, i] = est
        elif op == "~~":
            i, j = vars_.index(lhs), vars_.index(rhs)
            mats[f"sigma_epsilon_{level}"][i, j] = mats[f"sigma_epsilon_{level}"][j, i] = est
        elif op == "~1" and lhs in vars_ and level == "between":
            mats["nu"][vars_.index(lhs)] = est
    return mats


def implied(mats: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lam = mats["lambda"]
    sw = lam @ mats["sigma_zeta_within"] @ lam.T + mats["sigma_epsilon_within"]
    sb = lam @ mats["sigma_zeta_between"] @ lam.T + mats["sigma_epsilon_between"]
    return mats["nu"], sw, sb


def ours_for_row(std: dict, ref: dict, row: dict) -> float:
    """The entry of our standardized matrices that a lavaan standardizedSolution row names."""
    vars_, factors = ref["vars"], list(ref["lambda"])
    level = LEVEL[row["level"]]
    lhs, op, rhs = row["lhs"], row["op"], row["rhs"]
    if op == "=~":
        return std[f"lambda_{level}"][vars_.index(rhs), factors.index(lhs)]
    if op == "~~" and lhs in factors:
        return std[f"sigma_zeta_{level}"][factors.index(lhs), factors.index(rhs)]
    if op == "~~":
        return std[f"sigma_epsilon_{level}"][vars_.index(lhs), vars_.index(rhs)]
    if op == "~1" and lhs in vars_ and level == "between":
        return std["nu"][vars_.index(lhs)]
    if op == "~1":
        return 0.0          # latent means and within intercepts: fixed at 0
    raise AssertionError(f"unexpected lavaan row {row}")


# --------------------------------------------------------------------------- implied moments

@pytest.mark.parametrize("case", ALL_CASES)
def test_matrices_read_from_lavaan_reproduce_its_implied_moments(case):
    ref = load(case)
    mu, sw, sb = implied(model_matrices(ref))
    imp = ref["ml"]["implied"]
    np.testing.assert_allclose(sw, imp["within"]["cov"], atol=1e-12)
    np.testing.assert_allclose(sb, imp["between"]["cov"], atol=1e-12)
    np.testing.assert_allclose(mu, imp["between"]["mean"], atol=1e-12)


# --------------------------------------------------------------------------- standardize

@pytest.mark.parametrize("kind", ["std.all", "std.lv"])
@pytest.mark.parametrize("case", ALL_CASES)
def test_standardize_matches_lavaan_standardized_solution_on_both_levels(case, kind):
    ref = load(case)
    std = lo.standardize(model_matrices(ref), kind)
    rows = ref["ml"]["std_all" if kind == "std.all" else "std_lv"]
    assert {r["level"] for r in rows} == {1, 2}
    for row in rows:
        assert ours_for_row(std, ref, row) == pytest.approx(row["est_std"], abs=1e-6), row


@pytest.mark.parametrize("case", COMPLETE)
def test_standardize_of_the_mlr_fit_matches_lavaan(case):
    ref = load(case)
    std = lo.standardize(model_matrices(ref, "mlr"), "std.all")
    for row in ref["mlr"]["std_all"]:
        assert ours_for_row(std, ref, row) == pytest.approx(row["est_std"], abs=1e-6), row


def test_standardize_uses_each_levels_own_variances_with_structural_regressions():
    lam = np.array([[1.0, 0], [0.8, 0], [0, 1.0], [0, 0.6]])
    beta_w = np.array([[0, 0], [0.5, 0]])
    beta_b = np.array([[0, 0], [0.3, 0]])
    mats = {"lambda": lam, "beta_within": beta_w, "beta_between": beta_b,
            "sigma_zeta_within": np.diag([1.0, 0.7]), "sigma_zeta_between": np.diag([0.4, 0.2]),
            "sigma_epsilon_within": np.diag([0.5, 0.4, 0.3, 0.6]),
            "sigma_epsilon_between": np.diag([0.1, 0.2, 0.1, 0.3])}
    std = lo.standardize(mats, "std.all")
    for level, b in (("within", beta_w), ("between", beta_b)):
        veta = np.linalg.inv(np.eye(2) - b) @ mats[f"sigma_zeta_{level}"] @ \
            np.linalg.inv(np.eye(2) - b).T
        sigma = lam @ veta @ lam.T + mats[f"sigma_epsilon_{level}"]
        # standardized moments are correlations: the implied correlation of y1, y3 is
        # reproduced from the standardized loadings and regression
        r13 = sigma[0, 2] / np.sqrt(sigma[0, 0] * sigma[2, 2])
        lam_s, beta_s = std[f"lambda_{level}"], std[f"beta_{level}"]
        assert lam_s[0, 0] * beta_s[1, 0] * lam_s[2, 1] == pytest.approx(r13)
        # an endogenous factor's standardized residual variance is 1 − R²
        assert std[f"sigma_zeta_{level}"][1, 1] == pytest.approx(1 - beta_s[1, 0] ** 2)
        # residual variance + squared standardized loading = 1 for a single-factor indicator
        assert std[f"sigma_epsilon_{level}"][1, 1] + lam_s[1, 0] ** 2 == pytest.approx(1)


# --------------------------------------------------------------------------- ICC

@pytest.mark.parametrize("case", ALL_CASES)
def test_icc_of_lavaans_h1_moments_equals_lavaans_icc(case):
    ref = load(case)
    h1 = ref["ml"]["h1"]
    got = lo.icc(h1["within"]["cov"], h1["between"]["cov"])
    assert ref["ml"]["icc"]["vars"] == h1["within"]["vars"]
    np.testing.assert_allclose(got, ref["ml"]["icc"]["values"], atol=1e-6)


def test_icc_differs_from_lavaans_when_computed_from_the_structured_model():
    # lavaan uses the EM h1 moments, not the fitted model: the two differ visibly
    ref = load("demo_twolevel")
    imp = ref["ml"]["implied"]
    got = lo.icc(imp["within"]["cov"], imp["between"]["cov"])
    assert np.max(np.abs(got - ref["ml"]["icc"]["values"])) > 1e-4


# --------------------------------------------------------------------------- factor scores

@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("case", COMPLETE)
def test_factor_scores_match_lavpredict(case, level):
    ref = load(case)
    data = data_of(ref)
    mats = model_matrices(ref)
    mu, sw, sb = implied(mats)
    got = lo.factor_scores(data[ref["vars"]].to_numpy(), data["cluster"].to_numpy(), mu, sw, sb,
                           mats["lambda"], mats["sigma_zeta_within"],
                           mats["sigma_zeta_between"], level=level)
    want = ref["ml"][f"predict_level{level}"]
    assert want["factors"] == list(ref["lambda"])
    np.testing.assert_allclose(got, want["scores"], atol=1e-6)


@pytest.mark.parametrize("case", COMPLETE)
def test_level2_scores_follow_the_clusters_order_of_first_appearance(case):
    ref = load(case)
    data = data_of(ref)
    mu, sw, sb = implied(model_matrices(ref))
    _, labels, _ = lo.cluster_random_effects(data[ref["vars"]].to_numpy(),
                                             data["cluster"].to_numpy(), mu, sw, sb)
    assert labels.tolist() == ref["ml"]["predict_level2"]["cluster_ids"]


def test_factor_scores_do_not_depend_on_row_order(rng):
    ref = load("cfa_unbalanced")
    data = data_of(ref)
    mats = model_matrices(ref)
    mu, sw, sb = implied(mats)
    args = (mu, sw, sb, mats["lambda"], mats["sigma_zeta_within"], mats["sigma_zeta_between"])
    perm = rng.permutation(len(data))
    y, cl = data[ref["vars"]].to_numpy(), data["cluster"].to_numpy()
    one = lo.factor_scores(y, cl, *args, level=1)
    two = lo.factor_scores(y[perm], cl[perm], *args, level=1)
    np.testing.assert_allclose(two, one[perm], atol=1e-12)
    b1 = pd.DataFrame(lo.factor_scores(y, cl, *args, level=2), index=pd.unique(cl))
    b2 = pd.DataFrame(lo.factor_scores(y[perm], cl[perm], *args, level=2),
                      index=pd.unique(cl[perm]))
    np.testing.assert_allclose(b2.loc[b1.index].to_numpy(), b1.to_numpy(), atol=1e-12)


def test_cluster_effects_are_the_exact_conditional_mean_of_a_stacked_normal(rng):
    p, sizes = 3, [1, 2, 4]
    a = rng.normal(size=(p, p))
    sw, sb = a @ a.T + np.eye(p), 0.5 * np.eye(p) + 0.2
    mu = rng.normal(size=p)
    clusters = np.repeat(np.arange(len(sizes)), sizes)
    y = rng.normal(size=(clusters.size, p))
    effects, _, _ = lo.cluster_random_effects(y, clusters, mu, sw, sb)
    for j, n in enumerate(sizes):
        # E[b | y_j] for y_j = 1⊗b + e, b ~ N(mu, Σ_B), e ~ N(0, I⊗Σ_W)
        cov_y = np.kron(np.eye(n), sw) + np.kron(np.ones((n, n)), sb)
        cov_by = np.kron(np.ones((1, n)), sb)
        resid = (y[clusters == j] - mu).reshape(-1)
        np.testing.assert_allclose(effects[j], mu + cov_by @ np.linalg.solve(cov_y, resid))


# --------------------------------------------------------------------------- sandwich, scaling

def constraint_jacobian(fit: dict) -> np.ndarray:
    m = len(fit["information"]["names"])
    rows = []
    for con in fit["equality_constraints"]:
        h = np.zeros(m)
        h[con["lhs_free_index"] - 1], h[con["rhs_free_index"] - 1] = 1.0, -1.0
        rows.append(h)
    return np.array(rows)


@pytest.mark.parametrize("case", COMPLETE)
def test_constrained_inverse_equals_lavaans_inverted_information(case):
    fit = load(case)["mlr"]
    got = lo.constrained_inverse(fit["information"]["matrix"], constraint_jacobian(fit))
    want = np.array(fit["inverted_information"]["matrix"])
    np.testing.assert_allclose(got, want, atol=1e-9 * np.abs(want).max())


@pytest.mark.parametrize("case", COMPLETE)
def test_sandwich_vcov_equals_lavaans_mlr_vcov_and_robust_ses(case):
    ref = load(case)
    fit = ref["mlr"]
    got = lo.sandwich_vcov(fit["information"]["matrix"], fit["information_first_order"]["matrix"],
                           n_clusters=ref["J"], constraints=constraint_jacobian(fit))
    want = np.array(fit["vcov"]["matrix"])
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12)
    for prm in fit["parameters"]:
        if prm["free_index"] > 0:
            k = prm["free_index"] - 1
            assert np.sqrt(got[k, k]) == pytest.approx(prm["se"], rel=1e-7)


@pytest.mark.parametrize("case", COMPLETE)
def test_yuan_bentler_scaling_factor_and_scaled_test_match_lavaan(case):
    ref = load(case)
    fit = ref["mlr"]
    yb, fm = fit["yuan_bentler"], fit["fit_measures"]
    inv = lo.constrained_inverse(fit["information"]["matrix"], constraint_jacobian(fit))
    trace_h0 = lo.trace_inverse_product(inv, fit["information_first_order"]["matrix"])
    assert trace_h0 == pytest.approx(yb["trace_h0"], rel=1e-8)
    c = lo.yuan_bentler_scaling_factor(yb["trace_h1"], trace_h0, int(fm["df"]))
    assert c == pytest.approx(fm["chisq.scaling.factor"], rel=1e-8)
    assert fm["chisq"] / c == pytest.approx(fm["chisq.scaled"], rel=1e-8)
    assert sps.chi2.sf(fm["chisq"] / c, fm["df"]) == pytest.approx(fm["pvalue.scaled"], rel=1e-7)


def test_yuan_bentler_scaling_factor_is_nan_without_degrees_of_freedom_or_when_negative():
    assert np.isnan(lo.yuan_bentler_scaling_factor(10.0, 10.0, 0))
    assert np.isnan(lo.yuan_bentler_scaling_factor(10.0, 12.0, 3))


def test_two_level_mlr_with_fiml_is_recorded_as_a_lavaan_failure():
    # lavaan 0.6.14 cannot do MLR with missing = "ml" for two-level models: nothing to match
    assert "error" in load("missing_mcar_balanced")["mlr"]


# --------------------------------------------------------------------------- groups oracle

@pytest.mark.parametrize("split", ["equal", "unequal"])
@pytest.mark.parametrize("model", ["configural", "metric"])
def test_group_loglikelihoods_in_the_groups_oracle_equal_the_stacked_normal(split, model):
    ref = load(f"groups_{split}")
    data = pd.read_csv(ROOT / ref["data_file"])
    fit = ref[model]
    for g, imp in enumerate(fit["implied"], start=1):
        rows = data[data[ref["group_column"]] == g]
        ll = stacked_mvn_loglik(rows[ref["vars"]].to_numpy(), rows["cluster"].to_numpy(),
                                np.array(imp["between"]["mean"]), np.array(imp["within"]["cov"]),
                                np.array(imp["between"]["cov"]))
        assert ll == pytest.approx(fit["logl_group"][g - 1], abs=1e-6)
    assert sum(fit["logl_group"]) == pytest.approx(fit["logl"], abs=1e-8)


def test_groups_oracle_equal_split_has_equal_group_sizes():
    ref = load("groups_equal")
    assert ref["configural"]["N_g"] == [1250, 1250]
    assert load("groups_unequal")["configural"]["N_g"][0] != 1250


# --------------------------------------------------------------------------- input, layers

def test_bad_arguments_raise_input_errors_naming_the_argument():
    with pytest.raises(MLVMInputError, match="kind"):
        lo.standardize({}, "std.nox")
    with pytest.raises(MLVMInputError, match="sigma_zeta_within"):
        lo.standardize({"lambda": np.ones((2, 1))}, "std.all")
    with pytest.raises(MLVMInputError, match="sigma_between"):
        lo.icc(np.eye(2), np.eye(3))
    with pytest.raises(MLVMInputError, match="level"):
        lo.factor_scores(np.zeros((2, 2)), [1, 1], np.zeros(2), np.eye(2), np.eye(2),
                         np.ones((2, 1)), np.eye(1), np.eye(1), level=3)
    with pytest.raises(MLVMInputError, match="clusters"):
        lo.cluster_random_effects(np.zeros((3, 2)), [1, 1], np.zeros(2), np.eye(2), np.eye(2))
    with pytest.raises(MLVMInputError, match="missing"):
        lo.cluster_random_effects(np.array([[np.nan, 0.0]]), [1], np.zeros(2), np.eye(2),
                                  np.eye(2))
    with pytest.raises(MLVMInputError, match="n_clusters"):
        lo.sandwich_vcov(np.eye(2), np.eye(2), n_clusters=0)


def test_numerical_trouble_is_a_value_not_an_exception():
    mats = {"lambda": np.ones((2, 1)), "sigma_zeta_within": [[0.0]],
            "sigma_zeta_between": [[-1.0]], "sigma_epsilon_within": np.zeros((2, 2)),
            "sigma_epsilon_between": np.eye(2)}
    std = lo.standardize(mats, "std.all")
    assert np.isnan(std["sigma_zeta_within"][0, 0])
    assert np.isnan(lo.icc(np.zeros((1, 1)), np.zeros((1, 1))))[0]


def test_module_imports_neither_pytensor_nor_pymc():
    code = ("import sys, pm_mlvm.ml.lavaan_outputs; "
            "print(any(m.split('.')[0] in ('pytensor', 'pymc') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
