"""fit.icc(): lavaan's lavInspect(fit, "icc") from the unrestricted model — ours at its exact
maximum, lavaan's where its EM stopped (1e-4), so they agree to ~1e-4, not exactly."""

from __future__ import annotations

import numpy as np
import pytest

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.likelihood.reference_models import reference_models
from pm_mlvm.ml import lavaan_outputs as lo
from tests.ml._lavaan_fits import CASES, data, fit, reference
from tests.oracles import stacked_mvn_loglik


@pytest.mark.parametrize("case", CASES)
def test_icc_matches_lavaan_within_the_tolerance_of_its_em(case):
    ref = reference(case)
    icc = fit(case).icc()
    assert icc.index.tolist() == ref["ml"]["icc"]["vars"]
    np.testing.assert_allclose(icc.to_numpy(), ref["ml"]["icc"]["values"], atol=1e-3)


@pytest.mark.parametrize("case", CASES)
def test_icc_comes_from_a_saturated_model_at_least_as_likely_as_lavaans_h1(case):
    # we do not copy the EM's stopping point: our h1 maximum is at least lavaan's
    ref = reference(case)
    sat, _ = reference_models(fit(case).stats)
    h1 = ref["ml"]["h1"]
    assert sat.converged
    df = data(case)
    y, cl = df[ref["vars"]].to_numpy(), df["cluster"].to_numpy()
    lav = stacked_mvn_loglik(y, cl, np.array(h1["between"]["mean"]) +
                             np.array(h1["within"]["mean"]), np.array(h1["within"]["cov"]),
                             np.array(h1["between"]["cov"]))
    assert sat.logl >= lav - 1e-8


def test_implied_icc_uses_the_fitted_models_moments():
    result = fit("demo_twolevel")
    imp = result.implied()
    want = lo.icc(imp["sigma_within"].to_numpy(), imp["sigma_between"].to_numpy())
    np.testing.assert_allclose(result.icc("implied").to_numpy(), want, rtol=1e-14)
    # and it is not the saturated one
    assert np.max(np.abs(result.icc("implied") - result.icc())) > 1e-4


def test_bad_icc_source_is_an_input_error():
    with pytest.raises(MLVMInputError, match="source"):
        fit("seed_example").icc("anova")
