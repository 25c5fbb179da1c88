"""Two-level sufficient statistics: the only place raw data are touched.

A data frame with one row per level-1 unit and a cluster column becomes a
:class:`TwoLevelStats`, from which the exact two-level Gaussian log-likelihood can be evaluated
at a cost that does not depend on the number of rows.

Complete data (McDonald & Goldstein 1989; Muthén 1990): clusters are grouped by their size s.
For each size we keep the number of clusters ``m_s``, the mean of their cluster means and the
ML covariance (divisor ``m_s``) of those cluster means; across all clusters we keep the
pooled-within scatter ``sum_j sum_i (y_ij - ybar_j)(y_ij - ybar_j)'``. For per-cluster
likelihood contributions (leave-one-cluster-out) the per-cluster means and within scatters are
kept as well (J·p² numbers).

Within-cluster missing data: the exact likelihood needs every row's observed cells, so the
rows are kept (sorted by cluster, missing cells set to 0) with their missingness pattern, and
the (cluster, pattern) pairs with their counts (Rosseel 2021's per-cluster Woodbury form).

Invariants: row order, the type and values of the cluster labels and the variable names do
not change any statistic (up to floating-point summation order). The input frame is never
modified.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError

__all__ = ["TwoLevelStats", "MissingPatterns"]


@dataclass(frozen=True, eq=False)
class MissingPatterns:
    """What the exact per-cluster likelihood needs when some cells are missing.

    Rows are sorted by cluster (clusters in the order of ``TwoLevelStats.cluster_labels``).

    Attributes
    ----------
    y : (N, p) float array, missing cells set to 0.
    row_pattern : (N,) int array, index into ``patterns``.
    patterns : (P, p) bool array, True where a variable is observed.
    row_cluster : (N,) int array, cluster index of each row.
    cluster_start : (J,) int array, first row of each cluster.
    pair_cluster, pair_pattern, pair_count : (Q,) int arrays, the distinct
        (cluster, pattern) combinations and how many rows have them.
    """

    y: np.ndarray
    row_pattern: np.ndarray
    patterns: np.ndarray
    row_cluster: np.ndarray
    cluster_start: np.ndarray
    pair_cluster: np.ndarray
    pair_pattern: np.ndarray
    pair_count: np.ndarray


@dataclass(frozen=True, eq=False)
class TwoLevelStats:
    """Sufficient statistics of two-level data (see the module docstring).

    Build with :meth:`from_dataframe` or :meth:`from_arrays`. Equality is identity: two
    objects built from the same data are different objects with equal arrays.

    Attributes
    ----------
    var_names : tuple of str
        The observed variables, in column order.
    cluster_labels : pandas.Index
        The distinct cluster ids (sorted when they are sortable), in the order used by every
        per-cluster array.
    n_obs, n_clusters : int
        N (rows) and J (clusters).
    cluster_size : (J,) int array
    sizes, size_counts : (K,) int arrays
        The distinct cluster sizes (ascending) and how many clusters have each.
    size_index : (J,) int array
        Index into ``sizes`` of each cluster.
    mean_by_size : (K, p) array
        Mean of the cluster means of the clusters of each size (complete data).
    cov_by_size : (K, p, p) array
        ML covariance (divisor m_s) of those cluster means; zero when m_s = 1.
    scatter_within : (p, p) array
        Pooled-within scatter (not divided); ``pooled_within_cov`` divides it by N - J.
    cluster_means : (J, p) array
        Per-cluster means (complete data; NaN-aware means with missing data).
    cluster_scatter : (J, p, p) array or None
        Per-cluster within scatter (complete data only).
    missing : MissingPatterns or None
        Present exactly when some cell is missing.
    n_cells : int
        Number of observed cells (N·p for complete data).
    """

    var_names: tuple[str, ...]
    cluster_labels: pd.Index
    n_obs: int
    n_clusters: int
    cluster_size: np.ndarray
    sizes: np.ndarray
    size_counts: np.ndarray
    size_index: np.ndarray
    mean_by_size: np.ndarray
    cov_by_size: np.ndarray
    scatter_within: np.ndarray
    cluster_means: np.ndarray
    cluster_scatter: np.ndarray | None
    missing: MissingPatterns | None
    n_cells: int
    total_mean: np.ndarray = field(repr=False)
    total_cov: np.ndarray = field(repr=False)

    # ------------------------------------------------------------------ derived
    @property
    def n_vars(self) -> int:
        """p, the number of observed variables."""
        return len(self.var_names)

    @property
    def has_missing(self) -> bool:
        """True when some cell is missing."""
        return self.n_cells < self.n_obs * self.n_vars

    @property
    def row_route(self) -> bool:
        """True when the rows are kept and the per-cluster (row-wise) likelihood is used:
        always with missing cells, and on request (``route="rows"``, the FIML estimator)."""
        return self.missing is not None

    @cached_property
    def fingerprint(self) -> str:
        """A content hash identifying the data (not the route): equal for the same data in any
        row order or label type, different when values or the clustering differ."""
        digest = hashlib.sha1()
        digest.update(repr((self.var_names, self.n_obs, self.n_clusters, self.n_cells)).encode())
        digest.update(np.sort(self.cluster_size).tobytes())
        for arr in (self.total_mean, self.total_cov, self.between_cov):
            digest.update(np.array([float(f"{v:.10g}") for v in np.ravel(arr)]).tobytes())
        return digest.hexdigest()

    @property
    def max_cluster_size(self) -> int:
        return int(self.sizes.max())

    @property
    def pooled_within_cov(self) -> np.ndarray:
        """S_PW = scatter_within / (N - J); zeros when every cluster is a singleton."""
        dof = self.n_obs - self.n_clusters
        if dof <= 0:
            return np.zeros_like(self.scatter_within)
        return self.scatter_within / dof

    @property
    def between_cov(self) -> np.ndarray:
        """Covariance (divisor J - 1) of the cluster means, each cluster counted once."""
        means = self.cluster_means
        return _nan_cov(means)

    def __repr__(self) -> str:
        route = "rows: per-cluster route" if self.row_route else "complete: per-size route"
        if self.has_missing:
            route = f"{self.n_obs * self.n_vars - self.n_cells} missing cells; " + route
        return (
            f"TwoLevelStats(N={self.n_obs}, J={self.n_clusters}, p={self.n_vars}, "
            f"{len(self.sizes)} distinct cluster sizes {self.sizes.min()}-{self.sizes.max()}, "
            f"{route})"
        )

    # ------------------------------------------------------------- constructors
    @classmethod
    def from_dataframe(
        cls, data: pd.DataFrame, clusters: Any, vars: list[str] | None = None,
        route: str = "auto",
    ) -> TwoLevelStats:
        """Compute the statistics from long data (one row per level-1 unit).

        Parameters
        ----------
        data : pandas.DataFrame
            One row per unit. Never modified.
        clusters : column label
            The column holding cluster ids (any type: int, str, float, categorical). Rows
            with a missing id are dropped with a warning.
        vars : list of column labels, optional
            The observed variables (numeric). Default: every column except ``clusters``.
        route : {"auto", "rows"}
            ``"auto"``: per-size statistics for complete data, rows for data with missing
            cells. ``"rows"``: keep the rows even for complete data (the cluster-wise FIML
            route).

        Returns
        -------
        TwoLevelStats

        Examples
        --------
        >>> import pandas as pd, pm_mlvm as pmv
        >>> df = pd.DataFrame({"g": [1, 1, 2, 2, 3], "y": [0.1, 0.5, 1.2, 0.9, 2.0]})
        >>> pmv.TwoLevelStats.from_dataframe(df, clusters="g").n_clusters
        3
        """
        if not isinstance(data, pd.DataFrame):
            raise MLVMInputError(
                f"data must be a pandas DataFrame with one row per unit; got {type(data).__name__}"
            )
        columns = list(data.columns)
        if not _is_column(clusters, columns):
            raise MLVMInputError(
                f"clusters={clusters!r} is not a column of data; columns are: "
                + ", ".join(map(repr, columns))
            )
        var_names = _resolve_vars(data, clusters, vars)

        cluster_col = data[clusters]
        keep = ~cluster_col.isna().to_numpy()
        n_dropped = int((~keep).sum())
        if not keep.any():
            raise MLVMInputError(f"data has no rows{' with a cluster id' if n_dropped else ''} "
                                 f"(shape {data.shape}); pass the data with one row per unit")
        if n_dropped:
            warnings.warn(
                f"clusters={clusters!r}: {n_dropped} row(s) with a missing cluster id were dropped",
                UserWarning,
                stacklevel=2,
            )
        y = data.loc[keep, var_names].to_numpy(dtype=float, copy=True)
        ids = cluster_col[keep]
        return cls.from_arrays(y, ids, var_names=var_names, route=route, _stacklevel=3)

    @classmethod
    def from_arrays(
        cls,
        y: np.ndarray,
        clusters: Any,
        var_names: list[str] | None = None,
        route: str = "auto",
        _stacklevel: int = 2,
    ) -> TwoLevelStats:
        """Compute the statistics from an (N, p) array and N cluster ids.

        ``y`` may contain NaN for missing cells; rows missing on every variable are dropped
        with a warning. Cluster ids must not be missing.
        """
        if route not in ("auto", "rows"):
            raise ValueError(f"route={route!r}; valid: 'auto', 'rows'")
        y = np.array(y, dtype=float, copy=True)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2:
            raise ValueError(f"y must be a 2-d array (rows × variables); got shape {y.shape}")
        n_rows, p = y.shape
        if var_names is None:
            var_names = [f"y{k + 1}" for k in range(p)]
        var_names = tuple(str(v) for v in var_names)
        if len(var_names) != p:
            raise ValueError(f"var_names has {len(var_names)} names for {p} columns of y")
        ids = pd.Series(np.asarray(clusters) if not isinstance(clusters, pd.Series) else clusters)
        if len(ids) != n_rows:
            raise ValueError(f"clusters has {len(ids)} ids for {n_rows} rows of y")
        if ids.isna().any():
            raise ValueError("clusters contains missing ids; drop those rows first")
        if np.isinf(y).any():
            bad = [var_names[k] for k in np.flatnonzero(np.isinf(y).any(axis=0))]
            raise ValueError(f"vars contain infinite values in: {', '.join(bad)}")

        observed = ~np.isnan(y)
        empty = ~observed.any(axis=1)
        if empty.any():
            lost = ids[empty].nunique() - ids[~empty][ids[~empty].isin(ids[empty])].nunique()
            note = f"; {lost} cluster(s) left empty were dropped too" if lost else ""
            warnings.warn(
                f"vars: {int(empty.sum())} row(s) missing on every variable were dropped{note}",
                UserWarning,
                stacklevel=_stacklevel,
            )
            keep = ~empty
            y, observed, ids = y[keep], observed[keep], ids[keep].reset_index(drop=True)
        for k, name in enumerate(var_names):
            col = y[observed[:, k], k]
            if col.size < 2 or np.ptp(col) == 0:
                raise ValueError(
                    f"vars: variable {name!r} is constant (or has fewer than 2 observed values); "
                    "remove it from vars"
                )

        codes, labels = _factorize(ids)
        n_clusters = len(labels)
        if n_clusters < 2:
            raise ValueError(
                f"clusters: need at least 2 clusters for a two-level model; found {n_clusters}"
            )
        cluster_size = np.bincount(codes, minlength=n_clusters)
        if observed.all() and route == "auto":
            return _complete_stats(y, codes, labels, cluster_size, var_names)
        return _missing_stats(y, observed, codes, labels, cluster_size, var_names)

    @classmethod
    def from_moments(cls, mu, sigma_within, sigma_between, cluster_sizes, var_names=None):
        """Statistics whose sample moments equal population moments exactly.

        Every size group's cluster means have mean ``mu`` and ML covariance
        ``sigma_between + sigma_within / n``, and the pooled-within scatter is
        ``(N - J) sigma_within``, so the ML estimates of a correct model are the generating
        values (exact recovery). Needs at least p + 1 clusters of each size.

        Parameters
        ----------
        cluster_sizes : sequence of int
            One size per cluster.
        """
        mu = np.asarray(mu, dtype=float)
        sw, sb = np.asarray(sigma_within, dtype=float), np.asarray(sigma_between, dtype=float)
        p = len(mu)
        sizes = np.asarray(cluster_sizes, dtype=np.int64)
        means = np.empty((len(sizes), p))
        for s in np.unique(sizes):
            idx = np.flatnonzero(sizes == s)
            m = len(idx)
            if m < p + 1:
                raise ValueError(f"cluster_sizes: size {s} has {m} clusters; population moments "
                                 f"need at least p + 1 = {p + 1} clusters of each size")
            # m centred, orthogonal directions scaled so their ML covariance is the target
            basis = np.linalg.qr(np.vstack([np.ones(m), np.eye(m)[: p]]).T)[0][:, 1 : p + 1]
            target = sb + sw / s
            means[idx] = mu + np.sqrt(m) * basis @ np.linalg.cholesky(target).T
        scatter = (sizes - 1)[:, None, None] * sw[None]
        names = var_names or [f"y{k + 1}" for k in range(p)]
        return _stats_from_cluster_moments(means, scatter, sizes, pd.RangeIndex(len(sizes)),
                                           names)

    # ---------------------------------------------------------------- views
    def subset_clusters(self, keep: np.ndarray) -> TwoLevelStats:
        """Statistics of a subset of clusters (a boolean mask or indices over clusters).

        Used for leave-cluster-out checks and bootstraps; complete data only.
        """
        if self.row_route:
            raise NotImplementedError("subset_clusters needs complete per-size statistics")
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        return _stats_from_cluster_moments(
            self.cluster_means[idx],
            self.cluster_scatter[idx],
            self.cluster_size[idx],
            self.cluster_labels[idx],
            self.var_names,
        )


# ---------------------------------------------------------------------- helpers
def _is_column(label: Any, columns: list) -> bool:
    try:
        return label in columns
    except TypeError:  # unhashable label
        return False


def _resolve_vars(data: pd.DataFrame, clusters: Any, vars: Any) -> list:
    columns = list(data.columns)
    if vars is None:
        var_names = [c for c in columns if c != clusters]
        _check_unique_columns(columns, [clusters, *var_names])
        if not var_names:
            raise MLVMInputError("vars: data has no column besides the cluster column")
        non_numeric = [c for c in var_names if not _is_numeric(data[c])]
        if non_numeric:
            raise MLVMInputError(
                "vars=None uses every column except clusters, but these are not numeric: "
                + ", ".join(map(repr, non_numeric))
                + "; pass vars=[...] with the numeric observed variables"
            )
        return var_names
    if isinstance(vars, str) or not hasattr(vars, "__iter__"):
        vars = [vars]
    var_names = list(vars)
    if not var_names:
        raise MLVMInputError("vars is empty; pass at least one numeric column")
    missing = [v for v in var_names if not _is_column(v, columns)]
    if missing:
        raise MLVMInputError(
            "vars: not columns of data: "
            + ", ".join(map(repr, missing))
            + "; columns are: "
            + ", ".join(map(repr, columns))
        )
    if len(set(var_names)) != len(var_names):
        raise MLVMInputError(f"vars contains duplicates: {var_names}")
    if clusters in var_names:
        raise MLVMInputError(f"vars must not contain the cluster column {clusters!r}")
    _check_unique_columns(columns, [clusters, *var_names])
    non_numeric = [v for v in var_names if not _is_numeric(data[v])]
    if non_numeric:
        raise MLVMInputError("vars: not numeric: " + ", ".join(map(repr, non_numeric)))
    return var_names


def _check_unique_columns(columns: list, used: list) -> None:
    """The used column labels must each name one column of data."""
    repeated = []
    for c in used:
        if sum(1 for col in columns if col == c) > 1 and c not in repeated:
            repeated.append(c)
    if repeated:
        raise MLVMInputError(
            "data has duplicate column names: " + ", ".join(map(repr, repeated))
            + "; rename them so each variable has one column"
        )


def _is_numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _factorize(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes 0..J-1 and the labels; sorted labels when they are sortable."""
    try:
        codes, labels = pd.factorize(ids, sort=True)
    except TypeError:  # mixed, unorderable types: order of first appearance
        codes, labels = pd.factorize(ids, sort=False)
    labels = pd.Index(labels)
    if isinstance(labels, pd.CategoricalIndex):
        labels = pd.Index(np.asarray(labels))
    return np.asarray(codes, dtype=np.int64), labels


def _nan_cov(x: np.ndarray) -> np.ndarray:
    if not np.isnan(x).any():
        return np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])
    return pd.DataFrame(x).cov().to_numpy()


def _complete_stats(y, codes, labels, cluster_size, var_names) -> TwoLevelStats:
    n_clusters, p = len(labels), y.shape[1]
    # Sort rows by (cluster size, cluster): each size is then a contiguous (m_s, s, p) block.
    order = np.lexsort((codes, cluster_size[codes]))
    y_sorted = y[order]
    codes_sorted = codes[order]
    cluster_means = np.empty((n_clusters, p))
    cluster_scatter = np.empty((n_clusters, p, p))
    start = 0
    for s in np.unique(cluster_size):
        m = int((cluster_size == s).sum())
        block = y_sorted[start : start + m * s].reshape(m, s, p)
        ids = codes_sorted[start : start + m * s : s]
        means = block.mean(axis=1)
        centred = block - means[:, None, :]
        cluster_means[ids] = means
        cluster_scatter[ids] = np.matmul(centred.transpose(0, 2, 1), centred)
        start += m * s
    stats = _stats_from_cluster_moments(
        cluster_means, cluster_scatter, cluster_size, labels, var_names, y_rows=y
    )
    return stats


def _stats_from_cluster_moments(
    cluster_means, cluster_scatter, cluster_size, labels, var_names, y_rows=None
) -> TwoLevelStats:
    n_clusters, p = cluster_means.shape
    sizes, size_index, size_counts = np.unique(
        cluster_size, return_inverse=True, return_counts=True
    )
    k_sizes = len(sizes)
    mean_by_size = np.zeros((k_sizes, p))
    cov_by_size = np.zeros((k_sizes, p, p))
    for k in range(k_sizes):
        means = cluster_means[size_index == k]
        mean_by_size[k] = means.mean(axis=0)
        d = means - mean_by_size[k]
        cov_by_size[k] = d.T @ d / len(means)
    n_obs = int(cluster_size.sum())
    w = cluster_size / n_obs
    total_mean = w @ cluster_means
    scatter_within = cluster_scatter.sum(axis=0)
    d = cluster_means - total_mean
    total_scatter = scatter_within + (d * cluster_size[:, None]).T @ d
    return TwoLevelStats(
        var_names=tuple(var_names),
        cluster_labels=pd.Index(labels),
        n_obs=n_obs,
        n_clusters=n_clusters,
        cluster_size=np.asarray(cluster_size, dtype=np.int64),
        sizes=np.asarray(sizes, dtype=np.int64),
        size_counts=np.asarray(size_counts, dtype=np.int64),
        size_index=np.asarray(size_index, dtype=np.int64),
        mean_by_size=mean_by_size,
        cov_by_size=cov_by_size,
        scatter_within=scatter_within,
        cluster_means=cluster_means,
        cluster_scatter=cluster_scatter,
        missing=None,
        n_cells=n_obs * p,
        total_mean=total_mean,
        total_cov=total_scatter / max(n_obs - 1, 1),
    )


def _missing_stats(y, observed, codes, labels, cluster_size, var_names) -> TwoLevelStats:
    n_clusters, p = len(labels), y.shape[1]
    order = np.argsort(codes, kind="stable")
    y_sorted = np.where(observed, y, 0.0)[order]
    obs_sorted = observed[order]
    row_cluster = codes[order]
    patterns, row_pattern = np.unique(obs_sorted, axis=0, return_inverse=True)
    row_pattern = row_pattern.reshape(-1)
    cluster_start = np.concatenate([[0], np.cumsum(cluster_size)[:-1]])
    key = row_cluster * len(patterns) + row_pattern
    pair_key, pair_count = np.unique(key, return_counts=True)
    missing = MissingPatterns(
        y=y_sorted,
        row_pattern=row_pattern.astype(np.int64),
        patterns=patterns.astype(bool),
        row_cluster=row_cluster.astype(np.int64),
        cluster_start=cluster_start.astype(np.int64),
        pair_cluster=(pair_key // len(patterns)).astype(np.int64),
        pair_pattern=(pair_key % len(patterns)).astype(np.int64),
        pair_count=pair_count.astype(np.int64),
    )
    # Descriptive moments (NaN-aware) for start values; the likelihood never uses them.
    y_nan = np.where(observed, y, np.nan)
    frame = pd.DataFrame(y_nan)
    cluster_means = frame.groupby(codes).mean().to_numpy()
    centred = y_nan - cluster_means[codes]
    sizes, size_index, size_counts = np.unique(
        cluster_size, return_inverse=True, return_counts=True
    )
    within = pd.DataFrame(centred).cov().to_numpy() * max(len(y) - 1, 1)
    return TwoLevelStats(
        var_names=tuple(var_names),
        cluster_labels=pd.Index(labels),
        n_obs=len(y),
        n_clusters=n_clusters,
        cluster_size=cluster_size.astype(np.int64),
        sizes=sizes.astype(np.int64),
        size_counts=size_counts.astype(np.int64),
        size_index=size_index.astype(np.int64),
        mean_by_size=np.full((len(sizes), p), np.nan),
        cov_by_size=np.full((len(sizes), p, p), np.nan),
        scatter_within=np.nan_to_num(within),
        cluster_means=cluster_means,
        cluster_scatter=None,
        missing=missing,
        n_cells=int(observed.sum()),
        total_mean=np.nanmean(y_nan, axis=0),
        total_cov=frame.cov().to_numpy(),
    )
