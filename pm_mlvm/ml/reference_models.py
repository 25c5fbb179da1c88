"""The two-level saturated (h1) and baseline (independence) models, fitted to their maximum.

Both are parameterised directly in the moments φ = (μ, vech Σ_W, vech Σ_B):

* saturated: every element free (p + p(p+1) parameters; lavaan's and psychonetrics' h1);
* baseline: μ free, Σ_W and Σ_B diagonal (3p parameters; lavaan's independence model).

Σ_B is kept positive semi-definite (as lavaan's EM and psychonetrics' Cholesky
parameterisation do). When the maximum has a singular Σ_B, the φ-space iterations stall on
that boundary and the fit is redone with Σ_B = L L'; convergence there means a zero gradient
with respect to (μ, Σ_W, L).

They are fitted by Fisher scoring with the analytic gradient and expected information (a
step-halving line search keeps every iterate feasible and ascending), finished by Newton
steps on the observed information (finite differences of the analytic gradient), until the
largest gradient element is below ``tol``. Unlike lavaan's EM, which stops once an iteration
gains less than 1e-4 in logL, this reaches the maximum, so our h1 logL is never below
lavaan's and our chi-square is slightly larger (by up to ~1e-4 on complete data).

Results are cached by the statistics' digest: every model fitted to the same data
(including prune / stepup refits and compare) reuses them.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from pm_mlvm.likelihood.evaluate import twolevel_loglik_grad
from pm_mlvm.ml.information import central_hessian, expected_information
from pm_mlvm.spec.structures import spectral_shift
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["ReferenceFit", "saturated_model", "baseline_model", "reference_models",
           "fit_saturated"]

_CACHE: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ReferenceFit:
    """A fitted reference model: its logL, number of parameters, moments and status."""

    name: str
    logl: float
    npar: int
    mu: np.ndarray
    sigma_within: np.ndarray
    sigma_between: np.ndarray
    max_gradient: float
    iterations: int
    converged: bool


class _Moments:
    """φ ↔ (μ, Σ_W, Σ_B) with a mask of free elements (the baseline fixes off-diagonals)."""

    def __init__(self, p: int, diagonal: bool):
        self.p = p
        rows, cols = np.tril_indices(p)
        keep = rows == cols if diagonal else np.ones(len(rows), bool)
        self.rows, self.cols = rows[keep], cols[keep]
        self.k_cov = len(self.rows)

    @property
    def size(self) -> int:
        return self.p + 2 * self.k_cov

    def unpack(self, phi):
        p, k = self.p, self.k_cov
        mats = []
        for part in (phi[p : p + k], phi[p + k :]):
            m = np.zeros((p, p))
            m[self.rows, self.cols] = part
            m[self.cols, self.rows] = part
            mats.append(m)
        return phi[:p], mats[0], mats[1]

    def pack(self, mu, sw, sb):
        return np.concatenate([mu, sw[self.rows, self.cols], sb[self.rows, self.cols]])

    def gradient(self, g_mu, g_w, g_b):
        """dℓ/dφ from symmetric matrix gradients (off-diagonals count twice)."""
        factor = np.where(self.rows == self.cols, 1.0, 2.0)
        return np.concatenate([g_mu, factor * g_w[self.rows, self.cols],
                               factor * g_b[self.rows, self.cols]])

    def jacobians(self):
        """∂μ/∂φ (p, k) and ∂Σ/∂φ (k, p, p): unit symmetric directions."""
        p, k = self.p, self.size
        d_mu = np.zeros((p, k))
        d_mu[:, :p] = np.eye(p)
        d_w, d_b = np.zeros((k, p, p)), np.zeros((k, p, p))
        for idx, (r, c) in enumerate(zip(self.rows, self.cols)):
            d_w[p + idx, r, c] = d_w[p + idx, c, r] = 1.0
            d_b[p + self.k_cov + idx, r, c] = d_b[p + self.k_cov + idx, c, r] = 1.0
        return d_mu, d_w, d_b


def _feasible(sw, sb, stats) -> bool:
    """Σ_W PD (with clusters of 2+ units) and Σ_B positive semi-definite."""
    if stats.n_obs > stats.n_clusters and np.linalg.eigvalsh(sw).min() <= 0:
        return False
    return np.linalg.eigvalsh(sb).min() >= -1e-10 * max(1.0, np.abs(sb).max())


def _fit(stats: TwoLevelStats, diagonal: bool, tol: float, max_iter: int = 500):
    space = _Moments(stats.n_vars, diagonal)
    s_w = (stats.pooled_within_cov if stats.n_obs > stats.n_clusters
           else 0.5 * stats.total_cov)
    mean_size = stats.n_obs / stats.n_clusters
    floor = 0.05 * float(np.mean(np.diag(stats.between_cov)))
    s_b = spectral_shift(stats.between_cov - s_w / mean_size, floor=max(floor, 1e-6))
    s_w = spectral_shift(s_w, floor=1e-6)
    if diagonal:
        s_w, s_b = np.diag(np.diag(s_w)), np.diag(np.diag(s_b))
    phi = space.pack(stats.total_mean, s_w, s_b)
    d_mu, d_w, d_b = space.jacobians()

    def value_grad(x):
        mu, sw, sb = space.unpack(x)
        if not _feasible(sw, sb, stats):
            return -np.inf, None
        logl, g_mu, g_w, g_b = twolevel_loglik_grad(stats, mu, sw, sb)
        return logl, space.gradient(g_mu, g_w, g_b)

    logl, grad = value_grad(phi)
    newton = False
    it = 0
    short_steps = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - reported as the iteration count
        if np.max(np.abs(grad)) < tol:
            break
        mu, sw, sb = space.unpack(phi)
        if newton:
            info = _observed_information(value_grad, phi)
        else:
            info = expected_information(stats.sizes, stats.size_counts, sw, sb, d_mu, d_w, d_b)
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            step = grad / max(1.0, np.abs(grad).max())
        if step @ grad <= 0:  # not an ascent direction: fall back to scoring / gradient
            newton = False
            step = grad / max(1.0, np.abs(grad).max())
        t = 1.0
        for _ in range(60):
            cand = phi + t * step
            c_logl, c_grad = value_grad(cand)
            if np.isfinite(c_logl) and c_logl >= logl - 1e-12 * abs(logl):
                break
            t *= 0.5
        else:
            break
        gain = c_logl - logl
        phi, logl, grad = cand, c_logl, c_grad
        short_steps = short_steps + 1 if t < 1e-2 else 0
        if short_steps >= 3:  # held back by the PSD boundary of Σ_B: stop here
            break
        if gain < 1e-6 and not newton:
            newton = True  # close to the maximum: switch to Newton steps
    mu, sw, sb = space.unpack(phi)
    max_grad = float(np.max(np.abs(grad)))
    return logl, space.size, mu, sw, sb, max_grad, it, max_grad < tol


def _observed_information(value_grad, phi, rel_step=1e-5):
    hess = central_hessian(lambda x: value_grad(x)[1], phi, rel_step)
    if hess is None:
        return _observed_information_forward(value_grad, phi, rel_step)
    return -hess


def _observed_information_forward(value_grad, phi, rel_step):
    """One-sided differences when a two-sided step leaves the feasible set (near a bound)."""
    k = len(phi)
    g0 = value_grad(phi)[1]
    hess = np.empty((k, k))
    for j in range(k):
        h = rel_step * max(1.0, abs(phi[j]))
        x = phi.copy()
        x[j] += h
        g = value_grad(x)[1]
        if g is None:
            x[j] -= 2 * h
            g = value_grad(x)[1]
            h = -h
        hess[:, j] = (g - g0) / h
    return -0.5 * (hess + hess.T)


def _fit_on_psd_boundary(stats: TwoLevelStats, diagonal: bool, start, tol: float):
    """Σ_B = L L' (Cholesky), for maxima where Σ_B is singular (a between variance of zero):
    L-BFGS-B, then damped Newton steps, on (μ, Σ_W, L) with the analytic gradient."""
    space = _Moments(stats.n_vars, diagonal)
    p, k = space.p, space.k_cov
    mu0, sw0, sb0 = start
    vals, vecs = np.linalg.eigh(sb0)
    chol = np.linalg.cholesky((vecs * np.maximum(vals, 1e-8)) @ vecs.T)
    if diagonal:
        chol = np.diag(np.sqrt(np.maximum(np.diag(sb0), 1e-8)))
    x0 = np.concatenate([mu0, sw0[space.rows, space.cols], chol[space.rows, space.cols]])
    factor = np.where(space.rows == space.cols, 1.0, 2.0)

    def value_grad(x):
        low = np.zeros((p, p))
        low[space.rows, space.cols] = x[p + k :]
        sw = np.zeros((p, p))
        sw[space.rows, space.cols] = x[p : p + k]
        sw[space.cols, space.rows] = x[p : p + k]
        sb = low @ low.T
        if stats.n_obs > stats.n_clusters and np.linalg.eigvalsh(sw).min() <= 0:
            return -np.inf, None
        logl, g_mu, g_w, g_b = twolevel_loglik_grad(stats, x[:p], sw, sb)
        if not np.isfinite(logl):
            return -np.inf, None
        g_low = 2.0 * g_b @ low
        return logl, np.concatenate([g_mu, factor * g_w[space.rows, space.cols],
                                     g_low[space.rows, space.cols]])

    def objective(x):
        logl, grad = value_grad(x)
        if grad is None:
            return 1e10, np.zeros_like(x)
        return -logl / stats.n_obs, -grad / stats.n_obs

    res = optimize.minimize(objective, x0, jac=True, method="L-BFGS-B",
                            options=dict(maxiter=5000, maxfun=10000, ftol=1e-15, gtol=1e-12))
    x = res.x
    logl, grad = value_grad(x)
    for _ in range(30):
        if np.max(np.abs(grad)) < tol:
            break
        hess_info = _observed_information(value_grad, x)
        damp = 1e-8 * max(1.0, np.abs(np.diag(hess_info)).max())
        try:
            step = np.linalg.solve(hess_info + damp * np.eye(len(x)), grad)
        except np.linalg.LinAlgError:
            break
        if step @ grad <= 0:
            break
        t = 1.0
        for _ in range(40):
            c_logl, c_grad = value_grad(x + t * step)
            if np.isfinite(c_logl) and c_logl >= logl - 1e-12 * abs(logl):
                break
            t *= 0.5
        else:
            break
        x, logl, grad = x + t * step, c_logl, c_grad
    low = np.zeros((p, p))
    low[space.rows, space.cols] = x[p + k :]
    sw = np.zeros((p, p))
    sw[space.rows, space.cols] = x[p : p + k]
    sw[space.cols, space.rows] = x[p : p + k]
    max_grad = float(np.max(np.abs(grad)))
    return logl, space.size, x[:p], sw, low @ low.T, max_grad, res.nit, max_grad < tol


def _reference(stats: TwoLevelStats, name: str, tol: float) -> ReferenceFit:
    diagonal = name == "baseline"
    logl, npar, mu, sw, sb, max_grad, it, ok = _fit(stats, diagonal=diagonal, tol=tol)
    if not ok:  # the maximum lies where Σ_B is singular: refit on the PSD boundary
        boundary = _fit_on_psd_boundary(stats, diagonal, (mu, sw, sb), tol=max(tol, 1e-6))
        if boundary[0] >= logl - 1e-9:
            logl, npar, mu, sw, sb, max_grad, it, ok = boundary
    if not ok:
        warnings.warn(f"the {name} model did not reach its maximum (max |gradient| "
                      f"{max_grad:.2e}); chi-square and fit indices may be off", UserWarning,
                      stacklevel=4)
    return ReferenceFit(name, float(logl), npar, mu, sw, sb, max_grad, it, ok)


def fit_saturated(stats: TwoLevelStats, tol: float = 1e-6) -> ReferenceFit:
    """The saturated model fitted afresh (not cached; for replicated data sets)."""
    return _reference(stats, "saturated", tol)


def saturated_model(stats: TwoLevelStats, tol: float = 1e-8) -> ReferenceFit:
    """The unrestricted two-level model (free μ, Σ_W, Σ_B), at its maximum."""
    return reference_models(stats, tol)[0]


def baseline_model(stats: TwoLevelStats, tol: float = 1e-8) -> ReferenceFit:
    """The independence model (free μ, diagonal Σ_W and Σ_B), at its maximum."""
    return reference_models(stats, tol)[1]


def reference_models(stats: TwoLevelStats, tol: float = 1e-8):
    """(saturated, baseline) for these data, fitted once and cached by their exact digest."""
    key = (stats.digest, tol)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    pair = (_reference(stats, "saturated", tol), _reference(stats, "baseline", tol))
    with _LOCK:
        _CACHE[key] = pair
        while len(_CACHE) > 16:
            _CACHE.popitem(last=False)
    return pair
