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

import math

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.shape_utils import change_dist_size
from pymc.logprob.transforms import Transform

from pm_mlvm.errors import MLVMInputError, check_choice
from pm_mlvm.spec.layout import VARIABLE
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.spec.prior import PriorSpec
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["PriorFactory", "SPARSITY", "PackedLKJCholeskyCov", "PackedLogDiagonal"]

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
        """M = L L' with L ~ LKJCholeskyCov(η, sd ~ HalfNormal(sd)); returns the
        distribution, the map to the free (lower-triangle, column-major) cells of M, and the
        transform (see :class:`PackedLKJCholeskyCov`)."""
        rows, cols = mat.free_cells
        lkj = PackedLKJCholeskyCov(mat.shape[0], self.lkj_eta, sd)
        return lkj.dist(), lambda packed: lkj.cells(packed, rows, cols), lkj.transform


class PackedLogDiagonal(Transform):
    """PyMC's ``CholeskyCovPacked`` (the packed Cholesky factor's diagonal on the log scale)
    in elementwise form, with a constant 0/1 mask m of the diagonal positions:

        x = (1 − m) v + m exp(m v),   v = (1 − m) x + m log(m x + 1 − m),   log|J| = Σ m v

    (``exp(m v)`` and ``log(m x + 1 − m)`` are 1 and 0 off the diagonal, so no entry can
    overflow or take the log of a negative number). Same values, Jacobian and name as PyMC's,
    but elementwise only: PyTensor fuses it into its neighbours instead of indexing and
    incrementing subtensors (a test holds the two equal)."""

    name = "cholesky-cov-packed"

    def __init__(self, diagonal, size):
        mask = np.zeros(size)
        mask[np.asarray(diagonal)] = 1.0
        self.mask = mask

    def backward(self, value, *inputs):
        m = pt.constant(self.mask)
        return (1.0 - m) * value + m * pt.exp(m * value)

    def forward(self, value, *inputs):
        m = pt.constant(self.mask)
        return (1.0 - m) * value + m * pt.log(m * value + (1.0 - m))

    def log_jac_det(self, value, *inputs):
        return pt.sum(pt.constant(self.mask) * value, axis=-1)


class PackedLKJCholeskyCov:
    """PyMC's ``LKJCholeskyCov(n, eta, sd_dist=HalfNormal(sd, size=n))`` as a custom
    distribution with the same draws, support point, transform and density, written compactly.

    The variable is the row-major packed lower triangle of L (``L[i, :i+1]`` at
    ``i(i+1)/2 + [0..i]``), diagonal on the log scale (``CholeskyCovPacked``). With row norms
    s_i = ‖L_i‖ (the standard deviations) and c_i = L_ii / s_i,

        log p(L) = K(η, n) + Σ_i [(2η − 2 + n − i) log c_i − i log s_i + log HalfNormal(s_i; sd)]

    (the LKJ density of the correlation Cholesky factor, the Jacobian of L ↦ (s, correlation
    factor), and the standard deviations' prior; K = log c(η, n), see
    :attr:`log_normaliser`). Written with two constant matrix products — s² = R (L²),
    L_ii = D L — and elementwise terms, its logp + gradient has about half the graph nodes
    of PyMC's general form (cumulative sums, incremented subtensors), and nutpie compiles
    every node on every call (the measured cost is in ``benchmarks/README.md``). Draws use
    PyMC's own distribution; a test holds the density equal to PyMC's to 1e-12 up to PyMC's
    normalising constant, which has the wrong sign.
    """

    def __init__(self, n: int, eta: float, sd: float):
        self.n, self.eta, self.sd = int(n), float(eta), float(sd)
        rows = np.repeat(np.arange(self.n), np.arange(1, self.n + 1))
        self.size = len(rows)
        self.row_sum = np.zeros((self.n, self.size))
        self.row_sum[rows, np.arange(self.size)] = 1.0
        diag = np.cumsum(np.arange(1, self.n + 1)) - 1
        self.diagonal = np.zeros((self.n, self.size))
        self.diagonal[np.arange(self.n), diag] = 1.0
        self.transform = PackedLogDiagonal(diag, self.size)

    @property
    def log_normaliser(self) -> float:
        """log c(η, n): the LKJ correlation density is c · det(R)^(η−1) (Lewandowski,
        Kurowicka & Joe 2009, section 3.2). PyMC 5 adds −log c (the sign Stan corrected in
        2017, stan-dev/math#628; for n = 2, η = 1 PyMC's density of r integrates to 4 instead
        of 1); here the density integrates to 1 (tested by quadrature for n = 2 and 3). It is
        a constant: posteriors are unaffected, only absolute log densities differ."""
        n, eta = self.n, self.eta
        if eta != 1.0:
            return float((n - 1) * math.lgamma(eta + 0.5 * (n - 1))
                         - sum(0.5 * k * math.log(math.pi) + math.lgamma(eta + 0.5 * (n - 1 - k))
                               for k in range(1, n)))
        out = -sum(math.lgamma(2.0 * k) for k in range(1, (n - 1) // 2 + 1))
        if n % 2:
            return (out - 0.25 * (n * n - 1) * math.log(math.pi)
                    + 0.25 * (n - 1) ** 2 * math.log(2.0) + (n - 1) * math.lgamma((n + 1) // 2))
        return (out - 0.25 * n * (n - 2) * math.log(math.pi)
                - 0.25 * (3 * n * n - 4 * n) * math.log(2.0) - n * math.lgamma(n / 2)
                + (n - 1) * math.lgamma(n))

    def logp(self, value, sd):
        n = self.n
        variance = pt.dot(pt.constant(self.row_sum), value**2)  # s_i²
        diag = pt.dot(pt.constant(self.diagonal), value)  # L_ii
        log_var = pt.log(variance)
        log_c = pt.log(diag) - 0.5 * log_var
        i = pt.constant(np.arange(n, dtype=float))
        terms = ((2.0 * self.eta - 2.0 + n - i) * log_c - 0.5 * i * log_var
                 - 0.5 * variance / sd**2 + 0.5 * math.log(2.0 / math.pi) - pt.log(sd))
        return self.log_normaliser + terms.sum()

    def _draw(self, sd, size):
        return pm.LKJCholeskyCov.dist(n=self.n, eta=self.eta,
                                      sd_dist=pm.HalfNormal.dist(sd, size=self.n),
                                      compute_corr=False)

    def dist(self):
        """The distribution (``.dist``, to be registered with :attr:`transform`)."""
        return pm.CustomDist.dist(pt.constant(self.sd), dist=self._draw,
                                  logp=lambda value, sd: self.logp(value, sd),
                                  class_name="PackedLKJCholeskyCov")

    def cells(self, packed, rows, cols):
        """(L Lᵀ)[rows, cols] from the packed L: Σ_k L[r, k] L[c, k] as constant products."""
        left, right, owner = [], [], []
        for cell, (r, c) in enumerate(zip(rows, cols)):
            for k in range(min(r, c) + 1):
                left.append(r * (r + 1) // 2 + k)
                right.append(c * (c + 1) // 2 + k)
                owner.append(cell)
        pick_left = np.zeros((len(left), self.size))
        pick_left[np.arange(len(left)), left] = 1.0
        pick_right = np.zeros((len(right), self.size))
        pick_right[np.arange(len(right)), right] = 1.0
        gather = np.zeros((len(rows), len(owner)))
        gather[owner, np.arange(len(owner))] = 1.0
        products = pt.dot(pt.constant(pick_left), packed) * pt.dot(pt.constant(pick_right),
                                                                    packed)
        return pt.dot(pt.constant(gather), products)


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
