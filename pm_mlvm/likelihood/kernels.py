"""Numerical kernels of the two-level Gaussian log-likelihood and its gradient (NumPy).

Model: for cluster j with n_j units stacked into one vector,
``y_j ~ N(1 ⊗ mu, I_n ⊗ Sigma_W + 1 1' ⊗ Sigma_B)``.

Complete data (McDonald & Goldstein 1989; Muthén 1990). With Sigma_n = Sigma_W + n Sigma_B,
per-cluster mean ybar_j, within scatter S_j and d_j = ybar_j - mu::

    -2 l_j = n_j p log 2π + (n_j - 1) log|Sigma_W| + tr(Sigma_W^-1 S_j)
             + log|Sigma_{n_j}| + n_j d_j' Sigma_{n_j}^-1 d_j

Summed over clusters of equal size this needs only per-size statistics (cost O(K p³), K
distinct sizes, independent of N).

Missing cells (Rosseel 2021, Woodbury form). For row i with observed set o_i, let Q_i be the
p×p zero-padded inverse of Sigma_W[o_i, o_i] and r_i the zero-padded residual. Per cluster,
A_j = Σ_i Q_i, b_j = Σ_i Q_i r_i, M_j = I + Sigma_B A_j, P_j = M_j^-1 Sigma_B
(the posterior covariance of the cluster effect) and u_j = P_j b_j::

    -2 l_j = (#cells) log 2π + Σ_i log|Sigma_W[o_i,o_i]| + log|M_j|
             + Σ_i r_i' Q_i r_i - b_j' u_j

Cluster-varying means. Every per-cluster kernel (and the weighted gradients) also accepts a
(J, p) mean, row j the mean mu_j of cluster j (in the statistics' cluster order): the
formulas above hold with d_j = ybar_j - mu_j (complete data: the within scatter S_j does not
involve the mean) and r_i = y_i - mu_j (missing cells), and the mean's gradient is then the
(J, p) matrix of per-cluster gradients (weight g_j times dl_j/dmu_j). The per-size totals do
not apply (the cluster means enter one by one): the complete-data route then sums the
per-cluster terms (cost O(J p²) plus O(K p³)).

Gradients are taken with respect to (mu, Sigma_W, Sigma_B) treating every entry of the
symmetric matrices as free (so the gradient of a symmetric input is the symmetric matrix G
with dl = tr(G dSigma)); the kernels symmetrise their inputs. Every gradient accepts
per-cluster weights g_j and returns ∇ Σ_j g_j l_j, which is what a vector-valued Op needs.

Failure is a value: when Sigma_W (if some cluster has two or more units) or any covariance
that enters is not positive definite, the log-likelihood is -inf and the gradient zero.
"""

from __future__ import annotations

import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))

__all__ = [
    "LOG_2PI",
    "complete_loglik_total",
    "complete_loglik_per_cluster",
    "complete_value_grad",
    "complete_grad_weighted",
    "missing_loglik_per_cluster",
    "missing_grad_weighted",
    "missing_value_grad",
]


def _sym(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return 0.5 * (x + np.swapaxes(x, -1, -2))


def _chol_inv_logdet(mats: np.ndarray):
    """Inverse and log-determinant of a stack of SPD matrices; None when one is not PD."""
    try:
        chol = np.linalg.cholesky(mats)
    except np.linalg.LinAlgError:
        return None
    diag = np.diagonal(chol, axis1=-2, axis2=-1)
    if not np.all(np.isfinite(diag)) or np.any(diag <= 0):
        return None
    logdet = 2.0 * np.log(diag).sum(axis=-1)
    eye = np.broadcast_to(np.eye(mats.shape[-1]), mats.shape)
    linv = np.linalg.solve(chol, eye)
    inv = np.matmul(np.swapaxes(linv, -1, -2), linv)
    return inv, logdet


def _cluster_mean(mu, n_clusters: int) -> np.ndarray:
    """``mu`` as a float array, checked to be (p,) or (J, p) with J = ``n_clusters``."""
    mu = np.asarray(mu, dtype=float)
    if mu.ndim == 2 and mu.shape[0] != n_clusters:
        raise ValueError(f"a cluster-varying mean must have one row per cluster: got "
                         f"{mu.shape[0]} rows for {n_clusters} clusters")
    if mu.ndim not in (1, 2):
        raise ValueError(f"mu must be (p,) or (J, p); got shape {mu.shape}")
    return mu


# ------------------------------------------------------------------ complete data
def _complete_factors(sizes, sigma_within, sigma_between, need_within):
    sw, sb = _sym(sigma_within), _sym(sigma_between)
    sig_n = sw[None] + sizes[:, None, None] * sb[None]
    by_size = _chol_inv_logdet(sig_n)
    if by_size is None:
        return None
    if need_within:
        within = _chol_inv_logdet(sw)
        if within is None:
            return None
    else:  # every cluster is a singleton: Sigma_W enters only through Sigma_W + Sigma_B
        within = (np.zeros_like(sw), 0.0)
    return sw, sb, by_size, within


def complete_loglik_total(
    mu, sigma_within, sigma_between, sizes, size_counts, mean_by_size, cov_by_size,
    scatter_within, n_within,
):
    """Total log-likelihood from per-size statistics, with its gradient.

    Parameters
    ----------
    mu : (p,) ; sigma_within, sigma_between : (p, p)
    sizes, size_counts : (K,) distinct sizes and counts
    mean_by_size : (K, p) ; cov_by_size : (K, p, p) ML covariances of cluster means
    scatter_within : (p, p) pooled-within scatter (sum, not divided)
    n_within : N - J

    Returns
    -------
    logl, dmu, dsigma_within, dsigma_between
    """
    sizes = np.asarray(sizes, dtype=float)
    p = len(mu)
    fac = _complete_factors(sizes, sigma_within, sigma_between, n_within > 0)
    if fac is None:
        return -np.inf, np.zeros(p), np.zeros((p, p)), np.zeros((p, p))
    return _complete_total_from_factors(fac, mu, sizes, size_counts, mean_by_size, cov_by_size,
                                        scatter_within, n_within)


def _complete_total_from_factors(fac, mu, sizes, size_counts, mean_by_size, cov_by_size,
                                 scatter_within, n_within):
    """The total and its gradient given the factorisations of :func:`_complete_factors`."""
    counts = np.asarray(size_counts, dtype=float)
    p = len(mu)
    _, _, (inv_n, logdet_n), (inv_w, logdet_w) = fac
    n_obs = float(sizes @ counts)
    d = mean_by_size - mu[None, :]
    moment = cov_by_size + d[:, :, None] * d[:, None, :]  # A_s
    quad = np.einsum("kab,kba->k", inv_n, moment)
    m2 = n_within * logdet_w + np.sum(inv_w * scatter_within) + counts @ (logdet_n + sizes * quad)
    logl = -0.5 * (n_obs * p * LOG_2PI + m2)

    # gradient of -2 l, then scaled
    inv_a_inv = np.matmul(np.matmul(inv_n, moment), inv_n)
    g_n = counts[:, None, None] * (inv_n - sizes[:, None, None] * inv_a_inv)
    g_w = g_n.sum(axis=0)
    if n_within > 0:
        g_w = g_w + n_within * inv_w - inv_w @ scatter_within @ inv_w
    g_b = np.einsum("k,kab->ab", sizes, g_n)
    dmu = np.einsum("k,kab,kb->a", counts * sizes, inv_n, d)
    return logl, dmu, -0.5 * _sym(g_w), -0.5 * _sym(g_b)


def complete_loglik_per_cluster(
    mu, sigma_within, sigma_between, sizes, size_index, cluster_means, cluster_scatter,
):
    """Per-cluster log-likelihood contributions l_j (sum = total); ``mu`` (p,) or (J, p)."""
    sizes = np.asarray(sizes, dtype=float)
    n_clusters = cluster_means.shape[0]
    mu = _cluster_mean(mu, n_clusters)
    n_j = sizes[size_index]
    fac = _complete_factors(sizes, sigma_within, sigma_between, bool(np.any(n_j > 1)))
    if fac is None:
        return np.full(n_clusters, -np.inf)
    return _complete_per_cluster_from_factors(fac, mu, sizes, size_index, cluster_means,
                                              cluster_scatter)


def _complete_per_cluster_from_factors(fac, mu, sizes, size_index, cluster_means,
                                       cluster_scatter):
    """Per-cluster contributions given the factorisations of :func:`_complete_factors`."""
    p = cluster_means.shape[1]
    n_j = sizes[size_index]
    _, _, (inv_n, logdet_n), (inv_w, logdet_w) = fac
    d = cluster_means - mu
    inv_j = inv_n[size_index]
    quad = np.einsum("ja,jab,jb->j", d, inv_j, d)
    within = (n_j - 1.0) * logdet_w + np.einsum("ab,jab->j", inv_w, cluster_scatter)
    return -0.5 * (n_j * p * LOG_2PI + within + logdet_n[size_index] + n_j * quad)


def complete_value_grad(
    mu, sigma_within, sigma_between, sizes, size_counts, size_index, mean_by_size, cov_by_size,
    scatter_within, cluster_means, cluster_scatter,
):
    """Per-cluster contributions l_j and the gradient of Σ_j l_j from one factorisation pass.

    Equals :func:`complete_loglik_per_cluster` followed by :func:`complete_grad_weighted` with
    unit weights, but factorises Sigma_W + n Sigma_B (and Sigma_W) once instead of twice.
    Returns ``(per_cluster, dmu, dsigma_within, dsigma_between)``; the gradient is zero when
    some contribution is not finite.
    """
    n_clusters = len(size_index)
    mu = _cluster_mean(mu, n_clusters)
    if mu.ndim == 2:  # a cluster-varying mean: per-cluster moments, not per-size statistics
        per_cluster = complete_loglik_per_cluster(mu, sigma_within, sigma_between, sizes,
                                                  size_index, cluster_means, cluster_scatter)
        if not np.all(np.isfinite(per_cluster)):
            p = mu.shape[1]
            return per_cluster, np.zeros_like(mu), np.zeros((p, p)), np.zeros((p, p))
        return (per_cluster, *complete_grad_weighted(
            np.ones(n_clusters), mu, sigma_within, sigma_between, sizes, size_counts,
            size_index, mean_by_size, cov_by_size, scatter_within, cluster_means,
            cluster_scatter))
    sizes = np.asarray(sizes, dtype=float)
    counts = np.asarray(size_counts, dtype=float)
    p = len(mu)
    n_within = float(np.sum((sizes - 1.0) * counts))
    fac = _complete_factors(sizes, sigma_within, sigma_between, n_within > 0)
    if fac is None:
        return np.full(n_clusters, -np.inf), np.zeros(p), np.zeros((p, p)), np.zeros((p, p))
    per_cluster = _complete_per_cluster_from_factors(fac, mu, sizes, size_index, cluster_means,
                                                     cluster_scatter)
    if not np.all(np.isfinite(per_cluster)):
        return per_cluster, np.zeros(p), np.zeros((p, p)), np.zeros((p, p))
    _, dmu, dw, db = _complete_total_from_factors(fac, mu, sizes, counts, mean_by_size,
                                                  cov_by_size, scatter_within, n_within)
    return per_cluster, dmu, dw, db


def complete_grad_weighted(
    weights, mu, sigma_within, sigma_between, sizes, size_counts, size_index, mean_by_size,
    cov_by_size, scatter_within, cluster_means, cluster_scatter,
):
    """Gradient of Σ_j g_j l_j for complete data.

    Equal weights and a (p,) mean use the per-size statistics (cost O(K p³)); other weights
    or a (J, p) mean use the per-cluster moments (O(J p²)); the mean's gradient has the
    mean's shape.
    """
    weights = np.asarray(weights, dtype=float)
    sizes = np.asarray(sizes, dtype=float)
    mu = _cluster_mean(mu, len(size_index))
    p = mu.shape[-1]
    if mu.ndim == 1 and weights.size and np.all(weights == weights.flat[0]):
        n_within = float(np.sum((sizes - 1.0) * size_counts))
        _, dmu, dw, db = complete_loglik_total(
            mu, sigma_within, sigma_between, sizes, size_counts, mean_by_size, cov_by_size,
            scatter_within, n_within,
        )
        c = float(weights.flat[0])
        return c * dmu, c * dw, c * db
    n_j = sizes[size_index]
    fac = _complete_factors(sizes, sigma_within, sigma_between, bool(np.any(n_j > 1)))
    if fac is None:
        return np.zeros_like(mu), np.zeros((p, p)), np.zeros((p, p))
    _, _, (inv_n, _), (inv_w, _) = fac
    k_sizes = len(sizes)
    d = cluster_means - mu
    w_k = np.bincount(size_index, weights=weights, minlength=k_sizes)
    wd_k = np.zeros((k_sizes, p))
    np.add.at(wd_k, size_index, weights[:, None] * d)
    wdd_k = np.zeros((k_sizes, p, p))
    np.add.at(wdd_k, size_index, weights[:, None, None] * d[:, :, None] * d[:, None, :])
    g_n = w_k[:, None, None] * inv_n - sizes[:, None, None] * (inv_n @ wdd_k @ inv_n)
    g_w = g_n.sum(axis=0)
    w_within = float(weights @ (n_j - 1.0))
    if np.any(n_j > 1):
        s_w = np.einsum("j,jab->ab", weights, cluster_scatter)
        g_w = g_w + w_within * inv_w - inv_w @ s_w @ inv_w
    g_b = np.einsum("k,kab->ab", sizes, g_n)
    if mu.ndim == 2:  # dl_j/dmu_j = n_j Sigma_{n_j}^-1 d_j
        dmu = (weights * n_j)[:, None] * np.einsum("jab,jb->ja", inv_n[size_index], d)
    else:
        dmu = np.einsum("k,kab,kb->a", sizes, inv_n, wd_k)
    return dmu, -0.5 * _sym(g_w), -0.5 * _sym(g_b)


# ------------------------------------------------------------------- missing data
def _missing_core(mu, sigma_within, sigma_between, y, row_pattern, patterns, row_cluster,
                  cluster_start, pair_cluster, pair_pattern, pair_count):
    """Shared forward pass of the missing-data route; None when not positive definite."""
    sw, sb = _sym(sigma_within), _sym(sigma_between)
    p = y.shape[1]
    n_clusters = len(cluster_start)
    mu = _cluster_mean(mu, n_clusters)
    n_pat = len(patterns)
    q_pat = np.zeros((n_pat, p, p))
    logdet_pat = np.zeros(n_pat)
    for k in range(n_pat):
        obs = np.flatnonzero(patterns[k])
        res = _chol_inv_logdet(sw[np.ix_(obs, obs)])
        if res is None:
            return None
        q_pat[k][np.ix_(obs, obs)] = res[0]
        logdet_pat[k] = res[1]
    mu_rows = mu[row_cluster] if mu.ndim == 2 else mu[None, :]
    resid = (y - mu_rows) * patterns[row_pattern]
    q_resid = np.empty_like(resid)
    for k in range(n_pat):
        rows = row_pattern == k
        q_resid[rows] = resid[rows] @ q_pat[k]
    b = np.add.reduceat(q_resid, cluster_start, axis=0)
    a = np.zeros((n_clusters, p * p))
    np.add.at(a, pair_cluster, pair_count[:, None] * q_pat.reshape(n_pat, -1)[pair_pattern])
    a = a.reshape(n_clusters, p, p)
    m = np.eye(p)[None] + sb[None] @ a
    # V_j is PD iff every eigenvalue of M_j = I + Sigma_B A_j is positive; when Sigma_B is
    # PSD that holds automatically, otherwise check it.
    d = np.sqrt(np.abs(np.diag(sw)))  # judge Σ_B on Σ_W's scale: unit-free
    if np.linalg.eigvalsh(sb / np.outer(d, d)).min() < -1e-12:
        if np.linalg.eigvals(m).real.min() <= 0:
            return None
    sign, logdet_m = np.linalg.slogdet(m)
    if np.any(sign <= 0):
        return None
    pmat = np.linalg.solve(m, np.broadcast_to(sb, m.shape))
    pmat = _sym(pmat)
    u = np.einsum("jab,jb->ja", pmat, b)
    return dict(q_pat=q_pat, logdet_pat=logdet_pat, resid=resid, q_resid=q_resid, b=b, a=a,
                logdet_m=logdet_m, pmat=pmat, u=u)


def missing_loglik_per_cluster(mu, sigma_within, sigma_between, y, row_pattern, patterns,
                               row_cluster, cluster_start, pair_cluster, pair_pattern,
                               pair_count):
    """Per-cluster log-likelihood contributions for data with missing cells; ``mu`` (p,) or
    (J, p)."""
    core = _missing_core(mu, sigma_within, sigma_between, y, row_pattern, patterns, row_cluster,
                         cluster_start, pair_cluster, pair_pattern, pair_count)
    n_clusters = len(cluster_start)
    if core is None:
        return np.full(n_clusters, -np.inf)
    return _missing_per_cluster_from_core(core, patterns, row_pattern, cluster_start)


def _missing_per_cluster_from_core(core, patterns, row_pattern, cluster_start):
    cells_row = patterns[row_pattern].sum(axis=1)
    row_terms = (
        cells_row * LOG_2PI
        + core["logdet_pat"][row_pattern]
        + np.einsum("na,na->n", core["resid"], core["q_resid"])
    )
    per_cluster = np.add.reduceat(row_terms, cluster_start)
    per_cluster += core["logdet_m"] - np.einsum("ja,ja->j", core["b"], core["u"])
    return -0.5 * per_cluster


def missing_grad_weighted(weights, mu, sigma_within, sigma_between, y, row_pattern, patterns,
                          row_cluster, cluster_start, pair_cluster, pair_pattern, pair_count):
    """Gradient of Σ_j g_j l_j for data with missing cells (the mean's gradient has the
    mean's shape: (J, p) for a cluster-varying mean)."""
    p = y.shape[1]
    mu = _cluster_mean(mu, len(cluster_start))
    core = _missing_core(mu, sigma_within, sigma_between, y, row_pattern, patterns, row_cluster,
                         cluster_start, pair_cluster, pair_pattern, pair_count)
    if core is None:
        return np.zeros_like(mu), np.zeros((p, p)), np.zeros((p, p))
    return _missing_grad_from_core(core, weights, p, mu.ndim == 2, row_pattern, patterns,
                                   row_cluster, cluster_start, pair_cluster, pair_pattern,
                                   pair_count)


def _missing_grad_from_core(core, weights, p, cluster_mean, row_pattern, patterns, row_cluster,
                            cluster_start, pair_cluster, pair_pattern, pair_count):
    """Gradient of Σ_j g_j l_j given the forward pass of :func:`_missing_core`
    (``cluster_mean``: the gradient of a (J, p) mean, one row per cluster)."""
    g = np.asarray(weights, dtype=float)
    q_pat, pmat, u, a = core["q_pat"], core["pmat"], core["u"], core["a"]
    n_pat = len(patterns)
    # pv_i = Q_i (r_i - u_j): the i-th block of V_j^-1 (y_j - mu), zero-padded
    pv = np.empty_like(core["q_resid"])
    for k in range(n_pat):
        rows = row_pattern == k
        pv[rows] = core["q_resid"][rows] - u[row_cluster[rows]] @ q_pat[k]
    g_row = g[row_cluster]
    w = np.add.reduceat(pv, cluster_start, axis=0)  # b_j - A_j u_j = dl_j/dmu_j
    dmu = g[:, None] * w if cluster_mean else g_row @ pv  # dl/dmu = Σ g_j Σ_i pv_i
    # d(-2l)/dSigma_B = Σ_j g_j [A_j - A_j P_j A_j - w_j w_j']
    apa = a @ pmat @ a
    g_b = np.einsum("j,jab->ab", g, a - apa) - (w * g[:, None]).T @ w
    # d(-2l)/dSigma_W = Σ_i g_j [Q_i - Q_i P_j Q_i - pv_i pv_i']
    pair_w = g[pair_cluster] * pair_count
    count_pat = np.bincount(pair_pattern, weights=pair_w, minlength=n_pat)
    p_bar = np.zeros((n_pat, p * p))
    np.add.at(p_bar, pair_pattern, pair_w[:, None] * pmat.reshape(len(g), -1)[pair_cluster])
    p_bar = p_bar.reshape(n_pat, p, p)
    g_w = np.einsum("k,kab->ab", count_pat, q_pat) - np.einsum(
        "kab,kbc,kcd->ad", q_pat, p_bar, q_pat
    )
    g_w -= (pv * g_row[:, None]).T @ pv
    return dmu, -0.5 * _sym(g_w), -0.5 * _sym(g_b)


def missing_value_grad(mu, sigma_within, sigma_between, y, row_pattern, patterns, row_cluster,
                       cluster_start, pair_cluster, pair_pattern, pair_count):
    """Per-cluster contributions and the gradient of their sum from one forward pass.

    Equals :func:`missing_loglik_per_cluster` followed by :func:`missing_grad_weighted` with
    unit weights, sharing one :func:`_missing_core` (the per-pattern Cholesky factors and the
    per-cluster solves). The gradient is zero when some contribution is not finite.
    """
    p = y.shape[1]
    n_clusters = len(cluster_start)
    mu = _cluster_mean(mu, n_clusters)
    zeros = (np.zeros_like(mu), np.zeros((p, p)), np.zeros((p, p)))
    core = _missing_core(mu, sigma_within, sigma_between, y, row_pattern, patterns, row_cluster,
                         cluster_start, pair_cluster, pair_pattern, pair_count)
    if core is None:
        return (np.full(n_clusters, -np.inf), *zeros)
    per_cluster = _missing_per_cluster_from_core(core, patterns, row_pattern, cluster_start)
    if not np.all(np.isfinite(per_cluster)):
        return (per_cluster, *zeros)
    grad = _missing_grad_from_core(core, np.ones(n_clusters), p, mu.ndim == 2, row_pattern,
                                   patterns, row_cluster, cluster_start, pair_cluster,
                                   pair_pattern, pair_count)
    return (per_cluster, *grad)
