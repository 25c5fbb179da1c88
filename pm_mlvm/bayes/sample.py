"""Sampling the ml_lvm model with NUTS: the spec's one pm.Model with priors added.

The returned ``arviz.InferenceData`` is shaped for diagnostics:

* ``posterior`` — only sampled quantities: one variable per parameter matrix, named after it
  (``lambda``, ``nu``, ``sigma_zeta_within``, …), holding its free cells (dimension
  ``<matrix>_cell``, readable cell labels). ``az.summary`` / ``az.plot_trace`` therefore see
  no fixed cells and no mirrored halves of symmetric matrices.
* ``matrices`` — the full matrices (fixed cells included) with variable / latent dimensions,
  each block's covariance, ``mu``, ``sigma_within`` and ``sigma_between``.
* ``log_likelihood`` — one value per cluster (dimension ``cluster``, the user's cluster ids),
  for ``az.loo`` / ``az.compare`` (leave-one-cluster-out).
* ``observed_data`` — the data ``y`` (rows × variables; NaN for missing cells) when the model
  was built from a DataFrame.

:func:`sample_posterior_predictive` draws replicated data ``y`` with the observed layout from
the ``matrices`` group; :func:`loo_pit_log_weights` gives the leave-one-cluster-out PSIS weights
of every cell, for ``az.plot_loo_pit(idata, y="y", log_weights=...)``.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import numbers
import warnings

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr
from pymc.step_methods.hmc.base_hmc import BaseHMC

from pm_mlvm._compat import package_version
from pm_mlvm._names import CLUSTER_DIM, VARIABLE_DIM
from pm_mlvm.bayes.priors import PriorFactory
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.model.build import LOGLIK_NAME, VALUES_SUFFIX, build_pymc_model
from pm_mlvm.model.distribution import TwoLevelNormal

__all__ = ["bayesian_model", "sample_mlvm", "sample_posterior_predictive",
           "loo_pit_log_weights", "check_sample_arguments", "SAMPLE_KWARGS", "ROW_DIM"]

ROW_DIM = "row"
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
    non-integers, for keywords ``pm.sample`` does not accept (listing the valid ones), and for
    a non-boolean ``progressbar`` / ``return_inferencedata``.
    """
    _check_count("draws", draws, 1)
    _check_count("tune", tune, 0)
    _check_count("chains", chains, 1)
    unknown = sorted(set(pm_kwargs) - set(SAMPLE_KWARGS))
    if unknown:
        raise MLVMInputError(f"sample(): unknown keyword(s) {unknown}; valid: "
                             + ", ".join(SAMPLE_KWARGS))
    rid = pm_kwargs.get("return_inferencedata", True)
    if not isinstance(rid, bool):
        raise MLVMInputError(f"return_inferencedata={rid!r} is not valid; it must be True or "
                             "False")
    var_names = pm_kwargs.get("var_names")
    if var_names is not None and (isinstance(var_names, str) or not all(
            isinstance(v, str) for v in var_names)):
        raise MLVMInputError(f"var_names={var_names!r} is not valid; it must be a list of "
                             "variable names")


def _rows(mlvm):
    """(the rows of the model's variables, their cluster ids) of the frame the model was built
    from (rows without a cluster id dropped, as the statistics drop them), or None."""
    frame = getattr(mlvm, "data", None)
    if frame is None:
        return None
    keep = frame[mlvm.clusters].notna().to_numpy()
    by_name = {str(column): column for column in frame.columns}
    columns = [by_name[name] for name in mlvm.stats.var_names]
    return frame.loc[keep, columns], np.asarray(frame.loc[keep, mlvm.clusters])


def bayesian_model(mlvm, priors=None, sparsity=None, shared_statistics=False):
    """The BuiltModel of ``mlvm`` with the default (or given) priors and its data (the
    statistics in shared variables with ``shared_statistics``, see ``build_pymc_model``)."""
    factory = PriorFactory(mlvm.spec, mlvm.stats, priors=priors, sparsity=sparsity)
    return build_pymc_model(mlvm.spec, mlvm.stats, prior_factory=factory, deterministics=True,
                            data=_rows(mlvm), shared_statistics=shared_statistics)


def _spec_summary(spec) -> str:
    return json.dumps({
        "variables": list(spec.var_names), "latents": list(spec.latent_names),
        "types": spec.types, "identification": spec.identification, "npar": spec.npar,
        "free": {name: mat.cell_labels() for name, mat in spec.matrices.items() if mat.n_free},
    })


def _valid_names(spec, model) -> tuple[list, list]:
    free = [name for name, mat in spec.matrices.items() if mat.n_free]
    full = [v.name for v in model.deterministics if not v.name.endswith(VALUES_SUFFIX)]
    return free, full


def _label_data(ds: xr.Dataset, var_names) -> xr.Dataset:
    """Rows × variables dimensions for ``y`` in observed / predictive groups."""
    rename = {f"{LOGLIK_NAME}_dim_0": ROW_DIM, f"{LOGLIK_NAME}_dim_1": VARIABLE_DIM}
    ds = ds.rename({k: v for k, v in rename.items() if k in ds.dims})
    if VARIABLE_DIM in ds.dims:
        ds = ds.assign_coords({VARIABLE_DIM: list(var_names)})
    return ds


def _relabel(idata, mlvm, model):
    """Split the raw trace into ``posterior`` (free parameters) and ``matrices``."""
    spec = mlvm.spec
    free, full = _valid_names(spec, model)
    post = idata.posterior
    values = {}
    for name in free:
        var = post[f"{name}{VALUES_SUFFIX}"]
        values[name] = var.rename({f"{name}{VALUES_SUFFIX}_dim": f"{name}_cell"})
    posterior = xr.Dataset(values, attrs=post.attrs)
    matrices = post[full]
    with warnings.catch_warnings():  # "matrices" is not one of arviz's standard groups
        warnings.simplefilter("ignore", UserWarning)
        idata.posterior = posterior
        idata.add_groups({"matrices": matrices})
    if "log_likelihood" in idata.groups():
        ll = idata.log_likelihood
        dim = f"{LOGLIK_NAME}_dim_0"
        if dim in ll.dims:
            ll = ll.rename({dim: CLUSTER_DIM})
        idata.log_likelihood = ll.assign_coords(
            {CLUSTER_DIM: list(mlvm.stats.cluster_labels)})
    if "observed_data" in idata.groups():
        if _rows(mlvm) is None:  # statistics only: the stored value is a NaN placeholder
            del idata.observed_data
        else:
            idata.observed_data = _label_data(idata.observed_data, spec.var_names)
    return idata


def _select(idata, var_names, free, full):
    unknown = sorted(set(var_names) - set(free) - set(full))
    if unknown:
        raise MLVMInputError(f"var_names: unknown name(s) {unknown}; valid: parameters "
                             f"{free}, matrices {full}")
    idata.posterior = idata.posterior[[v for v in var_names if v in free]]
    idata.matrices = idata.matrices[[v for v in var_names if v in full]]
    return idata


def run_sampler(model, **kwargs):
    """``pm.sample(**kwargs)`` in ``model``. With nutpie, the free variables are sampled and
    the deterministics (matrices, moments) computed from the draws afterwards
    (``pm.compute_deterministics``, C backend, compiled once and cached): nutpie would compile
    them into a second Numba function on every call (≈ 1.7 s for the seed model)."""
    deferred = kwargs.get("nuts_sampler") == "nutpie" and "var_names" not in kwargs
    if deferred:
        kwargs["var_names"] = [rv.name for rv in model.free_RVs]
    with model:
        idata = pm.sample(**kwargs)
        if deferred:
            idata.posterior = pm.compute_deterministics(idata.posterior, merge_dataset=True,
                                                        progressbar=False)
    return idata


def sample_mlvm(mlvm, draws=1000, tune=1000, chains=4, priors=None, random_seed=None,
                sparsity=None, **pm_kwargs):
    """NUTS posterior of ``mlvm`` as ``arviz.InferenceData`` (see the module docstring)."""
    check_sample_arguments(draws, tune, chains, pm_kwargs)
    var_names = pm_kwargs.pop("var_names", None)
    built = bayesian_model(mlvm, priors=priors, sparsity=sparsity)
    model = built.model
    free, full = _valid_names(mlvm.spec, model)
    if var_names is not None:
        _select_check = sorted(set(var_names) - set(free) - set(full))
        if _select_check:
            raise MLVMInputError(f"var_names: unknown name(s) {_select_check}; valid: "
                                 f"parameters {free}, matrices {full}")
    if not pm_kwargs.get("return_inferencedata", True):
        with model:
            return pm.sample(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                             **pm_kwargs)
    idata_kwargs = dict(pm_kwargs.pop("idata_kwargs", {}) or {})
    idata_kwargs.setdefault("log_likelihood", True)
    external = pm_kwargs.get("nuts_sampler", "pymc") != "pymc"
    if (pm_kwargs.get("nuts_sampler") == "blackjax"
            and importlib.util.find_spec("fastprogress") is None):
        # blackjax draws its progress bar with fastprogress (not a PyMC dependency any more)
        # and fails inside the JAX callback without it: no bar unless asked for
        pm_kwargs.setdefault("progressbar", False)
    idata = run_sampler(model, draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                        **({} if external else {"idata_kwargs": idata_kwargs}), **pm_kwargs)
    with model:
        if idata_kwargs.get("log_likelihood") and "log_likelihood" not in idata.groups():
            # external samplers (nutpie, …) ignore idata_kwargs
            pm.compute_log_likelihood(idata, var_names=[LOGLIK_NAME], progressbar=False)
    idata = _relabel(idata, mlvm, model)
    if var_names is not None:
        idata = _select(idata, var_names, free, full)
    attrs = {"pm_mlvm_version": package_version("pm_mlvm") or "unknown",
             "pm_mlvm_model": _spec_summary(mlvm.spec),
             "pm_mlvm_estimator": "NUTS", "pm_mlvm_loglik": LOGLIK_NAME}
    for group in idata.groups():
        getattr(idata, group).attrs.update(attrs)
    return idata


def _predictive_model(mlvm):
    """A model whose only random variable is ``y`` given (mu, Sigma_W, Sigma_B) placeholders:
    posterior predictive draws read the moments from the ``matrices`` group."""
    p = mlvm.stats.n_vars
    rows = _rows(mlvm)
    observed, clusters = (mlvm.stats, None) if rows is None else rows
    with pm.Model() as model:
        mu = pm.Flat("mu", shape=(p,))
        sw = pm.Flat("sigma_within", shape=(p, p))
        sb = pm.Flat("sigma_between", shape=(p, p))
        TwoLevelNormal(LOGLIK_NAME, mu, sw, sb, observed=observed, clusters=clusters)
    return model


def sample_posterior_predictive(mlvm, idata, random_seed=None, extend_inferencedata=True,
                                progressbar=True, priors=None, sparsity=None):
    """Replicated ``y`` (chain, draw, row, variable) for every draw of ``idata``."""
    del priors, sparsity  # the moments carry everything the draws need
    source = getattr(idata, "matrices", None)
    if source is None or not all(k in source for k in ("mu", "sigma_within",
                                                         "sigma_between")):
        raise MLVMInputError("idata must be the InferenceData returned by model.sample() "
                             "(it needs mu, sigma_within and sigma_between in its 'matrices' "
                             "group)")
    trace = az.InferenceData(posterior=source[["mu", "sigma_within", "sigma_between"]])
    model = _predictive_model(mlvm)
    with model:
        pred = pm.sample_posterior_predictive(trace, var_names=[LOGLIK_NAME],
                                              random_seed=random_seed, progressbar=progressbar)
    ds = _label_data(pred.posterior_predictive, mlvm.spec.var_names)
    if not extend_inferencedata:
        return ds
    if "posterior_predictive" in idata.groups():
        del idata.posterior_predictive
    idata.add_groups({"posterior_predictive": ds})
    return idata


def loo_pit_log_weights(idata, clusters) -> np.ndarray:
    """Leave-one-cluster-out PSIS log-weights of every cell, shaped like
    ``posterior_predictive["y"]`` stacked over draws: (rows, variables, samples).

    ``clusters`` are the rows' cluster labels (``idata.observed_data`` order). Use as
    ``az.plot_loo_pit(idata, y="y", log_weights=loo_pit_log_weights(idata, clusters))``:
    every cell of a cluster gets that cluster's weight (its rows are left out together).
    """
    ll = idata.log_likelihood[LOGLIK_NAME].stack(__sample__=("chain", "draw"))
    weights = az.psislw(-ll)[0].transpose(CLUSTER_DIM, "__sample__").to_numpy()
    labels = list(idata.log_likelihood[CLUSTER_DIM].to_numpy())
    index = {lab: k for k, lab in enumerate(labels)}
    try:
        codes = np.array([index[c] for c in np.asarray(clusters)])
    except KeyError as err:
        raise MLVMInputError(f"clusters: label {err.args[0]!r} is not a cluster of "
                             "idata.log_likelihood") from None
    n_vars = idata.observed_data[LOGLIK_NAME].shape[-1]
    return np.repeat(weights[codes][:, None, :], n_vars, axis=1)
