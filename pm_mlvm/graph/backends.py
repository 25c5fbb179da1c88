"""Native Numba and JAX implementations of the likelihood Ops (PyTensor dispatch registrations).

Importing this module registers, for every Op of :mod:`pm_mlvm.graph.ops`:

* ``numba_funcify`` (cache-aware, ``register_funcify_default_op_cache_key``): the nopython
  kernels of :mod:`pm_mlvm.likelihood.numba_kernels`, so ``mode="NUMBA"`` and nutpie run
  without object mode. The key is the Op class, its ``route`` prop and
  :data:`NUMBA_KERNEL_VERSION` — bump it whenever a Numba kernel changes, since PyTensor's
  disk cache does not see the kernels' source. Second derivatives are native too
  (:class:`~pm_mlvm.graph.ops.TwoLevelLogLikHVP`,
  :class:`~pm_mlvm.graph.ops.TwoLevelGradPerCluster`): ``pytensor.gradient.hessian`` and
  ``compile_d2logp(mode="NUMBA")`` need no object mode.
* ``jax_funcify`` (only when ``jax`` imports; it is the optional ``[backends]`` extra): the
  pure ``jax.numpy`` functions of :mod:`pm_mlvm.likelihood.jax_kernels`, differentiable by
  JAX, so ``mode="JAX"``, numpyro and blackjax work.

Cluster-varying (J, p) means (the ``cluster_mean=True`` Ops, a prop, hence their own cache
keys) run natively too. Numba composes the (p,)-mean kernels on shifted data — a zero mean
with ybar_j − mu_j (complete data) or y_ij − mu_j (missing cells) — plus the per-cluster
gradient kernel for the (J, p) mean gradient (one extra pass); the JAX kernels take a
(J, p) mean directly.

Both follow PyTensor's own registrations (``pytensor/link/numba/dispatch/slinalg.py``,
``pytensor/link/jax/dispatch/slinalg.py``): a function of the node's inputs returning one
array per output (0-d arrays for scalars).
"""

from __future__ import annotations

import importlib.util

import numpy as np
from pytensor.link.numba.dispatch.basic import (
    numba_njit,
    register_funcify_and_cache_key,
    register_funcify_default_op_cache_key,
)

from pm_mlvm.graph.moments import ImpliedMoments, ImpliedMomentsVJP
from pm_mlvm.graph.numba_program import program_functions

from pm_mlvm.graph.ops import (
    TwoLevelClusterLogLik,
    TwoLevelGradPerCluster,
    TwoLevelLogLik,
    TwoLevelLogLikHVP,
    TwoLevelLogLikWeightedGrad,
)
from pm_mlvm.likelihood import numba_kernels as nk
from pm_mlvm.likelihood.numba_callbacks import CALLBACK_VERSION, value_grad_callback
from pm_mlvm.spec.mlvm import compose_moments
from pm_mlvm.spec.moments import cell_map, split_cells
from pm_mlvm.spec.structures import MatrixBackend

__all__ = ["NUMBA_KERNEL_VERSION", "HAS_JAX"]

#: part of PyTensor's Numba cache key of every Op here; bump on any kernel change
NUMBA_KERNEL_VERSION = 1

HAS_JAX = importlib.util.find_spec("jax") is not None


# --------------------------------------------------------------------------- Numba
def _numba_cluster_mean(route):
    """A jitted (weights, mu (J, p), sw, sb, *data) -> (per-cluster, dmu (J, p), dw, db) of
    Σ_j g_j l_j for a cluster-varying mean: the (p,)-mean kernels at a zero mean on data
    shifted by each cluster's mean, the (J, p) gradient from the per-cluster gradients."""
    if route == "sizes":
        value_kernel, grad_kernel = nk.complete_value_grad, nk.complete_grad_per_cluster

        @numba_njit
        def value_grad(weights, mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
            zero = np.zeros(mu.shape[1])
            shifted = d6 - mu  # cluster means - mu_j; the scatters do not involve the mean
            per_cluster = value_kernel(zero, sw, sb, d0, d1, d2, d3, d4, d5, shifted, d7)[0]
            g_mu, g_w, g_b = grad_kernel(zero, sw, sb, d0, d1, d2, d3, d4, d5, shifted, d7)
            dw = np.zeros(sw.shape)
            db = np.zeros(sw.shape)
            for j in range(weights.shape[0]):
                dw += weights[j] * g_w[j]
                db += weights[j] * g_b[j]
            return per_cluster, g_mu * weights[:, None], dw, db
    else:
        value_kernel, grad_kernel = nk.rows_value_grad, nk.rows_grad_per_cluster

        @numba_njit
        def value_grad(weights, mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
            zero = np.zeros(mu.shape[1])
            shifted = d0 - mu[d3]  # y_ij - mu_j (missing cells are masked by the kernel)
            per_cluster, _, dw, db = value_kernel(weights, zero, sw, sb, shifted, d1, d2, d3,
                                                  d4, d5, d6, d7)
            g_mu = grad_kernel(zero, sw, sb, shifted, d1, d2, d3, d4, d5, d6, d7)[0]
            return per_cluster, g_mu * weights[:, None], dw, db
    return value_grad


def _callback_key(op):
    """PyTensor cache key of an Op whose Numba function calls a kernel callback by symbol."""
    return f"pm_mlvm.{type(op).__name__}.{op.route}.callback.v{CALLBACK_VERSION}"


def _versioned_key(op):
    """PyTensor cache key of an Op whose Numba function holds only cacheable code."""
    return f"pm_mlvm.{type(op).__name__}.{op.route}.{op.cluster_mean}.v{NUMBA_KERNEL_VERSION}"


def _n_clusters_field(route):
    """Index of the statistics input whose length is J (d2 = size_index, d4 = cluster_start)."""
    return 2 if route == "sizes" else 4


def _numba_cluster_mean_ops(op):
    """(total, per-cluster, weighted-gradient) jitted functions for a (J, p) mean."""
    value_grad = _numba_cluster_mean(op.route)
    if _n_clusters_field(op.route) == 2:
        @numba_njit
        def per_cluster(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
            return value_grad(np.ones(d2.shape[0]), mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7)
    else:
        @numba_njit
        def per_cluster(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
            return value_grad(np.ones(d4.shape[0]), mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7)

    @numba_njit
    def total(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
        values, dmu, dw, db = per_cluster(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7)
        value = np.sum(values)
        if not np.isfinite(value):  # as the NumPy route: -inf and a zero gradient
            return np.array(-np.inf), np.zeros(dmu.shape), np.zeros(dw.shape), \
                np.zeros(db.shape)
        return np.array(value), dmu, dw, db

    @numba_njit
    def weighted(w, mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
        _, dmu, dw, db = value_grad(w, mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7)
        return dmu, dw, db

    return total, per_cluster, weighted


@register_funcify_and_cache_key(TwoLevelLogLik)
def _numba_total(op, node=None, **kwargs):
    if op.cluster_mean:
        return _numba_cluster_mean_ops(op)[0], _versioned_key(op)
    value_grad = value_grad_callback(op.route)

    @numba_njit
    def total(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
        per_cluster, dmu, dw, db = value_grad(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7)
        return np.array(np.sum(per_cluster)), dmu, dw, db

    return total, _callback_key(op)


@register_funcify_and_cache_key(TwoLevelClusterLogLik)
def _numba_per_cluster(op, node=None, **kwargs):
    if op.cluster_mean:
        return _numba_cluster_mean_ops(op)[1], _versioned_key(op)
    return value_grad_callback(op.route), _callback_key(op)


@register_funcify_default_op_cache_key(TwoLevelLogLikWeightedGrad)
def _numba_weighted_grad(op, node=None, **kwargs):
    if op.cluster_mean:
        return _numba_cluster_mean_ops(op)[2], NUMBA_KERNEL_VERSION
    if op.route == "sizes":
        kernel = nk.complete_weighted_grad

        @numba_njit
        def weighted(w, mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
            return kernel(w, mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7)
    else:
        kernel = nk.rows_value_grad

        @numba_njit
        def weighted(w, mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
            _, dmu, dw, db = kernel(w, mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7)
            return dmu, dw, db
    return weighted, NUMBA_KERNEL_VERSION


@register_funcify_default_op_cache_key(TwoLevelGradPerCluster)
def _numba_grad_per_cluster(op, node=None, **kwargs):
    kernel = (nk.complete_grad_per_cluster if op.route == "sizes"
              else nk.rows_grad_per_cluster)

    @numba_njit
    def per_cluster(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
        return kernel(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7)

    return per_cluster, NUMBA_KERNEL_VERSION


@register_funcify_default_op_cache_key(TwoLevelLogLikHVP)
def _numba_hvp(op, node=None, **kwargs):
    kernel = nk.complete_hvp if op.route == "sizes" else nk.rows_hvp

    @numba_njit
    def hvp(w, mu, sw, sb, v_mu, v_w, v_b, d0, d1, d2, d3, d4, d5, d6, d7):
        return kernel(w, mu, sw, sb, v_mu, v_w, v_b, d0, d1, d2, d3, d4, d5, d6, d7)

    return hvp, NUMBA_KERNEL_VERSION


# ------------------------------------------------------------- the moment program
@register_funcify_and_cache_key(ImpliedMoments)
def _numba_moments(op, node=None, **kwargs):
    return (program_functions(op.program)[0],
            f"pm_mlvm.ImpliedMoments.{op.program.key}.v{CALLBACK_VERSION}")


@register_funcify_and_cache_key(ImpliedMomentsVJP)
def _numba_moments_vjp(op, node=None, **kwargs):
    return (program_functions(op.program)[1],
            f"pm_mlvm.ImpliedMomentsVJP.{op.program.key}.v{CALLBACK_VERSION}")


# ----------------------------------------------------------------------------- JAX
if HAS_JAX:
    import jax
    import jax.numpy as jnp
    from pytensor.link.jax.dispatch import jax_funcify

    from pm_mlvm.likelihood import jax_kernels as jk

    _JAX_BACKEND = MatrixBackend(jnp.linalg.inv, jnp.eye)

    def _register_jax(op_class, kernel):
        """Register ``kernel(route, *inputs)`` (inputs in the Op's order) for ``op_class``."""

        @jax_funcify.register(op_class)
        def _funcify(op, node=None, **kwargs):
            route = op.route

            def apply(*inputs):
                return kernel(route, *inputs)

            return apply

        return _funcify

    for _op_class, _kernel in ((TwoLevelLogLik, jk.value_and_grad_total),
                               (TwoLevelClusterLogLik, jk.per_cluster_and_grad),
                               (TwoLevelLogLikWeightedGrad, jk.weighted_grad),
                               (TwoLevelLogLikHVP, jk.hvp),
                               (TwoLevelGradPerCluster, jk.grad_per_cluster)):
        _register_jax(_op_class, _kernel)

    def _jax_moment_function(program):
        """θ → (μ, Σ_W, Σ_B) in ``jax.numpy``: the cell map and ``compose_moments`` itself
        (JAX differentiates it; the generated program is for NumPy and Numba)."""
        spec = program.spec
        a, b, layout = cell_map(spec)
        a, b = jnp.asarray(a), jnp.asarray(b)

        def forward(theta):
            out = compose_moments(spec, split_cells(a @ theta + b, layout), _JAX_BACKEND)
            return tuple(jnp.broadcast_to(out[k], shape) for k, shape in
                         (("mu", (spec.n_vars,)), ("sigma_within", (spec.n_vars,) * 2),
                          ("sigma_between", (spec.n_vars,) * 2)))

        return forward

    @jax_funcify.register(ImpliedMoments)
    def _jax_moments(op, node=None, **kwargs):
        return _jax_moment_function(op.program)

    @jax_funcify.register(ImpliedMomentsVJP)
    def _jax_moments_vjp(op, node=None, **kwargs):
        forward = _jax_moment_function(op.program)

        def vjp(theta, g_mu, g_w, g_b):
            return jax.vjp(forward, theta)[1]((g_mu, g_w, g_b))[0]

        return vjp
