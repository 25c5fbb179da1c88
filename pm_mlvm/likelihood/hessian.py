"""Exact second derivatives and per-cluster scores of the two-level log-likelihood (NumPy).

What it computes, for both likelihood routes of :mod:`pm_mlvm.likelihood.routes`:

* :func:`hvp` — the directional derivative of the gradient of Σ_j g_j l_j along
  (v_mu, V_W, V_B), i.e. a Hessian-vector product, in the gradient convention of
  :mod:`~pm_mlvm.likelihood.kernels` (a matrix gradient is the symmetric G with
  dl = tr(G dΣ) for symmetric dΣ);
* :func:`grad_per_cluster` — the per-cluster scores ∇l_j (sandwich / MLR standard errors);
* :func:`hessian` — the Hessian of the total l in the moment coordinates
  φ = (mu, vech Σ_W, vech Σ_B), vech = ``np.tril_indices(p)`` (row-major lower triangle),
  where moving a vech coordinate moves both mirrored cells; :func:`moment_gradient` maps
  matrix gradients to φ (off-diagonal entries 2·G_ab), :func:`matrix_gradient` back.

Invariants: the Hessian is symmetric; the scores sum to the route's total gradient; a
moment set that is not positive definite (as the kernels decide) gives zeros.

Derivation (own; McDonald & Goldstein 1989, Muthén 1990, Rosseel 2021). Work with F = -2l.

Complete route. For clusters of size s (Σ_s = Σ_W + sΣ_B, P_s = Σ_s⁻¹) collect the weighted
moments c_s = Σ g_j, D_s = Σ g_j d_j, T_s = Σ g_j d_j d_j' (d_j = ȳ_j - mu; with equal
weights c_s = m_s, D_s = m_s d̄_s, T_s = m_s A_s from the per-size statistics), the within
count n_w = Σ g_j (n_j - 1) and scatter S = Σ g_j S_j. Then::

    F = n_w log|Σ_W| + tr(Σ_W⁻¹ S) + Σ_s [c_s log|Σ_s| + s tr(P_s T_s)]

With dΣ_s = E_s = V_W + sV_B, dP = -P E P, dT_s = -(v D_s' + D_s v') and
R_s = P_s T_s P_s, z_s = P_s D_s, the second differential along directions 1, 2 is::

    d²F = Σ_s [ -c_s tr(P E1 P E2) + 2s tr(P E1 R E2)
                + 2s (z' E1 P v2 + z' E2 P v1) + 2 s c_s v1' P v2 ]
          - n_w tr(Σ_W⁻¹ V1 Σ_W⁻¹ V2) + 2 tr(Σ_W⁻¹ V1 R_W V2),   R_W = Σ_W⁻¹ S Σ_W⁻¹

The bilinear form tr(P E1 Q E2) (P, Q symmetric) is D'(P⊗Q)D in vech coordinates, so the
full Hessian costs O(K p⁴), independent of N and J.

Rows route (missing cells). Cluster j stacks its observed cells, V_j = Ω_j + Z Σ_B Z',
Ω_j = blockdiag(Σ_W[o_i, o_i]), mean Z mu. In the zero-padded p×p notation of the kernels
(Q_i, A_j = Σ_i Q_i, b_j, M_j = I + Σ_B A_j, P_j = M_j⁻¹Σ_B, u_j = P_j b_j,
pv_i = Q_i(r_i - u_j) = [V_j⁻¹ r_j]_i, w_j = Σ_i pv_i) the gradient is::

    F_mu = -2 Σ_j g_j w_j
    F_B  = Σ_j g_j (A_j - A_j P_j A_j - w_j w_j')
    F_W  = Σ_i g_j (Q_i - Q_i P_j Q_i - pv_i pv_i')

and its differential along (v, V_W, V_B) follows from dQ_i = -Q_i V_W Q_i,
dA_j = -Γ_j with Γ_j = Σ_i Q_i V_W Q_i, dP_j = N_j V_B N_j' + P_j Γ_j P_j (N_j = M_j⁻¹,
valid for singular Σ_B too), db_j = -Σ_i Q_i V_W Q_i r_i - A_j v, du_j = dP_j b_j + P_j db_j,
dpv_i = -Q_i (V_W pv_i + v + du_j), dw_j = Σ_i dpv_i. Row terms that depend only on
(cluster, pattern) are pooled by pattern first, so one direction costs O(N p² + (J + P) p³).
The Hessian stacks the k = p + p(p+1) coordinate directions in batches.
"""

from __future__ import annotations

import numpy as np

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.likelihood.kernels import _complete_factors, _missing_core, _sym


def _csr_matrix(*args, **kwargs):
    """scipy.sparse on first use only: the rows route needs it, the per-size route (and a
    cold ML fit) does not pay its import."""
    from scipy import sparse

    return sparse.csr_matrix(*args, **kwargs)

__all__ = [
    "hvp",
    "grad_per_cluster",
    "hessian",
    "moment_gradient",
    "matrix_gradient",
    "moment_directions",
    "n_moments",
]

_ROUTE_NAMES = ("sizes", "rows")
# Directions per batch on the rows route: keeps the (batch, rows, p) work arrays near 4e6 cells.
_BATCH_CELLS = 4_000_000


# ---------------------------------------------------------------- moment coordinates
def n_moments(p: int) -> int:
    """k = p + p(p+1), the number of moment coordinates φ = (mu, vech Σ_W, vech Σ_B)."""
    return p + p * (p + 1)


def _vech_index(p: int):
    rows, cols = np.tril_indices(p)
    return rows, cols


def moment_gradient(g_mu, g_w, g_b) -> np.ndarray:
    """Map matrix gradients (symmetric G, dl = tr(G dΣ)) to the moment coordinates φ.

    Parameters
    ----------
    g_mu : (..., p) array
    g_w, g_b : (..., p, p) symmetric arrays

    Returns
    -------
    (..., k) array: (g_mu, vech(2G - diag G) of Σ_W, the same of Σ_B), vech in the order of
    ``np.tril_indices(p)``; a vech coordinate moves both mirrored cells, hence the 2.

    Examples
    --------
    >>> moment_gradient(np.zeros(2), np.array([[1.0, 0.5], [0.5, 2.0]]), np.eye(2))
    array([0., 0., 1., 1., 2., 1., 0., 1.])
    """
    g_mu = np.asarray(g_mu, dtype=float)
    g_w = np.asarray(g_w, dtype=float)
    g_b = np.asarray(g_b, dtype=float)
    p = g_mu.shape[-1]
    rows, cols = _vech_index(p)
    factor = np.where(rows == cols, 1.0, 2.0)
    return np.concatenate(
        [g_mu, factor * g_w[..., rows, cols], factor * g_b[..., rows, cols]], axis=-1
    )


def matrix_gradient(grad_phi, p: int):
    """Inverse of :func:`moment_gradient`: φ-coordinates (..., k) → (g_mu, g_w, g_b)."""
    grad_phi = np.asarray(grad_phi, dtype=float)
    if grad_phi.shape[-1] != n_moments(p):
        raise MLVMInputError(
            f"grad_phi has {grad_phi.shape[-1]} coordinates; for p={p} it needs {n_moments(p)}"
        )
    rows, cols = _vech_index(p)
    half = np.where(rows == cols, 1.0, 0.5)
    nv = len(rows)
    out = [grad_phi[..., :p]]
    for block in (grad_phi[..., p : p + nv], grad_phi[..., p + nv :]):
        g = np.zeros(grad_phi.shape[:-1] + (p, p))
        g[..., rows, cols] = half * block
        g[..., cols, rows] = half * block
        out.append(g)
    return tuple(out)


def moment_directions(p: int):
    """The k coordinate directions of φ as (v_mu (k, p), v_w (k, p, p), v_b (k, p, p)).

    Direction i moves φ_i by one: a unit vector in mu, or a symmetric unit matrix (both
    mirrored cells one) in Σ_W or Σ_B.
    """
    k = n_moments(p)
    rows, cols = _vech_index(p)
    nv = len(rows)
    v_mu = np.zeros((k, p))
    v_w = np.zeros((k, p, p))
    v_b = np.zeros((k, p, p))
    v_mu[np.arange(p), np.arange(p)] = 1.0
    idx = np.arange(nv)
    v_w[p + idx, rows, cols] = 1.0
    v_w[p + idx, cols, rows] = 1.0
    v_b[p + nv + idx, rows, cols] = 1.0
    v_b[p + nv + idx, cols, rows] = 1.0
    return v_mu, v_w, v_b


def _vech_bilinear(t4: np.ndarray) -> np.ndarray:
    """D' T D for a (p, p, p, p) tensor T[i, j, k, l] (a p²×p² matrix), D the duplication
    matrix: entry (ab, cd) sums T over the mirrored cells of both vech coordinates."""
    p = t4.shape[0]
    rows, cols = _vech_index(p)
    off = (rows != cols).astype(float)
    t = t4.reshape(p * p, p * p)
    first, second = rows * p + cols, cols * p + rows
    t = t[first] + off[:, None] * t[second]
    return t[:, first] + off[None, :] * t[:, second]


# ----------------------------------------------------------------------- validation
def _check_route(route):
    if route not in _ROUTE_NAMES:
        raise MLVMInputError(
            f"route={route!r} is not valid; valid: " + ", ".join(map(repr, _ROUTE_NAMES))
        )


def _check_data(route, data):
    if len(data) != 8:
        raise MLVMInputError(
            f"data: route {route!r} takes 8 statistics arrays (routes.data_arrays order); "
            f"got {len(data)}"
        )


def _moments(mu, sw, sb):
    mu = np.asarray(mu, dtype=float)
    p = mu.shape[0]
    sw, sb = _sym(sw), _sym(sb)
    if mu.ndim != 1 or sw.shape != (p, p) or sb.shape != (p, p):
        raise MLVMInputError(
            f"moments: mu must be (p,) and sigma_within, sigma_between (p, p); got "
            f"{mu.shape}, {sw.shape}, {sb.shape}"
        )
    return mu, sw, sb


def _directions(p, v_mu, v_w, v_b):
    v_mu = np.asarray(v_mu, dtype=float)
    v_w, v_b = _sym(v_w), _sym(v_b)
    if v_mu.shape != (p,) or v_w.shape != (p, p) or v_b.shape != (p, p):
        raise MLVMInputError(
            f"direction: v_mu must be ({p},) and v_w, v_b ({p}, {p}); got "
            f"{v_mu.shape}, {v_w.shape}, {v_b.shape}"
        )
    return v_mu, v_w, v_b


# ------------------------------------------------------------------ complete route
def _complete_moments(weights, mu, sw, sb, data):
    """Per-size weighted moments (c, D, T), within count and scatter, and the factors.

    Equal weights read the per-size statistics (cost independent of J); other weights pool
    the per-cluster moments. Returns None when the moments are not positive definite.
    """
    (sizes, size_counts, size_index, mean_by_size, cov_by_size, scatter_within,
     cluster_means, cluster_scatter) = data
    sizes = np.asarray(sizes, dtype=float)
    counts = np.asarray(size_counts, dtype=float)
    p = len(mu)
    if weights is None or (weights.size and np.all(weights == weights.flat[0])):
        scale = 1.0 if weights is None or not weights.size else float(weights.flat[0])
        n_w = float(np.sum((sizes - 1.0) * counts))
        fac = _complete_factors(sizes, sw, sb, n_w > 0)
        if fac is None:
            return None
        d = mean_by_size - mu[None, :]
        c = scale * counts
        dm = c[:, None] * d
        tm = c[:, None, None] * (cov_by_size + d[:, :, None] * d[:, None, :])
        return sizes, c, dm, tm, scale * n_w, scale * np.asarray(scatter_within), fac
    n_j = sizes[size_index]
    fac = _complete_factors(sizes, sw, sb, bool(np.any(n_j > 1)))
    if fac is None:
        return None
    k_sizes = len(sizes)
    d = cluster_means - mu[None, :]
    c = np.bincount(size_index, weights=weights, minlength=k_sizes)
    dm = np.zeros((k_sizes, p))
    np.add.at(dm, size_index, weights[:, None] * d)
    tm = np.zeros((k_sizes, p, p))
    np.add.at(tm, size_index, weights[:, None, None] * d[:, :, None] * d[:, None, :])
    n_w = float(weights @ (n_j - 1.0))
    s_w = np.einsum("j,jab->ab", weights, cluster_scatter)
    return sizes, c, dm, tm, n_w, s_w, fac


def _complete_hvp(mom, v_mu, v_w, v_b):
    """Directional derivative of the gradient of F = -2l along a batch of directions
    (v_mu (t, p), v_w, v_b (t, p, p)); returns dF_mu, dF_w, dF_b (not yet scaled)."""
    sizes, c, dm, tm, n_w, s_w, fac = mom
    _, _, (inv_n, _), (inv_w, _) = fac
    e = v_w[:, None] + sizes[None, :, None, None] * v_b[:, None]  # (t, K, p, p)
    y = inv_n[None] @ e  # P E
    x = y @ inv_n[None]  # P E P
    r = inv_n @ tm @ inv_n  # R_s = P T P
    z = np.einsum("kab,kb->ka", inv_n, dm)  # P D
    pv = np.einsum("kab,tb->tka", inv_n, v_mu)  # P v
    s = sizes[None, :, None]
    df_mu = 2.0 * np.sum(s * (np.einsum("tkab,kb->tka", x, dm) + c[None, :, None] * pv), axis=1)
    yr = y @ r[None]
    outer = pv[..., :, None] * z[None, :, None, :]  # P v (P D)'
    dk = (-c[None, :, None, None] * x + s[..., None] * (yr + np.swapaxes(yr, -1, -2))
          + s[..., None] * (outer + np.swapaxes(outer, -1, -2)))
    df_w = dk.sum(axis=1)
    if n_w > 0:
        r_w = inv_w @ s_w @ inv_w
        yw = inv_w[None] @ v_w
        ywr = yw @ r_w[None]
        df_w = df_w - n_w * (yw @ inv_w[None]) + ywr + np.swapaxes(ywr, -1, -2)
    df_b = np.einsum("k,tkab->tab", sizes, dk)
    return df_mu, df_w, df_b


def _complete_hessian_f(mom, p):
    """Hessian of F = -2l in φ coordinates, in closed (Kronecker) form."""
    sizes, c, dm, tm, n_w, s_w, fac = mom
    _, _, (inv_n, _), (inv_w, _) = fac
    r = inv_n @ tm @ inv_n
    z = np.einsum("kab,kb->ka", inv_n, dm)
    nv = p * (p + 1) // 2
    k = p + 2 * nv
    h = np.zeros((k, k))
    h[:p, :p] = 2.0 * np.einsum("k,kab->ab", sizes * c, inv_n)
    rows, cols = _vech_index(p)
    factor = np.where(rows == cols, 1.0, 2.0)
    for block, power in ((slice(p, p + nv), 1), (slice(p + nv, k), 2)):
        # d²F / dmu_a dE_bc = 2 s^power sym(P e_a z')_bc, in vech coordinates
        u = 2.0 * np.einsum("k,kba,kc->abc", sizes**power, inv_n, z)
        u = 0.5 * (u + np.swapaxes(u, 1, 2))
        h[:p, block] = factor * u[:, rows, cols]
        h[block, :p] = h[:p, block].T

    def kron4(weight, left, right):  # Σ_s weight_s left_s[a, c] right_s[b, d] as [a, b, c, d]
        m = (weight[:, None] * left.reshape(len(left), -1)).T @ right.reshape(len(right), -1)
        return m.reshape(p, p, p, p).transpose(0, 2, 1, 3)

    def per_size(weight):  # Σ_s weight_s (-c_s P⊗P + 2 s P⊗R_s)
        return kron4(-weight * c, inv_n, inv_n) + kron4(2.0 * weight * sizes, inv_n, r)

    ww = per_size(np.ones_like(sizes))
    if n_w > 0:
        r_w = inv_w @ s_w @ inv_w
        ww = ww + kron4(np.array([-n_w, 2.0]), np.stack([inv_w, inv_w]), np.stack([inv_w, r_w]))
    w_blk, b_blk = slice(p, p + nv), slice(p + nv, k)
    h[w_blk, w_blk] = _vech_bilinear(ww)
    h[w_blk, b_blk] = _vech_bilinear(per_size(sizes))
    h[b_blk, w_blk] = h[w_blk, b_blk].T
    h[b_blk, b_blk] = _vech_bilinear(per_size(sizes**2))
    return h


def _complete_scores(mu, sw, sb, data):
    (sizes, _, size_index, _, _, _, cluster_means, cluster_scatter) = data
    sizes = np.asarray(sizes, dtype=float)
    n_j = sizes[size_index]
    p = len(mu)
    n_clusters = len(size_index)
    fac = _complete_factors(sizes, sw, sb, bool(np.any(n_j > 1)))
    if fac is None:
        return np.zeros((n_clusters, p)), np.zeros((n_clusters, p, p)), np.zeros(
            (n_clusters, p, p))
    _, _, (inv_n, _), (inv_w, _) = fac
    inv_j = inv_n[size_index]
    d = cluster_means - mu[None, :]
    pd_ = np.einsum("jab,jb->ja", inv_j, d)
    k_j = inv_j - n_j[:, None, None] * pd_[:, :, None] * pd_[:, None, :]
    f_w = k_j + (n_j - 1.0)[:, None, None] * inv_w[None] - inv_w[None] @ cluster_scatter @ inv_w
    f_b = n_j[:, None, None] * k_j
    return n_j[:, None] * pd_, -0.5 * _sym(f_w), -0.5 * _sym(f_b)


# ----------------------------------------------------------------------- rows route
def _rows_prepare(mu, sw, sb, data):
    """Forward quantities of the rows route (None when not positive definite)."""
    core = _missing_core(mu, sw, sb, *data)
    if core is None:
        return None
    (y, row_pattern, patterns, row_cluster, cluster_start, pair_cluster, pair_pattern,
     pair_count) = data
    p = len(mu)
    q_pat, u = core["q_pat"], core["u"]
    pv = core["q_resid"].copy()
    rows_of = [np.flatnonzero(row_pattern == k) for k in range(len(patterns))]
    for k, rows in enumerate(rows_of):
        pv[rows] -= u[row_cluster[rows]] @ q_pat[k]
    m = np.eye(p)[None] + sb[None] @ core["a"]
    n_clusters, n_pat = len(cluster_start), len(patterns)
    core.update(
        pv=pv,
        w=np.add.reduceat(pv, cluster_start, axis=0),
        m_inv=np.linalg.solve(m, np.broadcast_to(np.eye(p), m.shape)),
        rows_of=rows_of,
        # segment sums as sparse products: rows → clusters, pairs → clusters / patterns
        row_to_cluster=_csr_matrix(
            (np.ones(len(row_cluster)), (row_cluster, np.arange(len(row_cluster)))),
            shape=(n_clusters, len(row_cluster))),
        pattern_to_cluster=_csr_matrix(
            (pair_count.astype(float), (pair_cluster, pair_pattern)),
            shape=(n_clusters, n_pat)),
    )
    return core


def _rows_weighted(core, weights, data):
    """Direction-free, weight-dependent pieces of the rows-route HVP, pooled by pattern."""
    (_, _, patterns, row_cluster, _, pair_cluster, pair_pattern, pair_count) = data
    pair_w = weights[pair_cluster] * pair_count
    cluster_to_pattern = _csr_matrix(
        (pair_w, (pair_pattern, pair_cluster)), shape=(len(patterns), len(weights)))
    p_bar = _segment(cluster_to_pattern, core["pmat"])
    return dict(
        cluster_to_pattern=cluster_to_pattern,
        count_pat=np.asarray(cluster_to_pattern.sum(axis=1)).reshape(-1),
        p_bar_q=p_bar @ core["q_pat"],  # P̄_k Q_k
        g_row=weights[row_cluster],
    )


def _segment(agg, x):
    """Σ_e agg[s, e] x_e for a sparse (S, E) matrix and x (E, ...): (S, ...)."""
    return np.asarray(agg @ x.reshape(len(x), -1)).reshape((agg.shape[0],) + x.shape[1:])


def _per_row_by_pattern(x, rows_of, q_pat):
    """out_i = Q_{pattern(i)} x_i for x (N, t, p)."""
    out = np.empty_like(x)
    p = x.shape[-1]
    for k, rows in enumerate(rows_of):
        out[rows] = (x[rows].reshape(-1, p) @ q_pat[k]).reshape(len(rows), -1, p)
    return out


def _mT(x):
    return np.swapaxes(x, -1, -2)


def _rmul(x, m):
    """x_et @ m_e for x (E, t, p, p), m (E, p, p): one batched GEMM over E."""
    e, t, p, _ = x.shape
    return (x.reshape(e, t * p, p) @ m).reshape(e, t, p, p)


def _lmul(m, x):
    """m_e @ x_et for m (E, p, p), x (E, t, p, p)."""
    return _mT(_rmul(_mT(x), _mT(m)))


def _rmul_shared(v, m):
    """v_t @ m_e for directions v (t, p, p) and m (E, p, p): (E, t, p, p)."""
    t, p, _ = v.shape
    return (v.reshape(t * p, p)[None] @ m).reshape(len(m), t, p, p)


def _rows_hvp(core, wt, weights, data, v_mu, v_w, v_b):
    """Directional derivative of the gradient of F = Σ g_j (-2 l_j) along a batch of
    directions (t of them); returns dF_mu (t, p), dF_w, dF_b (t, p, p), not yet scaled.

    Work arrays are entity-major, (rows | clusters | patterns, t, ...), so that gathers and
    segment sums run over contiguous blocks and products are batched GEMMs.
    """
    row_cluster, n_clusters = data[3], len(data[4])
    g = weights
    q_pat, pmat, a, b = core["q_pat"], core["pmat"], core["a"], core["b"]
    pv, w, m_inv, rows_of = core["pv"], core["w"], core["m_inv"], core["rows_of"]
    n_dir, p = v_mu.shape
    v_w_wide = v_w.transpose(1, 0, 2).reshape(p, n_dir * p)  # [b, (t, a)] = V_t[b, a]
    # Γ_j = Σ_i Q_i V_W Q_i, pooled over the (cluster, pattern) pairs of each cluster
    qwq = _lmul(q_pat, _rmul_shared(v_w, q_pat))  # (P, t, p, p)
    gamma = _segment(core["pattern_to_cluster"], qwq)  # (J, t, p, p)
    # db_j = -Σ_i Q_i V_W Q_i r_i - A_j v
    t_rows = (core["q_resid"] @ v_w_wide).reshape(-1, n_dir, p)
    db = -_segment(core["row_to_cluster"], _per_row_by_pattern(t_rows, rows_of, q_pat))
    db -= _mT(a @ v_mu.T)
    # dP_j = N_j V_B N_j' + P_j Γ_j P_j
    dp = _lmul(m_inv, _rmul_shared(v_b, _mT(m_inv))) + _lmul(pmat, _rmul(gamma, pmat))
    du = (dp.reshape(n_clusters, n_dir * p, p) @ b[:, :, None]).reshape(n_clusters, n_dir, p)
    du += db @ pmat
    # dpv_i = -Q_i (V_W pv_i + v + du_j)
    inner = (pv @ v_w_wide).reshape(-1, n_dir, p) + v_mu[None] + du[row_cluster]
    dpv = -_per_row_by_pattern(inner, rows_of, q_pat)
    dw = _segment(core["row_to_cluster"], dpv)  # (J, t, p)
    df_mu = -2.0 * (g @ dw.reshape(n_clusters, -1)).reshape(n_dir, p)
    # F_B = Σ g (A - A P A - w w'):  d = -Γ + Γ P A + A P Γ - A dP A - dw w' - w dw'
    half_b = _rmul(gamma, pmat @ a) - 0.5 * gamma - 0.5 * _lmul(a, _rmul(dp, a))
    df_b = np.tensordot(g, half_b, axes=(0, 0))
    df_b -= ((g[:, None] * dw.reshape(n_clusters, -1)).T @ w).reshape(n_dir, p, p)
    df_b = df_b + _mT(df_b)
    # F_W = Σ_i g (Q_i - Q_i P Q_i - pv_i pv_i'); (cluster, pattern) terms pooled by pattern
    dp_bar = _segment(wt["cluster_to_pattern"], dp)  # (P, t, p, p)
    half_w = (_rmul(qwq, wt["p_bar_q"]) - 0.5 * wt["count_pat"][:, None, None, None] * qwq
              - 0.5 * _lmul(q_pat, _rmul(dp_bar, q_pat)))
    df_w = half_w.sum(axis=0)
    df_w -= ((wt["g_row"][:, None, None] * dpv).reshape(len(pv), -1).T @ pv).reshape(
        n_dir, p, p)
    df_w = df_w + _mT(df_w)
    return df_mu, df_w, df_b


def _rows_scores(mu, sw, sb, data):
    (_, _, _, row_cluster, cluster_start, pair_cluster, pair_pattern, pair_count) = data
    p = len(mu)
    n_clusters = len(cluster_start)
    core = _rows_prepare(mu, sw, sb, data)
    if core is None:
        return np.zeros((n_clusters, p)), np.zeros((n_clusters, p, p)), np.zeros(
            (n_clusters, p, p))
    q_pat, pmat, a, pv, w = core["q_pat"], core["pmat"], core["a"], core["pv"], core["w"]
    f_b = a - a @ pmat @ a - w[:, :, None] * w[:, None, :]
    qpq = pair_count[:, None, None] * (q_pat[pair_pattern] @ pmat[pair_cluster]
                                       @ q_pat[pair_pattern])
    f_w = a.copy()
    np.add.at(f_w, pair_cluster, -qpq)
    f_w -= np.add.reduceat(pv[:, :, None] * pv[:, None, :], cluster_start, axis=0)
    return w, -0.5 * _sym(f_w), -0.5 * _sym(f_b)


# ------------------------------------------------------------------------ entry points
def _weights(weights, n_clusters):
    weights = np.asarray(weights, dtype=float).reshape(-1)
    if weights.shape != (n_clusters,):
        raise MLVMInputError(
            f"weights has {weights.size} entries; it needs one per cluster ({n_clusters})"
        )
    return weights


def _batched_hvp(route, weights, mu, sw, sb, v_mu, v_w, v_b, data):
    """HVP of Σ g_j l_j along a batch of directions; None when not positive definite."""
    p = len(mu)
    if route == "sizes":
        mom = _complete_moments(weights, mu, sw, sb, data)
        if mom is None:
            return None
        out = _complete_hvp(mom, v_mu, v_w, v_b)
    else:
        core = _rows_prepare(mu, sw, sb, data)
        if core is None:
            return None
        n_rows, p_pairs = len(data[0]), len(data[5]) + len(data[2]) + len(data[4])
        batch = max(1, _BATCH_CELLS // max(n_rows * p, p_pairs * p * p, 1))
        wt = _rows_weighted(core, weights, data)
        parts = [
            _rows_hvp(core, wt, weights, data, v_mu[i : i + batch], v_w[i : i + batch],
                      v_b[i : i + batch])
            for i in range(0, len(v_mu), batch)
        ]
        out = tuple(np.concatenate(x, axis=0) for x in zip(*parts))
    df_mu, df_w, df_b = out
    return -0.5 * df_mu, -0.5 * _sym(df_w), -0.5 * _sym(df_b)


def hvp(route, weights, mu, sw, sb, v_mu, v_w, v_b, *data):
    """Hessian-vector product of Σ_j g_j l_j in the gradient convention.

    Parameters
    ----------
    route : {"sizes", "rows"}
    weights : (J,) per-cluster weights g_j
    mu : (p,) ; sw, sb : (p, p) the moments Σ_W, Σ_B (symmetrised inside)
    v_mu : (p,) ; v_w, v_b : (p, p) the direction (v_w, v_b symmetrised inside)
    *data : the route's statistics arrays, as ``routes.data_arrays`` gives them

    Returns
    -------
    h_mu (p,), h_w (p, p), h_b (p, p): the derivative along the direction of the gradient
    (dmu, G_W, G_B) of Σ_j g_j l_j; h_w, h_b symmetric. Zeros when the moments are not
    positive definite. Equal weights on the complete route read the per-size statistics.

    Examples
    --------
    >>> from pm_mlvm.likelihood.routes import data_arrays
    >>> from pm_mlvm.stats import TwoLevelStats
    >>> rng = np.random.default_rng(0)
    >>> st = TwoLevelStats.from_arrays(rng.normal(size=(12, 2)), np.repeat(np.arange(4), 3))
    >>> route, data = data_arrays(st)
    >>> h = hvp(route, np.ones(4), np.zeros(2), np.eye(2), 0.5 * np.eye(2),
    ...         np.ones(2), np.zeros((2, 2)), np.zeros((2, 2)), *data)
    >>> [x.shape for x in h]
    [(2,), (2, 2), (2, 2)]
    """
    _check_route(route)
    _check_data(route, data)
    mu, sw, sb = _moments(mu, sw, sb)
    p = len(mu)
    v_mu, v_w, v_b = _directions(p, v_mu, v_w, v_b)
    n_clusters = len(data[2] if route == "sizes" else data[4])
    weights = _weights(weights, n_clusters)
    out = _batched_hvp(route, weights, mu, sw, sb, v_mu[None], v_w[None], v_b[None], data)
    if out is None:
        return np.zeros(p), np.zeros((p, p)), np.zeros((p, p))
    return out[0][0], out[1][0], out[2][0]


def grad_per_cluster(route, mu, sw, sb, *data):
    """Per-cluster scores ∇l_j in the gradient convention.

    Returns
    -------
    g_mu (J, p), g_w (J, p, p), g_b (J, p, p): with dl_j = g_mu[j]·dmu + tr(g_w[j] dΣ_W)
    + tr(g_b[j] dΣ_B); they sum to the total gradient. Zeros when the moments are not
    positive definite.
    """
    _check_route(route)
    _check_data(route, data)
    mu, sw, sb = _moments(mu, sw, sb)
    if route == "sizes":
        return _complete_scores(mu, sw, sb, data)
    return _rows_scores(mu, sw, sb, data)


def hessian(route, mu, sw, sb, *data) -> np.ndarray:
    """Hessian of the total log-likelihood in φ = (mu, vech Σ_W, vech Σ_B).

    vech follows ``np.tril_indices(p)``; a vech coordinate moves both mirrored cells (so the
    matching gradient coordinates are those of :func:`moment_gradient`). The complete route
    uses a closed Kronecker form from the per-size statistics (O(K p⁴)); the rows route
    evaluates the k = p + p(p+1) coordinate HVPs in batches. Zeros when the moments are not
    positive definite.

    Returns
    -------
    (k, k) symmetric array.
    """
    _check_route(route)
    _check_data(route, data)
    mu, sw, sb = _moments(mu, sw, sb)
    p = len(mu)
    k = n_moments(p)
    if route == "sizes":
        mom = _complete_moments(None, mu, sw, sb, data)
        if mom is None:
            return np.zeros((k, k))
        h = -0.5 * _complete_hessian_f(mom, p)
        return 0.5 * (h + h.T)
    weights = np.ones(len(data[4]))
    out = _batched_hvp(route, weights, mu, sw, sb, *moment_directions(p), data)
    if out is None:
        return np.zeros((k, k))
    columns = moment_gradient(*out)  # row i: derivative along direction i
    return 0.5 * (columns + columns.T)
