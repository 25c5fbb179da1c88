"""Build the one ``pm.Model`` of an MLVMSpec.

Free parameters are PyMC variables, one per (matrix, bound class), named
``<matrix>__free`` (or ``<matrix>__free_diag`` / ``<matrix>__free_offdiag`` when the
diagonal and off-diagonal cells have different bounds), with a labelled dimension naming
their cells. The full parameter matrices, μ, Σ_W and Σ_B are ``pm.Deterministic`` variables
named after the psychonetrics matrices with variable/latent dimensions. The likelihood is
:func:`~pm_mlvm.model.distribution.TwoLevelNormal` with the statistics in shared variables.

Priors: ``prior_factory(group)`` (a :class:`ParamGroup`: matrix, PyMC name, θ positions,
cells, cell class, bounds) returns the group's prior, a ``pm.Distribution`` (``.dist``) or a
``(distribution, to_values)`` pair whose function maps the registered variable to the group's
parameter values (e.g. partial correlations from an LKJ correlation matrix), optionally with a
third entry, the variable's transform; the default
(:func:`flat_prior`) gives flat priors with the parameter's bounds, so the posterior is the
likelihood and ML is the MAP. ML never uses the priors: it optimises the likelihood term in the
untransformed (bounded) space.

Dimension names come from the specification (``spec.matrix_dims``), and each block's Σ is
added as a deterministic when its structure does not have it as a parameter; no name is parsed
here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from pm_mlvm._names import CLUSTER_DIM, LATENT_DIM, LATENT_DIM_2, VARIABLE_DIM, VARIABLE_DIM_2
from pm_mlvm.graph.moments import model_moments
from pm_mlvm.graph.ops import data_inputs
from pm_mlvm.model.distribution import TwoLevelNormal
from pm_mlvm.spec.groups import GroupSpec
from pm_mlvm.spec.layout import BLOCKS, matrix_name
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = [
    "BuiltModel", "ParamGroup", "build_pymc_model", "flat_prior", "LOGLIK_NAME", "VALUES_SUFFIX",
    "build_group_pymc_model", "parameter_labels", "group_observed_name", "group_cluster_dim",
    "GROUP_DIM", "global_param_groups",
]

LOGLIK_NAME = "y"  # the observed variable: the data

#: suffix of the deterministics holding each matrix's free-parameter values
VALUES_SUFFIX = "__values"


@dataclass(frozen=True)
class ParamGroup:
    """One PyMC variable holding some free cells of one matrix.

    ``cell_class`` is ``"diag"`` if every cell of the group is on the diagonal, else
    ``"offdiag"``; ``joint`` marks a group holding all of a matrix's cells for a joint prior.
    """

    var_name: str
    matrix: str
    theta_index: np.ndarray  # positions in θ
    cell_index: np.ndarray  # positions within the matrix's free cells
    lower: float
    upper: float
    cell_class: str = "offdiag"
    joint: bool = False

    @property
    def size(self) -> int:
        return len(self.cell_index)


@dataclass(frozen=True, eq=False)
class BuiltModel:
    """The pm.Model plus what ML needs to address it."""

    model: pm.Model
    groups: tuple[ParamGroup, ...]
    route: str
    data_vars: tuple  # the statistics: constants, or shared variables (shared_statistics)


def flat_prior(group: ParamGroup):
    """Flat prior on the parameter's support (the default: the posterior is the likelihood)."""
    lower, upper, size = group.lower, group.upper, group.size
    if np.isfinite(lower) and np.isfinite(upper):
        return pm.Uniform.dist(lower, upper, size=size)
    if np.isfinite(lower) and lower == 0.0:
        return pm.HalfFlat.dist(size=size)
    if not np.isfinite(lower) and not np.isfinite(upper):
        return pm.Flat.dist(size=size)
    raise ValueError(f"{group.matrix}: no flat prior for bounds ({lower}, {upper})")


def _unpack_prior(prior):
    """(distribution, to_values or None, register_rv keywords) of a prior factory's answer:
    a distribution, a ``(distribution, to_values)`` pair, or a triple whose third entry is
    the transform of the registered variable (for a custom distribution whose transform PyMC
    cannot infer)."""
    if not isinstance(prior, tuple):
        return prior, None, {}
    if len(prior) == 2:
        return prior[0], prior[1], {}
    if len(prior) == 3:
        return prior[0], prior[1], {"transform": prior[2]}
    raise ValueError(f"prior_factory: a prior is a distribution or a (distribution, "
                     f"to_values[, transform]) tuple; got a tuple of {len(prior)} entries")


def _groups(spec: MLVMSpec, joint=()) -> list[ParamGroup]:
    """One group per (matrix, bound class); matrices in ``joint`` form a single group (for a
    joint prior such as LKJ on a whole covariance matrix)."""
    groups = []
    for name, mat in spec.matrices.items():
        if mat.n_free == 0:
            continue
        rows, cols = mat.free_cells
        lower, upper = mat.bounds()
        offset = spec.offsets[name].start
        if name in joint:
            groups.append(ParamGroup(f"{name}__free", name, offset + np.arange(len(rows)),
                                     np.arange(len(rows)), -np.inf, np.inf,
                                     _cell_class(rows, cols), joint=True))
            continue
        classes = {}
        for k in range(len(rows)):
            classes.setdefault((lower[k], upper[k]), []).append(k)
        split = len(classes) > 1
        for (lo, hi), cells in classes.items():
            cells = np.asarray(cells)
            cell_class = _cell_class(rows[cells], cols[cells])
            suffix = f"_{cell_class}" if split else ""
            groups.append(ParamGroup(f"{name}__free{suffix}", name, offset + cells, cells,
                                     float(lo), float(hi), cell_class))
    return groups


def _cell_class(rows, cols) -> str:
    return "diag" if bool(np.all(rows == cols)) else "offdiag"


def _coords(spec: MLVMSpec, groups) -> dict:
    coords = {VARIABLE_DIM: list(spec.var_names), VARIABLE_DIM_2: list(spec.var_names),
              LATENT_DIM: list(spec.latent_names), LATENT_DIM_2: list(spec.latent_names)}
    for g in groups:
        labels = spec.matrices[g.matrix].cell_labels()
        coords[f"{g.var_name}_dim"] = [labels[k] for k in g.cell_index]
    return coords


def build_pymc_model(spec: MLVMSpec, stats: TwoLevelStats, prior_factory=flat_prior,
                     deterministics: bool = True, shared_inputs=None,
                     data=None, shared_statistics: bool = False) -> BuiltModel:
    """The pm.Model of ``spec`` on ``stats``.

    The statistics are graph constants, or with ``shared_statistics`` shared variables (then
    ``BuiltModel.data_vars`` take a new data set of the same layout with ``set_value``, and
    a compiled sampler serves it without a rebuild). Constants are the default: nutpie
    compiles an extraction function per shared variable on every call (≈ 0.3 s each for the
    eight statistics arrays, measured in ``benchmarks/README.md``), and nothing here swaps
    them. ``shared_inputs`` (a ``(route, shared variables)`` pair) lets a caller reuse
    statistics holders across models. ``data`` (an
    ``(y (N, p), cluster labels)`` pair, the rows ``stats`` were computed from) makes the
    observed variable ``"y"`` hold the real data (for predictive checks); without it the
    observed value is NaN with the layout of the statistics. With ``deterministics``, each
    matrix's free-parameter values are also a deterministic ``<matrix>__values`` (dimension
    ``<matrix>__values_dim``, labelled cells).
    """
    if tuple(stats.var_names) != tuple(spec.var_names):
        raise ValueError(f"the statistics' variables {stats.var_names} differ from the model's "
                         f"{spec.var_names}")
    groups = _groups(spec, joint=getattr(prior_factory, "joint_matrices", ()))
    route, data_vars = shared_inputs or data_inputs(stats, shared=shared_statistics)
    with pm.Model(coords=_coords(spec, groups)) as model:
        variables, positions = [], []
        for g in groups:
            prior = prior_factory(g)
            dist, to_values, transform = _unpack_prior(prior)
            rv = model.register_rv(dist, g.var_name, dims=(f"{g.var_name}_dim",),
                                   **transform)
            variables.append(rv if to_values is None else to_values(rv))
            positions.append(g.theta_index)
        if variables:  # θ in spec order: concatenate the groups, then undo their order
            order = np.argsort(np.concatenate(positions))
            theta = pt.concatenate(variables)
            if np.any(order != np.arange(len(order))):
                theta = theta[order]
        else:
            theta = pt.zeros(0)
        moments = model_moments(spec, theta)
        if deterministics:
            for name, mat in spec.matrices.items():
                if mat.n_free:
                    cells = spec.offsets[name]
                    dim = f"{name}{VALUES_SUFFIX}_dim"
                    model.add_coord(dim, mat.cell_labels())
                    pm.Deterministic(f"{name}{VALUES_SUFFIX}", theta[cells], dims=(dim,))
            for name, mat in spec.matrices.items():
                if mat.n_free:
                    value = moments["matrices"][name]
                    if mat.kind == "vector":
                        value = value[:, 0]
                    pm.Deterministic(name, value, dims=spec.matrix_dims(name))
            for block in BLOCKS:  # Σ of blocks whose structure has no sigma parameter
                name = matrix_name("sigma", block)
                if name not in spec.matrices and not spec.block_is_zero(block):
                    pm.Deterministic(name, moments["blocks"][block], dims=spec.matrix_dims(name))
            for name in ("mu", "sigma_within", "sigma_between"):
                pm.Deterministic(name, moments[name], dims=spec.matrix_dims(name))
        if data is None:
            observed, clusters = stats, None
        else:
            observed, clusters = data
        TwoLevelNormal(LOGLIK_NAME, moments["mu"], moments["sigma_within"],
                       moments["sigma_between"], observed=observed, clusters=clusters,
                       statistics_inputs=(route, data_vars))
    return BuiltModel(model=model, groups=tuple(groups), route=route, data_vars=data_vars)


# ------------------------------------------------------------------- several groups
GROUP_DIM = "group"


def group_observed_name(label: str) -> str:
    """The observed variable of one group: ``y__<label>``."""
    return f"{LOGLIK_NAME}__{label}"


def group_cluster_dim(label: str) -> str:
    return f"{CLUSTER_DIM}__{label}"


def global_param_groups(gspec: GroupSpec, joint_by_group=None) -> list[ParamGroup]:
    """One ParamGroup per (matrix, tied or owning group, bound class) over the global θ; a
    matrix whose default prior is joint (``joint_by_group[g]``: names) keeps it when one
    variable holds all its cells."""
    joint_by_group = joint_by_group or [()] * gspec.n_groups
    buckets = {}
    for k, (g, local) in enumerate(gspec.owners):
        spec = gspec.specs[g]
        pid = spec.param_ids[local]
        owner = "tied" if gspec.is_tied(pid, g) else g
        buckets.setdefault((pid.matrix, owner), []).append((k, g, local))
    out = []
    for (name, owner), members in buckets.items():
        g = members[0][1]
        spec = gspec.specs[g]
        mat = spec.matrices[name]
        rows, cols = mat.free_cells
        lower, upper = mat.bounds()
        start = spec.offsets[name].start
        cells = np.array([local - start for _, _, local in members])
        theta = np.array([k for k, _, _ in members])
        base = f"{name}__free" if owner == "tied" else f"{name}__free__{gspec.labels[owner]}"
        if name in joint_by_group[g] and len(cells) == mat.n_free:
            out.append(ParamGroup(base, name, theta, cells, -np.inf, np.inf,
                                  _cell_class(rows[cells], cols[cells]), joint=True))
            continue
        classes = {}
        for j, cell in enumerate(cells):
            classes.setdefault((lower[cell], upper[cell]), []).append(j)
        split = len(classes) > 1
        for (lo, hi), picks in classes.items():
            picks = np.asarray(picks)
            cell_class = _cell_class(rows[cells[picks]], cols[cells[picks]])
            out.append(ParamGroup(base + (f"_{cell_class}" if split else ""), name,
                                  theta[picks], cells[picks], float(lo), float(hi),
                                  cell_class))
    return out


def parameter_labels(gspec: GroupSpec) -> dict:
    """matrix → (global θ positions, labels): a cell equal across groups is labelled by the
    cell (``"y2,F1"``), a group's own parameter by cell and group (``"y1@2"``)."""
    out = {}
    for k, (g, local) in enumerate(gspec.owners):
        spec = gspec.specs[g]
        pid = spec.param_ids[local]
        mat = spec.matrices[pid.matrix]
        label = mat.cell_labels()[local - spec.offsets[pid.matrix].start]
        if not gspec.is_tied(pid, g):
            label = f"{label}@{gspec.labels[g]}"
        positions, labels = out.setdefault(pid.matrix, ([], []))
        positions.append(k)
        labels.append(label)
    return out


def build_group_pymc_model(gspec: GroupSpec, stats, factories, data=None) -> pm.Model:
    """The pm.Model of a multi-group specification: one variable per parameter group of
    the global θ (shared by the groups where the cells are equal), each group's moments from
    θ[index[g]], one observed :class:`TwoLevelNormal` per group (``y__<label>``, cluster
    dimension ``cluster__<label>``). Deterministics: ``<matrix>__values`` (the matrix's
    global parameters, :func:`parameter_labels`) and the full matrices, μ, Σ_W, Σ_B with a
    leading ``group`` dimension. ``factories``: one prior factory per group (its data's
    scales); ``data``: per group an ``(y, cluster labels)`` pair, or None."""
    base = gspec.base
    groups = global_param_groups(gspec, [getattr(f, "joint_matrices", ()) for f in factories])
    coords = _coords(base, [])
    coords[GROUP_DIM] = list(gspec.labels)
    with pm.Model(coords=coords) as model:
        variables, positions = [], []
        for group in groups:
            owner = gspec.owners[int(group.theta_index[0])][0]
            labels = gspec.specs[owner].matrices[group.matrix].cell_labels()
            model.add_coord(f"{group.var_name}_dim", [labels[k] for k in group.cell_index])
            prior = factories[owner](group)
            dist, to_values, transform = _unpack_prior(prior)
            rv = model.register_rv(dist, group.var_name, dims=(f"{group.var_name}_dim",),
                                   **transform)
            variables.append(rv if to_values is None else to_values(rv))
            positions.append(group.theta_index)
        order = np.argsort(np.concatenate(positions))
        theta = pt.concatenate(variables)[order]
        moments = [model_moments(spec, theta[idx])
                   for spec, idx in zip(gspec.specs, gspec.index)]
        for name, (pos, labels) in parameter_labels(gspec).items():
            dim = f"{name}{VALUES_SUFFIX}_dim"
            model.add_coord(dim, labels)
            pm.Deterministic(f"{name}{VALUES_SUFFIX}", theta[np.asarray(pos)], dims=(dim,))
        for name, mat in base.matrices.items():
            if any(spec.matrices[name].n_free for spec in gspec.specs):
                value = pt.stack([m["matrices"][name] for m in moments])
                if mat.kind == "vector":
                    value = value[:, :, 0]
                pm.Deterministic(name, value, dims=(GROUP_DIM, *base.matrix_dims(name)))
        for name in ("mu", "sigma_within", "sigma_between"):
            pm.Deterministic(name, pt.stack([m[name] for m in moments]),
                             dims=(GROUP_DIM, *base.matrix_dims(name)))
        for g, (label, st) in enumerate(zip(gspec.labels, stats)):
            observed, clusters = (st, None) if data is None else data[g]
            m = moments[g]
            TwoLevelNormal(group_observed_name(label), m["mu"], m["sigma_within"],
                           m["sigma_between"], observed=observed, clusters=clusters,
                           dims=group_cluster_dim(label))
    return model
