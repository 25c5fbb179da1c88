"""Default priors for the Bayesian ml_lvm model: weakly informative and scale-aware.

Scales come from the data: ``v`` is the mean total variance of the observed variables (for
latent blocks) or the total variance of each observed variable (for residual blocks), ``m``
and ``s`` the mean and standard deviation of each variable.

==========================  ===============================================================
parameter class             default prior
==========================  ===============================================================
``nu``                      Normal(m, 2 s)
``lambda``                  Normal(0, 2) (loadings relative to the marker)
``beta_*``                  Normal(0, 1)
``sigma_*`` (full pattern)  Σ = L L', L ~ LKJCholeskyCov(η = 2, sd ~ HalfNormal(2 √v)):
                            positive definite by construction
``sigma_*`` diagonal        HalfNormal(2 v)   (diagonal or sparse patterns)
``sigma_*`` off-diagonal    Normal(0, v)
``lowertri_*`` diagonal     HalfNormal(2 √v)  (positive: fixes the sign of each column)
``lowertri_*`` off-diag.    Normal(0, √v)
``kappa_*`` (full pattern)  K = L L', L ~ LKJCholeskyCov(η = 2, sd ~ HalfNormal(2 / √v))
``kappa_*`` diagonal        HalfNormal(2 / v)
``kappa_*`` off-diagonal    Normal(0, 1 / v)
``delta_*``, ``SD_*``       HalfNormal(2 √v)
``omega_*`` (full pattern)  Ω = I − R with R ~ LKJ(η = 2): I − Ω is positive definite by
                            construction (any unit-diagonal PD matrix is some I − Ω)
``omega_*`` (sparse)        Uniform(−1, 1), or with ``sparsity="horseshoe"`` a regularised
                            horseshoe on the partial correlations (I − Ω is then checked by
                            the likelihood, −inf outside)
``rho_*`` (full pattern)    ρ = R − I, R ~ LKJ(η = 2)
``rho_*`` (sparse)          Uniform(−1, 1)
==========================  ===============================================================

Override any of them by matrix name (``"lambda"``, ``"sigma_zeta_between"``) or by matrix
and cell class (``"sigma_zeta_between_diag"``, ``"sigma_zeta_between_offdiag"``): the value
is a PyMC distribution made with ``.dist`` (scalar; it is resized to the number of cells) or
a function ``size -> distribution``.

The table is data on the structures: each matrix role carries a
:class:`~pm_mlvm.spec.prior.RolePriors` (``spec.role_priors(name)``), and this module only
turns a :class:`~pm_mlvm.spec.prior.PriorSpec` into a distribution. A group of parameter cells
gets its role's ``diag`` or ``offdiag`` prior by the class of its cells, or the role's ``full``
prior when every allowed cell of the matrix is free; the scale reference ``v`` follows the
matrix's row labels (``spec.matrix_kinds``). A group mixing diagonal and off-diagonal cells
(equal bounds, e.g. ``lowertri`` or a sparse ``kappa``) gets the ``offdiag`` prior.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.shape_utils import change_dist_size

from pm_mlvm.errors import MLVMInputError, check_choice
from pm_mlvm.spec.layout import VARIABLE
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.spec.prior import PriorSpec
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["PriorFactory", "SPARSITY"]

SPARSITY = (None, "horseshoe")


def _lkj(n, eta=2.0):
    return pm.LKJCorr.dist(n=n, eta=eta, return_matrix=False)


class PriorFactory:
    """Chooses each parameter group's prior (see the module docstring)."""

    def __init__(self, spec: MLVMSpec, stats: TwoLevelStats, priors=None, sparsity=None,
                 lkj_eta: float = 2.0):
        check_choice("sparsity", sparsity, SPARSITY)
        self.spec = spec
        self.priors = dict(priors or {})
        valid = set(spec.matrices)
        valid |= {f"{m}_{c}" for m in spec.matrices for c in ("diag", "offdiag")}
        unknown = sorted(set(self.priors) - valid)
        if unknown:
            raise MLVMInputError(f"priors: unknown keys {unknown}; use matrix names "
                             f"{sorted(spec.matrices)} (optionally with _diag / _offdiag)")
        self.sparsity = sparsity
        self.lkj_eta = lkj_eta
        var = np.diag(stats.total_cov)
        self.mean = stats.total_mean
        self.sd = np.sqrt(var)
        self.var_mean = float(np.mean(var))
        self.var = var

    def _overridden(self, name: str) -> bool:
        return any(k in self.priors for k in (name, f"{name}_diag", f"{name}_offdiag"))

    @property
    def joint_matrices(self) -> tuple[str, ...]:
        """Matrices whose default prior is one joint distribution over all their cells (full
        ``sigma_*`` / ``kappa_*`` blocks: LKJ, positive definite by construction) unless the
        user overrides their prior."""
        out = []
        for name in self.spec.matrices:
            full = self.spec.role_priors(name).full
            if (full is not None and full.joint and self.spec.is_full(name)
                    and not self._overridden(name)):
                out.append(name)
        return tuple(out)

    def _scale(self, matrix: str, rows) -> np.ndarray:
        """Reference variance v of each cell: its variable's total variance for matrices
        whose rows are variables, the mean total variance for rows that are latents."""
        if self.spec.matrix_kinds(matrix)[0] == VARIABLE:
            return self.var[rows]
        return np.full(len(rows), self.var_mean)

    def __call__(self, group):
        matrix, size = group.matrix, group.size
        mat = self.spec.matrices[matrix]
        rows, cols = mat.free_cells
        cells = rows[group.cell_index]
        for key in (f"{matrix}_{group.cell_class}", matrix):
            if key in self.priors:
                return _user_prior(self.priors[key], size, key)
        v = self._scale(matrix, cells)
        full = self.spec.is_full(matrix)
        prior = self.spec.role_priors(matrix).for_cells(group.cell_class, full)
        if prior is None:  # pragma: no cover - every registered role describes its cells
            raise ValueError(f"no default prior for the {group.cell_class} cells of {matrix}")
        if prior.joint and not group.joint:  # overridden elsewhere: use the per-cell prior
            prior = self.spec.role_priors(matrix).for_cells(group.cell_class, False)
        if prior.sparse and self.sparsity == "horseshoe":
            return _horseshoe(size)
        return self._distribution(prior, mat, v, cells, size)

    def _distribution(self, prior: PriorSpec, mat, v, cells, size):
        family = prior.family
        if family == "normal":
            loc = self.mean[cells] if prior.loc == "mean" else 0.0
            return pm.Normal.dist(loc, prior.scaled(v), size=size)
        if family == "half_normal":
            return pm.HalfNormal.dist(prior.scaled(v), size=size)
        if family == "uniform":
            return pm.Uniform.dist(prior.lower, prior.upper, size=size)
        if family == "lkj_cov":
            return self._lkj_cov(mat, float(prior.scaled(float(np.mean(v)))))
        if family in ("lkj_corr", "lkj_partial"):
            sign = -1.0 if family == "lkj_partial" else 1.0
            return _lkj(mat.shape[0], self.lkj_eta), (lambda rv: sign * rv)
        raise ValueError(f"no PyMC prior for family {family!r}")  # pragma: no cover

    def _lkj_cov(self, mat, sd):
        """M = L L' with L ~ LKJCholeskyCov(η, sd ~ HalfNormal(sd)); returns the free
        (lower-triangle, column-major) cells of M."""
        n = mat.shape[0]
        dist = pm.LKJCholeskyCov.dist(n=n, eta=self.lkj_eta,
                                      sd_dist=pm.HalfNormal.dist(sd, size=n), compute_corr=False)
        rows, cols = mat.free_cells

        def to_values(packed):
            low = pm.expand_packed_triangular(n, packed, lower=True)
            return (low @ low.T)[rows, cols]

        return dist, to_values


def _user_prior(value, size, key):
    if callable(value) and not hasattr(value, "owner"):
        return value(size)
    if hasattr(value, "owner"):
        if value.ndim == 0:
            return change_dist_size(value, (size,))
        return value
    raise MLVMInputError(f"priors[{key!r}] must be a PyMC distribution (.dist) or a function "
                         f"size -> distribution; got {type(value).__name__}")


def _horseshoe(size, scale_global=0.1, slab_scale=0.5, slab_df=4):
    """Regularised horseshoe (Piironen & Vehtari 2017) on the atanh scale of the partial
    correlations, non-centred: ω = tanh(z τ λ̃), z ~ N(0, 1), τ ~ HalfStudentT(1, scale),
    λ ~ HalfStudentT(1, 1), λ̃² = c² λ² / (c² + τ² λ²), c² ~ InvGamma(ν/2, ν s²/2).
    Returns (distribution of z, to_values) — the hyperparameters are created in the model."""

    def to_values(z):
        base = z.name
        tau = pm.HalfStudentT(f"{base}_tau", nu=1, sigma=scale_global)
        lam = pm.HalfStudentT(f"{base}_lambda", nu=1, sigma=1.0, size=size)
        c2 = pm.InverseGamma(f"{base}_c2", alpha=slab_df / 2, beta=slab_df / 2 * slab_scale**2)
        lam_tilde = pt.sqrt(c2 * lam**2 / (c2 + tau**2 * lam**2))
        return pt.tanh(z * tau * lam_tilde)

    return pm.Normal.dist(0.0, 1.0, size=size), to_values
