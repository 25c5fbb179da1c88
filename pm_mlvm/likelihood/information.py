"""Fisher information of model parameters θ, from the model Jacobian.

Expected information (complete-data design; psychonetrics §3.4, in full-sample units). A
cluster of size n contributes n−1 independent within vectors with covariance Σ_W and one
between vector √n(ȳ − μ) with covariance Σ_n = Σ_W + nΣ_B, so with Δ the model Jacobian::

    I(θ)_kl = Σ_s m_s [ n_s ∂_kμ' Σ_s⁻¹ ∂_lμ + ½ tr(Σ_s⁻¹ ∂_kΣ_s Σ_s⁻¹ ∂_lΣ_s) ]
              + (N − J) ½ tr(Σ_W⁻¹ ∂_kΣ_W Σ_W⁻¹ ∂_lΣ_W),     ∂Σ_s = ∂Σ_W + n_s ∂Σ_B

It depends only on the cluster sizes, not on the data values. The observed information (minus
the Hessian) is exact: :mod:`pm_mlvm.likelihood.hessian` gives the Hessian in the moments, and
the model map's second derivatives (:mod:`pm_mlvm.spec.jet`) the rest; no finite differences.
"""

from __future__ import annotations

import numpy as np

__all__ = ["expected_information", "invert_information"]


def _trace_products(inv, d):
    """T_kl = tr(inv d_k inv d_l) for a stack d (k, p, p), as one BLAS product."""
    k = d.shape[0]
    y = np.matmul(np.matmul(inv[None], d), inv[None])  # inv d_k inv
    return y.reshape(k, -1) @ d.reshape(k, -1).T


def expected_information(sizes, size_counts, sigma_within, sigma_between, d_mu, d_w, d_b):
    """Expected information of θ from the Jacobians ∂μ/∂θ (p, k) and ∂Σ/∂θ (k, p, p)."""
    sizes = np.asarray(sizes, dtype=float)
    counts = np.asarray(size_counts, dtype=float)
    k = d_mu.shape[1]
    info = np.zeros((k, k))
    for n, m in zip(sizes, counts):
        inv = np.linalg.inv(sigma_within + n * sigma_between)
        info += m * n * d_mu.T @ inv @ d_mu
        info += 0.5 * m * _trace_products(inv, d_w + n * d_b)
    n_within = float(np.sum((sizes - 1.0) * counts))
    if n_within > 0:
        info += 0.5 * n_within * _trace_products(np.linalg.inv(sigma_within), d_w)
    return 0.5 * (info + info.T)


def invert_information(info: np.ndarray) -> tuple[np.ndarray, bool]:
    """(covariance matrix, ok). Not PD → pseudo-inverse and ok=False.

    The matrix is equilibrated to unit diagonal first (I = S⁻¹ R S⁻¹, inverse S R⁻¹ S), so
    parameters on very different scales (data in mixed units) lose no precision."""
    diag = np.abs(np.diag(info))
    if info.size == 0:
        return info.copy(), True
    if np.any(diag <= 0) or not np.all(np.isfinite(info)):
        return np.linalg.pinv(info), False
    scale = 1.0 / np.sqrt(diag)
    unit = info * np.outer(scale, scale)
    try:
        chol = np.linalg.cholesky(unit)
        inv_chol = np.linalg.inv(chol)
        return (inv_chol.T @ inv_chol) * np.outer(scale, scale), True
    except np.linalg.LinAlgError:
        return np.linalg.pinv(unit) * np.outer(scale, scale), False
