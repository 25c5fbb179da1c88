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
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.shape_utils import change_dist_size

from pm_mlvm.errors import MLVMInputError, check_choice
from pm_mlvm.spec.mlvm import MLVMSpec
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

    @property
    def joint_matrices(self) -> tuple[str, ...]:
        """Full ``sigma_*`` / ``kappa_*`` blocks get one joint LKJ prior (positive definite by
        construction) unless the user overrides their prior."""
        out = []
        for name, mat in self.spec.matrices.items():
            prefix = name.split("_")[0]
            n = mat.shape[0]
            full = mat.n_free == n * (n + 1) // 2 and n > 1
            overridden = any(k in self.priors for k in (name, f"{name}_diag",
                                                        f"{name}_offdiag"))
            if prefix in ("sigma", "kappa") and full and not overridden:
                out.append(name)
        return tuple(out)

    def _scale(self, matrix: str, rows) -> np.ndarray:
        if "epsilon" in matrix:
            return self.var[rows]
        return np.full(len(rows), self.var_mean)

    def __call__(self, matrix, var_name, lower, upper, size):
        mat = self.spec.matrices[matrix]
        rows, cols = mat.free_cells
        group = self._group_cells(matrix, var_name)
        diag = bool(np.all(rows[group] == cols[group]))
        for key in (f"{matrix}_{'diag' if diag else 'offdiag'}", matrix):
            if key in self.priors:
                return _user_prior(self.priors[key], size, key)
        v = self._scale(matrix, rows[group])
        prefix = matrix.split("_")[0]
        if matrix in self.joint_matrices:
            return self._lkj_cov(mat, v, inverse=prefix == "kappa")
        if matrix == "nu":
            return pm.Normal.dist(self.mean[rows], 2 * self.sd[rows], size=size)
        if matrix == "lambda":
            return pm.Normal.dist(0.0, 2.0, size=size)
        if prefix == "beta":
            return pm.Normal.dist(0.0, 1.0, size=size)
        if prefix == "sigma":
            return (pm.HalfNormal.dist(2 * v, size=size) if diag
                    else pm.Normal.dist(0.0, v, size=size))
        if prefix == "lowertri":
            return (pm.HalfNormal.dist(2 * np.sqrt(v), size=size) if diag
                    else pm.Normal.dist(0.0, np.sqrt(v), size=size))
        if prefix == "kappa":
            return (pm.HalfNormal.dist(2 / v, size=size) if diag
                    else pm.Normal.dist(0.0, 1 / v, size=size))
        if prefix in ("delta", "SD"):
            return pm.HalfNormal.dist(2 * np.sqrt(v), size=size)
        if prefix in ("omega", "rho"):
            return self._correlations(mat, prefix, size)
        raise ValueError(f"no default prior for {matrix}")  # pragma: no cover

    def _group_cells(self, matrix, var_name):
        mat = self.spec.matrices[matrix]
        rows, cols = mat.free_cells
        if var_name.endswith("_diag"):
            return np.flatnonzero(rows == cols)
        if var_name.endswith("_offdiag"):
            return np.flatnonzero(rows != cols)
        return np.arange(len(rows))

    def _lkj_cov(self, mat, v, inverse):
        """Σ = L L' with L ~ LKJCholeskyCov(η, sd ~ HalfNormal(2 √v)) (1/√v for a precision
        matrix); returns the free (lower-triangle, column-major) cells of Σ."""
        n = mat.shape[0]
        scale = float(np.mean(v))
        sd = 2 * (1 / np.sqrt(scale) if inverse else np.sqrt(scale))
        dist = pm.LKJCholeskyCov.dist(n=n, eta=self.lkj_eta,
                                      sd_dist=pm.HalfNormal.dist(sd, size=n), compute_corr=False)
        rows, cols = mat.free_cells

        def to_values(packed):
            low = pm.expand_packed_triangular(n, packed, lower=True)
            return (low @ low.T)[rows, cols]

        return dist, to_values

    def _correlations(self, mat, prefix, size):
        n = mat.shape[0]
        full = mat.n_free == n * (n - 1) // 2
        if full and not (prefix == "omega" and self.sparsity == "horseshoe"):
            sign = -1.0 if prefix == "omega" else 1.0
            return _lkj(n, self.lkj_eta), (lambda rv: sign * rv)
        if prefix == "omega" and self.sparsity == "horseshoe":
            return _horseshoe(size)
        return pm.Uniform.dist(-1.0, 1.0, size=size)


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
