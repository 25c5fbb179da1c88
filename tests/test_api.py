"""The package boundary: every bad argument to ml_lvm, fit, sample, prune, stepup, compare and
ppp raises MLVMInputError naming the argument, the value and what is valid — before any
expensive work — and nothing the user passes is modified."""

import time
import warnings

import numpy as np
import pandas as pd
import pytest

import pm_mlvm as pmv
from pm_mlvm.errors import MLVMInputError

TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


@pytest.fixture(scope="module")
def seed_data():
    return pmv.load_seed_example()


@pytest.fixture(scope="module")
def seed_model(seed_data):
    return pmv.ml_lvm(seed_data, TWO, clusters="cluster")


@pytest.fixture(scope="module")
def network_fit(seed_data):
    return pmv.ml_lnm(seed_data, TWO, clusters="cluster", estimator="ML").fit()


# ------------------------------------------------------------ singletons
def test_all_singleton_clusters_are_refused_because_the_levels_cannot_be_separated(seed_data):
    data = seed_data.assign(cluster=np.arange(len(seed_data)))
    with pytest.raises(MLVMInputError, match=r"every cluster has exactly one unit \(N = J = 600\)"
                       r".*cannot be separated"):
        pmv.ml_lvm(data, TWO, clusters="cluster")
    stats = pmv.TwoLevelStats.from_dataframe(data, clusters="cluster")
    with pytest.raises(MLVMInputError, match="cannot be separated"):
        pmv.ml_lvm(stats, TWO)


def test_data_with_some_singleton_clusters_are_fine(seed_data):
    data = seed_data.copy()
    data.loc[data.index[:5], "cluster"] = np.arange(1000, 1005)  # five singletons
    model = pmv.ml_lvm(data, TWO, clusters="cluster")
    assert 1 in set(model.stats.cluster_size) and model.df == 20


# ------------------------------------------------------------ choices
@pytest.mark.parametrize("kwargs,message", [
    (dict(estimator="REML"), r"estimator='REML' is not valid; valid: 'default', 'ML', 'FIML'"),
    (dict(identification="marker"), r"identification='marker' is not valid; valid: 'loadings'"),
    (dict(within_latent="foo"), r"within_latent='foo' is not valid; valid: 'cov', 'chol'"),
    (dict(between_residual=["ggm"]), r"between_residual=\['ggm'\] is not valid"),
])
def test_choice_arguments_name_the_valid_values(seed_data, kwargs, message):
    with pytest.raises(MLVMInputError, match=message):
        pmv.ml_lvm(seed_data, TWO, clusters="cluster", **kwargs)


def test_information_is_checked_against_the_valid_kinds(seed_model):
    with pytest.raises(MLVMInputError, match=r"information='sandwich' is not valid; valid: "
                       r"'expected', 'observed'"):
        seed_model.fit(information="sandwich")


@pytest.mark.parametrize("data,message", [
    (np.zeros((10, 3)), r"data must be a pandas DataFrame .* got ndarray"),
    ({"y1": [1.0]}, r"data is a dict whose values for \['y1'\] are not TwoLevelStats.*pass a "
                    r"pandas DataFrame"),
])
def test_data_of_the_wrong_type_is_named(data, message):
    with pytest.raises(MLVMInputError, match=message):
        pmv.ml_lvm(data, TWO, clusters="cluster")


def test_a_wrapper_refuses_to_override_its_presets(seed_data):
    with pytest.raises(MLVMInputError, match=r"ml_rnm\(\) sets \['between_residual'\]"):
        pmv.ml_rnm(seed_data, TWO, clusters="cluster", between_residual="cov")


# ------------------------------------------------------------ labels
def test_integer_column_labels_work_in_vars_lambda_and_fix(seed_data):
    renamed = seed_data.rename(columns={f"y{k}": k for k in range(1, 7)})
    by_int = pmv.ml_lvm(renamed, {"F1": [1, 2, 3], "F2": [4, 5, 6]}, clusters="cluster",
                        vars=[1, 2, 3, 4, 5, 6], fix={("lambda", 2, "F1"): 0.9})
    by_str = pmv.ml_lvm(seed_data, TWO, clusters="cluster", fix={("lambda", "y2", "F1"): 0.9})
    assert by_int.spec.var_names == ("1", "2", "3", "4", "5", "6")
    np.testing.assert_array_equal(by_int.spec.matrices["lambda"].fixed,
                                  by_str.spec.matrices["lambda"].fixed)
    np.testing.assert_array_equal(by_int.spec.matrices["lambda"].free,
                                  by_str.spec.matrices["lambda"].free)
    pattern = np.zeros((6, 2), int)
    pattern[:3, 0] = pattern[3:, 1] = 1
    frame = pd.DataFrame(pattern, index=[1, 2, 3, 4, 5, 6], columns=["F1", "F2"]).iloc[::-1]
    by_frame = pmv.ml_lvm(renamed, frame, clusters="cluster")
    by_dict = pmv.ml_lvm(seed_data, TWO, clusters="cluster")
    for name in ("free", "fixed"):
        np.testing.assert_array_equal(getattr(by_frame.spec.matrices["lambda"], name),
                                      getattr(by_dict.spec.matrices["lambda"], name))


def test_the_users_inputs_are_not_modified(seed_data):
    data = seed_data.copy()
    before = data.copy()
    lam = {"F2": ["y4", "y5", "y6", "y3"], "F1": ["y1", "y2", "y3"]}
    lam_before = {k: list(v) for k, v in lam.items()}
    fix = {("lambda", "y2", "F1"): 0.5}
    fix_before = dict(fix)
    pattern = pd.DataFrame(np.eye(6, dtype=int), index=[f"y{k}" for k in range(6, 0, -1)],
                           columns=[f"y{k}" for k in range(6, 0, -1)])
    pattern_before = pattern.copy()
    pmv.ml_lvm(data, lam, clusters="cluster", fix=fix, sigma_epsilon_within=pattern)
    pd.testing.assert_frame_equal(data, before)
    pd.testing.assert_frame_equal(pattern, pattern_before)
    assert lam == lam_before and fix == fix_before


# ------------------------------------------------------------ sample(): checked first
@pytest.mark.parametrize("kwargs,message", [
    (dict(chains=0), r"chains=0 is not valid; it must be an integer >= 1"),
    (dict(draws=0), r"draws=0 is not valid; it must be an integer >= 1"),
    (dict(draws=10.5), r"draws=10.5 is not valid"),
    (dict(tune=-1), r"tune=-1 is not valid; it must be an integer >= 0"),
    (dict(chains=True), r"chains=True is not valid"),
    (dict(target_acept=0.9), r"unknown keyword\(s\) \['target_acept'\]; valid: .*target_accept"),
    (dict(nuts_sampler="nutpie", core=2), r"unknown keyword\(s\) \['core'\]; valid: .*cores"),
])
def test_sample_arguments_are_checked_before_building_or_sampling(seed_data, kwargs, message):
    model = pmv.ml_lvm(seed_data, TWO, clusters="cluster")
    start = time.perf_counter()
    with pytest.raises(MLVMInputError, match=message):
        model.sample(**kwargs)
    assert "_built" not in model.__dict__  # no pm.Model was built
    assert time.perf_counter() - start < 30  # (the first call imports PyMC)


def test_the_known_sampler_keywords_are_accepted():
    from pm_mlvm.bayes.sample import check_sample_arguments

    check_sample_arguments(10, 0, 1, dict(
        nuts_sampler="pymc", target_accept=0.9, cores=1, nuts_sampler_kwargs={},
        idata_kwargs={}, compute_convergence_checks=False, init="adapt_diag", step=None,
        initvals=None, discard_tuned_samples=True, trace=None, callback=None, model=None,
        progressbar=False, return_inferencedata=True, keep_warning_stat=False, blas_cores=1,
        var_names=None, mp_ctx=None, quiet=True, max_treedepth=8, nuts={}))


# ------------------------------------------------------------ search and compare
@pytest.mark.parametrize("method,kwargs,message", [
    ("prune", dict(alpha="0.05"), r"alpha='0.05' is not valid; it must be a number in \(0, 1\)"),
    ("prune", dict(alpha=1.5), r"alpha=1.5 is not valid"),
    ("prune", dict(alpha=0.05, adjust="BH"), r"adjust='BH' is not valid; valid: 'none'"),
    ("prune", dict(matrices=["omega_x"]), r"matrices: \['omega_x'\] are not parameter"),
    ("stepup", dict(alpha="0.05"), r"alpha='0.05' is not valid"),
    ("stepup", dict(alpha=2), r"alpha=2 is not valid"),
    ("stepup", dict(alpha=float("nan")), r"alpha=nan is not valid"),
    ("stepup", dict(criterion="rmsea"), r"criterion='rmsea' is not valid; valid: 'bic'"),
    ("stepup", dict(max_steps=-1), r"max_steps=-1 is not valid"),
])
def test_search_arguments_are_named(network_fit, method, kwargs, message):
    with pytest.raises(MLVMInputError, match=message):
        getattr(network_fit, method)(**kwargs)


def test_compare_names_what_is_not_a_fit(network_fit):
    with pytest.raises(MLVMInputError, match=r"compare: fits\[1\] \(str\) are not fits"):
        pmv.compare(network_fit, "x")
    with pytest.raises(MLVMInputError, match="at least two fits; got 1"):
        pmv.compare(network_fit)
    with pytest.raises(MLVMInputError, match="names has 1 labels for 2 fits"):
        pmv.compare(network_fit, network_fit, names=["a"])


def test_ppp_names_a_wrong_model_or_posterior(seed_model):
    with pytest.raises(MLVMInputError, match=r"idata must be the arviz InferenceData .*; got str"):
        pmv.ppp(seed_model, "x")
    with pytest.raises(MLVMInputError, match=r"model must be .* sampled; got str"):
        pmv.ppp("x", "x")
    with pytest.raises(MLVMInputError, match=r"n_draws=0 is not valid"):
        pmv.ppp(seed_model, "x", n_draws=0)


def test_no_warning_or_error_for_a_plain_valid_model(seed_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = pmv.ml_lvm(seed_data, TWO, clusters="cluster")
    assert model.df == 20
