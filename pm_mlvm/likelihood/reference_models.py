"""The two-level saturated (h1) and baseline (independence) models, fitted to their maximum.

Both are ordinary observed-variable specifications (Λ = I, no residual blocks), fitted by
the same objective and optimiser as every user model:

* saturated: μ, Σ_W and Σ_B all free (p + p(p+1) parameters; lavaan's and psychonetrics' h1);
* baseline: μ free, Σ_W and Σ_B diagonal (3p parameters; lavaan's independence model).

Σ_B is kept positive semi-definite (as lavaan's EM and psychonetrics' Cholesky
parameterisation do): the moment parameterisation treats an indefinite Σ_B as infeasible,
and when its maximum lies on that boundary (a singular Σ_B) the fit is redone with
Σ_B = L L' (``between_latent="chol"``), where the boundary is an interior point. Unlike
lavaan's EM, which stops once an iteration gains less than 1e-4 in logL, this reaches the
maximum (Newton decrement ≤ 1e-10), so our h1 logL is never below lavaan's.

Fits are cached by the statistics' exact digest, so every model fitted to the same data
(refits in prune / stepup, compare) reuses them; the cache is lock-protected.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from pm_mlvm.errors import MLVMWarning
from pm_mlvm.likelihood.optimize import maximize
from pm_mlvm.likelihood.objective import Objective
from pm_mlvm.spec.mlvm import MLVMSpec, build_spec
from pm_mlvm.spec.start import level_targets
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["ReferenceFit", "reference_models", "saturated_spec", "baseline_spec",
           "fit_reference"]

_CACHE: OrderedDict = OrderedDict()
_LOCK = threading.Lock()
_CACHE_SIZE = 16
_TOL = 1e-10


@dataclass(frozen=True)
class ReferenceFit:
    """A fitted reference model: its logL, number of parameters, moments and status."""

    name: str
    logl: float
    npar: int
    mu: np.ndarray
    sigma_within: np.ndarray
    sigma_between: np.ndarray
    decrement: float
    iterations: int
    converged: bool


def saturated_spec(var_names, between: str = "cov") -> MLVMSpec:
    """Free μ, Σ_W and Σ_B (``between="chol"``: Σ_B = L L')."""
    return build_spec(var_names, lambda_=None, within_latent="cov", between_latent=between)


def baseline_spec(var_names, between: str = "cov") -> MLVMSpec:
    """Free μ, diagonal Σ_W and Σ_B."""
    pattern = {"sigma_zeta_between" if between == "cov" else "lowertri_zeta_between": "diag"}
    return build_spec(var_names, lambda_=None, within_latent="cov", between_latent=between,
                      sigma_zeta_within="diag", **pattern)


def _moment_start(stats: TwoLevelStats, diagonal: bool):
    s_w, s_b = level_targets(stats.pooled_within_cov if stats.n_obs > stats.n_clusters
                             else 0.5 * stats.total_cov, stats.between_cov,
                             stats.n_obs / stats.n_clusters)
    if diagonal:
        s_w, s_b = np.diag(np.diag(s_w)), np.diag(np.diag(s_b))
    return stats.total_mean, s_w, s_b


def _theta_from(spec: MLVMSpec, mu, sw, sb) -> np.ndarray:
    """θ of an observed-variable spec holding these moments."""
    mats = {"nu": mu[:, None], "sigma_zeta_within": sw}
    if "sigma_zeta_between" in spec.matrices:
        mats["sigma_zeta_between"] = sb
    else:
        d = np.sqrt(np.abs(np.diag(sw + sb)))
        vals, vecs = np.linalg.eigh(0.5 * (sb + sb.T) / np.outer(d, d))
        psd = (vecs * np.maximum(vals, 1e-8)) @ vecs.T
        mats["lowertri_zeta_between"] = d[:, None] * np.linalg.cholesky(psd)
    parts = []
    for name, mat in spec.matrices.items():
        rows, cols = mat.free_cells
        if mat.n_free:
            parts.append(np.asarray(mats[name], dtype=float)[rows, cols])
    return np.concatenate(parts)


def _maximise(spec: MLVMSpec, stats: TwoLevelStats, theta0, psd_between: bool):
    objective = Objective(spec, stats, psd_between=psd_between)
    low, high = spec.bounds()
    # Newton steps with the closed-form Hessian where it is cheap (per-size statistics);
    # scoring steps on the rows, where the Hessian costs a pass per moment
    curvature = objective.observed_information if objective.route.name != "rows" else None
    return objective, maximize(objective.value_grad, theta0, low, high, objective.metric,
                               curvature, n_scale=stats.n_obs, tol=_TOL)


def fit_reference(stats: TwoLevelStats, name: str) -> ReferenceFit:
    """Fit the ``"saturated"`` or ``"baseline"`` model to ``stats`` (not cached)."""
    diagonal = name == "baseline"
    make = baseline_spec if diagonal else saturated_spec
    spec = make(stats.var_names)
    mu0, sw0, sb0 = _moment_start(stats, diagonal)
    objective, best = _maximise(spec, stats, _theta_from(spec, mu0, sw0, sb0), True)
    if not best.converged:  # the maximum lies where Σ_B is singular: refit with Σ_B = L L'
        mu, sw, sb = objective.moments(best.x)
        chol_spec = make(stats.var_names, between="chol")
        chol_obj, chol = _maximise(chol_spec, stats, _theta_from(chol_spec, mu, sw, sb), False)
        if chol.value >= best.value - 1e-9 * abs(best.value) or chol.converged:
            objective, best = chol_obj, chol
    mu, sw, sb = objective.moments(best.x)
    if not best.converged:
        warnings.warn(f"the {name} model did not reach its maximum (Newton decrement "
                      f"{best.decrement:.2e}); chi-square and fit indices may be off",
                      MLVMWarning, stacklevel=4)
    return ReferenceFit(name, best.value, spec.npar, mu, sw, sb, best.decrement, best.n_iter,
                        best.converged)


def reference_models(stats: TwoLevelStats) -> tuple[ReferenceFit, ReferenceFit]:
    """(saturated, baseline) for these data, fitted once and cached by the exact digest."""
    key = stats.digest
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    pair = (fit_reference(stats, "saturated"), fit_reference(stats, "baseline"))
    with _LOCK:
        _CACHE[key] = pair
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return pair
