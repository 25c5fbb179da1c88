"""fit.factor_scores(): lavaan's lavPredict(fit, level = 1 / 2) from our own fits, labelled
rows, the data kept by reference, and fits from statistics alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pm_mlvm as pmv
from pm_mlvm.errors import MLVMInputError
from tests.ml._lavaan_fits import CASES, data, fit, model, reference

LEVELS = {"within": 1, "between": 2}


@pytest.mark.parametrize("level", list(LEVELS))
@pytest.mark.parametrize("case", CASES)
def test_factor_scores_match_lavpredict_on_both_levels(case, level):
    ref = reference(case)
    want = ref["ml"][f"predict_level{LEVELS[level]}"]
    got = fit(case).factor_scores(level)
    assert got.columns.tolist() == want["factors"]
    np.testing.assert_allclose(got.to_numpy(), want["scores"], atol=1e-3)


@pytest.mark.parametrize("case", CASES)
def test_between_scores_are_labelled_by_cluster_in_order_of_first_appearance(case):
    ref = reference(case)
    got = fit(case).factor_scores("between")
    assert got.index.name == "cluster"
    assert got.index.tolist() == ref["ml"]["predict_level2"]["cluster_ids"]


def test_within_scores_are_labelled_by_the_datas_row_index():
    df = data("cfa_unbalanced").copy()
    df.index = [f"unit{k}" for k in range(len(df))]
    ref = reference("cfa_unbalanced")
    res = pmv.ml_lvm(df, lambda_=ref["lambda"], clusters="cluster").fit()
    got = res.factor_scores("within")
    assert got.index.tolist() == df.index.tolist()
    # level numbers are accepted as lavaan's
    pd.testing.assert_frame_equal(res.factor_scores(1), got)


def test_the_model_keeps_the_data_by_reference_and_never_modifies_it():
    df = data("seed_example")
    before = df.copy()
    m = model("seed_example")
    assert m.data is df
    fit("seed_example").factor_scores("within")
    fit("seed_example").factor_scores("between")
    pd.testing.assert_frame_equal(df, before)


def test_a_fit_from_statistics_needs_data_for_factor_scores():
    ref = reference("seed_example")
    df = data("seed_example")
    stats = pmv.TwoLevelStats.from_dataframe(df, clusters="cluster")
    res = pmv.ml_lvm(stats, lambda_=ref["lambda"]).fit(information="observed")
    with pytest.raises(MLVMInputError, match="data="):
        res.factor_scores("within")
    got = res.factor_scores("between", data=df, clusters="cluster")
    pd.testing.assert_frame_equal(got, fit("seed_example").factor_scores("between"),
                                  atol=1e-8)


def test_factor_scores_refuse_missing_cells_and_bad_arguments():
    res = fit("seed_example")
    df = data("seed_example").copy()
    df.loc[3, "y2"] = np.nan
    with pytest.raises(MLVMInputError, match="missing"):
        res.factor_scores("within", data=df)
    with pytest.raises(MLVMInputError, match="level"):
        res.factor_scores("school")
    with pytest.raises(MLVMInputError, match="clusters"):
        res.factor_scores("within", data=data("seed_example"), clusters="school")
    with pytest.raises(MLVMInputError, match="y3"):
        res.factor_scores("within", data=data("seed_example").drop(columns="y3"))


def test_between_scores_are_the_posterior_mean_of_the_between_factors(rng):
    # E[η_B | cluster data] from the stacked normal of one cluster, at the fitted moments
    res = fit("cfa_unbalanced")
    df = data("cfa_unbalanced")
    ref = reference("cfa_unbalanced")
    m = res.spec.derived_matrices(res.theta)
    lam, psi_b = m["lambda"], m["sigma_zeta_between"]
    sw, sb, mu = m["sigma_within"], m["sigma_between"], m["mu"]
    got = res.factor_scores("between")
    for label in rng.choice(got.index.to_numpy(), size=5, replace=False):
        y = df.loc[df["cluster"] == label, ref["vars"]].to_numpy()
        n = len(y)
        cov_y = np.kron(np.eye(n), sw) + np.kron(np.ones((n, n)), sb)
        cov_eta_y = np.kron(np.ones((1, n)), psi_b @ lam.T)
        want = cov_eta_y @ np.linalg.solve(cov_y, (y - mu).reshape(-1))
        np.testing.assert_allclose(got.loc[label].to_numpy(), want, atol=1e-10)
