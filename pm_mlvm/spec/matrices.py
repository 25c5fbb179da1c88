"""Parameter matrices: shape kinds, pattern keywords, and the frozen :class:`MatrixSpec`.

A parameter matrix is fixed values plus free cells. Its *kind* says which cells can be free
and how free cells map to the matrix:

``full``        every cell (Λ, β)
``symmetric``   lower triangle incl. diagonal, mirrored (sigma, kappa)
``offdiag``     strict lower triangle, mirrored, zero diagonal (omega, rho)
``diagonal``    the diagonal only (delta, SD)
``lower``       lower triangle incl. diagonal, not mirrored (lowertri)
``vector``      a column vector (nu)

Patterns are the psychonetrics keywords ``"full"``, ``"diag"``, ``"zero"`` (also
``"empty"``), a 0/1 array or a labelled DataFrame. A DataFrame is read by its labels, never
by position: its index and columns must name exactly the matrix's rows and columns (in any
order). Labels are compared as ``str`` (the specification stores names as ``str``), so a
column label ``1`` and the name ``"1"`` are the same variable; :func:`label_position` is the
one place a user's label is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError, check_choice

__all__ = ["KINDS", "MatrixSpec", "resolve_pattern", "allowed_cells", "label_position",
           "align_frame"]

KINDS = ("full", "symmetric", "offdiag", "diagonal", "lower", "vector")
KEYWORDS = ("full", "diag", "zero", "empty")


def allowed_cells(kind: str, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the cells that may be free for a kind."""
    check_choice("kind", kind, KINDS)
    rows, cols = shape
    if kind in ("full", "vector"):
        return np.ones(shape, dtype=bool)
    if kind in ("symmetric", "lower"):
        return np.tril(np.ones(shape, dtype=bool))
    if kind == "offdiag":
        return np.tril(np.ones(shape, dtype=bool), k=-1)
    return np.eye(rows, cols, dtype=bool)  # diagonal


def resolve_pattern(value, kind: str, shape, arg: str, row_names=None, col_names=None):
    """Turn a pattern keyword / array / DataFrame into a boolean free mask.

    Symmetric kinds take the union of the lower and upper triangle of a user matrix (so a
    pattern given in either triangle, or both, works).
    """
    allowed = allowed_cells(kind, shape)
    if isinstance(value, str):
        key = value.lower()
        if key == "full":
            return allowed.copy()
        if key == "diag":
            return allowed & np.eye(*shape, dtype=bool)
        if key in ("zero", "empty"):
            return np.zeros(shape, dtype=bool)
        raise MLVMInputError(f"{arg}={value!r} is not a pattern keyword; valid: "
                             f"{', '.join(KEYWORDS)} or a 0/1 matrix")
    if isinstance(value, pd.DataFrame):
        value = align_frame(value, arg, row_names, col_names)
    arr = np.asarray(value)
    if kind == "vector" and arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape != tuple(shape):
        raise MLVMInputError(f"{arg} must have shape {tuple(shape)}; got {arr.shape}")
    if arr.dtype == bool:
        mask = arr.copy()
    else:
        try:
            num = arr.astype(float)
        except (TypeError, ValueError):
            raise MLVMInputError(f"{arg} must contain 0/1 (fixed/free) values") from None
        if not np.all(np.isin(num, (0.0, 1.0))):
            raise MLVMInputError(
                f"{arg} must contain only 0 (fixed) and 1 (free); got values "
                f"{sorted(set(num.ravel().tolist()) - {0.0, 1.0})[:5]} (equality labels are not "
                "supported yet; fix values with fix=...)"
            )
        mask = num == 1.0
    if kind in ("symmetric", "offdiag"):
        mask = mask | mask.T
    if kind == "diagonal":
        mask = np.diag(np.diag(mask)) if mask.ndim == 2 else mask
    return mask & allowed


def label_position(arg: str, label, names) -> int:
    """Position of a user's ``label`` among ``names`` (compared as ``str``).

    Raises :class:`MLVMInputError` naming the argument, the label and the valid names.
    """
    names = tuple(names)
    try:
        return names.index(str(label))
    except ValueError:
        raise MLVMInputError(f"{arg}: {label!r} is not one of {list(names)}") from None


def align_frame(frame: pd.DataFrame, arg: str, row_names=None, col_names=None) -> np.ndarray:
    """The values of ``frame`` with rows and columns put in ``row_names`` / ``col_names`` order.

    An axis given names must carry exactly those labels (any order, compared as ``str``):
    unknown, missing or duplicated labels raise :class:`MLVMInputError` naming them — a
    frame is never read by position. ``None`` leaves that axis as it is.
    """
    values = frame.to_numpy()
    for axis, what, names in ((0, "index", row_names), (1, "columns", col_names)):
        if names is None:
            continue
        names = tuple(names)
        labels = [str(v) for v in frame.axes[axis]]
        duplicated = sorted({v for v in labels if labels.count(v) > 1})
        unknown = [v for v in labels if v not in names]
        missing = [v for v in names if v not in labels]
        if duplicated or unknown or missing:
            parts = [f"unknown labels {unknown}"] if unknown else []
            parts += [f"missing labels {missing}"] if missing else []
            parts += [f"duplicated labels {duplicated}"] if duplicated else []
            raise MLVMInputError(
                f"{arg}: the DataFrame's {what} must name exactly {list(names)} (in any "
                f"order); {'; '.join(parts)}"
            )
        order = [labels.index(v) for v in names]
        values = values[order] if axis == 0 else values[:, order]
    return values


@dataclass(frozen=True, eq=False)
class MatrixSpec:
    """One parameter matrix: which cells are free, the fixed values, bounds and labels.

    Attributes
    ----------
    name : psychonetrics name, e.g. ``"sigma_zeta_within"``
    kind : one of :data:`KINDS`
    free : boolean mask (only cells allowed by the kind)
    fixed : values of the fixed cells (full matrix, symmetric kinds mirrored)
    level : ``"within"``, ``"between"`` or ``"both"``
    row_names, col_names : labels
    lower_diag, upper_diag, lower_off, upper_off : bounds of free diagonal / off-diagonal cells
    identified : mask of cells fixed by identification (never candidates for freeing)
    """

    name: str
    kind: str
    free: np.ndarray
    fixed: np.ndarray
    level: str
    row_names: tuple[str, ...]
    col_names: tuple[str, ...]
    lower_diag: float = -np.inf
    upper_diag: float = np.inf
    lower_off: float = -np.inf
    upper_off: float = np.inf
    identified: np.ndarray = field(default=None)

    def __post_init__(self):
        allowed = allowed_cells(self.kind, self.free.shape)
        if np.any(self.free & ~allowed):
            raise MLVMInputError(f"{self.name}: free cells outside the {self.kind} shape")
        if self.identified is None:
            object.__setattr__(self, "identified", np.zeros(self.free.shape, dtype=bool))
        for arr in (self.free, self.fixed, self.identified):
            arr.setflags(write=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.free.shape

    @property
    def mirrored(self) -> bool:
        return self.kind in ("symmetric", "offdiag")

    @property
    def free_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the free cells, in column-major order (psychonetrics' order)."""
        cols, rows = np.nonzero(self.free.T)
        return rows, cols

    @property
    def n_free(self) -> int:
        return int(self.free.sum())

    @property
    def is_zero(self) -> bool:
        """No free cell and every fixed value zero."""
        return self.n_free == 0 and not np.any(self.fixed)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = self.free_cells
        diag = rows == cols
        lower = np.where(diag, self.lower_diag, self.lower_off)
        upper = np.where(diag, self.upper_diag, self.upper_off)
        return lower, upper

    def cell_labels(self) -> list[str]:
        rows, cols = self.free_cells
        if self.kind == "vector":
            return [self.row_names[r] for r in rows]
        return [f"{self.row_names[r]},{self.col_names[c]}" for r, c in zip(rows, cols)]

    def fill(self, values: np.ndarray) -> np.ndarray:
        """The full matrix (NumPy) with free cells set to ``values``."""
        out = np.array(self.fixed, dtype=float)
        rows, cols = self.free_cells
        out[rows, cols] = values
        if self.mirrored:
            out[cols, rows] = values
        return out

    def with_cells(self, cells, free: bool, value: float = 0.0, identified=None) -> MatrixSpec:
        """A copy with the given (row, col) cells freed or fixed at ``value``."""
        mask = np.array(self.free)
        fixed = np.array(self.fixed, dtype=float)
        ident = np.array(self.identified)
        for r, c in cells:
            if self.mirrored and c > r:
                r, c = c, r
            mask[r, c] = free
            fixed[r, c] = 0.0 if free else value
            if self.mirrored:
                fixed[c, r] = fixed[r, c]
            if identified is not None:
                ident[r, c] = identified
        return replace(self, free=mask, fixed=fixed, identified=ident)
