"""The two-level latent variable model specification (psychonetrics' ``ml_lvm``), as data.

``y_ij = ν + Λ(η^B_j + η^W_ij) + ε^B_j + ε^W_ij`` with one Λ shared by both levels::

    Σ_W = Λ B_W Ψ_W B_W' Λ' + Θ_W,   B_W = (I − β_within)⁻¹
    Σ_B = Λ B_B Ψ_B B_B' Λ' + Θ_B,   B_B = (I − β_between)⁻¹
    μ   = ν

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
The latent intercepts ν_η of psychonetrics are fixed at 0 in a single group and are not
represented.

The parameter vector θ is the free cells of the matrices in :attr:`MLVMSpec.order`, each in
column-major order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError, check_choice
from pm_mlvm.spec.matrices import MatrixSpec, align_frame, label_position, resolve_pattern
from pm_mlvm.spec.structures import STRUCTURES

__all__ = ["BLOCKS", "IDENTIFICATIONS", "MLVMSpec", "build_spec", "compose_moments"]

IDENTIFICATIONS = ("loadings", "variance")
BLOCKS = ("zeta_within", "epsilon_within", "zeta_between", "epsilon_between")
LEVEL_OF = {"zeta_within": "within", "epsilon_within": "within",
            "zeta_between": "between", "epsilon_between": "between"}


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

    def block_matrices(self, block: str) -> dict:
        """role prefix → MatrixSpec for one block."""
        structure = STRUCTURES[self.types[block]]
        return {r.prefix: self.matrices[f"{r.prefix}_{block}"] for r in structure.roles}

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lows, highs = zip(*(m.bounds() for m in self.matrices.values()))
        return np.concatenate(lows), np.concatenate(highs)

    def unpack(self, theta) -> dict:
        """name → full NumPy matrix at θ."""
        theta = np.asarray(theta, dtype=float)
        return {name: mat.fill(theta[self.offsets[name]]) for name, mat in self.matrices.items()}

    def parameter_table(self) -> pd.DataFrame:
        """One row per free parameter: par, matrix, row, col, level, lower, upper."""
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
        return table

    def structure_key(self) -> tuple:
        """Hashable description of everything that shapes the compiled graph."""
        parts = [self.var_names, self.latent_names, tuple(sorted(self.types.items()))]
        for name, mat in self.matrices.items():
            parts.append((name, mat.kind, mat.free.tobytes(), mat.fixed.tobytes()))
        return tuple(parts)

    def with_matrix(self, mat: MatrixSpec) -> MLVMSpec:
        """A copy with one matrix replaced (used by prune / stepup / fix)."""
        matrices = dict(self.matrices)
        if mat.name not in matrices:
            raise KeyError(f"no matrix {mat.name!r} in this model; matrices: {list(matrices)}")
        matrices[mat.name] = mat
        return replace(self, matrices=matrices)

    def implied(self, theta) -> dict:
        """NumPy implied moments and block covariances at θ."""
        from pm_mlvm.spec.structures import NUMPY_BACKEND

        return compose_moments(self, self.unpack(theta), NUMPY_BACKEND)


def compose_moments(spec: MLVMSpec, mats: dict, be) -> dict:
    """μ, Σ_W, Σ_B and the four block covariances from the parameter matrices.

    Backend-agnostic: ``mats`` are NumPy arrays (``be=NUMPY_BACKEND``) or PyTensor tensors
    (the graph layer's backend).
    """
    q = spec.n_latent
    lam = mats["lambda"]
    blocks = {}
    for block in BLOCKS:
        structure = STRUCTURES[spec.types[block]]
        own = spec.block_matrices(block)
        if all(m.is_zero for m in own.values()):
            n = spec.n_latent if block.startswith("zeta") else spec.n_vars
            blocks[block] = 0.0 * be.eye(n)
        else:
            blocks[block] = structure.implied({k: mats[m.name] for k, m in own.items()}, be)
    out = {"blocks": blocks, "mu": mats["nu"][:, 0]}
    for level in ("within", "between"):
        beta = mats[f"beta_{level}"]
        psi = blocks[f"zeta_{level}"]
        if spec.matrices[f"beta_{level}"].is_zero:
            eta_cov = psi
        else:
            b_inv = be.inv(be.eye(q) - beta)
            eta_cov = b_inv @ psi @ b_inv.T
        out[f"sigma_eta_{level}"] = eta_cov
        sigma = lam @ eta_cov @ lam.T + blocks[f"epsilon_{level}"]
        out[f"sigma_{level}"] = 0.5 * (sigma + sigma.T)
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
            latent = block.startswith("zeta")
            names = latent_names if latent else var_names
            n = len(names)
            for role in STRUCTURES[types[block]].roles:
                name = f"{role.prefix}_{block}"
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
                    markers)
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
        mat = spec.matrices[f"{role}_{block}"]
        cells = [(k, k) for k in range(spec.n_latent)]
        spec = spec.with_matrix(mat.with_cells(cells, free=False, value=1.0, identified=True))
    return spec
