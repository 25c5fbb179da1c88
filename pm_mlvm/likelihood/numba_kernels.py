"""The two-level log-likelihood and its gradients as Numba ``njit`` kernels (nopython mode).

The same formulas as :mod:`pm_mlvm.likelihood.kernels` (McDonald & Goldstein 1989; Muthén
1990; Rosseel 2021's Woodbury form for missing cells), written as loops over 2-d matrices so
that they compile in nopython mode: PyTensor's Numba backend (``mode="NUMBA"``, nutpie) calls
them without object mode (see :mod:`pm_mlvm.graph.backends`).

Positive definiteness is tested by a hand-written Cholesky that reports failure instead of
raising (Numba's ``np.linalg.cholesky`` raises), so failure stays a value: -inf and a zero
gradient. Matrix gradients follow the symmetric convention of the NumPy kernels.

Every public kernel takes the route's statistics in the order of
:data:`pm_mlvm.likelihood.routes.ROUTES` and returns a tuple. Imports only NumPy and Numba.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pm_mlvm.likelihood.kernels import LOG_2PI

__all__ = [
    "complete_value_grad",
    "complete_weighted_grad",
    "complete_grad_per_cluster",
    "rows_value_grad",
    "rows_grad_per_cluster",
    "complete_hvp",
    "rows_hvp",
]

_JIT = dict(cache=True, nogil=True)


# ------------------------------------------------------------------------- helpers
@nb.njit(**_JIT)
def _sym(x):
    return 0.5 * (x + x.T)


@nb.njit(**_JIT)
def _spd_inv_logdet(a):
    """(inverse, log-determinant, ok) of a symmetric matrix by Cholesky; ok False if not PD."""
    p = a.shape[0]
    low = np.zeros((p, p))
    for j in range(p):
        s = a[j, j]
        for k in range(j):
            s -= low[j, k] * low[j, k]
        if not s > 0.0:  # also catches NaN
            return np.zeros((p, p)), 0.0, False
        d = np.sqrt(s)
        low[j, j] = d
        for i in range(j + 1, p):
            s = a[i, j]
            for k in range(j):
                s -= low[i, k] * low[j, k]
            low[i, j] = s / d
    linv = np.zeros((p, p))
    for j in range(p):
        linv[j, j] = 1.0 / low[j, j]
        for i in range(j + 1, p):
            s = 0.0
            for k in range(j, i):
                s -= low[i, k] * linv[k, j]
            linv[i, j] = s / low[i, i]
    inv = np.empty((p, p))
    for i in range(p):
        for j in range(i + 1):
            s = 0.0
            for k in range(i, p):
                s += linv[k, i] * linv[k, j]
            inv[i, j] = s
            inv[j, i] = s
    logdet = 0.0
    for j in range(p):
        logdet += 2.0 * np.log(low[j, j])
    return inv, logdet, True


@nb.njit(**_JIT)
def _all_finite(x):
    for v in x.ravel():
        if not np.isfinite(v):
            return False
    return True


# ------------------------------------------------------------------ complete data
@nb.njit(**_JIT)
def _complete_factors(sw, sb, sizes, need_within):
    k_sizes = sizes.shape[0]
    p = sw.shape[0]
    inv_n = np.empty((k_sizes, p, p))
    logdet_n = np.empty(k_sizes)
    for k in range(k_sizes):
        inv, ld, ok = _spd_inv_logdet(sw + sizes[k] * sb)
        if not ok:
            return inv_n, logdet_n, np.zeros((p, p)), 0.0, False
        inv_n[k] = inv
        logdet_n[k] = ld
    if need_within:
        inv_w, logdet_w, ok = _spd_inv_logdet(sw)
        if not ok:
            return inv_n, logdet_n, inv_w, logdet_w, False
    else:  # every cluster a singleton: Sigma_W enters only through Sigma_W + Sigma_B
        inv_w, logdet_w = np.zeros((p, p)), 0.0
    return inv_n, logdet_n, inv_w, logdet_w, True


@nb.njit(**_JIT)
def _complete_setup(mu, sigma_within, sigma_between, sizes, size_index):
    sw = _sym(np.ascontiguousarray(sigma_within))
    sb = _sym(np.ascontiguousarray(sigma_between))
    n = sizes.astype(np.float64)
    need_within = False
    for j in range(size_index.shape[0]):
        if n[size_index[j]] > 1.0:
            need_within = True
    ok = _all_finite(mu) and _all_finite(sw) and _all_finite(sb)
    if not ok:
        p = mu.shape[0]
        return (sw, sb, n, np.zeros((sizes.shape[0], p, p)), np.zeros(sizes.shape[0]),
                np.zeros((p, p)), 0.0, False)
    inv_n, logdet_n, inv_w, logdet_w, ok = _complete_factors(sw, sb, n, need_within)
    return sw, sb, n, inv_n, logdet_n, inv_w, logdet_w, ok


@nb.njit(**_JIT)
def complete_value_grad(mu, sigma_within, sigma_between, sizes, size_counts, size_index,
                        mean_by_size, cov_by_size, scatter_within, cluster_means,
                        cluster_scatter):
    """Per-cluster contributions (J,) and the gradient of their sum (per-size statistics)."""
    p = mu.shape[0]
    n_clusters = size_index.shape[0]
    sw, sb, n, inv_n, logdet_n, inv_w, logdet_w, ok = _complete_setup(
        mu, sigma_within, sigma_between, sizes, size_index)
    if not ok:
        return (np.full(n_clusters, -np.inf), np.zeros(p), np.zeros((p, p)),
                np.zeros((p, p)))
    per_cluster = np.empty(n_clusters)
    for j in range(n_clusters):
        k = size_index[j]
        d = cluster_means[j] - mu
        quad = d @ (inv_n[k] @ d)
        trace = np.sum(inv_w * cluster_scatter[j])
        per_cluster[j] = -0.5 * (n[k] * p * LOG_2PI + (n[k] - 1.0) * logdet_w + trace
                                 + logdet_n[k] + n[k] * quad)
    g_w = np.zeros((p, p))
    g_b = np.zeros((p, p))
    dmu = np.zeros(p)
    n_within = 0.0
    for k in range(n.shape[0]):
        c = float(size_counts[k])
        n_within += (n[k] - 1.0) * c
        d = mean_by_size[k] - mu
        moment = cov_by_size[k] + np.outer(d, d)
        g_n = c * (inv_n[k] - n[k] * (inv_n[k] @ moment @ inv_n[k]))
        g_w += g_n
        g_b += n[k] * g_n
        dmu += c * n[k] * (inv_n[k] @ d)
    if n_within > 0:
        g_w += n_within * inv_w - inv_w @ np.ascontiguousarray(scatter_within) @ inv_w
    return per_cluster, dmu, -0.5 * _sym(g_w), -0.5 * _sym(g_b)


@nb.njit(**_JIT)
def complete_weighted_grad(weights, mu, sigma_within, sigma_between, sizes, size_counts,
                           size_index, mean_by_size, cov_by_size, scatter_within,
                           cluster_means, cluster_scatter):
    """Gradient of Σ_j g_j l_j (per-size statistics when the weights are equal)."""
    p = mu.shape[0]
    n_clusters = size_index.shape[0]
    uniform = n_clusters > 0
    for j in range(n_clusters):
        if weights[j] != weights[0]:
            uniform = False
    if uniform:
        _, dmu, dw, db = complete_value_grad(
            mu, sigma_within, sigma_between, sizes, size_counts, size_index, mean_by_size,
            cov_by_size, scatter_within, cluster_means, cluster_scatter)
        c = weights[0]
        return c * dmu, c * dw, c * db
    sw, sb, n, inv_n, logdet_n, inv_w, logdet_w, ok = _complete_setup(
        mu, sigma_within, sigma_between, sizes, size_index)
    if not ok:
        return np.zeros(p), np.zeros((p, p)), np.zeros((p, p))
    k_sizes = n.shape[0]
    w_k = np.zeros(k_sizes)
    wd_k = np.zeros((k_sizes, p))
    wdd_k = np.zeros((k_sizes, p, p))
    s_w = np.zeros((p, p))
    w_within = 0.0
    for j in range(n_clusters):
        k = size_index[j]
        g = weights[j]
        d = cluster_means[j] - mu
        w_k[k] += g
        wd_k[k] += g * d
        wdd_k[k] += g * np.outer(d, d)
        s_w += g * cluster_scatter[j]
        w_within += g * (n[k] - 1.0)
    g_w = np.zeros((p, p))
    g_b = np.zeros((p, p))
    dmu = np.zeros(p)
    for k in range(k_sizes):
        g_n = w_k[k] * inv_n[k] - n[k] * (inv_n[k] @ wdd_k[k] @ inv_n[k])
        g_w += g_n
        g_b += n[k] * g_n
        dmu += n[k] * (inv_n[k] @ wd_k[k])
    g_w += w_within * inv_w - inv_w @ s_w @ inv_w
    return dmu, -0.5 * _sym(g_w), -0.5 * _sym(g_b)


@nb.njit(**_JIT)
def complete_grad_per_cluster(mu, sigma_within, sigma_between, sizes, size_counts, size_index,
                              mean_by_size, cov_by_size, scatter_within, cluster_means,
                              cluster_scatter):
    """Per-cluster gradients ∇ l_j: (J, p), (J, p, p), (J, p, p)."""
    p = mu.shape[0]
    n_clusters = size_index.shape[0]
    g_mu = np.zeros((n_clusters, p))
    g_w = np.zeros((n_clusters, p, p))
    g_b = np.zeros((n_clusters, p, p))
    sw, sb, n, inv_n, logdet_n, inv_w, logdet_w, ok = _complete_setup(
        mu, sigma_within, sigma_between, sizes, size_index)
    if not ok:
        return g_mu, g_w, g_b
    for j in range(n_clusters):
        k = size_index[j]
        d = cluster_means[j] - mu
        inv_d = inv_n[k] @ d
        g_n = inv_n[k] - n[k] * np.outer(inv_d, inv_d)
        within = (n[k] - 1.0) * inv_w - inv_w @ np.ascontiguousarray(cluster_scatter[j]) @ inv_w
        g_mu[j] = n[k] * inv_d
        g_w[j] = -0.5 * _sym(g_n + within)
        g_b[j] = -0.5 * n[k] * _sym(g_n)
    return g_mu, g_w, g_b


# ------------------------------------------------------------------- missing data
@nb.njit(**_JIT)
def _rows_core(mu, sigma_within, sigma_between, y, row_pattern, patterns, row_cluster,
               cluster_start, pair_cluster, pair_pattern, pair_count):
    """Forward pass of the Woodbury form; the last element is False when not PD."""
    p = mu.shape[0]
    n_rows = y.shape[0]
    n_pat = patterns.shape[0]
    n_clusters = cluster_start.shape[0]
    sw = _sym(np.ascontiguousarray(sigma_within))
    sb = _sym(np.ascontiguousarray(sigma_between))
    q_pat = np.zeros((n_pat, p, p))
    logdet_pat = np.zeros(n_pat)
    resid = np.zeros((n_rows, p))
    q_resid = np.zeros((n_rows, p))
    b = np.zeros((n_clusters, p))
    a = np.zeros((n_clusters, p, p))
    logdet_m = np.zeros(n_clusters)
    pmat = np.zeros((n_clusters, p, p))
    u = np.zeros((n_clusters, p))
    ok = _all_finite(mu) and _all_finite(sw) and _all_finite(sb)
    if not ok:
        return q_pat, logdet_pat, resid, q_resid, b, a, logdet_m, pmat, u, False
    for k in range(n_pat):
        obs = np.nonzero(patterns[k])[0]
        sub = np.empty((obs.shape[0], obs.shape[0]))
        for r in range(obs.shape[0]):
            for c in range(obs.shape[0]):
                sub[r, c] = sw[obs[r], obs[c]]
        inv, ld, ok = _spd_inv_logdet(sub)
        if not ok:
            return q_pat, logdet_pat, resid, q_resid, b, a, logdet_m, pmat, u, False
        for r in range(obs.shape[0]):
            for c in range(obs.shape[0]):
                q_pat[k, obs[r], obs[c]] = inv[r, c]
        logdet_pat[k] = ld
    for i in range(n_rows):
        k = row_pattern[i]
        for c in range(p):
            if patterns[k, c]:
                resid[i, c] = y[i, c] - mu[c]
        q_resid[i] = q_pat[k] @ resid[i]
        b[row_cluster[i]] += q_resid[i]
    for t in range(pair_cluster.shape[0]):
        a[pair_cluster[t]] += pair_count[t] * q_pat[pair_pattern[t]]
    eye = np.eye(p)
    sb_evals = np.linalg.eigvalsh(sb)
    check = sb_evals[0] < -1e-12 * max(1.0, np.max(np.abs(sb)))
    for j in range(n_clusters):
        if check:  # M_j = I + Sigma_B A_j has the eigenvalues of I + A^1/2 Sigma_B A^1/2
            evals, evecs = np.linalg.eigh(a[j])
            root = (evecs * np.sqrt(np.maximum(evals, 0.0))) @ np.ascontiguousarray(evecs.T)
            if np.linalg.eigvalsh(eye + root @ sb @ root)[0] <= 0:
                return q_pat, logdet_pat, resid, q_resid, b, a, logdet_m, pmat, u, False
        m = eye + sb @ a[j]
        sign, ld = np.linalg.slogdet(m)
        if not sign > 0:
            return q_pat, logdet_pat, resid, q_resid, b, a, logdet_m, pmat, u, False
        logdet_m[j] = ld
        pmat[j] = _sym(np.linalg.solve(m, sb))
        u[j] = pmat[j] @ b[j]
    return q_pat, logdet_pat, resid, q_resid, b, a, logdet_m, pmat, u, True


@nb.njit(**_JIT)
def rows_value_grad(weights, mu, sigma_within, sigma_between, y, row_pattern, patterns,
                    row_cluster, cluster_start, pair_cluster, pair_pattern, pair_count):
    """Per-cluster contributions (J,) and the gradient of Σ_j g_j l_j (missing cells)."""
    p = mu.shape[0]
    n_rows = y.shape[0]
    n_pat = patterns.shape[0]
    n_clusters = cluster_start.shape[0]
    q_pat, logdet_pat, resid, q_resid, b, a, logdet_m, pmat, u, ok = _rows_core(
        mu, sigma_within, sigma_between, y, row_pattern, patterns, row_cluster, cluster_start,
        pair_cluster, pair_pattern, pair_count)
    if not ok:
        return (np.full(n_clusters, -np.inf), np.zeros(p), np.zeros((p, p)),
                np.zeros((p, p)))
    per_cluster = np.zeros(n_clusters)
    dmu = np.zeros(p)
    g_w = np.zeros((p, p))
    w = np.zeros((n_clusters, p))
    for i in range(n_rows):
        k = row_pattern[i]
        j = row_cluster[i]
        cells = 0.0
        for c in range(p):
            if patterns[k, c]:
                cells += 1.0
        per_cluster[j] += cells * LOG_2PI + logdet_pat[k] + resid[i] @ q_resid[i]
        pv = q_resid[i] - q_pat[k] @ u[j]
        dmu += weights[j] * pv
        w[j] += pv
        g_w -= weights[j] * np.outer(pv, pv)
    g_b = np.zeros((p, p))
    for j in range(n_clusters):
        per_cluster[j] = -0.5 * (per_cluster[j] + logdet_m[j] - b[j] @ u[j])
        g_b += weights[j] * (a[j] - a[j] @ pmat[j] @ a[j] - np.outer(w[j], w[j]))
    count_pat = np.zeros(n_pat)
    p_bar = np.zeros((n_pat, p, p))
    for t in range(pair_cluster.shape[0]):
        gc = weights[pair_cluster[t]] * pair_count[t]
        count_pat[pair_pattern[t]] += gc
        p_bar[pair_pattern[t]] += gc * pmat[pair_cluster[t]]
    for k in range(n_pat):
        g_w += count_pat[k] * q_pat[k] - q_pat[k] @ p_bar[k] @ q_pat[k]
    return per_cluster, dmu, -0.5 * _sym(g_w), -0.5 * _sym(g_b)


@nb.njit(**_JIT)
def rows_grad_per_cluster(mu, sigma_within, sigma_between, y, row_pattern, patterns,
                          row_cluster, cluster_start, pair_cluster, pair_pattern, pair_count):
    """Per-cluster gradients ∇ l_j: (J, p), (J, p, p), (J, p, p) (missing cells)."""
    p = mu.shape[0]
    n_clusters = cluster_start.shape[0]
    g_mu = np.zeros((n_clusters, p))
    g_w = np.zeros((n_clusters, p, p))
    g_b = np.zeros((n_clusters, p, p))
    q_pat, logdet_pat, resid, q_resid, b, a, logdet_m, pmat, u, ok = _rows_core(
        mu, sigma_within, sigma_between, y, row_pattern, patterns, row_cluster, cluster_start,
        pair_cluster, pair_pattern, pair_count)
    if not ok:
        return g_mu, g_w, g_b
    for i in range(y.shape[0]):
        k = row_pattern[i]
        j = row_cluster[i]
        pv = q_resid[i] - q_pat[k] @ u[j]
        g_mu[j] += pv
        g_w[j] -= np.outer(pv, pv)
    for t in range(pair_cluster.shape[0]):
        j = pair_cluster[t]
        k = pair_pattern[t]
        g_w[j] += pair_count[t] * (q_pat[k] - q_pat[k] @ pmat[j] @ q_pat[k])
    for j in range(n_clusters):
        g_b[j] = -0.5 * _sym(a[j] - a[j] @ pmat[j] @ a[j] - np.outer(g_mu[j], g_mu[j]))
        g_w[j] = -0.5 * _sym(g_w[j])
    return g_mu, g_w, g_b


# ------------------------------------------------------- Hessian-vector products
# Directional derivative of the gradient of Σ_j g_j l_j along one direction (v_mu, V_W, V_B),
# in the gradient convention: the same closed forms as pm_mlvm.likelihood.hessian (there
# batched over directions), here for a single direction and written as loops over clusters.
@nb.njit(**_JIT)
def complete_hvp(weights, mu, sigma_within, sigma_between, v_mu, v_within, v_between, sizes,
                 size_counts, size_index, mean_by_size, cov_by_size, scatter_within,
                 cluster_means, cluster_scatter):
    """HVP of Σ_j g_j l_j (per-size statistics when the weights are equal): h_mu, H_W, H_B."""
    p = mu.shape[0]
    n_clusters = size_index.shape[0]
    zeros = (np.zeros(p), np.zeros((p, p)), np.zeros((p, p)))
    sw, sb, n, inv_n, logdet_n, inv_w, logdet_w, ok = _complete_setup(
        mu, sigma_within, sigma_between, sizes, size_index)
    if not ok:
        return zeros
    v_w = _sym(np.ascontiguousarray(v_within))
    v_b = _sym(np.ascontiguousarray(v_between))
    k_sizes = n.shape[0]
    uniform = n_clusters > 0
    for j in range(n_clusters):
        if weights[j] != weights[0]:
            uniform = False
    c = np.zeros(k_sizes)
    dm = np.zeros((k_sizes, p))
    tm = np.zeros((k_sizes, p, p))
    s_w = np.zeros((p, p))
    n_w = 0.0
    if uniform:
        scale = weights[0]
        for k in range(k_sizes):
            c[k] = scale * size_counts[k]
            d = mean_by_size[k] - mu
            dm[k] = c[k] * d
            tm[k] = c[k] * (cov_by_size[k] + np.outer(d, d))
            n_w += scale * (n[k] - 1.0) * size_counts[k]
        s_w = scale * np.ascontiguousarray(scatter_within)
    else:
        for j in range(n_clusters):
            k = size_index[j]
            g = weights[j]
            d = cluster_means[j] - mu
            c[k] += g
            dm[k] += g * d
            tm[k] += g * np.outer(d, d)
            n_w += g * (n[k] - 1.0)
            s_w += g * cluster_scatter[j]
    df_mu = np.zeros(p)
    df_w = np.zeros((p, p))
    df_b = np.zeros((p, p))
    for k in range(k_sizes):
        s = n[k]
        e = v_w + s * v_b
        y = inv_n[k] @ e
        x = y @ inv_n[k]
        r = inv_n[k] @ tm[k] @ inv_n[k]
        z = inv_n[k] @ dm[k]
        pv = inv_n[k] @ v_mu
        df_mu += 2.0 * s * (x @ dm[k] + c[k] * pv)
        yr = y @ r
        outer = np.outer(pv, z)
        dk = -c[k] * x + s * (yr + yr.T) + s * (outer + outer.T)
        df_w += dk
        df_b += s * dk
    if n_w > 0:
        r_w = inv_w @ s_w @ inv_w
        yw = inv_w @ v_w
        ywr = yw @ r_w
        df_w += -n_w * (yw @ inv_w) + ywr + ywr.T
    return -0.5 * df_mu, -0.5 * _sym(df_w), -0.5 * _sym(df_b)


@nb.njit(**_JIT)
def rows_hvp(weights, mu, sigma_within, sigma_between, v_mu, v_within, v_between, y,
             row_pattern, patterns, row_cluster, cluster_start, pair_cluster, pair_pattern,
             pair_count):
    """HVP of Σ_j g_j l_j for data with missing cells: h_mu, H_W, H_B."""
    p = mu.shape[0]
    n_rows = y.shape[0]
    n_pat = patterns.shape[0]
    n_clusters = cluster_start.shape[0]
    n_pairs = pair_cluster.shape[0]
    zeros = (np.zeros(p), np.zeros((p, p)), np.zeros((p, p)))
    q_pat, logdet_pat, resid, q_resid, b, a, logdet_m, pmat, u, ok = _rows_core(
        mu, sigma_within, sigma_between, y, row_pattern, patterns, row_cluster, cluster_start,
        pair_cluster, pair_pattern, pair_count)
    if not ok:
        return zeros
    sb = _sym(np.ascontiguousarray(sigma_between))
    v_w = _sym(np.ascontiguousarray(v_within))
    v_b = _sym(np.ascontiguousarray(v_between))
    g = weights
    eye = np.eye(p)
    # per row: pv_i = Q_i (r_i - u_j); per cluster: w_j = Σ_i pv_i
    pv = np.empty((n_rows, p))
    w = np.zeros((n_clusters, p))
    for i in range(n_rows):
        j = row_cluster[i]
        pv[i] = q_resid[i] - q_pat[row_pattern[i]] @ u[j]
        w[j] += pv[i]
    # per pattern: Q_k V_W Q_k; pooled P̄_k, its count and Γ_j = Σ count Q_k V_W Q_k
    qwq = np.empty((n_pat, p, p))
    for k in range(n_pat):
        qwq[k] = q_pat[k] @ v_w @ q_pat[k]
    gamma = np.zeros((n_clusters, p, p))
    count_pat = np.zeros(n_pat)
    p_bar = np.zeros((n_pat, p, p))
    for t in range(n_pairs):
        j = pair_cluster[t]
        k = pair_pattern[t]
        gamma[j] += pair_count[t] * qwq[k]
        gc = g[j] * pair_count[t]
        count_pat[k] += gc
        p_bar[k] += gc * pmat[j]
    # db_j = -Σ_i Q_i V_W Q_i r_i - A_j v
    db = np.zeros((n_clusters, p))
    for i in range(n_rows):
        db[row_cluster[i]] -= q_pat[row_pattern[i]] @ (v_w @ q_resid[i])
    dp = np.empty((n_clusters, p, p))
    du = np.empty((n_clusters, p))
    df_b = np.zeros((p, p))
    for j in range(n_clusters):
        db[j] -= a[j] @ v_mu
        m_inv = np.linalg.inv(eye + sb @ a[j])
        # dP_j = N_j V_B N_j' + P_j Γ_j P_j with N_j = M_j^-1
        dp[j] = m_inv @ v_b @ np.ascontiguousarray(m_inv.T) + pmat[j] @ gamma[j] @ pmat[j]
        du[j] = dp[j] @ b[j] + pmat[j] @ db[j]
        df_b += g[j] * (gamma[j] @ pmat[j] @ a[j] - 0.5 * gamma[j]
                        - 0.5 * (a[j] @ dp[j] @ a[j]))
    # dpv_i = -Q_i (V_W pv_i + v + du_j); dw_j = Σ_i dpv_i
    dw = np.zeros((n_clusters, p))
    df_w = np.zeros((p, p))
    for i in range(n_rows):
        j = row_cluster[i]
        dpv = -(q_pat[row_pattern[i]] @ (v_w @ pv[i] + v_mu + du[j]))
        dw[j] += dpv
        df_w -= g[j] * np.outer(dpv, pv[i])
    df_mu = np.zeros(p)
    for j in range(n_clusters):
        df_mu -= 2.0 * g[j] * dw[j]
        df_b -= g[j] * np.outer(dw[j], w[j])
    dp_bar = np.zeros((n_pat, p, p))
    for t in range(n_pairs):
        dp_bar[pair_pattern[t]] += g[pair_cluster[t]] * pair_count[t] * dp[pair_cluster[t]]
    for k in range(n_pat):
        df_w += (qwq[k] @ p_bar[k] @ q_pat[k] - 0.5 * count_pat[k] * qwq[k]
                 - 0.5 * (q_pat[k] @ dp_bar[k] @ q_pat[k]))
    df_w = df_w + df_w.T
    df_b = df_b + df_b.T
    return -0.5 * df_mu, -0.5 * _sym(df_w), -0.5 * _sym(df_b)
