"""Covariance structures: one small protocol, five parameterisations, reused by all four blocks.

A *block* is one of ``zeta_within``, ``epsilon_within``, ``zeta_between``,
``epsilon_between`` (latent / residual covariance on each level). Its *structure* says which
parameter matrices model it and how they give the covariance:

=========  =====================================  ======================================
type       matrices                               implied covariance
=========  =====================================  ======================================
``cov``    sigma (symmetric)                      Σ = S
``chol``   lowertri (lower)                       Σ = L L'
``prec``   kappa (symmetric)                      Σ = K⁻¹
``ggm``    omega (offdiag, [-1, 1]), delta (diag) Σ = Δ (I − Ω)⁻¹ Δ
``cor``    rho (offdiag, [-1, 1]), SD (diag)      Σ = SD (I + ρ) SD
=========  =====================================  ======================================

``implied`` is written against a tiny backend (``inv``, ``eye``) so the same code gives NumPy
values for reports and PyTensor graphs for the model. Start values map a target covariance to
the structure's matrices.

Everything that differs between structures lives here, on the structure (STYLE 13):

* each :class:`MatrixRole`: name prefix, kind, default patterns, bounds and default priors
  (:class:`~pm_mlvm.spec.prior.RolePriors`, pure data);
* ``scale_role``: the matrix ``identification="variance"`` fixes;
* ``network_role``: the matrix whose off-diagonal cells are network edges (what ``prune`` and
  ``stepup`` search by default): ``omega`` for ggm, ``kappa`` for prec, none otherwise;
* ``derived(cov)``: the matrices a block reports besides its parameters (by default the
  precision, partial correlations, correlations and standard deviations of its covariance,
  :func:`covariance_views`), with their prefixes in ``derived_prefixes``.

Register a new structure in :data:`STRUCTURES`; see ``docs/developer/adding_a_structure.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pm_mlvm.spec.prior import PriorSpec, RolePriors

__all__ = ["STRUCTURES", "Structure", "MatrixRole", "MatrixBackend", "NUMPY_BACKEND",
           "spectral_shift", "partial_correlations", "covariance_views", "VIEW_PREFIXES"]


@dataclass(frozen=True)
class MatrixBackend:
    """What :func:`~pm_mlvm.spec.mlvm.compose_moments` and the structures need besides
    ``@``, ``.T``, ``+`` and scalar ``*``: the inverse and the identity of one array library
    (NumPy here; Jets, PyTensor, JAX and the moment program's tracer elsewhere)."""

    inv: Callable
    eye: Callable


NUMPY_BACKEND = MatrixBackend(np.linalg.inv, np.eye)


def spectral_shift(cov: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """Raise the diagonal so the smallest eigenvalue is at least ``floor``."""
    cov = 0.5 * (cov + cov.T)
    low = np.linalg.eigvalsh(cov).min() if cov.size else 0.0
    if low < floor:
        cov = cov + (floor - low) * np.eye(len(cov))
    return cov


def partial_correlations(cov: np.ndarray) -> np.ndarray:
    """Ω = −cov2cor(Σ⁻¹) with zero diagonal."""
    kappa = np.linalg.inv(cov)
    d = 1.0 / np.sqrt(np.diag(kappa))
    omega = -kappa * d[:, None] * d[None, :]
    np.fill_diagonal(omega, 0.0)
    return omega


def _cov2cor(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cov / np.outer(sd, sd)
    np.fill_diagonal(out, np.where(sd > 0, 1.0, np.nan))
    return out


#: prefixes of :func:`covariance_views`
VIEW_PREFIXES = ("kappa", "omega", "rho", "SD")


def covariance_views(sigma: np.ndarray) -> dict:
    """Precision κ = Σ⁻¹, partial correlations ω = −cov2cor(κ) (zero diagonal), correlations
    ρ = cov2cor(Σ) − I and standard deviations SD = diag(√diag Σ), by prefix. A singular Σ
    gives a NaN κ (and ω), not an error."""
    try:
        kappa = np.linalg.inv(sigma)
    except np.linalg.LinAlgError:
        kappa = np.full_like(sigma, np.nan)
    d = 1.0 / np.sqrt(np.abs(np.diag(kappa)))
    omega = -kappa * np.outer(d, d)
    np.fill_diagonal(omega, 0.0)
    return {"kappa": kappa, "omega": omega, "rho": _cov2cor(sigma) - np.eye(len(sigma)),
            "SD": np.diag(np.sqrt(np.clip(np.diag(sigma), 0, None)))}


@dataclass(frozen=True)
class MatrixRole:
    """One matrix of a structure: name prefix, kind, default patterns, bounds, priors."""

    prefix: str
    kind: str
    latent_default: str
    residual_default: str
    lower_diag: float = -np.inf
    upper_diag: float = np.inf
    lower_off: float = -np.inf
    upper_off: float = np.inf
    priors: RolePriors = field(default_factory=RolePriors)
    #: how a cell scales when the block's covariance Σ becomes S Σ S (S diagonal):
    #: by s_row**p_row * s_col**p_col (sigma (1, 1), lowertri (1, 0), kappa (-1, -1), ...)
    scale_power: tuple[int, int] = (1, 1)
    #: the block's covariance is linear in this matrix (its second derivatives vanish)
    linear: bool = False


class Structure:
    """Protocol: ``roles`` (its matrices), ``implied(mats, be)``, ``start(cov, masks)``,
    ``scale_role``, ``network_role`` and ``derived(cov)`` (see the module docstring)."""

    name: str = ""
    roles: tuple[MatrixRole, ...] = ()
    #: the matrix whose diagonal ``identification="variance"`` fixes to 1
    scale_role: str = ""
    #: the matrix whose off-diagonal cells are network edges (None: no network)
    network_role: str | None = None
    #: prefixes of the matrices :meth:`derived` reports
    derived_prefixes: tuple[str, ...] = VIEW_PREFIXES

    def implied(self, mats: dict, be):  # pragma: no cover - interface
        raise NotImplementedError

    def start(self, cov: np.ndarray, masks: dict) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def derived(self, cov: np.ndarray) -> dict:
        """prefix → NumPy matrix reported for a block with (non-zero) covariance ``cov``;
        the block's own parameter matrices take precedence over these."""
        return covariance_views(cov)

    def role(self, prefix: str) -> MatrixRole:
        """The role with this prefix."""
        for role in self.roles:
            if role.prefix == prefix:
                return role
        raise KeyError(f"structure {self.name!r} has no matrix {prefix!r}; roles: "
                       f"{[r.prefix for r in self.roles]}")


# default priors (the table in bayes/priors.py's docstring)
_HALF_NORMAL_2SD = PriorSpec("half_normal", "sd", 2.0)
_UNIFORM_CORRELATION = PriorSpec("uniform", lower=-1.0, upper=1.0)


class Cov(Structure):
    name = "cov"
    roles = (MatrixRole("sigma", "symmetric", "full", "diag", lower_diag=0.0, linear=True,
                        priors=RolePriors(
        diag=PriorSpec("half_normal", "variance", 2.0), offdiag=PriorSpec("normal", "variance"),
        full=PriorSpec("lkj_cov", "sd", 2.0))),)
    scale_role = "sigma"

    def implied(self, mats, be):
        return mats["sigma"]

    def start(self, cov, masks):
        return {"sigma": _masked_pd(cov, masks["sigma"])}


class Chol(Structure):
    name = "chol"
    roles = (MatrixRole("lowertri", "lower", "full", "diag", scale_power=(1, 0),
                        priors=RolePriors(diag=_HALF_NORMAL_2SD,
                                          offdiag=PriorSpec("normal", "sd"))),)
    scale_role = "lowertri"

    def implied(self, mats, be):
        low = mats["lowertri"]
        return low @ low.T

    def start(self, cov, masks):
        return {"lowertri": np.linalg.cholesky(_masked_pd(cov, masks["lowertri"]))}


class Prec(Structure):
    name = "prec"
    roles = (MatrixRole("kappa", "symmetric", "full", "diag", scale_power=(-1, -1),
                        priors=RolePriors(
        diag=PriorSpec("half_normal", "precision", 2.0), offdiag=PriorSpec("normal", "precision"),
        full=PriorSpec("lkj_cov", "inverse_sd", 2.0))),)
    scale_role = "kappa"
    network_role = "kappa"

    def implied(self, mats, be):
        return be.inv(mats["kappa"])

    def start(self, cov, masks):
        kappa = np.linalg.inv(spectral_shift(cov))
        return {"kappa": _masked_pd(kappa, masks["kappa"])}


class GGM(Structure):
    name = "ggm"
    roles = (
        MatrixRole("omega", "offdiag", "full", "zero", lower_off=-1.0, upper_off=1.0,
                   scale_power=(0, 0),
                   priors=RolePriors(offdiag=PriorSpec("uniform", lower=-1.0, upper=1.0,
                                                       sparse=True),
                                     full=PriorSpec("lkj_partial", sparse=True))),
        MatrixRole("delta", "diagonal", "full", "diag", lower_diag=0.0, scale_power=(1, 0),
                   priors=RolePriors(diag=_HALF_NORMAL_2SD)),
    )
    scale_role = "delta"
    network_role = "omega"

    def implied(self, mats, be):
        n = mats["omega"].shape[0]
        delta = mats["delta"]
        return delta @ be.inv(be.eye(n) - mats["omega"]) @ delta

    def start(self, cov, masks):
        cov = spectral_shift(cov)
        omega = partial_correlations(cov) * masks["omega"]
        omega = _shrink_until_pd(omega, sign=-1.0)
        inv_part = np.linalg.inv(np.eye(len(cov)) - omega)
        delta = np.diag(np.sqrt(np.diag(cov) / np.diag(inv_part)))
        return {"omega": omega, "delta": delta}


class Cor(Structure):
    name = "cor"
    roles = (
        MatrixRole("rho", "offdiag", "full", "zero", lower_off=-1.0, upper_off=1.0,
                   scale_power=(0, 0),
                   priors=RolePriors(offdiag=_UNIFORM_CORRELATION,
                                     full=PriorSpec("lkj_corr"))),
        MatrixRole("SD", "diagonal", "full", "diag", lower_diag=0.0, scale_power=(1, 0),
                   priors=RolePriors(diag=_HALF_NORMAL_2SD)),
    )
    scale_role = "SD"

    def implied(self, mats, be):
        sd = mats["SD"]
        n = mats["rho"].shape[0]
        return sd @ (be.eye(n) + mats["rho"]) @ sd

    def start(self, cov, masks):
        cov = spectral_shift(cov)
        sd = np.sqrt(np.diag(cov))
        rho = cov / np.outer(sd, sd) * masks["rho"]
        np.fill_diagonal(rho, 0.0)
        rho = _shrink_until_pd(rho, sign=1.0)
        return {"rho": rho, "SD": np.diag(sd)}


def _masked_pd(mat: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Keep the cells a pattern allows (diagonal always) and make the result PD."""
    mat = spectral_shift(mat)
    keep = mask | mask.T | np.eye(len(mat), dtype=bool)
    out = np.where(keep, mat, 0.0)
    return _shrink_until_pd(out - np.diag(np.diag(out)), sign=1.0, diag=np.diag(out))


def _shrink_until_pd(off: np.ndarray, sign: float, diag=None) -> np.ndarray:
    """Scale off-diagonal cells by 0.9 until diag(·) + sign·off is PD; return the matrix.

    With ``diag=None`` the identity is used for the check and only ``off`` is returned.
    """
    base = np.eye(len(off)) if diag is None else np.diag(diag)
    for _ in range(200):
        if np.linalg.eigvalsh(base + sign * off).min() > 1e-6 * max(1.0, np.abs(base).max()):
            break
        off = 0.9 * off
    return off if diag is None else base + off


STRUCTURES: dict[str, Structure] = {s.name: s for s in (Cov(), Chol(), Prec(), GGM(), Cor())}
