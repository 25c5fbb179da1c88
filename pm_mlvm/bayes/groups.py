"""Sampling a multi-group model with NUTS (``ml_lvm(..., groups=...).sample()``).

The pm.Model (:func:`pm_mlvm.model.build.build_group_pymc_model`) holds each parameter once:
a cell equal across groups is one variable shared by the groups' likelihoods. Each group's
default priors use its own data's scales (:class:`~pm_mlvm.bayes.priors.PriorFactory`).

The returned ``arviz.InferenceData``:

* ``posterior`` — one variable per parameter matrix holding its parameters (dimension
  ``<matrix>_param``): a cell equal across groups labelled by the cell (``"y2,F1"``), a
  group's own parameter by cell and group (``"y1@2"``);
* ``matrices`` — full matrices, ``mu``, ``sigma_within``, ``sigma_between`` with a leading
  ``group`` dimension;
* ``log_likelihood`` — ``y``, one value per cluster of every group (dimension ``cluster``
  labelled ``"<group>/<cluster>"``, with a ``group`` coordinate), for ``az.loo``;
* ``observed_data`` — each group's rows ``y__<group>``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import xarray as xr

from pm_mlvm._names import CLUSTER_DIM, VARIABLE_DIM
from pm_mlvm.bayes.priors import PriorFactory
from pm_mlvm.bayes.sample import check_sample_arguments, run_sampler
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.model.build import (
    GROUP_DIM,
    LOGLIK_NAME,
    VALUES_SUFFIX,
    build_group_pymc_model,
    group_observed_name,
)

__all__ = ["group_bayesian_model", "sample_groups"]


def _rows(gmlvm):
    """Per group (rows of the variables, cluster ids), or None without a frame."""
    frame = gmlvm.data
    if frame is None:
        return None
    by_name = {str(column): column for column in frame.columns}
    columns = [by_name[name] for name in gmlvm.spec.var_names]
    keys = frame[gmlvm.groups].astype(str).to_numpy()
    out = []
    for label in gmlvm.spec.labels:
        keep = (keys == label) & frame[gmlvm.clusters].notna().to_numpy()
        out.append((frame.loc[keep, columns], np.asarray(frame.loc[keep, gmlvm.clusters])))
    return out


def group_bayesian_model(gmlvm, priors=None, sparsity=None) -> pm.Model:
    """The pm.Model :func:`sample_groups` samples (priors as ``MLVM.sample``)."""
    factories = [PriorFactory(spec, st, priors=priors, sparsity=sparsity)
                 for spec, st in zip(gmlvm.spec.specs, gmlvm.stats)]
    return build_group_pymc_model(gmlvm.spec, gmlvm.stats, factories, data=_rows(gmlvm))


def _relabel(idata, gmlvm, model):
    gspec = gmlvm.spec
    post = idata.posterior
    values = {}
    for var in model.deterministics:
        if var.name.endswith(VALUES_SUFFIX):
            name = var.name[: -len(VALUES_SUFFIX)]
            values[name] = post[var.name].rename({f"{var.name}_dim": f"{name}_param"})
    full = [v.name for v in model.deterministics if not v.name.endswith(VALUES_SUFFIX)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        matrices = post[full]
        idata.posterior = xr.Dataset(values, attrs=post.attrs)
        idata.add_groups({"matrices": matrices})
    if "log_likelihood" in idata.groups():
        parts = []
        for label, st in zip(gspec.labels, gmlvm.stats):
            part = idata.log_likelihood[group_observed_name(label)]
            (dim,) = [d for d in part.dims if d not in ("chain", "draw")]
            part = part.drop_vars(dim, errors="ignore").rename({dim: CLUSTER_DIM}).assign_coords(
                {CLUSTER_DIM: [f"{label}/{c}" for c in st.cluster_labels]})
            parts.append(part.assign_coords({GROUP_DIM: (CLUSTER_DIM, [label] * len(part[
                CLUSTER_DIM]))}))
        idata.log_likelihood = xr.Dataset({LOGLIK_NAME: xr.concat(parts, dim=CLUSTER_DIM)})
    if "observed_data" in idata.groups():
        if gmlvm.data is None:
            del idata.observed_data
        else:
            ds = idata.observed_data
            rename = {}
            for label in gspec.labels:
                name = group_observed_name(label)
                rename[f"{name}_dim_0"] = f"row__{label}"
                rename[f"{name}_dim_1"] = VARIABLE_DIM
            ds = ds.drop_vars([k for k in rename if k in ds.coords])
            ds = ds.rename_dims({k: v for k, v in rename.items() if k in ds.dims})
            idata.observed_data = ds.assign_coords({VARIABLE_DIM: list(gspec.var_names)})
    return idata


def sample_groups(gmlvm, draws=1000, tune=1000, chains=4, priors=None, random_seed=None,
                  sparsity=None, **pm_kwargs):
    """NUTS posterior of a multi-group model (see the module docstring)."""
    check_sample_arguments(draws, tune, chains, pm_kwargs)
    model = group_bayesian_model(gmlvm, priors=priors, sparsity=sparsity)
    if not pm_kwargs.get("return_inferencedata", True):
        with model:
            return pm.sample(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                             **pm_kwargs)
    var_names = pm_kwargs.pop("var_names", None)
    if var_names is not None:
        valid = {v.name[: -len(VALUES_SUFFIX)] if v.name.endswith(VALUES_SUFFIX) else v.name
                 for v in model.deterministics}
        unknown = sorted(set(var_names) - valid)
        if unknown:
            raise MLVMInputError(f"var_names: unknown name(s) {unknown}; valid: "
                                 f"{sorted(valid)}")
    observed = [group_observed_name(label) for label in gmlvm.spec.labels]
    idata = run_sampler(model, draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                        **pm_kwargs)
    with model:
        if "log_likelihood" not in idata.groups():
            pm.compute_log_likelihood(idata, var_names=observed, progressbar=False)
    idata = _relabel(idata, gmlvm, model)
    if var_names is not None:
        idata.posterior = idata.posterior[[v for v in var_names if v in idata.posterior]]
        idata.matrices = idata.matrices[[v for v in var_names if v in idata.matrices]]
    return idata
