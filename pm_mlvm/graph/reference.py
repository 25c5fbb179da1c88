"""Pure-PyTensor reference graphs of the two-level log-likelihood (test oracle).

Written independently of the Op kernels: complete data by the per-size formula with a Python
loop over distinct sizes; missing data by the brute-force multivariate normal of each
cluster's stacked observed cells, covariance ``I_n ⊗ Sigma_W + 1 1' ⊗ Sigma_B``. Gradients come
from PyTensor's autodiff. Inputs are symmetrised first, so autodiff yields symmetric matrix
gradients comparable with the Ops.

Slow to compile for many sizes/clusters: meant for tests on small data (compile with
``mode="FAST_COMPILE"``), not for fitting.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.slinalg import cholesky, solve_triangular

from pm_mlvm.likelihood.kernels import LOG_2PI
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["reference_loglik", "reference_loglik_per_cluster"]


def _sym(x):
    return 0.5 * (x + x.T)


def _logdet_and_trace(sigma, moment):
    """log|Sigma| and tr(Sigma^-1 moment) via the Cholesky factor."""
    chol = cholesky(sigma, lower=True)
    logdet = 2.0 * pt.sum(pt.log(pt.diagonal(chol)))
    x = solve_triangular(chol, moment, lower=True)
    x = solve_triangular(chol, x.T, lower=True)
    return logdet, pt.trace(x)


def _mvn_logpdf(value, mean, cov):
    chol = cholesky(cov, lower=True)
    z = solve_triangular(chol, value - mean, lower=True)
    k = value.shape[0]
    return -0.5 * (k * LOG_2PI + 2.0 * pt.sum(pt.log(pt.diagonal(chol))) + pt.sum(z**2))


def _finite_or_minus_inf(x):
    return pt.switch(pt.isnan(x), -np.inf, x)


def reference_loglik(stats: TwoLevelStats, mu, sigma_within, sigma_between):
    """Symbolic total log-likelihood (reference implementation)."""
    if stats.route == "rows":
        return pt.sum(reference_loglik_per_cluster(stats, mu, sigma_within, sigma_between))
    sw, sb = _sym(sigma_within), _sym(sigma_between)
    p = stats.n_vars
    n_within = stats.n_obs - stats.n_clusters
    terms = []
    if n_within > 0:
        logdet_w, tr_w = _logdet_and_trace(sw, pt.constant(stats.scatter_within))
        terms.append(n_within * logdet_w + tr_w)
    for k, size in enumerate(stats.sizes):
        d = pt.constant(stats.mean_by_size[k]) - mu
        moment = pt.constant(stats.cov_by_size[k]) + pt.outer(d, d)
        logdet, tr = _logdet_and_trace(sw + float(size) * sb, moment)
        terms.append(float(stats.size_counts[k]) * (logdet + float(size) * tr))
    # a stacked sum, not a chain of +: one fused Add with more than 32 inputs fails in
    # PyTensor's Python mode (NumPy's ufunc argument limit)
    m2 = pt.sum(pt.stack(terms))
    return _finite_or_minus_inf(-0.5 * (stats.n_obs * p * LOG_2PI + m2))


def reference_loglik_per_cluster(stats: TwoLevelStats, mu, sigma_within, sigma_between):
    """Symbolic (J,) per-cluster contributions by the stacked multivariate normal."""
    sw, sb = _sym(sigma_within), _sym(sigma_between)
    rows_y, rows_obs, rows_cluster = _rows(stats)
    terms = []
    for j in range(stats.n_clusters):
        yj, oj = rows_y[rows_cluster == j], rows_obs[rows_cluster == j]
        n = len(yj)
        cov = pt.tile(sb, (n, n)) + pt.linalg.kron(pt.eye(n), sw)
        idx = np.flatnonzero(oj.reshape(-1))
        mean = pt.tile(mu, n)[idx]
        value = pt.constant(yj.reshape(-1)[idx])
        terms.append(_mvn_logpdf(value, mean, cov[idx][:, idx]))
    return _finite_or_minus_inf(pt.stack(terms))


def _rows(stats: TwoLevelStats):
    if stats.route == "rows":
        return stats.y, stats.observed, stats.row_cluster
    raise ValueError(
        "the stacked reference needs the rows: build the statistics with missing cells, or "
        "use reference_loglik for complete data"
    )
