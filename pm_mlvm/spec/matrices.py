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
``"empty"``), a 0/1 array or a labelled DataFrame.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

__all__ = ["KINDS", "MatrixSpec", "resolve_pattern", "allowed_cells"]

KINDS = ("full", "symmetric", "offdiag", "diagonal", "lower", "vector")
KEYWORDS = ("full", "diag", "zero", "empty")


def allowed_cells(kind: str, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the cells that may be free for a kind."""
    rows, cols = shape
    if kind in ("full", "vector"):
        return np.ones(shape, dtype=bool)
    if kind in ("symmetric", "lower"):
        return np.tril(np.ones(shape, dtype=bool))
    if kind == "offdiag":
        return np.tril(np.ones(shape, dtype=bool), k=-1)
    if kind == "diagonal":
        return np.eye(rows, cols, dtype=bool)
    raise ValueError(f"unknown matrix kind {kind!r}; valid: {KINDS}")


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
        raise ValueError(f"{arg}={value!r} is not a pattern keyword; valid: {', '.join(KEYWORDS)}"
                         " or a 0/1 matrix")
    if isinstance(value, pd.DataFrame):
        value = _align_frame(value, arg, row_names, col_names)
    arr = np.asarray(value)
    if kind == "vector" and arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape != tuple(shape):
        raise ValueError(f"{arg} must have shape {tuple(shape)}; got {arr.shape}")
    if arr.dtype == bool:
        mask = arr.copy()
    else:
        try:
            num = arr.astype(float)
        except (TypeError, ValueError):
            raise ValueError(f"{arg} must contain 0/1 (fixed/free) values") from None
        if not np.all(np.isin(num, (0.0, 1.0))):
            raise ValueError(
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


def _align_frame(frame: pd.DataFrame, arg, row_names, col_names) -> np.ndarray:
    if row_names is not None and set(frame.index) == set(row_names):
        frame = frame.loc[list(row_names)]
    if col_names is not None and set(frame.columns) == set(col_names):
        frame = frame[list(col_names)]
    return frame.to_numpy()


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
            raise ValueError(f"{self.name}: free cells outside the {self.kind} shape")
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
