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

Both follow PyTensor's own registrations (``pytensor/link/numba/dispatch/slinalg.py``,
``pytensor/link/jax/dispatch/slinalg.py``): a function of the node's inputs returning one
array per output (0-d arrays for scalars).
"""

from __future__ import annotations

import importlib.util

import numpy as np
from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_default_op_cache_key

from pm_mlvm.graph.ops import (
    TwoLevelClusterLogLik,
    TwoLevelGradPerCluster,
    TwoLevelLogLik,
    TwoLevelLogLikHVP,
    TwoLevelLogLikWeightedGrad,
)
from pm_mlvm.likelihood import numba_kernels as nk

__all__ = ["NUMBA_KERNEL_VERSION", "HAS_JAX"]

#: part of PyTensor's Numba cache key of every Op here; bump on any kernel change
NUMBA_KERNEL_VERSION = 1

HAS_JAX = importlib.util.find_spec("jax") is not None


# --------------------------------------------------------------------------- Numba
def _numba_value_grad(route):
    """A jitted (weights?, mu, sw, sb, *data) -> (per-cluster, dmu, dw, db) of the route."""
    if route == "sizes":
        kernel = nk.complete_value_grad

        @numba_njit
        def value_grad(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
            return kernel(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7)
    else:
        kernel = nk.rows_value_grad

        @numba_njit
        def value_grad(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
            return kernel(np.ones(d4.shape[0]), mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7)
    return value_grad


@register_funcify_default_op_cache_key(TwoLevelLogLik)
def _numba_total(op, node=None, **kwargs):
    value_grad = _numba_value_grad(op.route)

    @numba_njit
    def total(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
        per_cluster, dmu, dw, db = value_grad(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7)
        return np.array(np.sum(per_cluster)), dmu, dw, db

    return total, NUMBA_KERNEL_VERSION


@register_funcify_default_op_cache_key(TwoLevelClusterLogLik)
def _numba_per_cluster(op, node=None, **kwargs):
    return _numba_value_grad(op.route), NUMBA_KERNEL_VERSION


@register_funcify_default_op_cache_key(TwoLevelLogLikWeightedGrad)
def _numba_weighted_grad(op, node=None, **kwargs):
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


# ----------------------------------------------------------------------------- JAX
if HAS_JAX:
    from pytensor.link.jax.dispatch import jax_funcify

    from pm_mlvm.likelihood import jax_kernels as jk

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
