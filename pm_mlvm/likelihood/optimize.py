"""The one optimiser: bounded quasi-Newton, then scoring / Newton polish, one convergence test.

Maximises a smooth function f(x) under box bounds, given its value and gradient, a positive
definite *metric* M(x) (the expected information) and, optionally, the *curvature* −∇²f(x)
(the observed information):

1. **Scoring / Newton steps** from the start on the free parameters (those not held at a bound
   by the gradient): the curvature when it is positive definite there, otherwise the metric
   M (Fisher scoring); one step-halving line search keeps every iterate feasible and
   non-decreasing. From reasonable starts this converges in a few dozen steps.
2. **Preconditioned L-BFGS-B**, only when the steps of (1) do not converge: with
   s_k = 1/√M_kk the search runs in u = x / s, where every parameter has unit scale, then (1)
   again from its end. Rescaling a variable of the data rescales the parameters and M alike,
   so neither path depends on the data's units.
3. **Convergence** is the Newton decrement on the free parameters, δ = g'M⁻¹g, in units of f
   (for a log-likelihood: log-likelihood units). It is invariant under any rescaling of the
   parameters, so "converged" means the same thing at every scale; δ ≤ ``tol`` (default 1e-9)
   puts f within about δ/2 of its maximum on the free set.

Infeasible points (a non-positive-definite model) are values, not exceptions: ``value_grad``
returns ``(-inf, None)`` and the searches back off. Nothing here knows about models or data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Maximum", "maximize", "free_mask", "newton_decrement"]

_PENALTY = 1e30


@dataclass(frozen=True)
class Maximum:
    """The result of :func:`maximize`.

    Attributes
    ----------
    x, value, grad : the maximiser, f and ∇f there
    converged : the Newton decrement on the free set is at most ``tol``
    decrement : g'M⁻¹g on the free set (units of f; scale-free)
    free : parameters not held at a bound by the gradient
    n_iter, n_eval : quasi-Newton iterations + polish steps, function evaluations
    message : what stopped the search
    """

    x: np.ndarray
    value: float
    grad: np.ndarray
    converged: bool
    decrement: float
    free: np.ndarray
    n_iter: int
    n_eval: int
    message: str


def free_mask(x, grad, lower, upper, scale) -> np.ndarray:
    """Parameters not held at a bound by the (ascent) gradient; ``scale`` sets how close
    to a bound counts as on it (1e-10 of each parameter's natural scale)."""
    tol = 1e-10 * scale
    at_low = (x <= lower + tol) & (grad <= 0)
    at_high = (x >= upper - tol) & (grad >= 0)
    return ~(at_low | at_high)


def _solve(matrix, rhs):
    """Solve M x = g after equilibrating M to unit diagonal (Jacobi scaling), with a ridge of
    1e-10 on that scale: the result does not depend on the parameters' units, however far
    apart they are."""
    diag = np.abs(np.diag(matrix))
    top = diag.max() if diag.size else 1.0
    scale = 1.0 / np.sqrt(np.where(diag > 0, diag, max(top, 1e-300)))
    unit = matrix * np.outer(scale, scale)
    unit = unit + 1e-10 * np.eye(len(unit))
    try:
        return scale * np.linalg.solve(unit, scale * rhs)
    except np.linalg.LinAlgError:
        return scale * np.linalg.lstsq(unit, scale * rhs, rcond=None)[0]


def newton_decrement(grad, metric) -> float:
    """g'M⁻¹g (0 for an empty gradient)."""
    if grad.size == 0:
        return 0.0
    return float(max(grad @ _solve(metric, grad), 0.0))


def _is_pd(matrix) -> bool:
    diag = np.abs(np.diag(matrix))
    if np.any(diag <= 0):
        return False
    scale = 1.0 / np.sqrt(diag)
    try:
        np.linalg.cholesky(matrix * np.outer(scale, scale))
    except np.linalg.LinAlgError:
        return False
    return True


def _natural_scale(metric_fn, x) -> np.ndarray:
    try:
        diag = np.diag(metric_fn(x))
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        diag = np.full(len(x), np.nan)
    scale = 1.0 / np.sqrt(np.where(np.isfinite(diag) & (diag > 0), diag, np.nan))
    fallback = np.maximum(np.abs(x), 1e-300)
    return np.where(np.isfinite(scale), scale, fallback)


def maximize(value_grad: Callable, x0, lower, upper, metric: Callable,
             curvature: Callable | None = None, *, n_scale: float = 1.0, tol: float = 1e-9,
             maxiter: int = 10000, polish_iter: int = 60) -> Maximum:
    """Maximise f on the box [lower, upper] (see the module docstring).

    Parameters
    ----------
    value_grad : x -> (f, ∇f), or (-inf, None) where f is undefined
    x0 : feasible start
    lower, upper : bounds (±inf for none)
    metric : x -> positive (semi-)definite matrix, e.g. the expected information
    curvature : x -> −∇²f, optional (Newton polish when positive definite)
    n_scale : f is divided by this inside L-BFGS-B (e.g. the number of observations)
    tol : convergence threshold on the Newton decrement
    """
    x0 = np.asarray(x0, dtype=float)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    value, grad = value_grad(x0)
    if not np.isfinite(value):
        raise ValueError("maximize: the start is not feasible")
    if x0.size == 0:
        return Maximum(x0, float(value), np.zeros(0), True, 0.0, np.zeros(0, bool), 0, 1,
                       "no free parameters")
    scale = _natural_scale(metric, x0)
    n_eval = [1]
    state = _newton(value_grad, x0, value, grad, lower, upper, metric, curvature, scale, tol,
                    polish_iter, n_eval)
    if not state[-1]:
        x_q, n_iter = _quasi_newton(value_grad, state[0], lower, upper, metric, n_scale, maxiter,
                                    n_eval)
        value_q, grad_q = value_grad(x_q)
        n_eval[0] += 1
        if np.isfinite(value_q) and grad_q is not None and value_q >= state[1]:
            state = _newton(value_grad, x_q, value_q, grad_q, lower, upper, metric, curvature,
                            scale, tol, polish_iter, n_eval, n_iter=n_iter + state[5])
    x, value, grad, free, decrement, n_iter, message, converged = state
    return Maximum(x=x, value=float(value), grad=np.asarray(grad), converged=converged,
                   decrement=float(decrement), free=free, n_iter=n_iter, n_eval=n_eval[0],
                   message=message)


def _quasi_newton(value_grad, x0, lower, upper, metric, n_scale, maxiter, n_eval):
    """L-BFGS-B in the preconditioned coordinates u = x / s (scipy on first use only)."""
    from scipy import optimize

    scale = _natural_scale(metric, x0)

    def objective(u):
        n_eval[0] += 1
        f, g = value_grad(u * scale)
        if not np.isfinite(f) or g is None:
            return _PENALTY, np.zeros_like(u)
        return -f / n_scale, -g * scale / n_scale

    bounds = [(lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None)
              for lo, hi in zip(lower / scale, upper / scale)]
    res = optimize.minimize(objective, x0 / scale, jac=True, method="L-BFGS-B", bounds=bounds,
                            options=dict(maxiter=maxiter, maxfun=2 * maxiter, ftol=1e-15,
                                         gtol=1e-12, maxcor=30))
    return np.clip(res.x * scale, lower, upper), int(res.nit)


def _newton(value_grad, x, value, grad, lower, upper, metric, curvature, scale, tol,
            max_iter, n_eval, n_iter=0):
    """Projected Newton / scoring steps until the decrement is below ``tol`` (plus one more
    quadratically convergent step); returns the state and whether it converged."""
    decrement = np.inf
    finishing = False
    message = "iteration limit of the Newton / scoring steps"
    free = free_mask(x, grad, lower, upper, scale)
    for _ in range(max_iter):
        free = free_mask(x, grad, lower, upper, scale)
        g = grad[free]
        m_free = metric(x)[np.ix_(free, free)]
        if not np.all(np.isfinite(m_free)):
            message = "the metric is not finite"
            break
        decrement = newton_decrement(g, m_free)
        if decrement <= tol:
            if finishing:
                message = "Newton decrement below tolerance"
                break
            finishing = True  # one more (quadratically convergent) step, kept if not worse
        direction_matrix = m_free
        if curvature is not None:
            h_free = curvature(x)[np.ix_(free, free)]
            if np.all(np.isfinite(h_free)) and _is_pd(h_free):
                direction_matrix = h_free
        step = np.zeros_like(x)
        step[free] = _solve(direction_matrix, g)
        t, accepted = 1.0, False
        for _ in range(50):
            cand = np.clip(x + t * step, lower, upper)
            c_value, c_grad = value_grad(cand)
            n_eval[0] += 1
            if np.isfinite(c_value) and c_grad is not None and \
                    c_value >= value - 1e-13 * abs(value):
                accepted = True
                break
            t *= 0.5
        if not accepted:
            message = ("Newton decrement below tolerance" if finishing
                       else "line search failed in the Newton / scoring steps")
            break
        n_iter += 1
        x, value, grad = cand, c_value, c_grad
    converged = bool(decrement <= tol)
    return x, value, grad, free, decrement, n_iter, message, converged
