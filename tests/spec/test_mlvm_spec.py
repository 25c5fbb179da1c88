"""The ml_lvm specification: defaults, identification and errors, as psychonetrics defines
them (reference/psychonetrics_ml_lvm.md §1–2)."""

import numpy as np
import pandas as pd
import pytest

from pm_mlvm.spec.mlvm import build_spec

VARS = ("y1", "y2", "y3", "y4", "y5", "y6")
TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


def test_default_two_factor_model_has_28_parameters_and_20_df():
    spec = build_spec(VARS, TWO)
    assert spec.npar == 28 and spec.df == 20
    lam = spec.matrices["lambda"]
    assert lam.fixed[0, 0] == 1.0 and lam.fixed[3, 1] == 1.0  # markers
    assert lam.identified[0, 0] and not lam.free[0, 0]
    assert spec.matrices["sigma_zeta_between"].n_free == 3
    assert spec.matrices["sigma_epsilon_within"].n_free == 6  # diagonal residuals
    assert spec.matrices["beta_within"].n_free == 0


def test_pattern_forms_array_dataframe_and_dict_agree():
    arr = np.zeros((6, 2), int)
    arr[:3, 0] = arr[3:, 1] = 1
    frame = pd.DataFrame(arr, index=list(VARS), columns=["F1", "F2"])
    a, b, c = build_spec(VARS, arr, latents=["F1", "F2"]), build_spec(VARS, frame), build_spec(
        VARS, TWO)
    for spec in (a, b):
        assert spec.latent_names == c.latent_names
        np.testing.assert_array_equal(spec.matrices["lambda"].free, c.matrices["lambda"].free)
    # a DataFrame in another row order is aligned by the variable names
    shuffled = frame.iloc[[5, 1, 0, 3, 2, 4]]
    np.testing.assert_array_equal(build_spec(VARS, shuffled).matrices["lambda"].free,
                                  c.matrices["lambda"].free)


def test_variance_identification_fixes_the_within_scale_matrix_only():
    for kind, matrix in (("cov", "sigma"), ("ggm", "delta"), ("prec", "kappa"),
                         ("chol", "lowertri"), ("cor", "SD")):
        spec = build_spec(VARS, TWO, identification="variance", within_latent=kind,
                          between_latent=kind)
        within = spec.matrices[f"{matrix}_zeta_within"]
        between = spec.matrices[f"{matrix}_zeta_between"]
        assert np.all(np.diag(within.fixed) == 1.0) and not np.diag(within.free).any()
        assert np.diag(between.free).all()
        assert spec.matrices["lambda"].n_free == 6


def test_a_user_fixed_loading_replaces_the_marker():
    spec = build_spec(VARS, TWO, fix={("lambda", "y2", "F1"): 0.8})
    lam = spec.matrices["lambda"]
    assert lam.free[0, 0] and not lam.free[1, 0] and lam.fixed[1, 0] == 0.8
    assert lam.fixed[3, 1] == 1.0  # the other factor keeps its marker


def test_single_indicator_latent_has_zero_residuals_on_both_levels():
    spec = build_spec(VARS, {"F1": ["y1", "y2", "y3", "y4", "y5"], "F2": ["y6"]})
    for level in ("within", "between"):
        eps = spec.matrices[f"sigma_epsilon_{level}"]
        assert not eps.free[5, 5] and eps.fixed[5, 5] == 0.0 and eps.identified[5, 5]


def test_beta_diagonal_is_fixed_and_default_latent_covariances_follow_exogeneity():
    spec = build_spec(VARS, TWO, beta_within="full", beta_between=np.array([[0, 0], [1, 0]]))
    assert not np.diag(spec.matrices["beta_within"].free).any()
    assert spec.matrices["beta_within"].n_free == 2
    # F2 regressed on F1: no free F1-F2 covariance on the between level
    assert not spec.matrices["sigma_zeta_between"].free[1, 0]


def test_observed_variable_model_has_identity_loadings_and_no_residuals():
    spec = build_spec(VARS, None)
    assert spec.observed_only and spec.latent_names == VARS
    np.testing.assert_array_equal(spec.matrices["lambda"].fixed, np.eye(6))
    assert spec.matrices["sigma_epsilon_within"].is_zero
    assert spec.npar == 6 + 21 + 21 and spec.df == 0


def test_network_blocks_default_to_full_latent_and_empty_residual_networks():
    spec = build_spec(VARS, TWO, within_latent="ggm", between_residual="ggm")
    assert spec.matrices["omega_zeta_within"].n_free == 1
    assert spec.matrices["omega_epsilon_between"].n_free == 0
    assert spec.matrices["delta_epsilon_between"].n_free == 6


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(lambda_=np.ones((5, 2))), r"lambda_ must be a 6×q pattern"),
        (dict(lambda_={"F1": ["y1", "y2"], "F2": []}), r"factor\(s\) \['F2'\] have no indicator"),
        (dict(lambda_={"F1": ["y1", "y9"]}), r"lambda_\['F1'\]: \['y9'\] are not among vars"),
        (dict(lambda_=TWO, within_latent="network"), r"within_latent='network' is not a struct"),
        (dict(lambda_=TWO, sigma_zeta_within="dense"), r"sigma_zeta_within='dense' is not a pat"),
        (dict(lambda_=TWO, omega_zeta_within="full"), r"unknown matrix argument\(s\) \['omega_"),
        (dict(lambda_=TWO, sigma_epsilon_within=np.ones((3, 3))), r"must have shape \(6, 6\)"),
        (dict(lambda_=np.full((6, 1), 2)), r"only 0 \(fixed\) and 1 \(free\)"),
        (dict(lambda_=TWO, identification="marker"), r"identification='marker'"),
        (dict(lambda_=TWO, sigma_epsilon_within="full", sigma_epsilon_between="full"),
         r"not identified: 58 free parameters but only 48 moments"),
        (dict(lambda_=TWO, fix={("lambda", "y1", "F3"): 1.0}), r"does not name a cell of lambda"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_spec(VARS, **kwargs)


def test_the_users_pattern_objects_are_not_modified():
    arr = np.zeros((6, 2), int)
    arr[:3, 0] = arr[3:, 1] = 1
    before = arr.copy()
    lam = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}
    lam_before = {k: list(v) for k, v in lam.items()}
    build_spec(VARS, arr, latents=["a", "b"], beta_within=np.ones((2, 2)))
    build_spec(VARS, lam)
    np.testing.assert_array_equal(arr, before)
    assert lam == lam_before
