"""Per-cluster reductions in a canonical order, shared by the pandas and the Dask routes.

Floating-point sums depend on the order of their terms. So that the statistics are *exactly*
(bit for bit) the same for the same data in any row order, and the same whether the data
arrive as one pandas frame or as Dask partitions, every reduction here runs in one canonical
order:

* rows are sorted by cluster and, within a cluster, by a 64-bit key of the row's bytes
  (:func:`row_keys`); rows with equal keys are (but for a 2^-64 accident) equal rows, so their
  relative order cannot change a sum;
* a cluster's mean and scatter depend on that cluster's rows only (:func:`cluster_moments`
  never mixes clusters in one sum), so any partition holding whole clusters computes them
  exactly as the full data would;
* sums over clusters run over the clusters in the order of their sorted labels
  (:func:`sizes_from_cluster_moments`), done once by the process that holds them all.

Nothing here validates user input; :mod:`pm_mlvm.stats.twolevel` does that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["row_keys", "canonical_order", "cluster_moments", "sizes_from_cluster_moments",
           "rows_arrays"]

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_MISSING_TAG = np.uint64(0x9E3779B97F4A7C15)


def row_keys(y_filled: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """A (N,) uint64 key per row from its exact bytes (missing cells tagged, not valued).

    ``y_filled`` has 0 in missing cells; ``observed`` is the (N, p) boolean mask.
    """
    bits = np.ascontiguousarray(y_filled, dtype=np.float64).view(np.uint64)
    key = np.full(len(bits), _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(bits.shape[1]):
            key ^= bits[:, k] ^ np.where(observed[:, k], np.uint64(0), _MISSING_TAG)
            key *= _FNV_PRIME
            key ^= key >> np.uint64(29)
    return key


def canonical_order(codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Row order: by cluster code, then by row key (stable).

    Fast path: one sort of ``code << 32 | key >> 32``; it is the same order whenever no two
    different keys of one cluster share their upper 32 bits (checked), else a full lexsort.
    """
    if len(codes) and int(codes.max()) < 2**32:
        combined = (codes.astype(np.uint64) << np.uint64(32)) | (keys >> np.uint64(32))
        order = np.argsort(combined, kind="stable")
        sorted_combined, sorted_keys = combined[order], keys[order]
        tie = sorted_combined[1:] == sorted_combined[:-1]
        if np.array_equal(sorted_keys[1:][tie], sorted_keys[:-1][tie]):
            return order
    return np.lexsort((keys, codes))


def cluster_moments(y_sorted: np.ndarray, cluster_size: np.ndarray):
    """Per-cluster means (J, p) and within scatters (J, p, p) of complete rows.

    ``y_sorted`` holds the rows of cluster 0, then cluster 1, ... (canonical order within each
    cluster); ``cluster_size`` gives how many rows each cluster has. Each cluster's numbers
    depend on its own rows only.
    """
    n_clusters, p = len(cluster_size), y_sorted.shape[1]
    start = np.concatenate([[0], np.cumsum(cluster_size)[:-1]]).astype(np.int64)
    means = np.add.reduceat(y_sorted, start, axis=0) / cluster_size[:, None]
    scatter = np.empty((n_clusters, p, p))
    for s in np.unique(cluster_size):
        ids = np.flatnonzero(cluster_size == s)
        rows = (start[ids][:, None] + np.arange(s)[None, :]).reshape(-1)
        centred = y_sorted[rows].reshape(len(ids), s, p) - means[ids][:, None, :]
        # one product per cluster (a batch of independent s×p products)
        scatter[ids] = np.matmul(centred.transpose(0, 2, 1), centred)
    return means, scatter


def sizes_from_cluster_moments(cluster_means, cluster_scatter, cluster_size) -> dict:
    """Per-size statistics and totals from per-cluster moments (clusters in canonical order).

    Returns a dict of the fields of :class:`~pm_mlvm.stats.twolevel.SizeStats` other than the
    names and labels.
    """
    n_clusters, p = cluster_means.shape
    cluster_size = np.asarray(cluster_size, dtype=np.int64)
    sizes, size_index, size_counts = np.unique(
        cluster_size, return_inverse=True, return_counts=True
    )
    size_index = size_index.reshape(-1)
    mean_by_size = np.zeros((len(sizes), p))
    cov_by_size = np.zeros((len(sizes), p, p))
    for k in range(len(sizes)):
        means = cluster_means[size_index == k]
        mean_by_size[k] = means.mean(axis=0)
        d = means - mean_by_size[k]
        cov_by_size[k] = d.T @ d / len(means)
    n_obs = int(cluster_size.sum())
    total_mean = (cluster_size / n_obs) @ cluster_means
    scatter_within = cluster_scatter.sum(axis=0)
    d = cluster_means - total_mean
    total_scatter = scatter_within + (d * cluster_size[:, None]).T @ d
    return dict(
        n_obs=n_obs,
        n_clusters=n_clusters,
        cluster_size=cluster_size,
        sizes=sizes.astype(np.int64),
        size_counts=size_counts.astype(np.int64),
        size_index=size_index.astype(np.int64),
        n_cells=n_obs * p,
        total_mean=total_mean,
        total_cov=total_scatter / max(n_obs - 1, 1),
        cluster_means=cluster_means,
        scatter_within=scatter_within,
        mean_by_size=mean_by_size,
        cov_by_size=cov_by_size,
        cluster_scatter=cluster_scatter,
    )


def rows_arrays(y_sorted: np.ndarray, observed_sorted: np.ndarray, row_cluster: np.ndarray,
                cluster_size: np.ndarray) -> dict:
    """The row-wise statistics from rows in canonical order (missing cells may be NaN).

    Returns a dict of the fields of :class:`~pm_mlvm.stats.twolevel.RowStats` other than the
    names and labels: the rows with 0 in missing cells, their pattern codes, the
    (cluster, pattern) pairs with counts, and descriptive moments for start values.
    """
    n_clusters = len(cluster_size)
    y_zero = np.where(observed_sorted, y_sorted, 0.0)
    patterns, row_pattern = np.unique(observed_sorted, axis=0, return_inverse=True)
    row_pattern = row_pattern.reshape(-1)
    cluster_start = np.concatenate([[0], np.cumsum(cluster_size)[:-1]])
    key = row_cluster * len(patterns) + row_pattern
    pair_key, pair_count = np.unique(key, return_counts=True)
    sizes, size_index, size_counts = np.unique(
        cluster_size, return_inverse=True, return_counts=True
    )
    # Descriptive (NaN-aware) moments for start values; the likelihood never reads them.
    y_nan = np.where(observed_sorted, y_sorted, np.nan)
    frame = pd.DataFrame(y_nan)
    cluster_means = frame.groupby(row_cluster).mean().to_numpy()
    centred = y_nan - cluster_means[row_cluster]
    within = pd.DataFrame(centred).cov().to_numpy() * max(len(y_nan) - 1, 1)
    return dict(
        n_obs=len(y_zero),
        n_clusters=n_clusters,
        cluster_size=np.asarray(cluster_size, dtype=np.int64),
        sizes=sizes.astype(np.int64),
        size_counts=size_counts.astype(np.int64),
        size_index=size_index.reshape(-1).astype(np.int64),
        n_cells=int(observed_sorted.sum()),
        total_mean=np.nanmean(y_nan, axis=0),
        total_cov=frame.cov().to_numpy(),
        cluster_means=cluster_means,
        scatter_within=np.nan_to_num(within),
        y=y_zero,
        row_pattern=row_pattern.astype(np.int64),
        patterns=patterns.astype(bool),
        row_cluster=np.asarray(row_cluster, dtype=np.int64),
        cluster_start=cluster_start.astype(np.int64),
        pair_cluster=(pair_key // len(patterns)).astype(np.int64),
        pair_pattern=(pair_key % len(patterns)).astype(np.int64),
        pair_count=pair_count.astype(np.int64),
    )
