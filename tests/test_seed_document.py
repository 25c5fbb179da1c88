"""The psychonetrics seed document, number for number.

The document's R code (``set.seed(2)``, 60 clusters x 10) was run verbatim by
``tests/reference/seed/make_seed_reference.R``; its data ship as ``pmv.load_seed_example()``.
Oracles: the numbers printed in the document (psychonetrics; ``document`` in the JSON) and
lavaan 0.6.14 on the same CSV (``lavaan`` in the JSON).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pm_mlvm as pmv

REF = Path(__file__).parent / "reference" / "seed"
LAMBDA = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


def _reference(size):
    return json.loads((REF / f"seed_60x{size}.json").read_text())


@pytest.fixture(scope="module", params=[10, 18], ids=["60x10", "60x18"])
def seed_fit(request):
    size = request.param
    data = pmv.load_seed_example(cluster_size=size)
    return size, data, pmv.ml_lvm(data, lambda_=LAMBDA, clusters="cluster").fit()


@pytest.mark.parametrize("size", [10, 18])
def test_shipped_data_are_exactly_the_r_scripts_csv(size):
    shipped = pmv.load_seed_example(cluster_size=size)
    committed = pd.read_csv(REF / f"seed_60x{size}.csv")
    pd.testing.assert_frame_equal(shipped, committed, check_exact=True)
    assert shipped.shape == (60 * size, 7)
    assert (shipped.groupby("cluster").size() == size).all()


@pytest.mark.parametrize("bad", [12, "10", None])
def test_load_seed_example_rejects_other_cluster_sizes(bad):
    with pytest.raises(pmv.MLVMInputError, match="cluster_size"):
        pmv.load_seed_example(cluster_size=bad)


def test_the_fit_reproduces_the_documents_chi_square_df_and_p_value():
    doc = _reference(10)["document"]
    measures = pmv.ml_lvm(pmv.load_seed_example(), lambda_=LAMBDA,
                          clusters="cluster").fit().fit_measures()
    assert round(measures["chisq"], 2) == doc["chisq"] == 15.92
    assert measures["df"] == doc["df"] == 20
    assert round(measures["pvalue"], 2) == doc["pvalue"] == 0.72


def test_fit_measures_match_lavaan_on_the_same_data(seed_fit):
    size, _, fit = seed_fit
    lav = _reference(size)["lavaan"]
    fm = fit.fit_measures()
    # lavaan's optimiser and its h1 EM stop slightly earlier than ours: our maximum is never
    # lower, and the measures agree to lavaan's convergence tolerance.
    assert fm["logl"] >= lav["logl"] - 1e-9
    assert fm["logl"] == pytest.approx(lav["logl"], abs=1e-5)
    assert fm["unrestricted_logl"] == pytest.approx(lav["unrestricted_logl"], abs=1e-4)
    assert fm["chisq"] == pytest.approx(lav["chisq"], abs=1e-4)
    assert fm["df"] == lav["df"] and fm["npar"] == lav["npar"]
    for name in ("pvalue", "cfi", "tli"):
        assert fm[name] == pytest.approx(lav[name], abs=1e-5), name
    for name in ("srmr_within", "srmr_between"):
        assert fm[name] == pytest.approx(lav[name], abs=1e-4), name
    assert fm["rmsea_n"] == pytest.approx(lav["rmsea"], abs=1e-5)  # lavaan's RMSEA uses N


@pytest.mark.parametrize("level", ["within", "between"])
def test_latent_covariances_match_lavaan_on_both_levels(seed_fit, level):
    size, _, fit = seed_fit
    ref = _reference(size)["lavaan"][f"sigma_zeta_{level}"]
    ours = fit.matrix(f"sigma_zeta_{level}").loc[ref["names"], ref["names"]]
    np.testing.assert_allclose(ours.to_numpy(), np.array(ref["matrix"]), atol=5e-4)


def test_ml_and_fiml_reach_the_same_objective_on_the_larger_clusters():
    data = pmv.load_seed_example(cluster_size=18)
    ml = pmv.ml_lvm(data, LAMBDA, clusters="cluster", estimator="ML").fit()
    fiml = pmv.ml_lvm(data, LAMBDA, clusters="cluster", estimator="FIML").fit()
    assert ml.estimator == "ML" and fiml.estimator == "FIML"
    assert ml.logl == pytest.approx(fiml.logl, abs=1e-7)
    np.testing.assert_allclose(ml.parameters()["est"], fiml.parameters()["est"], atol=1e-5)
