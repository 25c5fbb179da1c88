"""Likelihood routes: which statistics a route reads and which kernels it calls.

Two routes evaluate the same exact two-level likelihood:

* ``"sizes"`` — per-size statistics (:class:`~pm_mlvm.stats.SizeStats`, complete data; cost
  independent of N);
* ``"rows"`` — the rows, cluster by cluster in the Woodbury form
  (:class:`~pm_mlvm.stats.RowStats`: missing cells, and the FIML estimator).

The route's name is the statistics' ``route``; :func:`data_arrays` turns statistics into that
name and the arrays its kernels take, in order (read from the statistics' own fields); the
PyTensor Ops (``graph/``) and the NumPy entry points (:mod:`pm_mlvm.likelihood.evaluate`)
both read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from pm_mlvm.likelihood import kernels
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["ROUTES", "Route", "data_arrays", "route_of"]


def _summed(per_cluster, dmu, dw, db):
    """(Σ_j l_j, its gradient) from a one-pass kernel (whose gradient is zero when some
    contribution is not finite)."""
    total = float(per_cluster.sum())
    return (total if np.isfinite(total) else -np.inf), dmu, dw, db


def _sizes_total(mu, sw, sb, sizes, size_counts, size_index, mean_by_size, cov_by_size,
                 scatter_within, cluster_means, cluster_scatter):
    if np.ndim(mu) == 2:  # cluster-varying mean: the per-size statistics do not apply
        return _summed(*kernels.complete_value_grad(
            mu, sw, sb, sizes, size_counts, size_index, mean_by_size, cov_by_size,
            scatter_within, cluster_means, cluster_scatter))
    n_within = float(np.sum((sizes - 1) * size_counts))
    return kernels.complete_loglik_total(mu, sw, sb, sizes, size_counts, mean_by_size,
                                         cov_by_size, scatter_within, n_within)


def _sizes_per_cluster(mu, sw, sb, sizes, size_counts, size_index, mean_by_size, cov_by_size,
                          scatter_within, cluster_means, cluster_scatter):
    return kernels.complete_loglik_per_cluster(mu, sw, sb, sizes, size_index, cluster_means,
                                               cluster_scatter)


def _rows_total(mu, sw, sb, *data):
    return _summed(*kernels.missing_value_grad(mu, sw, sb, *data))


@dataclass(frozen=True)
class Route:
    """How one likelihood route reads its statistics and which kernels it calls."""

    name: str
    fields: tuple[str, ...]
    ndims: tuple[int, ...]
    int_fields: frozenset
    n_clusters_field: str
    total: Callable
    per_cluster: Callable
    weighted_grad: Callable
    #: (mu, Sigma_W, Sigma_B, *data) -> (per-cluster (J,), dmu, dSigma_W, dSigma_B): the
    #: per-cluster values and the gradient of their sum from one factorisation pass
    value_grad: Callable


ROUTES = {
    "sizes": Route(
        name="sizes",
        fields=("sizes", "size_counts", "size_index", "mean_by_size", "cov_by_size",
                "scatter_within", "cluster_means", "cluster_scatter"),
        ndims=(1, 1, 1, 2, 3, 2, 2, 3),
        int_fields=frozenset({"sizes", "size_counts", "size_index"}),
        n_clusters_field="size_index",
        total=_sizes_total,
        per_cluster=_sizes_per_cluster,
        weighted_grad=kernels.complete_grad_weighted,
        value_grad=kernels.complete_value_grad,
    ),
    "rows": Route(
        name="rows",
        fields=("y", "row_pattern", "patterns", "row_cluster", "cluster_start", "pair_cluster",
                "pair_pattern", "pair_count"),
        ndims=(2, 1, 2, 1, 1, 1, 1, 1),
        int_fields=frozenset({"row_pattern", "patterns", "row_cluster", "cluster_start",
                              "pair_cluster", "pair_pattern", "pair_count"}),
        n_clusters_field="cluster_start",
        total=_rows_total,
        per_cluster=kernels.missing_loglik_per_cluster,
        weighted_grad=kernels.missing_grad_weighted,
        value_grad=kernels.missing_value_grad,
    ),
}


def route_of(stats: TwoLevelStats) -> Route:
    """The :class:`Route` that evaluates ``stats`` (``ROUTES[stats.route]``)."""
    return ROUTES[stats.route]


def data_arrays(stats: TwoLevelStats) -> tuple[str, tuple[np.ndarray, ...]]:
    """The route name and the NumPy arrays its Ops take as data inputs, in order."""
    route = route_of(stats)
    arrays = []
    for name in route.fields:
        value = np.asarray(getattr(stats, name))
        value = value.astype(np.int64 if name in route.int_fields else np.float64)
        arrays.append(value)
    return route.name, tuple(arrays)
