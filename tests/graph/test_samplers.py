"""The seed-like CFA samples through the native samplers: nutpie (Numba), numpyro and blackjax
(JAX), with r_hat <= 1.01; no object mode on the Numba path."""

import warnings

import numpy as np
import pytest

import pm_mlvm as pmv
from pm_mlvm.graph import backends

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not backends.HAS_JAX, reason="the native samplers are the optional [backends] extra")]

LAMBDA = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


@pytest.mark.parametrize("sampler", ["nutpie", "numpyro", "blackjax"])
def test_the_seed_model_samples_natively_with_converged_chains(sampler):
    import arviz as az

    model = pmv.ml_lvm(pmv.load_seed_example(), lambda_=LAMBDA, clusters="cluster")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*object mode.*")
        idata = model.sample(draws=1000, tune=1000, chains=2, random_seed=3,
                             nuts_sampler=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # fixed cells have no r_hat
        summary = az.summary(idata, var_names=["lambda", "sigma_within", "sigma_between"],
                             kind="diagnostics")
    r_hat = summary["r_hat"].to_numpy()
    assert np.nanmax(r_hat) <= 1.01
    assert idata.log_likelihood["loglik"].shape[-1] == 60
