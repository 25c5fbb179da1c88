"""Default-prior *descriptions*: pure data, no PyMC.

Each matrix role (a structure's ``MatrixRole`` or a core matrix of
:mod:`~pm_mlvm.spec.layout`) carries a :class:`RolePriors`: which prior its diagonal cells,
its off-diagonal cells and — when every allowed cell is free — the whole matrix get.
``bayes/priors.py`` turns a :class:`PriorSpec` into a PyMC distribution; it never looks at
matrix names.

Scales are relative to the data: ``v`` is the total variance of each observed variable for
matrices whose rows are variables (ν, residual blocks) and the mean total variance for
matrices whose rows are latents. ``scale`` says which function of ``v`` a prior uses:

=============  ============
``unit``       1
``variance``   v
``sd``         √v
``precision``  1 / v
``inverse_sd`` 1 / √v
=============  ============

Families (``factor`` multiplies the scale):

``normal``       Normal(loc, factor·scale); ``loc`` is ``"zero"`` or ``"mean"`` (data mean)
``half_normal``  HalfNormal(factor·scale)
``uniform``      Uniform(lower, upper)
``lkj_cov``      M = L L', L ~ LKJCholeskyCov(η, sd ~ HalfNormal(factor·scale(mean v))), joint
                 over the whole matrix (positive definite by construction)
``lkj_corr``     ρ = R − I, R ~ LKJ(η)
``lkj_partial``  Ω = I − R, R ~ LKJ(η) (I − Ω positive definite by construction)

``sparse=True`` marks a prior that a sparsity prior (``sparsity="horseshoe"``) replaces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pm_mlvm.errors import MLVMInputError

__all__ = ["PriorSpec", "RolePriors", "PRIOR_FAMILIES", "PRIOR_SCALES", "JOINT_FAMILIES",
           "scale_values"]

PRIOR_FAMILIES = ("normal", "half_normal", "uniform", "lkj_cov", "lkj_corr", "lkj_partial")
#: families that need one PyMC variable for all of a matrix's free cells
JOINT_FAMILIES = ("lkj_cov",)
PRIOR_SCALES = ("unit", "variance", "sd", "precision", "inverse_sd")
_LOCS = ("zero", "mean")


@dataclass(frozen=True)
class PriorSpec:
    """A default prior, described (see the module docstring)."""

    family: str
    scale: str = "unit"
    factor: float = 1.0
    loc: str = "zero"
    lower: float = -np.inf
    upper: float = np.inf
    sparse: bool = False

    def __post_init__(self):
        for arg, value, valid in (("family", self.family, PRIOR_FAMILIES),
                                  ("scale", self.scale, PRIOR_SCALES),
                                  ("loc", self.loc, _LOCS)):
            if value not in valid:
                raise MLVMInputError(f"PriorSpec {arg}={value!r}; valid: {valid}")

    def scaled(self, v) -> np.ndarray:
        """``factor`` × the scale at reference variance(s) ``v``."""
        return scale_values(self.scale, self.factor, v)

    @property
    def joint(self) -> bool:
        """True if the prior is one distribution over all free cells of the matrix."""
        return self.family in JOINT_FAMILIES


@dataclass(frozen=True)
class RolePriors:
    """Default priors of one matrix role by cell class.

    ``diag`` / ``offdiag`` apply to a group of diagonal / other cells; ``full`` (optional)
    replaces both when every allowed cell of the matrix is free and it has more than one row.
    """

    diag: PriorSpec | None = None
    offdiag: PriorSpec | None = None
    full: PriorSpec | None = None

    @classmethod
    def same(cls, prior: PriorSpec) -> RolePriors:
        """Every cell gets ``prior``."""
        return cls(diag=prior, offdiag=prior)

    def for_cells(self, cell_class: str, full: bool) -> PriorSpec | None:
        """The prior of a group of cells of class ``"diag"`` / ``"offdiag"``."""
        if full and self.full is not None:
            return self.full
        return self.diag if cell_class == "diag" else self.offdiag


def scale_values(scale: str, factor: float, v) -> np.ndarray:
    """``factor`` times the scale function of the reference variance ``v`` (module
    docstring); written so the historical expressions (``2 / v``, ``2 * √v``) are exact."""
    v = np.asarray(v, dtype=float)
    if scale == "unit":
        return np.asarray(float(factor))
    if scale == "variance":
        return factor * v
    if scale == "sd":
        return factor * np.sqrt(v)
    if scale == "precision":
        return factor / v
    if scale == "inverse_sd":
        return factor * (1.0 / np.sqrt(v))
    raise MLVMInputError(f"scale={scale!r}; valid: {PRIOR_SCALES}")
