"""Maximum likelihood: optimise the model's log-likelihood over θ with box bounds.

L-BFGS-B on −logℓ/N with the analytic gradient (psychonetrics uses nlminb with the same
bounds: variances ≥ 0, partial correlations and correlations in [−1, 1]). Non-PD trial points
return a large value so the line search backs off. If the data-based start fails, or the
optimiser does not converge, a plain emergency start is tried too and the better optimum
kept. Standard errors come from the expected (default) or observed information.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize

from pm_mlvm.ml.compiled import compiled_for
from pm_mlvm.ml.information import (
    expected_information,
    invert_information,
    observed_information,
)
from pm_mlvm.ml.result import MLResult
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.spec.start import emergency_start, level_targets, start_values
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["fit_ml", "data_start", "INFORMATION"]

INFORMATION = ("expected", "observed")
_PENALTY = 1e10


def data_start(spec: MLVMSpec, stats: TwoLevelStats) -> np.ndarray:
    """Start values from the statistics' moments."""
    s_w, s_b = level_targets(stats.pooled_within_cov if stats.n_obs > stats.n_clusters
                             else 0.5 * stats.total_cov, stats.between_cov,
                             stats.n_obs / stats.n_clusters)
    return start_values(spec, stats.total_mean, stats.total_cov, s_w, s_b)


def _optimise(fns, theta0, bounds, scale, maxiter):
    def objective(theta):
        logl, grad = fns.logl_grad(theta)
        if not np.isfinite(logl):
            return _PENALTY, np.zeros_like(theta)
        return -logl / scale, -grad / scale

    res = optimize.minimize(
        objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
        options=dict(maxiter=maxiter, maxfun=2 * maxiter, ftol=1e-15, gtol=1e-9, maxcor=30),
    )
    return res


def _free_mask(theta, grad, low, high):
    """Parameters not held at a bound by the (ascent) gradient."""
    at_low = (theta <= low + 1e-10) & (grad <= 0)
    at_high = (theta >= high - 1e-10) & (grad >= 0)
    return ~(at_low | at_high)


def _projected_grad_norm(theta, grad, low, high):
    """Largest gradient element of the parameters not held at a bound."""
    free = _free_mask(theta, grad, low, high)
    return float(np.max(np.abs(grad[free]))) if free.any() else 0.0


def _polish(fns, stats, theta, low, high, scale, tol, max_iter=30):
    """Fisher-scoring steps (expected information, bounds respected) from an L-BFGS-B
    solution: L-BFGS-B stalls on flat ridges at ~1e-4 of the optimum; scoring converges."""
    logl, grad = fns.logl_grad(theta)
    for _ in range(max_iter):
        free = _free_mask(theta, grad, low, high)
        if not free.any() or np.max(np.abs(grad[free])) / scale < tol:
            break
        mu, sw, sb = fns.moments(theta)
        d_mu, d_w, d_b = fns.jacobian(theta)
        info = expected_information(stats.sizes, stats.size_counts, sw, sb, d_mu, d_w, d_b)
        sub = info[np.ix_(free, free)]
        try:
            step_free = np.linalg.solve(sub + 1e-10 * np.eye(len(sub)) * np.trace(sub) / len(sub),
                                        grad[free])
        except np.linalg.LinAlgError:
            break
        step = np.zeros_like(theta)
        step[free] = step_free
        t, improved = 1.0, False
        for _ in range(30):
            cand = np.clip(theta + t * step, low, high)
            c_logl, c_grad = fns.logl_grad(cand)
            if np.isfinite(c_logl) and c_logl >= logl - 1e-12 * abs(logl):
                improved = True
                break
            t *= 0.5
        if not improved:
            break
        theta, logl, grad = cand, c_logl, c_grad
    return theta, logl, grad


def fit_ml(spec: MLVMSpec, stats: TwoLevelStats, information: str = "expected",
           start=None, built=None, maxiter: int = 10000, estimator: str = "ML",
           mode=None, host=None, history=()) -> MLResult:
    """Fit ``spec`` to ``stats`` by maximum likelihood; returns an :class:`MLResult`.

    ``host``: a larger specification whose compiled functions are reused (nested refits).
    """
    if information not in INFORMATION:
        raise ValueError(f"information={information!r}; valid: {INFORMATION}")
    fns = compiled_for(spec, stats, built=built, mode=mode, host=host)
    low, high = spec.bounds()
    bounds = list(zip(np.where(np.isfinite(low), low, None), np.where(np.isfinite(high), high,
                                                                        None)))
    scale = float(stats.n_obs)
    notes = []
    if start is not None:
        theta0 = np.asarray(start, dtype=float)
        if theta0.shape != (spec.npar,):
            raise ValueError(f"start must have {spec.npar} values (one per free parameter); "
                             f"got shape {theta0.shape}")
        starts = [("user", theta0)]
    else:
        starts = [("data", data_start(spec, stats))]
    starts.append(("emergency", emergency_start(spec, stats.total_mean, stats.total_cov)))

    best = None
    for label, theta0 in starts:
        if not np.isfinite(fns.logl_grad(theta0)[0]):
            notes.append(f"{label} start values give a non-PD model; trying another start")
            continue
        res = _optimise(fns, theta0, bounds, scale, maxiter)
        theta_hat, logl, grad = _polish(fns, stats, res.x, low, high, scale, tol=1e-8)
        pg = _projected_grad_norm(theta_hat, grad / scale, low, high)
        ok = bool(np.isfinite(logl) and pg < 1e-6)
        cand = (ok, logl, res, pg, label, theta_hat)
        if best is None or (cand[0], cand[1]) > (best[0], best[1]):
            best = cand
        if ok:
            break
    if best is None:
        raise RuntimeError("no start values give a positive definite model; check the data "
                           "and the model specification")
    converged, logl, res, pg, label, theta = best
    if not converged:
        warnings.warn(f"the ML optimiser did not converge ({res.message}; max projected "
                      f"gradient {pg:.2e}); estimates and SEs are unreliable", UserWarning,
                      stacklevel=3)

    mu, sw, sb = fns.moments(theta)
    used_info = information
    if information == "expected" and stats.has_missing:
        used_info = "observed"
        notes.append("expected information is not available with missing data; observed "
                     "information used")
    if used_info == "expected":
        d_mu, d_w, d_b = fns.jacobian(theta)
        info = expected_information(stats.sizes, stats.size_counts, sw, sb, d_mu, d_w, d_b)
    else:
        info = observed_information(fns.logl_grad, theta)
    vcov, info_ok = invert_information(info)
    if not info_ok:
        warnings.warn("the information matrix is not positive definite: the model may not be "
                      "identified; standard errors are unreliable", UserWarning, stacklevel=3)
    result = MLResult(
        spec=spec, stats=stats, theta=theta, logl=float(logl), converged=converged,
        message=str(res.message), n_iter=int(res.nit), n_eval=int(res.nfev),
        max_gradient=pg, information=used_info, vcov=vcov, information_ok=info_ok,
        start=label, notes=tuple(notes), estimator=estimator, history=tuple(history),
        host=host, mode=mode,
    )
    on_bound = result.heywood
    if len(on_bound):
        cells = ", ".join(f"{r.matrix}[{r.row},{r.col}]={r.est:.3g}" for r in
                          on_bound.itertuples())
        warnings.warn(f"estimates on a bound (Heywood case): {cells}; their standard errors "
                      "are not valid", UserWarning, stacklevel=3)
    return result
