"""Sampling the ml_lvm model with NUTS: the spec's one pm.Model with priors added.

The posterior holds the parameter matrices under psychonetrics' names (``lambda``, ``nu``,
``sigma_zeta_within``, ``omega_zeta_between``, …), each block's covariance, ``mu``,
``sigma_within`` and ``sigma_between``, with variable / latent dimensions; the free-parameter
vectors and prior hyperparameters are removed. ``log_likelihood`` has one value per cluster
(dimension ``cluster``, the user's cluster ids), for ``az.loo`` / ``az.compare``.
"""

from __future__ import annotations

import inspect
import json
import numbers

import pymc as pm
from pymc.step_methods.hmc.base_hmc import BaseHMC

from pm_mlvm._compat import package_version
from pm_mlvm.bayes.priors import PriorFactory
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.model.build import LOGLIK_NAME, build_pymc_model

__all__ = ["bayesian_model", "sample_mlvm", "check_sample_arguments", "SAMPLE_KWARGS"]

_OWN = {"draws", "tune", "chains", "random_seed"}  # explicit arguments of sample_mlvm


def _keywords(func, skip=()) -> set:
    params = inspect.signature(func).parameters.values()
    return {p.name for p in params
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in skip}


#: Keywords ``pm.sample`` accepts: its own parameters, the NUTS step parameters it forwards
#: (``target_accept``, ``max_treedepth``, …), ``nuts={...}`` and the old ``start``.
SAMPLE_KWARGS = tuple(sorted(
    (_keywords(pm.sample) - _OWN)
    | _keywords(pm.NUTS.__init__, skip=("self", "vars"))
    | _keywords(BaseHMC.__init__, skip=("self", "vars", "model", "rng"))
    | {"nuts", "start"}
))


def _check_count(arg: str, value, minimum: int) -> None:
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
            or value < minimum):
        raise MLVMInputError(f"{arg}={value!r} is not valid; it must be an integer "
                             f">= {minimum}")


def check_sample_arguments(draws, tune, chains, pm_kwargs) -> None:
    """Validate the sampling arguments before any model is built or sampled.

    Raises :class:`MLVMInputError` for ``draws < 1``, ``tune < 0``, ``chains < 1`` or
    non-integers, and for keywords ``pm.sample`` does not accept (listing the valid ones).
    """
    _check_count("draws", draws, 1)
    _check_count("tune", tune, 0)
    _check_count("chains", chains, 1)
    unknown = sorted(set(pm_kwargs) - set(SAMPLE_KWARGS))
    if unknown:
        raise MLVMInputError(f"sample(): unknown keyword(s) {unknown}; valid: "
                             + ", ".join(SAMPLE_KWARGS))


def bayesian_model(mlvm, priors=None, sparsity=None):
    """The BuiltModel of ``mlvm`` with the default (or given) priors."""
    factory = PriorFactory(mlvm.spec, mlvm.stats, priors=priors, sparsity=sparsity)
    return build_pymc_model(mlvm.spec, mlvm.stats, prior_factory=factory, deterministics=True)


def _spec_summary(spec) -> str:
    return json.dumps({
        "variables": list(spec.var_names), "latents": list(spec.latent_names),
        "types": spec.types, "identification": spec.identification, "npar": spec.npar,
        "free": {name: mat.cell_labels() for name, mat in spec.matrices.items() if mat.n_free},
    })


def sample_mlvm(mlvm, draws=1000, tune=1000, chains=4, priors=None, random_seed=None,
                sparsity=None, **pm_kwargs):
    """NUTS posterior of ``mlvm`` as ``arviz.InferenceData`` (see the module docstring)."""
    check_sample_arguments(draws, tune, chains, pm_kwargs)
    built = bayesian_model(mlvm, priors=priors, sparsity=sparsity)
    model = built.model
    keep = [var.name for var in model.deterministics]
    pm_kwargs.setdefault("progressbar", False)
    idata_kwargs = dict(pm_kwargs.pop("idata_kwargs", {}) or {})
    idata_kwargs.setdefault("log_likelihood", True)
    external = pm_kwargs.get("nuts_sampler", "pymc") != "pymc"
    with model:
        idata = pm.sample(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                          **({} if external else {"idata_kwargs": idata_kwargs}), **pm_kwargs)
        if idata_kwargs.get("log_likelihood") and "log_likelihood" not in idata.groups():
            # external samplers (nutpie, …) ignore idata_kwargs
            pm.compute_log_likelihood(idata, var_names=[LOGLIK_NAME], progressbar=False)
    idata.posterior = idata.posterior[keep]
    if "observed_data" in idata.groups():
        del idata.observed_data
    attrs = {"pm_mlvm_version": package_version("pm_mlvm") or "unknown",
             "pm_mlvm_model": _spec_summary(mlvm.spec),
             "pm_mlvm_estimator": "NUTS", "pm_mlvm_loglik": LOGLIK_NAME}
    for group in idata.groups():
        getattr(idata, group).attrs.update(attrs)
    return idata
