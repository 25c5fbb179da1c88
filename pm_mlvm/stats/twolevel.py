"""Two-level sufficient statistics: the only place raw data are touched.

A data frame with one row per level-1 unit and a cluster column becomes statistics from which
the exact two-level Gaussian log-likelihood is evaluated. Two explicit variants share one
protocol, :class:`TwoLevelStats`, and each names its likelihood route in one word
(``stats.route``):

* :class:`SizeStats`, route ``"sizes"`` — complete data (McDonald & Goldstein 1989; Muthén
  1990): clusters grouped by size s, with the number of clusters ``m_s``, the mean of their
  cluster means and the ML covariance (divisor ``m_s``) of those means, and the pooled-within
  scatter ``sum_j sum_i (y_ij - ybar_j)(y_ij - ybar_j)'``. The likelihood then costs nothing
  per row. Per-cluster means and within scatters (J·p² numbers) are kept for per-cluster
  contributions (leave-one-cluster-out) and cluster subsets.
* :class:`RowStats`, route ``"rows"`` — the rows themselves, sorted by cluster, missing cells
  set to 0, with their missingness pattern and the (cluster, pattern) pairs with counts
  (Rosseel 2021's per-cluster Woodbury form). Needed with missing cells, and used for complete
  data by the FIML estimator (``route="rows"``). Its moments are descriptive (start values).

Invariants: the statistics are computed in a canonical order (:mod:`pm_mlvm.stats.reduce`), so
they are bit-for-bit the same for the same data in any row order, and the same through pandas
or Dask; :attr:`TwoLevelStats.digest` is a SHA-256 of their exact bytes, names and labels.
Variable names are kept as given; the input frame is never modified. ``to_npz``/``from_npz``
save and load them exactly (:mod:`pm_mlvm.stats.io`).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.stats import dask as dask_route
from pm_mlvm.stats import io as stats_io
from pm_mlvm.stats.reduce import (
    canonical_order,
    cluster_moments,
    row_keys,
    rows_arrays,
    sizes_from_cluster_moments,
)

__all__ = ["TwoLevelStats", "SizeStats", "RowStats", "ROUTE_CHOICES"]

#: what ``route=`` accepts when building statistics
ROUTE_CHOICES = ("auto", "sizes", "rows")


@dataclass(frozen=True, eq=False)
class TwoLevelStats:
    """Sufficient statistics of two-level data: the protocol of both variants.

    Build with :meth:`from_dataframe` (pandas or Dask), :meth:`from_arrays`,
    :meth:`from_moments` or :meth:`from_npz`; the result is a :class:`SizeStats` or a
    :class:`RowStats`. Equality is identity; compare data by :attr:`digest`.

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
    n_cells : int
        Number of observed cells (N·p for complete data).
    total_mean, total_cov : (p,), (p, p) arrays
        Mean and covariance (divisor N - 1) of all rows (NaN-aware for :class:`RowStats`).
    cluster_means : (J, p) array
        Per-cluster means (NaN-aware with missing cells).
    scatter_within : (p, p) array
        Pooled-within scatter (not divided; descriptive for :class:`RowStats`).
    """

    var_names: tuple[str, ...]
    cluster_labels: pd.Index
    n_obs: int
    n_clusters: int
    cluster_size: np.ndarray
    sizes: np.ndarray
    size_counts: np.ndarray
    size_index: np.ndarray
    n_cells: int
    total_mean: np.ndarray = field(repr=False)
    total_cov: np.ndarray = field(repr=False)
    cluster_means: np.ndarray = field(repr=False)
    scatter_within: np.ndarray = field(repr=False)

    # ------------------------------------------------------------------ derived
    @property
    def route(self) -> str:
        """The likelihood route: ``"sizes"`` or ``"rows"``."""
        raise NotImplementedError  # each variant names its route

    @property
    def n_vars(self) -> int:
        """p, the number of observed variables."""
        return len(self.var_names)

    @property
    def has_missing(self) -> bool:
        """True when some cell is missing."""
        return self.n_cells < self.n_obs * self.n_vars

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
        return _nan_cov(self.cluster_means)

    @cached_property
    def digest(self) -> str:
        """SHA-256 (hex) of the exact statistics: every array's dtype, shape and bytes, the
        variable names, the cluster labels and the route.

        Equal for the same data in any row order (the statistics are computed in a canonical
        order); different for any change of a value, a name, a label or the route. Caches
        of reference models and :func:`pm_mlvm.compare` key on it.
        """
        h = hashlib.sha256()
        h.update(f"pm_mlvm.stats|{self.route}|{self.var_names!r}".encode())
        h.update(_label_bytes(self.cluster_labels))
        for f in fields(self):
            if f.name in ("var_names", "cluster_labels"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, (int, np.integer)):
                value = int(value)
            if isinstance(value, np.ndarray):
                h.update(f"|{f.name}|{value.dtype.str}|{value.shape}|".encode())
                h.update(np.ascontiguousarray(value).tobytes())
            else:
                h.update(f"|{f.name}|{value!r}".encode())
        return h.hexdigest()

    def __repr__(self) -> str:
        note = ""
        if self.has_missing:
            note = f"{self.n_obs * self.n_vars - self.n_cells} missing cells, "
        return (
            f"{type(self).__name__}(N={self.n_obs}, J={self.n_clusters}, p={self.n_vars}, "
            f"{len(self.sizes)} distinct cluster sizes {self.sizes.min()}-{self.sizes.max()}, "
            f"{note}route={self.route!r})"
        )

    # ----------------------------------------------------------------- save/load
    def to_npz(self, path) -> None:
        """Save the statistics to ``path`` (a ``.npz`` file, written as named; no pickle).

        Every array, the variable names and the cluster labels round-trip exactly through
        :meth:`from_npz`, except labels of mixed or non-NumPy types, which come back as their
        ``repr`` strings (see :mod:`pm_mlvm.stats.io`).

        Examples
        --------
        >>> import os, tempfile, pandas as pd, pm_mlvm as pmv
        >>> df = pd.DataFrame({"g": [1, 1, 2, 2, 3], "y": [0.1, 0.5, 1.2, 0.9, 2.0]})
        >>> st = pmv.TwoLevelStats.from_dataframe(df, clusters="g")
        >>> path = os.path.join(tempfile.mkdtemp(), "stats.npz")
        >>> st.to_npz(path)
        >>> pmv.TwoLevelStats.from_npz(path).digest == st.digest
        True
        """
        values = {f.name: getattr(self, f.name) for f in fields(self)
                  if f.name not in ("var_names", "cluster_labels")}
        stats_io.write_npz(path, self.route, values, self.var_names, self.cluster_labels,
                           self.digest)

    @classmethod
    def from_npz(cls, path) -> TwoLevelStats:
        """Load statistics saved by :meth:`to_npz` (a :class:`SizeStats` or :class:`RowStats`).

        Raises :class:`~pm_mlvm.errors.MLVMInputError` when the file is not a statistics file
        or its content does not match the digest recorded when it was written.
        """
        saved = stats_io.read_npz(path)
        variant = _VARIANTS.get(saved["variant"])
        if variant is None:
            raise MLVMInputError(f"path={path!r} holds route {saved['variant']!r}; valid: "
                                 + ", ".join(map(repr, _VARIANTS)))
        values = {}
        for f in fields(variant):
            if f.name in ("var_names", "cluster_labels"):
                continue
            if f.name not in saved["fields"]:
                raise MLVMInputError(f"path={path!r} lacks the statistic {f.name!r}")
            value = saved["fields"][f.name]
            values[f.name] = int(value) if value.ndim == 0 else value
        stats = variant(var_names=saved["var_names"], cluster_labels=saved["cluster_labels"],
                        **values)
        if saved["labels_exact"] and stats.digest != saved["digest"]:
            raise MLVMInputError(f"path={path!r}: the statistics do not match the digest "
                                 "recorded when they were written (a damaged file?)")
        return stats

    # ------------------------------------------------------------- constructors
    @classmethod
    def from_dataframe(
        cls, data, clusters: Any, vars: list[str] | None = None, route: str = "auto",
    ) -> TwoLevelStats:
        """Compute the statistics from long data (one row per level-1 unit).

        Parameters
        ----------
        data : pandas.DataFrame or dask.dataframe.DataFrame
            One row per unit. Never modified. A Dask frame (e.g. from ``read_parquet`` or a
            CSV glob, on any scheduler or ``dask.distributed`` cluster) is reduced per
            partition, clusters spread over partitions in any order, with exactly the
            numbers of the pandas route (see :mod:`pm_mlvm.stats.dask`).
        clusters : column label
            The column holding cluster ids (any type: int, str, float, categorical). Rows
            with a missing id are dropped with a warning.
        vars : list of column labels, optional
            The observed variables (numeric). Default: every column except ``clusters``.
        route : {"auto", "sizes", "rows"}
            ``"auto"``: :class:`SizeStats` for complete data, :class:`RowStats` with missing
            cells. ``"rows"``: :class:`RowStats` even for complete data (the FIML
            estimator). ``"sizes"``: :class:`SizeStats`, refused when cells are missing.

        Returns
        -------
        SizeStats or RowStats

        Examples
        --------
        >>> import pandas as pd, pm_mlvm as pmv
        >>> df = pd.DataFrame({"g": [1, 1, 2, 2, 3], "y": [0.1, 0.5, 1.2, 0.9, 2.0]})
        >>> st = pmv.TwoLevelStats.from_dataframe(df, clusters="g")
        >>> st.n_clusters, st.route
        (3, 'sizes')
        """
        _check_route(route)
        if dask_route.is_dask_frame(data):
            return _from_dask(data, clusters, vars, route)
        if not isinstance(data, pd.DataFrame):
            raise MLVMInputError(
                "data must be a pandas DataFrame (or a Dask one) with one row per unit; got "
                f"{type(data).__name__}"
            )
        var_names = _check_columns(data, clusters, vars)
        cluster_col = data[clusters]
        keep = ~cluster_col.isna().to_numpy()
        n_dropped = int((~keep).sum())
        if not keep.any():
            raise MLVMInputError(f"data has no rows{' with a cluster id' if n_dropped else ''} "
                                 f"(shape {data.shape}); pass the data with one row per unit")
        _warn_dropped_ids(clusters, n_dropped, stacklevel=3)
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
        with a warning. Cluster ids must not be missing. ``route`` as in
        :meth:`from_dataframe`.
        """
        _check_route(route)
        y = np.array(y, dtype=float, copy=True)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2:
            raise MLVMInputError(
                f"y must be a 2-d array (rows × variables); got shape {y.shape}")
        n_rows, p = y.shape
        if var_names is None:
            var_names = [f"y{k + 1}" for k in range(p)]
        var_names = tuple(str(v) for v in var_names)
        if len(var_names) != p:
            raise MLVMInputError(f"var_names has {len(var_names)} names for {p} columns of y")
        ids = pd.Series(np.asarray(clusters) if not isinstance(clusters, pd.Series) else clusters)
        if len(ids) != n_rows:
            raise MLVMInputError(f"clusters has {len(ids)} ids for {n_rows} rows of y")
        if ids.isna().any():
            raise MLVMInputError("clusters contains missing ids; drop those rows first")
        _check_finite(np.isinf(y).any(axis=0), var_names)

        observed = ~np.isnan(y)
        empty = ~observed.any(axis=1)
        if empty.any():
            lost = ids[empty].nunique() - ids[~empty][ids[~empty].isin(ids[empty])].nunique()
            _warn_empty_rows(int(empty.sum()), lost, _stacklevel)
            keep = ~empty
            y, observed, ids = y[keep], observed[keep], ids[keep].reset_index(drop=True)
        n_observed = observed.sum(axis=0)
        lo = np.min(y, axis=0, where=observed, initial=np.inf)
        hi = np.max(y, axis=0, where=observed, initial=-np.inf)
        for k, name in enumerate(var_names):
            _check_variable(name, int(n_observed[k]), lo[k], hi[k])

        codes, labels = _factorize(ids)
        _check_n_clusters(len(labels))
        complete = bool(observed.all())
        _check_route_fits(route, complete)
        y_filled = np.where(observed, y, 0.0)
        order = canonical_order(codes, row_keys(y_filled, observed))
        cluster_size = np.bincount(codes, minlength=len(labels))
        if complete and route != "rows":
            means, scatter = cluster_moments(y_filled[order], cluster_size)
            return SizeStats(var_names=var_names, cluster_labels=labels,
                             **sizes_from_cluster_moments(means, scatter, cluster_size))
        return RowStats(var_names=var_names, cluster_labels=labels,
                        **rows_arrays(y[order], observed[order], codes[order], cluster_size))

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

        Returns
        -------
        SizeStats
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
                raise MLVMInputError(
                    f"cluster_sizes: size {s} has {m} clusters; population moments need at "
                    f"least p + 1 = {p + 1} clusters of each size")
            # m centred, orthogonal directions scaled so their ML covariance is the target
            basis = np.linalg.qr(np.vstack([np.ones(m), np.eye(m)[: p]]).T)[0][:, 1 : p + 1]
            target = sb + sw / s
            means[idx] = mu + np.sqrt(m) * basis @ np.linalg.cholesky(target).T
        scatter = (sizes - 1)[:, None, None] * sw[None]
        names = tuple(str(v) for v in (var_names or [f"y{k + 1}" for k in range(p)]))
        return SizeStats(var_names=names, cluster_labels=pd.RangeIndex(len(sizes)),
                         **sizes_from_cluster_moments(means, scatter, sizes))


@dataclass(frozen=True, eq=False, repr=False)
class SizeStats(TwoLevelStats):
    """Per-size statistics of complete data (route ``"sizes"``); see the module docstring.

    Attributes
    ----------
    mean_by_size : (K, p) array
        Mean of the cluster means of the clusters of each size.
    cov_by_size : (K, p, p) array
        ML covariance (divisor m_s) of those cluster means; zero when m_s = 1.
    cluster_scatter : (J, p, p) array
        Per-cluster within scatter; they sum to ``scatter_within``.
    """

    mean_by_size: np.ndarray = field(repr=False)
    cov_by_size: np.ndarray = field(repr=False)
    cluster_scatter: np.ndarray = field(repr=False)

    @property
    def route(self) -> str:
        return "sizes"

    def subset_clusters(self, keep: np.ndarray) -> SizeStats:
        """Statistics of a subset of clusters (a boolean mask or indices over clusters).

        Used for leave-cluster-out checks and bootstraps.
        """
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        return SizeStats(var_names=self.var_names, cluster_labels=self.cluster_labels[idx],
                         **sizes_from_cluster_moments(self.cluster_means[idx],
                                                      self.cluster_scatter[idx],
                                                      self.cluster_size[idx]))


@dataclass(frozen=True, eq=False, repr=False)
class RowStats(TwoLevelStats):
    """The rows, for the per-cluster likelihood (route ``"rows"``); see the module docstring.

    Rows are sorted by cluster (in the order of ``cluster_labels``), then canonically.

    Attributes
    ----------
    y : (N, p) float array
        The rows, missing cells set to 0.
    row_pattern : (N,) int array
        Index into ``patterns`` of each row.
    patterns : (P, p) bool array
        The distinct missingness patterns, True where a variable is observed.
    row_cluster : (N,) int array
        Cluster index of each row.
    cluster_start : (J,) int array
        First row of each cluster.
    pair_cluster, pair_pattern, pair_count : (Q,) int arrays
        The distinct (cluster, pattern) combinations and how many rows have each.
    """

    y: np.ndarray = field(repr=False)
    row_pattern: np.ndarray = field(repr=False)
    patterns: np.ndarray = field(repr=False)
    row_cluster: np.ndarray = field(repr=False)
    cluster_start: np.ndarray = field(repr=False)
    pair_cluster: np.ndarray = field(repr=False)
    pair_pattern: np.ndarray = field(repr=False)
    pair_count: np.ndarray = field(repr=False)

    @property
    def route(self) -> str:
        return "rows"

    @property
    def observed(self) -> np.ndarray:
        """(N, p) bool mask of the observed cells, rows in the stored order."""
        return self.patterns[self.row_pattern]


_VARIANTS = {"sizes": SizeStats, "rows": RowStats}


def survey(data: pd.DataFrame, clusters: Any, vars: Any = None) -> tuple[bool, int]:
    """(has_missing, max_cluster_size) of a pandas frame, by the rules of
    :meth:`TwoLevelStats.from_dataframe` but without computing statistics.

    A cheap pass (no sorting of rows) so that a caller can choose the route before the one
    summary of the data.
    """
    if not isinstance(data, pd.DataFrame):
        raise MLVMInputError(f"data must be a pandas DataFrame; got {type(data).__name__}")
    var_names = _check_columns(data, clusters, vars)
    ids = data[clusters]
    observed = data[var_names].notna().to_numpy()
    keep = ~ids.isna().to_numpy() & observed.any(axis=1)
    if not keep.any():
        return False, 0
    has_missing = not observed[keep].all()
    counts = pd.factorize(ids[keep])[0]
    return has_missing, int(np.bincount(counts).max())


# ---------------------------------------------------------------- Dask route
def _from_dask(data, clusters, vars, route) -> TwoLevelStats:
    columns = list(data.columns)
    if not _is_column(clusters, columns):
        raise MLVMInputError(
            f"clusters={clusters!r} is not a column of data; columns are: "
            + ", ".join(map(repr, columns)))
    var_names = _resolve_vars(data._meta, clusters, vars)
    reduced = dask_route.reduce_frame(data, clusters, var_names, want_rows=route == "rows")
    _warn_dropped_ids(clusters, reduced.dropped_ids, stacklevel=4)
    _check_finite(reduced.n_inf > 0, var_names)
    if reduced.dropped_empty:
        _warn_empty_rows(reduced.dropped_empty, None, stacklevel=4)
    for k, name in enumerate(var_names):
        _check_variable(name, int(reduced.n_observed[k]), reduced.minimum[k], reduced.maximum[k])
    codes, labels = _factorize(pd.Series(reduced.labels))
    _check_n_clusters(len(labels))
    _check_route_fits(route, reduced.complete)
    if reduced.y is None:  # per-cluster moments of whole clusters; put in label order
        order = np.empty(len(codes), dtype=np.int64)
        order[codes] = np.arange(len(codes))
        sizes = reduced.cluster_size[order]
        means, scatter = reduced.cluster_means[order], reduced.cluster_scatter[order]
        return SizeStats(var_names=tuple(map(str, var_names)), cluster_labels=labels,
                         **sizes_from_cluster_moments(means, scatter, sizes))
    y, observed, row_codes = reduced.y, reduced.observed, codes
    cluster_size = np.bincount(row_codes, minlength=len(labels))
    order = canonical_order(row_codes, row_keys(np.where(observed, y, 0.0), observed))
    return RowStats(var_names=tuple(map(str, var_names)), cluster_labels=labels,
                    **rows_arrays(y[order], observed[order], row_codes[order], cluster_size))


# ------------------------------------------------------------- shared checks
def _check_route(route) -> None:
    if route not in ROUTE_CHOICES:
        raise MLVMInputError(f"route={route!r} is not valid; valid: "
                             + ", ".join(map(repr, ROUTE_CHOICES)))


def _check_route_fits(route: str, complete: bool) -> None:
    if route == "sizes" and not complete:
        raise MLVMInputError("route='sizes' needs complete data, but some cells are missing; "
                             "use route='auto' or 'rows'")


def _check_columns(data: pd.DataFrame, clusters: Any, vars: Any) -> list:
    columns = list(data.columns)
    if not _is_column(clusters, columns):
        raise MLVMInputError(
            f"clusters={clusters!r} is not a column of data; columns are: "
            + ", ".join(map(repr, columns))
        )
    return _resolve_vars(data, clusters, vars)


def _check_finite(infinite_by_var, var_names) -> None:
    if np.any(infinite_by_var):
        bad = [str(var_names[k]) for k in np.flatnonzero(infinite_by_var)]
        raise MLVMInputError(f"vars contain infinite values in: {', '.join(bad)}")


def _check_variable(name, n_observed: int, lo: float, hi: float) -> None:
    if n_observed < 2 or lo == hi:
        raise MLVMInputError(
            f"vars: variable {name!r} is constant (or has fewer than 2 observed values); "
            "remove it from vars"
        )


def _check_n_clusters(n_clusters: int) -> None:
    if n_clusters < 2:
        raise MLVMInputError(
            f"clusters: need at least 2 clusters for a two-level model; found {n_clusters}"
        )


def _warn_dropped_ids(clusters, n_dropped: int, stacklevel: int) -> None:
    if n_dropped:
        warnings.warn(
            f"clusters={clusters!r}: {n_dropped} row(s) with a missing cluster id were dropped",
            UserWarning,
            stacklevel=stacklevel,
        )


def _warn_empty_rows(n_empty: int, lost_clusters, stacklevel: int) -> None:
    note = f"; {lost_clusters} cluster(s) left empty were dropped too" if lost_clusters else ""
    warnings.warn(
        f"vars: {n_empty} row(s) missing on every variable were dropped{note}",
        UserWarning,
        stacklevel=stacklevel,
    )


def _label_bytes(labels: pd.Index) -> bytes:
    values = labels.to_numpy()
    if values.dtype != object:
        return f"|labels|{values.dtype.str}|".encode() + np.ascontiguousarray(values).tobytes()
    return ("|labels|object|" + repr([(type(v).__name__, v) for v in values])).encode()


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
