"""fit.standardized(): lavaan's standardizedSolution per level, with delta-method SEs from a
complex-step Jacobian (pm_mlvm.ml.standardized), against lavaan 0.6.14 on the seed example,
Demo.twolevel and the unbalanced case with singletons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pm_mlvm as pmv
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.ml import lavaan_outputs as lo
from pm_mlvm.ml import standardized as st
from tests.ml._lavaan_fits import CASES, data, fit, our_cell, reference

KINDS = {"std.all": "std_all", "std.lv": "std_lv"}


def compare(table: pd.DataFrame, ref: dict, rows: list[dict]):
    """Largest |Δ estimate| and largest relative |Δ SE| over lavaan's rows."""
    table = table.set_index(["matrix", "row", "col", "level"])
    d_est, d_se, matched = 0.0, 0.0, 0
    for row in rows:
        cell = our_cell(ref, row)
        if cell is None:
            assert row["est_std"] == 0
            continue
        ours = table.loc[cell]
        matched += 1
        d_est = max(d_est, abs(ours["est_std"] - row["est_std"]))
        if row["se"] > 1e-3:
            d_se = max(d_se, abs(ours["se"] - row["se"]) / row["se"])
        else:                                   # lavaan prints SEs below eps^(1/4) as 0
            assert ours["se"] < 1e-6, (cell, ours["se"])
    return d_est, d_se, matched


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("case", CASES)
def test_standardized_estimates_and_ses_match_lavaan_on_both_levels(case, kind):
    ref = reference(case)
    table = fit(case).standardized(kind)
    d_est, d_se, matched = compare(table, ref, ref["ml"][KINDS[kind]])
    assert matched == len(table)           # every cell we report is one lavaan reports
    assert set(table["level"]) == {"within", "between"}
    assert d_est < 1e-3
    assert d_se < 2e-2


@pytest.mark.parametrize("case", CASES)
def test_standardized_ses_of_a_robust_fit_match_lavaans_mlr_std_all(case):
    ref = reference(case)
    table = fit(case, "robust").standardized("std.all")
    d_est, d_se, _ = compare(table, ref, ref["mlr"]["std_all"])
    assert d_est < 1e-3
    assert d_se < 2e-2


@pytest.mark.parametrize("kind", list(KINDS))
def test_standardized_estimates_are_the_pure_standardization_of_the_fitted_matrices(kind):
    result = fit("demo_twolevel")
    mats = result.spec.derived_matrices(result.theta)
    want = lo.standardize({k: mats[k] for k in (
        "lambda", "sigma_zeta_within", "sigma_zeta_between", "sigma_epsilon_within",
        "sigma_epsilon_between")} | {"nu": mats["nu"]}, kind)
    table = result.standardized(kind)
    for r in table.itertuples():
        rows, cols = result.spec.matrix_labels(r.matrix)
        i = rows.index(r.row)
        if r.matrix == "nu":
            assert r.est_std == pytest.approx(want["nu"][i], abs=1e-14)
            continue
        key = f"lambda_{r.level}" if r.matrix == "lambda" else r.matrix
        assert r.est_std == pytest.approx(want[key][i, cols.index(r.col)], abs=1e-14)


def test_complex_step_jacobian_agrees_with_central_differences():
    result = fit("seed_example")
    spec, theta = result.spec, result.theta
    cells = st.standardized_cells(spec, theta)

    def f(t):
        return st.standardized_values(spec, t, "std.all", cells)

    jac = st.complex_step_jacobian(f, theta)
    h = 1e-6
    for k in range(theta.size):
        e = np.zeros(theta.size)
        e[k] = h
        central = (np.real(f(theta + e)) - np.real(f(theta - e))) / (2 * h)
        np.testing.assert_allclose(jac[:, k], central, atol=1e-7)


def test_standardized_solution_does_not_depend_on_the_latent_parameterisation():
    # a ggm latent block with every partial correlation free is the same model as cov:
    # the same standardized cells, and (delta method) the same SEs
    ref = reference("seed_example")
    df = data("seed_example")
    cov = pmv.ml_lvm(df, lambda_=ref["lambda"], clusters="cluster").fit(information="observed")
    ggm = pmv.ml_lvm(df, lambda_=ref["lambda"], clusters="cluster", within_latent="ggm",
                     between_latent="chol").fit(information="observed")
    a = cov.standardized("std.all").set_index(["matrix", "row", "col", "level"])
    b = ggm.standardized("std.all").set_index(["matrix", "row", "col", "level"])
    b = b.loc[a.index]
    np.testing.assert_allclose(b["est_std"], a["est_std"], atol=1e-5)
    np.testing.assert_allclose(b["se"], a["se"], rtol=1e-3, atol=1e-6)


def test_standardized_reports_structural_regressions_per_level(rng):
    lam = np.array([[1, 0], [0.8, 0], [0.7, 0], [0, 1], [0, 0.9], [0, 0.6]])
    b = np.array([[0, 0], [0.5, 0]])
    inv = np.linalg.inv(np.eye(2) - b)
    sw = lam @ inv @ np.diag([1.0, 0.6]) @ inv.T @ lam.T + 0.5 * np.eye(6)
    sb = lam @ inv @ np.diag([0.4, 0.2]) @ inv.T @ lam.T + 0.2 * np.eye(6)
    df = pmv.simulate_twolevel(80, 8, np.zeros(6), sw, sb, rng=rng)
    pattern = np.array([[0, 0], [1, 0]])
    res = pmv.ml_lvm(df, lambda_={"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]},
                     clusters="cluster", beta_within=pattern, beta_between=pattern).fit()
    table = res.standardized("std.all").set_index(["matrix", "row", "col", "level"])
    for level in ("within", "between"):
        beta = table.loc[(f"beta_{level}", "F2", "F1", level)]
        psi = table.loc[(f"sigma_zeta_{level}", "F2", "F2", level)]
        # an endogenous factor's standardized residual variance is 1 − R² = 1 − β_std²
        assert psi["est_std"] == pytest.approx(1 - beta["est_std"] ** 2)
        assert np.isfinite(beta["se"]) and beta["se"] > 0


def test_bad_kind_is_an_input_error_naming_it():
    with pytest.raises(MLVMInputError, match="kind"):
        fit("seed_example").standardized("std.nox")
