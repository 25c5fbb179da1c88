"""The two-level log-likelihood in pure ``jax.numpy`` (the JAX twin of :mod:`.kernels`).

Same formulas as :mod:`pm_mlvm.likelihood.kernels` (McDonald & Goldstein 1989; Muthén 1990;
Rosseel 2021 for missing cells), written for tracing: every shape comes from the inputs'
static shapes, data arrays may be traced, no Python branching on values. Gradients and
Hessian-vector products are JAX autodiff of the value functions, so numpyro / blackjax can
differentiate the jaxified log-density.

Failure is a value with a zero derivative: a non-positive-definite covariance is replaced by
the identity before factorising (a "double where") and the value set to -inf, so the value is
-inf and the gradient zero, as in the NumPy kernels.

Missing cells enter as masks: the zero-padded inverse of Sigma_W[o, o] is
``inv(m m' * Sigma_W + diag(1 - m)) * m m'`` and its log-determinant is that of Sigma_W[o, o].

A (J, p) mean (cluster-varying means, row j for cluster j) is accepted wherever the NumPy
kernels accept it; the complete-data total then sums the per-cluster terms.

Requires ``jax`` (optional dependency, the ``[backends]`` extra) with 64-bit floats enabled;
imports nothing from PyTensor or PyMC.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pm_mlvm.likelihood.kernels import LOG_2PI

__all__ = [
    "complete_total",
    "complete_per_cluster",
    "rows_per_cluster",
    "rows_total",
    "TOTAL",
    "PER_CLUSTER",
    "value_and_grad_total",
    "per_cluster_and_grad",
    "weighted_grad",
    "hvp",
    "grad_per_cluster",
]


def _sym(x):
    return 0.5 * (x + jnp.swapaxes(x, -1, -2))


def _chol_ok(mats):
    """True where the (stack of) matrices is positive definite (no derivative)."""
    chol = jnp.linalg.cholesky(jax.lax.stop_gradient(mats))
    return jnp.all(jnp.isfinite(chol), axis=(-2, -1))


def _inv_logdet(mats):
    """Inverse and log-determinant of SPD matrices (assumed PD: callers made them safe)."""
    chol = jnp.linalg.cholesky(mats)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    eye = jnp.broadcast_to(jnp.eye(mats.shape[-1]), mats.shape)
    inv = jax.scipy.linalg.cho_solve((chol, True), eye)
    return _sym(inv), logdet


# ------------------------------------------------------------------ complete data
def _complete_factors(mu, sigma_within, sigma_between, sizes, need_within):
    sw, sb = _sym(sigma_within), _sym(sigma_between)
    n = sizes.astype(mu.dtype)
    sig_n = sw[None] + n[:, None, None] * sb[None]
    ok_n = jnp.all(_chol_ok(sig_n))
    ok_w = _chol_ok(sw)
    ok = ok_n & (ok_w | ~need_within)
    eye = jnp.eye(sw.shape[-1])
    inv_n, logdet_n = _inv_logdet(jnp.where(ok, sig_n, eye[None]))
    inv_w, logdet_w = _inv_logdet(jnp.where(ok & ok_w, sw, eye))
    return ok, n, inv_n, logdet_n, inv_w, logdet_w


def complete_total(mu, sigma_within, sigma_between, sizes, size_counts, size_index,
                   mean_by_size, cov_by_size, scatter_within, cluster_means, cluster_scatter):
    """Total log-likelihood from the per-size statistics (route ``"sizes"``)."""
    if mu.ndim == 2:  # cluster-varying mean: the per-size statistics do not apply
        return jnp.sum(complete_per_cluster(mu, sigma_within, sigma_between, sizes, size_counts,
                                            size_index, mean_by_size, cov_by_size,
                                            scatter_within, cluster_means, cluster_scatter))
    counts = size_counts.astype(mu.dtype)
    n_within = jnp.sum((sizes - 1) * size_counts).astype(mu.dtype)
    ok, n, inv_n, logdet_n, inv_w, logdet_w = _complete_factors(
        mu, sigma_within, sigma_between, sizes, n_within > 0)
    p = mu.shape[0]
    d = mean_by_size - mu[None, :]
    moment = cov_by_size + d[:, :, None] * d[:, None, :]
    quad = jnp.einsum("kab,kba->k", inv_n, moment)
    within = jnp.where(n_within > 0, n_within * logdet_w + jnp.sum(inv_w * scatter_within), 0.0)
    m2 = within + counts @ (logdet_n + n * quad)
    value = -0.5 * (jnp.sum(n * counts) * p * LOG_2PI + m2)
    return jnp.where(ok, value, -jnp.inf)


def complete_per_cluster(mu, sigma_within, sigma_between, sizes, size_counts, size_index,
                         mean_by_size, cov_by_size, scatter_within, cluster_means,
                         cluster_scatter):
    """(J,) per-cluster contributions (route ``"sizes"``)."""
    n_all = sizes[size_index].astype(mu.dtype)
    ok, n, inv_n, logdet_n, inv_w, logdet_w = _complete_factors(
        mu, sigma_within, sigma_between, sizes, jnp.any(n_all > 1))
    p = mu.shape[-1]
    d = cluster_means - (mu if mu.ndim == 2 else mu[None, :])
    quad = jnp.einsum("ja,jab,jb->j", d, inv_n[size_index], d)
    within = (n_all - 1.0) * logdet_w + jnp.einsum("ab,jab->j", inv_w, cluster_scatter)
    value = -0.5 * (n_all * p * LOG_2PI + within + logdet_n[size_index] + n_all * quad)
    return jnp.where(ok, value, -jnp.inf)


# ------------------------------------------------------------------- missing data
def rows_per_cluster(mu, sigma_within, sigma_between, y, row_pattern, patterns, row_cluster,
                     cluster_start, pair_cluster, pair_pattern, pair_count):
    """(J,) per-cluster contributions with missing cells (route ``"rows"``, Woodbury form)."""
    sw, sb = _sym(sigma_within), _sym(sigma_between)
    p = mu.shape[-1]
    n_clusters = cluster_start.shape[0]
    eye = jnp.eye(p)
    mask = patterns.astype(mu.dtype)                       # (P, p)
    outer = mask[:, :, None] * mask[:, None, :]
    sub = outer * sw[None] + (1.0 - mask)[:, None, :] * eye[None]
    ok_w = jnp.all(_chol_ok(sub))
    inv_sub, logdet_pat = _inv_logdet(jnp.where(ok_w, sub, eye[None]))
    q_pat = inv_sub * outer                                # zero-padded inverses
    row_mask = mask[row_pattern]
    resid = jnp.where(row_mask > 0, y - (mu[row_cluster] if mu.ndim == 2 else mu[None, :]), 0.0)
    q_resid = jnp.einsum("nab,nb->na", q_pat[row_pattern], resid)
    b = jax.ops.segment_sum(q_resid, row_cluster, num_segments=n_clusters)
    a = jax.ops.segment_sum(pair_count.astype(mu.dtype)[:, None, None] * q_pat[pair_pattern],
                            pair_cluster, num_segments=n_clusters)
    # V_j is PD iff I + A^1/2 Sigma_B A^1/2 is (same eigenvalues as M_j = I + Sigma_B A_j)
    evals, evecs = jnp.linalg.eigh(jax.lax.stop_gradient(a))
    root = jnp.einsum("jab,jb,jcb->jac", evecs, jnp.sqrt(jnp.clip(evals, 0.0)), evecs)
    sym_m = eye[None] + root @ jax.lax.stop_gradient(sb)[None] @ root
    ok = ok_w & jnp.all(jnp.linalg.eigvalsh(sym_m)[:, 0] > 0)
    sb_safe = jnp.where(ok, sb, 0.0)
    m = eye[None] + sb_safe[None] @ a
    _, logdet_m = jnp.linalg.slogdet(m)
    pmat = _sym(jnp.linalg.solve(m, jnp.broadcast_to(sb_safe, m.shape)))
    u = jnp.einsum("jab,jb->ja", pmat, b)
    row_terms = (jnp.sum(row_mask, axis=1) * LOG_2PI + logdet_pat[row_pattern]
                 + jnp.sum(resid * q_resid, axis=1))
    per_cluster = jax.ops.segment_sum(row_terms, row_cluster, num_segments=n_clusters)
    per_cluster = per_cluster + logdet_m - jnp.sum(b * u, axis=1)
    return jnp.where(ok, -0.5 * per_cluster, -jnp.inf)


def rows_total(mu, sigma_within, sigma_between, *data):
    """Total log-likelihood with missing cells (route ``"rows"``)."""
    return jnp.sum(rows_per_cluster(mu, sigma_within, sigma_between, *data))


TOTAL = {"sizes": complete_total, "rows": rows_total}
PER_CLUSTER = {"sizes": complete_per_cluster, "rows": rows_per_cluster}


# ------------------------------------------------------------ derivatives (autodiff)
def _finite_grads(value, grads):
    """Zero gradients where the value is -inf (as the NumPy kernels)."""
    return tuple(jnp.where(jnp.isfinite(value), g, 0.0) for g in grads)


def value_and_grad_total(route, mu, sigma_within, sigma_between, *data):
    """(logl, dmu, dSigma_W, dSigma_B) of the total."""
    value, grads = jax.value_and_grad(TOTAL[route], argnums=(0, 1, 2))(
        mu, sigma_within, sigma_between, *data)
    return (value, *_finite_grads(value, grads))


def per_cluster_and_grad(route, mu, sigma_within, sigma_between, *data):
    """(per-cluster (J,), gradient of the total) — the fused per-cluster Op's outputs."""
    per_cluster = PER_CLUSTER[route](mu, sigma_within, sigma_between, *data)
    _, *grads = value_and_grad_total(route, mu, sigma_within, sigma_between, *data)
    return (per_cluster, *grads)


def _weighted_total(route, weights, mu, sigma_within, sigma_between, *data):
    per_cluster = PER_CLUSTER[route](mu, sigma_within, sigma_between, *data)
    safe = jnp.where(jnp.isfinite(per_cluster), per_cluster, 0.0)
    return jnp.sum(weights * safe), jnp.all(jnp.isfinite(per_cluster))


def weighted_grad(route, weights, mu, sigma_within, sigma_between, *data):
    """∇ Σ_j g_j l_j with respect to (mu, Sigma_W, Sigma_B)."""
    def f(m, w, b):
        return _weighted_total(route, weights, m, w, b, *data)[0]

    return jax.grad(f, argnums=(0, 1, 2))(mu, sigma_within, sigma_between)


def hvp(route, weights, mu, sigma_within, sigma_between, v_mu, v_within, v_between, *data):
    """Directional derivative of :func:`weighted_grad` along the symmetrised directions."""
    def g(m, w, b):
        return weighted_grad(route, weights, m, w, b, *data)

    _, tangent = jax.jvp(g, (mu, sigma_within, sigma_between),
                         (v_mu, _sym(v_within), _sym(v_between)))
    return tangent


def grad_per_cluster(route, mu, sigma_within, sigma_between, *data):
    """Per-cluster gradients ((J, p), (J, p, p), (J, p, p)); zero where l_j = -inf."""
    def f(m, w, b):
        per_cluster = PER_CLUSTER[route](m, w, b, *data)
        return jnp.where(jnp.isfinite(per_cluster), per_cluster, 0.0)

    return jax.jacrev(f, argnums=(0, 1, 2))(mu, sigma_within, sigma_between)
