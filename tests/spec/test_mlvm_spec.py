"""The ml_lvm specification: defaults, identification and errors, as psychonetrics defines
them (reference/psychonetrics_ml_lvm.md §1–2)."""

import numpy as np
import pandas as pd
import pytest

from pm_mlvm.errors import MLVMInputError
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
        (dict(lambda_=TWO, within_latent="network"), r"within_latent='network' is not valid"),
        (dict(lambda_=TWO, sigma_zeta_within="dense"), r"sigma_zeta_within='dense' is not a pat"),
        (dict(lambda_=TWO, omega_zeta_within="full"), r"unknown matrix argument\(s\) \['omega_"),
        (dict(lambda_=TWO, sigma_epsilon_within=np.ones((3, 3))), r"must have shape \(6, 6\)"),
        (dict(lambda_=np.full((6, 1), 2)), r"only 0 \(fixed\) and 1 \(free\)"),
        (dict(lambda_=TWO, identification="marker"), r"identification='marker'"),
        (dict(lambda_=TWO, sigma_epsilon_within="full", sigma_epsilon_between="full"),
         r"not identified: 58 free parameters but only 48 moments"),
        (dict(lambda_=TWO, fix={("lambda", "y1", "F3"): 1.0}), r"'F3' is not one of \['F1'"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(MLVMInputError, match=message):
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


# ------------------------------------------------------------ labels are read by name
def _two_factor_frame(index):
    arr = np.zeros((6, 2), int)
    arr[:3, 0] = arr[3:, 1] = 1
    return pd.DataFrame(arr, index=index, columns=["F1", "F2"])


@pytest.mark.parametrize("index,unknown,missing", [
    (["y1", "y2", "y3", "y4", "y5", "yy6"], "['yy6']", "['y6']"),
    (list(range(6)), "['0', '1', '2', '3', '4', '5']", "['y1', 'y2'"),
    (["y1", "y2", "y3", "y4", "y5", "y5"], None, "['y6']"),
])
def test_a_lambda_frame_whose_index_does_not_name_the_variables_is_an_error(index, unknown,
                                                                             missing):
    with pytest.raises(MLVMInputError, match=r"lambda_: the DataFrame's index") as err:
        build_spec(VARS, _two_factor_frame(index))
    assert missing in str(err.value)
    if unknown:
        assert f"unknown labels {unknown}" in str(err.value)


def test_a_pattern_frame_is_aligned_by_labels_on_both_axes():
    beta = pd.DataFrame([[0, 0], [1, 0]], index=["F1", "F2"], columns=["F1", "F2"])
    permuted = beta.loc[["F2", "F1"], ["F2", "F1"]]
    a = build_spec(VARS, TWO, beta_between=beta).matrices["beta_between"].free
    b = build_spec(VARS, TWO, beta_between=permuted).matrices["beta_between"].free
    np.testing.assert_array_equal(a, b)
    assert b[1, 0] and not b[0, 1]  # F2 regressed on F1


@pytest.mark.parametrize("arg,frame,message", [
    ("beta_within", pd.DataFrame(np.zeros((2, 2)), index=["F1", "F3"], columns=["F1", "F2"]),
     r"beta_within: the DataFrame's index .* unknown labels \['F3'\]; missing labels \['F2'\]"),
    ("beta_within", pd.DataFrame(np.zeros((2, 2))),
     r"beta_within: the DataFrame's index .* unknown labels \['0', '1'\]"),
    ("sigma_epsilon_within", pd.DataFrame(np.eye(6), index=VARS, columns=list(range(6))),
     r"sigma_epsilon_within: the DataFrame's columns .* unknown labels"),
])
def test_every_pattern_frame_must_name_its_rows_and_columns(arg, frame, message):
    with pytest.raises(MLVMInputError, match=message):
        build_spec(VARS, TWO, **{arg: frame})


def test_integer_labels_work_in_lambda_dicts_frames_fix_and_patterns():
    names = (1, 2, 3, 4, 5, 6)
    by_dict = build_spec(names, {"F1": [1, 2, 3], "F2": [4, 5, 6]},
                         fix={("lambda", 2, "F1"): 0.5})
    frame = _two_factor_frame(list(names))
    by_frame = build_spec(names, frame, fix={("lambda", 2, "F1"): 0.5},
                          sigma_epsilon_within=pd.DataFrame(np.eye(6), index=names,
                                                            columns=names))
    for spec in (by_dict, by_frame):
        lam = spec.matrices["lambda"]
        assert spec.var_names == ("1", "2", "3", "4", "5", "6")
        assert lam.fixed[1, 0] == 0.5 and not lam.free[1, 0]
        np.testing.assert_array_equal(lam.free | (lam.fixed != 0),
                                      build_spec(VARS, TWO).matrices["lambda"].free
                                      | (build_spec(VARS, TWO).matrices["lambda"].fixed != 0))


# ------------------------------------------------------------ markers
def test_the_marker_is_the_first_indicator_as_the_user_listed_it():
    spec = build_spec(VARS, {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6", "y3"]})
    lam = spec.matrices["lambda"]
    assert lam.fixed[3, 1] == 1.0 and lam.identified[3, 1]
    assert lam.free[2, 1] and lam.fixed[2, 1] == 0.0  # the cross-loading stays free
    reordered = build_spec(VARS, {"F1": ["y3", "y1", "y2"], "F2": ["y4", "y5", "y6"]})
    assert reordered.matrices["lambda"].fixed[2, 0] == 1.0
    assert reordered.matrices["lambda"].free[0, 0]


def test_a_pattern_matrix_marks_the_first_free_row_in_variable_order():
    arr = np.zeros((6, 2), int)
    arr[:3, 0] = arr[2:, 1] = 1  # y3 loads on both; first free row of F2 is y3
    lam = build_spec(VARS, arr).matrices["lambda"]
    assert lam.fixed[0, 0] == 1.0 and lam.fixed[2, 1] == 1.0


def test_a_marker_fixed_at_zero_passes_the_marker_to_the_next_listed_indicator():
    spec = build_spec(VARS, {"F1": ["y2", "y1", "y3"], "F2": ["y4", "y5", "y6"]},
                      fix={("lambda", "y2", "F1"): 0.0})
    lam = spec.matrices["lambda"]
    assert lam.fixed[0, 0] == 1.0 and lam.fixed[1, 0] == 0.0 and not lam.free[1, 0]


# ------------------------------------------------------------ cryptic inputs
@pytest.mark.parametrize("kwargs,message", [
    (dict(lambda_={}), r"lambda_=\{\} names no factor"),
    (dict(lambda_=np.zeros((6, 0))), r"lambda_ must be a 6×q pattern .* got shape \(6, 0\)"),
    (dict(lambda_=TWO, fix={("lambda", "y2", "F1"): np.nan}), r"fix\[.*\]=nan is not valid"),
    (dict(lambda_=TWO, fix={("lambda", "y2", "F1"): np.inf}), r"fix\[.*\]=inf is not valid"),
    (dict(lambda_=TWO, fix={("lambda", "y2", "F1"): "a"}), r"must be a finite number"),
    (dict(lambda_=TWO, fix={("lambda", "y2"): 1.0}), r"cells of lambda are named"),
    (dict(lambda_=TWO, fix={("lamda", "y2", "F1"): 1.0}), r"fix: matrix='lamda' is not valid"),
    (dict(lambda_=TWO, fix={("lambda", "y9", "F1"): 1.0}), r"'y9' is not one of \['y1'"),
    (dict(lambda_=TWO, fix=[("lambda", "y2", "F1")]), r"fix must be a dict"),
    (dict(lambda_=None, sigma_epsilon_within="full"), r"residual blocks are zero"),
    (dict(lambda_=TWO, latents=["a"]), r"latents has 1 names for 2 factors"),
])
def test_cryptic_inputs_raise_a_named_input_error(kwargs, message):
    with pytest.raises(MLVMInputError, match=message):
        build_spec(VARS, **kwargs)


def test_variable_names_that_collide_as_strings_are_an_error():
    with pytest.raises(MLVMInputError, match="variable names must be unique"):
        build_spec((1, "1", "y3"), None)
