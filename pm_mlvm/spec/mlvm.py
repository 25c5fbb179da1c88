"""The two-level latent variable model specification (psychonetrics' ``ml_lvm``), as data.

``y_ij = ν + Λ(η^B_j + η^W_ij) + ε^B_j + ε^W_ij`` with one Λ shared by both levels::

    Σ_W = Λ B_W Ψ_W B_W' Λ' + Θ_W,   B_W = (I − β_within)⁻¹
    Σ_B = Λ B_B Ψ_B B_B' Λ' + Θ_B,   B_B = (I − β_between)⁻¹
    μ   = ν + Λ B_B ν_η

Ψ_W, Θ_W, Ψ_B, Θ_B are the blocks ``zeta_within``, ``epsilon_within``, ``zeta_between``,
``epsilon_between``, each parameterised by a :mod:`~pm_mlvm.spec.structures` type.

:func:`build_spec` validates the user's arguments and applies psychonetrics' identification
(``reference/psychonetrics_ml_lvm.md`` §2.3): β diagonals fixed at 0; single-indicator latents
get zero residual (co)variances on both levels; ``"loadings"`` fixes the marker loading of
each factor to 1 unless the factor already has a fixed non-zero loading — the marker is the
first free indicator *as the user listed it* for dict input (lavaan's rule), the first free row
in variable order for a pattern matrix (:attr:`MLVMSpec.markers` carries that order from the
input); ``"variance"`` fixes
the diagonal of the within-latent structure's scale matrix to 1 (the between variances stay
free, identified by the shared loadings).

One deliberate departure from psychonetrics: when β has free paths on a level and the latent
block's pattern is left at its default, only exogenous latents covary (lavaan's rule);
psychonetrics would keep every covariance free, which leaves the model unidentified.
The latent intercepts ν_η (``nu_eta``) are fixed at 0 (identified) in a single group; with
several groups (:mod:`pm_mlvm.spec.groups`) they are freed in the groups after the first when
the intercepts ν are equal across groups, as psychonetrics does.

The parameter vector θ is the free cells of the matrices in :attr:`MLVMSpec.order`, each in
column-major order; :attr:`MLVMSpec.param_ids` names them (:class:`~pm_mlvm.spec.params.ParamId`).

What the specification answers about a matrix — its labels, dimension names, default priors,
whether it is a network or a search candidate, what a block reports — comes from the block
table (:mod:`~pm_mlvm.spec.layout`) and the structures (:mod:`~pm_mlvm.spec.structures`), never
from the text of its name, so result, search, model and priors hold no name logic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError, check_choice
from pm_mlvm._names import LATENT_DIM, LATENT_DIM_2, VARIABLE_DIM, VARIABLE_DIM_2
from pm_mlvm.spec.layout import (
    BLOCKS,
    CORE,
    LATENT,
    LEVELS,
    MOMENTS,
    VARIABLE,
    level_block,
    matrix_name,
)
from pm_mlvm.spec.matrices import (
    MatrixSpec,
    align_frame,
    allowed_cells,
    label_position,
    resolve_pattern,
)
from pm_mlvm.spec.params import ParamId, SpecEdit
from pm_mlvm.spec.prior import RolePriors
from pm_mlvm.spec.structures import STRUCTURES, NUMPY_BACKEND, Structure

__all__ = ["BLOCKS", "IDENTIFICATIONS", "MLVMSpec", "build_spec", "compose_moments"]

IDENTIFICATIONS = ("loadings", "variance")
LEVEL_OF = {b.name: b.level for b in BLOCKS.values()}
#: label kind → (first, second) dimension name
_DIMS = {VARIABLE: (VARIABLE_DIM, VARIABLE_DIM_2), LATENT: (LATENT_DIM, LATENT_DIM_2)}


@dataclass(frozen=True, eq=False)
class MLVMSpec:
    """A validated, identified two-level latent variable model (immutable).

    Attributes
    ----------
    var_names, latent_names : tuples of names
    observed_only : True for ``lambda_=None`` (Λ = I, residual blocks zero)
    types : block name → structure type
    matrices : name → :class:`MatrixSpec`
    identification : ``"loadings"`` or ``"variance"``
    edits : every change made through :meth:`with_matrix` / :meth:`with_params`, oldest
        first (:class:`~pm_mlvm.spec.params.SpecEdit`)
    markers : per latent, the row indices of its indicators in marker-preference order (the
        user's order for dict input, variable order for a pattern); empty for
        ``observed_only``
    """

    var_names: tuple[str, ...]
    latent_names: tuple[str, ...]
    observed_only: bool
    types: dict
    matrices: dict
    identification: str
    edits: tuple = ()
    markers: tuple[tuple[int, ...], ...] = ()

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(self.matrices)

    @property
    def n_vars(self) -> int:
        return len(self.var_names)

    @property
    def n_latent(self) -> int:
        return len(self.latent_names)

    @cached_property
    def offsets(self) -> dict:
        """name → slice of θ holding that matrix's free cells."""
        out, start = {}, 0
        for name, mat in self.matrices.items():
            out[name] = slice(start, start + mat.n_free)
            start += mat.n_free
        return out

    @property
    def npar(self) -> int:
        return sum(m.n_free for m in self.matrices.values())

    @property
    def n_moments(self) -> int:
        """p means + two p(p+1)/2 covariance matrices."""
        p = self.n_vars
        return p + p * (p + 1)

    @property
    def df(self) -> int:
        return self.n_moments - self.npar

    def structure(self, block: str) -> Structure:
        """The structure (from the registry) of a block."""
        return STRUCTURES[self.types[block]]

    def block_matrices(self, block: str) -> dict:
        """role prefix → MatrixSpec for one block."""
        return {r.prefix: self.matrices[matrix_name(r.prefix, block)]
                for r in self.structure(block).roles}

    def block_is_zero(self, block: str) -> bool:
        """True if every matrix of the block is fixed at zero (residuals of ``lambda_=None``)."""
        return all(m.is_zero for m in self.block_matrices(block).values())

    # ------------------------------------------------------------ what each matrix is
    @cached_property
    def _places(self) -> dict:
        """name → (block or None, role or core matrix) for every parameter matrix."""
        out = {name: (None, core) for name, core in CORE.items() if name in self.matrices}
        for block in BLOCKS:
            for role in self.structure(block).roles:
                out[matrix_name(role.prefix, block)] = (block, role)
        return out

    @cached_property
    def _label_kinds(self) -> dict:
        """name → (row kind, col kind or None) for every parameter, block-derived and moment
        matrix this model can report."""
        out = dict(MOMENTS)
        for name, core in CORE.items():
            out[name] = (core.rows, core.cols)
        for name, info in BLOCKS.items():
            structure = self.structure(name)
            prefixes = ("sigma", *structure.derived_prefixes, *(r.prefix for r in structure.roles))
            for prefix in prefixes:
                out[matrix_name(prefix, name)] = (info.labels, info.labels)
        return out

    def matrix_kinds(self, name: str) -> tuple[str, str | None]:
        """(row, column) label kinds of a matrix: ``"variable"`` or ``"latent"`` (column
        ``None`` for vectors)."""
        try:
            return self._label_kinds[name]
        except KeyError:
            raise KeyError(f"unknown matrix {name!r}; known: "
                           f"{', '.join(sorted(self._label_kinds))}") from None

    def _names_of(self, kind: str) -> list[str]:
        return list(self.latent_names if kind == LATENT else self.var_names)

    def matrix_labels(self, name: str) -> tuple[list[str], list[str] | None]:
        """(row labels, column labels or None) of any parameter, derived or moment matrix."""
        rows, cols = self.matrix_kinds(name)
        return self._names_of(rows), None if cols is None else self._names_of(cols)

    def matrix_dims(self, name: str) -> tuple[str, ...]:
        """Dimension names (``pm_mlvm._names``) of a matrix, for PyMC / ArviZ: a square matrix
        gets ``(kind, kind_)``, a vector one dimension."""
        rows, cols = self.matrix_kinds(name)
        if cols is None:
            return (_DIMS[rows][0],)
        return (_DIMS[rows][0], _DIMS[cols][1] if cols == rows else _DIMS[cols][0])

    def matrix_block(self, name: str) -> str | None:
        """The block a parameter matrix belongs to (None for ν, Λ, β)."""
        return self._places[name][0]

    def role_priors(self, name: str) -> RolePriors:
        """Default-prior description of a parameter matrix (from its structure role)."""
        return self._places[name][1].priors

    def is_full(self, name: str) -> bool:
        """Every cell the matrix's kind allows is free (and it has more than one row)."""
        mat = self.matrices[name]
        n_allowed = int(allowed_cells(mat.kind, mat.shape).sum())
        return mat.shape[0] > 1 and mat.n_free > 0 and mat.n_free == n_allowed

    def network_matrices(self) -> list[str]:
        """The matrices whose off-diagonal cells are network edges: each block's structure
        ``network_role`` (omega of ggm blocks, kappa of prec blocks)."""
        out = []
        for block in self.types:  # the order blocks were chosen in (build_spec's)
            role = self.structure(block).network_role
            if role is not None:
                out.append(matrix_name(role, block))
        return out

    def search_candidates(self, matrices=None) -> tuple[ParamId, ...]:
        """Fixed cells a search may free, in θ-like order (column-major lower triangle).

        Never: cells fixed by identification, ν, diagonal (scale) matrices, zero-diagonal
        cells (β), and, for ``lambda_=None`` models, Λ and the residual blocks (structural).
        """
        names = list(self.matrices) if matrices is None else list(matrices)
        out = []
        for name in names:
            mat = self.matrices[name]
            block, role = self._places[name]
            if block is None:
                if not role.searchable or (self.observed_only and role.fixed_when_observed_only):
                    continue
            elif self.observed_only and not BLOCKS[block].latent:
                continue
            if mat.kind == "diagonal":  # scale matrices: freeing a fixed SD/delta is not a path
                continue
            mask = allowed_cells(mat.kind, mat.shape) & ~mat.free & ~mat.identified
            if block is None and role.zero_diagonal:
                mask &= ~np.eye(*mat.shape, dtype=bool)
            cols, rows = np.nonzero(mask.T)
            out += [self.param_id(name, int(r), int(c)) for r, c in zip(rows, cols)]
        return tuple(out)

    def derived_matrices(self, theta) -> dict:
        """Every parameter matrix and derived matrix (NumPy) at θ, by psychonetrics name.

        Per block: its Σ, and when Σ is not zero what its structure reports
        (``Structure.derived``: κ, ω, ρ, SD by default) — the block's own parameter matrices
        take precedence. Then ν, Λ, β, and the moments μ, Σ_W, Σ_B, Σ_W + Σ_B and each
        level's latent covariance.
        """
        mats = self.unpack(theta)
        implied = self.implied(theta)
        out = {}
        for block in BLOCKS:
            sigma = implied["blocks"][block]
            out[matrix_name("sigma", block)] = sigma
            if np.any(sigma):
                out.update({matrix_name(prefix, block): value
                            for prefix, value in self.structure(block).derived(sigma).items()})
        for block in BLOCKS:
            for mat in self.block_matrices(block).values():
                out[mat.name] = mats[mat.name]
        out.update({name: mats[name] for name in CORE})
        for name in MOMENTS:
            if name in implied:
                out[name] = implied[name]
        out["sigma_crosssection"] = implied["sigma_within"] + implied["sigma_between"]
        return out

    # ------------------------------------------------------------ parameter identity
    def param_id(self, matrix: str, row: int, col: int) -> ParamId:
        """The canonical :class:`ParamId` of cell (row, col) (positions) of a matrix."""
        mat = self.matrices[matrix]
        if mat.mirrored and col > row:
            row, col = col, row
        return ParamId(matrix, mat.row_names[row],
                       "" if mat.kind == "vector" else mat.col_names[col])

    def cell_of(self, param: ParamId) -> tuple[str, int, int]:
        """(matrix, row position, col position) of a parameter, lower triangle for mirrored
        matrices; raises KeyError if it names no cell."""
        mat = self.matrices.get(param.matrix)
        if mat is None:
            raise KeyError(f"{param}: no matrix {param.matrix!r}; matrices: "
                           f"{list(self.matrices)}")
        try:
            r = mat.row_names.index(param.row)
            c = 0 if mat.kind == "vector" else mat.col_names.index(param.col)
        except ValueError:
            raise KeyError(f"{param} names no cell of {param.matrix} (rows "
                           f"{list(mat.row_names)}, cols {list(mat.col_names)})") from None
        if mat.mirrored and c > r:
            r, c = c, r
        return param.matrix, r, c

    @cached_property
    def param_ids(self) -> tuple[ParamId, ...]:
        """The identity of every free parameter, in θ order."""
        out = []
        for name, mat in self.matrices.items():
            rows, cols = mat.free_cells
            out += [self.param_id(name, int(r), int(c)) for r, c in zip(rows, cols)]
        return tuple(out)

    @cached_property
    def _index(self) -> dict:
        return {pid: k for k, pid in enumerate(self.param_ids)}

    def index_of(self, param: ParamId) -> int:
        """Position in θ of a free parameter (either triangle of a mirrored matrix)."""
        name, r, c = self.cell_of(param)
        canonical = self.param_id(name, r, c)
        try:
            return self._index[canonical]
        except KeyError:
            raise KeyError(f"{param} is not a free parameter of this model") from None

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lows, highs = zip(*(m.bounds() for m in self.matrices.values()))
        return np.concatenate(lows), np.concatenate(highs)

    def unpack(self, theta) -> dict:
        """name → full NumPy matrix at θ."""
        theta = np.asarray(theta, dtype=float)
        return {name: mat.fill(theta[self.offsets[name]]) for name, mat in self.matrices.items()}

    def parameter_table(self) -> pd.DataFrame:
        """One row per free parameter: par, matrix, row, col, level, lower, upper, row_index,
        col_index, param_id (:class:`~pm_mlvm.spec.params.ParamId`)."""
        rows = []
        for name, mat in self.matrices.items():
            r_idx, c_idx = mat.free_cells
            lower, upper = mat.bounds()
            for k, (r, c) in enumerate(zip(r_idx, c_idx)):
                rows.append(dict(
                    matrix=name, row=mat.row_names[r],
                    col=mat.col_names[c] if mat.kind != "vector" else "",
                    level=mat.level, lower=lower[k], upper=upper[k], row_index=int(r),
                    col_index=int(c),
                ))
        table = pd.DataFrame(rows, columns=["matrix", "row", "col", "level", "lower", "upper",
                                            "row_index", "col_index"])
        table.insert(0, "par", np.arange(len(table)))
        table["param_id"] = pd.Series(self.param_ids, index=table.index, dtype=object)
        return table

    def structure_key(self) -> tuple:
        """Hashable description of everything that shapes the compiled graph."""
        parts = [self.var_names, self.latent_names, tuple(sorted(self.types.items()))]
        for name, mat in self.matrices.items():
            parts.append((name, mat.kind, mat.free.tobytes(), mat.fixed.tobytes()))
        return tuple(parts)

    def with_matrix(self, mat: MatrixSpec) -> MLVMSpec:
        """A copy with one matrix replaced (used by prune / stepup / fix); the cells that
        changed (freed, fixed, or fixed at a new value) are appended to :attr:`edits`."""
        matrices = dict(self.matrices)
        if mat.name not in matrices:
            raise KeyError(f"no matrix {mat.name!r} in this model; matrices: {list(matrices)}")
        old = matrices[mat.name]
        matrices[mat.name] = mat
        return replace(self, matrices=matrices, edits=self.edits + self._diff(old, mat))

    def _diff(self, old: MatrixSpec, new: MatrixSpec) -> tuple[SpecEdit, ...]:
        changed = (old.free != new.free) | (~new.free & (old.fixed != new.fixed))
        cols, rows = np.nonzero(changed.T)
        edits = []
        for r, c in zip(rows, cols):
            if new.mirrored and c > r:
                continue
            pid = self.param_id(new.name, int(r), int(c))
            if new.free[r, c]:
                edits.append(SpecEdit("free", pid))
            else:
                edits.append(SpecEdit("fix", pid, float(new.fixed[r, c])))
        return tuple(edits)

    def with_params(self, params, free: bool, value: float = 0.0) -> MLVMSpec:
        """A copy with the given :class:`ParamId` cells freed, or fixed at ``value``; the
        changes are recorded in :attr:`edits`."""
        by_matrix = {}
        for param in params:
            name, r, c = self.cell_of(param)
            by_matrix.setdefault(name, []).append((r, c))
        spec = self
        for name, cells in by_matrix.items():
            spec = spec.with_matrix(spec.matrices[name].with_cells(cells, free=free, value=value))
        return spec

    def implied(self, theta) -> dict:
        """NumPy implied moments and block covariances at θ."""
        return compose_moments(self, self.unpack(theta), NUMPY_BACKEND)


def compose_moments(spec: MLVMSpec, mats: dict, be) -> dict:
    """μ, Σ_W, Σ_B and the four block covariances from the parameter matrices.

    Backend-agnostic: ``mats`` are NumPy arrays (``be=NUMPY_BACKEND``) or PyTensor tensors
    (the graph layer's backend).
    """
    q = spec.n_latent
    lam = mats["lambda"]
    blocks = {}
    for block, info in BLOCKS.items():
        own = spec.block_matrices(block)
        if spec.block_is_zero(block):
            n = spec.n_latent if info.latent else spec.n_vars
            blocks[block] = 0.0 * be.eye(n)
        else:
            blocks[block] = spec.structure(block).implied(
                {k: mats[m.name] for k, m in own.items()}, be)
    out = {"blocks": blocks, "mu": mats["nu"][:, 0]}
    if not spec.matrices["nu_eta"].is_zero:
        b_inv = be.eye(q) if spec.matrices["beta_between"].is_zero else be.inv(
            be.eye(q) - mats["beta_between"])
        out["mu"] = out["mu"] + (lam @ b_inv @ mats["nu_eta"])[:, 0]
    for level in LEVELS:
        beta_name = matrix_name("beta", level)
        psi = blocks[level_block(level, latent=True)]
        if spec.matrices[beta_name].is_zero:
            eta_cov = psi
        else:
            b_inv = be.inv(be.eye(q) - mats[beta_name])
            eta_cov = b_inv @ psi @ b_inv.T
        out[matrix_name("sigma_eta", level)] = eta_cov
        sigma = lam @ eta_cov @ lam.T + blocks[level_block(level, latent=False)]
        out[matrix_name("sigma", level)] = 0.5 * (sigma + sigma.T)
    return out


# ---------------------------------------------------------------------- building
def build_spec(
    var_names,
    lambda_=None,
    latents=None,
    within_latent="cov",
    between_latent="cov",
    within_residual="cov",
    between_residual="cov",
    beta_within=None,
    beta_between=None,
    identification="loadings",
    fix=None,
    **patterns,
) -> MLVMSpec:
    """Validate arguments, build every parameter matrix and identify the model.

    See :func:`pm_mlvm.ml_lvm` for the arguments. ``patterns`` holds the psychonetrics matrix
    arguments (``sigma_zeta_within=``, ``omega_epsilon_between=``, ``delta_zeta_within=``, …).
    """
    var_names = tuple(str(v) for v in var_names)
    if len(set(var_names)) != len(var_names):
        raise MLVMInputError(f"vars: variable names must be unique (compared as str); got "
                             f"{list(var_names)}")
    p = len(var_names)
    types = {}
    for arg, block, value in (("within_latent", "zeta_within", within_latent),
                              ("between_latent", "zeta_between", between_latent),
                              ("within_residual", "epsilon_within", within_residual),
                              ("between_residual", "epsilon_between", between_residual)):
        check_choice(arg, value, tuple(STRUCTURES))
        types[block] = value
    check_choice("identification", identification, IDENTIFICATIONS)
    lam_free, latent_names, observed_only, markers = _lambda_pattern(lambda_, var_names,
                                                                     latents)
    q = len(latent_names)

    valid_pattern_args = {f"{r.prefix}_{b}" for b in BLOCKS for r in STRUCTURES[types[b]].roles}
    unknown = sorted(set(patterns) - valid_pattern_args)
    if unknown:
        raise MLVMInputError(
            f"unknown matrix argument(s) {unknown} for block types {types}; valid: "
            + ", ".join(sorted(valid_pattern_args))
        )

    matrices = {}
    matrices["nu"] = MatrixSpec("nu", "vector", np.ones((p, 1), bool), np.zeros((p, 1)), "between",
                                var_names, ("",))
    matrices["nu_eta"] = MatrixSpec("nu_eta", "vector", np.zeros((q, 1), bool),
                                    np.zeros((q, 1)), "between", latent_names, ("",),
                                    identified=np.ones((q, 1), bool))
    fixed_lam = np.eye(p) if observed_only else np.zeros((p, q))
    matrices["lambda"] = MatrixSpec("lambda", "full", lam_free, fixed_lam, "both", var_names,
                                    latent_names)
    for level, beta_arg, beta in (("within", "beta_within", beta_within),
                                  ("between", "beta_between", beta_between)):
        beta_free = resolve_pattern("zero" if beta is None else beta, "full", (q, q), beta_arg,
                                    latent_names, latent_names)
        diag = np.eye(q, dtype=bool)
        matrices[f"beta_{level}"] = MatrixSpec(f"beta_{level}", "full", beta_free & ~diag,
                                               np.zeros((q, q)), level, latent_names,
                                               latent_names, identified=diag.copy())
        for block in (f"zeta_{level}", f"epsilon_{level}"):
            latent = BLOCKS[block].latent
            names = latent_names if latent else var_names
            n = len(names)
            for role in STRUCTURES[types[block]].roles:
                name = matrix_name(role.prefix, block)
                default = role.latent_default if latent else role.residual_default
                if observed_only and not latent:
                    default = "zero"
                    if name in patterns and patterns[name] not in ("zero", "empty"):
                        raise MLVMInputError(f"{name}={patterns[name]!r}: residual blocks "
                                             "are zero when lambda_=None; omit it")
                free = resolve_pattern(patterns.get(name, default), role.kind, (n, n), name,
                                       names, names)
                if latent and name not in patterns and role.kind != "diagonal":
                    free = free & _exogenous_pairs(beta_free)
                matrices[name] = MatrixSpec(
                    name, role.kind, free, np.zeros((n, n)), level, names, names,
                    role.lower_diag, role.upper_diag, role.lower_off, role.upper_off,
                )
    spec = MLVMSpec(var_names, latent_names, observed_only, types, matrices, identification,
                    markers=markers)
    if fix:
        spec = _apply_fix(spec, fix)
    spec = _identify(spec)
    if spec.npar > spec.n_moments:
        raise MLVMInputError(
            f"the model is not identified: {spec.npar} free parameters but only "
            f"{spec.n_moments} moments (p={p}: means, within and between covariances); fix or "
            "remove parameters"
        )
    return spec


def _exogenous_pairs(beta_free: np.ndarray) -> np.ndarray:
    """Cells of a latent (co)variance matrix that are free by default with regressions:
    the diagonal, and covariances between two exogenous latents (lavaan's rule; a covariance
    next to a regression path would not be identified)."""
    exogenous = ~beta_free.any(axis=1)
    allowed = np.outer(exogenous, exogenous)
    np.fill_diagonal(allowed, True)
    return allowed


def _lambda_pattern(lambda_, var_names, latents):
    """(free mask, latent names, observed_only, markers) from the user's ``lambda_``."""
    p = len(var_names)
    if lambda_ is None:
        if latents is not None and tuple(str(v) for v in latents) != var_names:
            raise MLVMInputError(f"latents={latents!r} must be omitted when lambda_=None (the "
                                 "latents are the observed variables)")
        return np.zeros((p, p), dtype=bool), var_names, True, ()
    if isinstance(lambda_, dict):
        if not lambda_:
            raise MLVMInputError("lambda_={} names no factor; give {'F1': ['y1', 'y2', ...]} or "
                                 "lambda_=None for the observed-variable model")
        names = tuple(str(k) for k in lambda_)
        mask = np.zeros((p, len(names)), dtype=bool)
        markers = []
        for k, (factor, indicators) in enumerate(lambda_.items()):
            if isinstance(indicators, (str, int, np.integer)):
                indicators = [indicators]
            unknown = [v for v in indicators if str(v) not in var_names]
            if unknown:
                raise MLVMInputError(f"lambda_[{factor!r}]: {unknown} are not among vars "
                                     f"{list(var_names)}")
            rows = []
            for v in indicators:
                r = label_position(f"lambda_[{factor!r}]", v, var_names)
                if r not in rows:
                    rows.append(r)
            mask[rows, k] = True
            markers.append(tuple(rows))
        markers = tuple(markers)
    else:
        if isinstance(lambda_, pd.DataFrame):
            names = tuple(str(c) for c in lambda_.columns)
            values = align_frame(lambda_, "lambda_", row_names=var_names)
        else:
            values = np.asarray(lambda_)
            if values.ndim == 1:
                values = values[:, None]
            names = None
        if values.ndim != 2 or values.shape[0] != p or values.shape[1] == 0:
            raise MLVMInputError(f"lambda_ must be a {p}×q pattern (one row per variable in "
                                 f"vars, q ≥ 1 factors); got shape {values.shape}")
        mask = resolve_pattern(values, "full", values.shape, "lambda_")
        if names is None:
            names = tuple(f"Eta_{k + 1}" for k in range(values.shape[1]))
        markers = tuple(tuple(range(p)) for _ in range(mask.shape[1]))
    if latents is not None:
        latents = tuple(str(v) for v in latents)
        if len(latents) != mask.shape[1]:
            raise MLVMInputError(f"latents has {len(latents)} names for {mask.shape[1]} factors")
        names = latents
    if len(set(names)) != len(names):
        raise MLVMInputError(f"latent names must be unique; got {list(names)}")
    clash = set(names) & set(var_names)
    if clash:
        raise MLVMInputError(f"latent names {sorted(clash)} clash with observed variable names")
    empty = [names[k] for k in range(mask.shape[1]) if not mask[:, k].any()]
    if empty:
        raise MLVMInputError(f"lambda_: factor(s) {empty} have no indicator")
    return mask, names, False, markers


def _apply_fix(spec: MLVMSpec, fix: dict) -> MLVMSpec:
    if not isinstance(fix, dict):
        raise MLVMInputError(f"fix must be a dict {{(matrix, row, col): value}}; got "
                             f"{type(fix).__name__}")
    for key, value in fix.items():
        if not isinstance(key, tuple) or len(key) not in (2, 3):
            raise MLVMInputError(f"fix key {key!r} must be (matrix, row, col) or (matrix, row)")
        name, row = key[0], key[1]
        check_choice("fix: matrix", name, tuple(spec.matrices))
        mat = spec.matrices[name]
        vector_key = len(key) == 2 or key[2] in ("", None)
        if (mat.kind == "vector") != vector_key:
            form = "(matrix, row)" if mat.kind == "vector" else "(matrix, row, col)"
            raise MLVMInputError(f"fix key {key!r}: cells of {name} are named {form}")
        r = label_position(f"fix: {key!r} row", row, mat.row_names)
        c = 0 if mat.kind == "vector" else label_position(f"fix: {key!r} col", key[2],
                                                          mat.col_names)
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = np.nan
        if isinstance(value, (bool, np.bool_)) or not np.isfinite(number):
            raise MLVMInputError(f"fix[{key!r}]={value!r} is not valid; the value must be a "
                                 "finite number")
        spec = spec.with_matrix(mat.with_cells([(r, c)], free=False, value=number))
    return spec


def _identify(spec: MLVMSpec) -> MLVMSpec:
    lam = spec.matrices["lambda"]
    if spec.observed_only:
        return spec
    # single-indicator latents: zero residual (co)variances of that indicator on both levels
    carried = lam.free | (lam.fixed != 0)
    for k in range(spec.n_latent):
        rows = np.flatnonzero(carried[:, k])
        if len(rows) != 1:
            continue
        i = int(rows[0])
        for block in ("epsilon_within", "epsilon_between"):
            for mat in spec.block_matrices(block).values():
                cells = [(i, j) for j in range(spec.n_vars)
                         if mat.free[max(i, j), min(i, j)] or mat.free[i, j]]
                if mat.kind == "diagonal":
                    cells = [(i, i)]
                spec = spec.with_matrix(mat.with_cells(cells, free=False, value=0.0,
                                                       identified=True))
    if spec.identification == "loadings":
        lam = spec.matrices["lambda"]
        for k in range(spec.n_latent):
            if np.any(lam.fixed[:, k] != 0):
                continue
            rows = [r for r in spec.markers[k] if lam.free[r, k]]
            if not rows:
                raise MLVMInputError(
                    f"identification='loadings': factor {spec.latent_names[k]!r} has no free "
                    "loading to fix as its marker (fix= fixed them all at 0)")
            lam = lam.with_cells([(rows[0], k)], free=False, value=1.0, identified=True)
        spec = spec.with_matrix(lam)
    else:
        block = "zeta_within"
        role = STRUCTURES[spec.types[block]].scale_role
        mat = spec.matrices[matrix_name(role, block)]
        cells = [(k, k) for k in range(spec.n_latent)]
        spec = spec.with_matrix(mat.with_cells(cells, free=False, value=1.0, identified=True))
    return spec
