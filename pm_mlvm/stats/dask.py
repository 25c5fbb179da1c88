"""Reduce a Dask DataFrame to the pieces of two-level statistics, partition by partition.

Dask is an optional dependency (``pip install pm_mlvm[dask]``); it is imported here only when
a Dask frame is reduced, never when :mod:`pm_mlvm.stats` is imported.

How (the numbers equal the pandas route's bit for bit, see :mod:`pm_mlvm.stats.reduce`):

* **per-size route** — the frame is shuffled by cluster (Dask's hash shuffle, so clusters may
  start spread over partitions in any order), and each partition, now holding whole clusters,
  computes each cluster's size, mean and within scatter with
  :func:`~pm_mlvm.stats.reduce.cluster_moments` on its rows in canonical order. The driving
  process gathers only these per-cluster moments (J·(p² + p + 1) numbers, not the rows) and
  sums over clusters in the order of their sorted labels, as the pandas route does.
* **row-wise route** (missing cells, or ``route="rows"``) — the rows are the statistics, so
  they are gathered compactly: float64 values and a boolean observed mask per partition, plus
  the cluster ids; the driver sorts them canonically.

Each partition also reports what the pandas route checks on the whole frame (rows with a
missing cluster id, rows missing everywhere, infinite values, per-variable observed count,
minimum and maximum), so the same errors and warnings are raised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pm_mlvm.stats.reduce import canonical_order, cluster_moments, row_keys

__all__ = ["is_dask_frame", "reduce_frame", "Reduced"]


def is_dask_frame(data) -> bool:
    """True for a Dask DataFrame (checked without importing Dask)."""
    module = type(data).__module__ or ""
    return module.split(".")[0] in ("dask", "dask_expr") and hasattr(data, "npartitions")


@dataclass
class Reduced:
    """What the partitions report, combined. Per cluster (``y is None``) or per row."""

    labels: np.ndarray            # one per cluster (per-size route) or one per row (rows)
    complete: bool
    dropped_ids: int
    dropped_empty: int
    n_inf: np.ndarray             # (p,) infinite values per variable
    n_observed: np.ndarray        # (p,)
    minimum: np.ndarray           # (p,)
    maximum: np.ndarray           # (p,)
    cluster_size: np.ndarray | None = None
    cluster_means: np.ndarray | None = None
    cluster_scatter: np.ndarray | None = None
    y: np.ndarray | None = None          # (N, p), NaN in missing cells
    observed: np.ndarray | None = None   # (N, p) bool


def _partition(df: pd.DataFrame, clusters, var_names, want_rows: bool) -> dict:
    ids = df[clusters]
    keep = ~ids.isna().to_numpy()
    y = df.loc[keep, var_names].to_numpy(dtype=float, copy=True)
    labels = np.asarray(ids[keep])
    observed = ~np.isnan(y)
    nonempty = observed.any(axis=1)
    y, observed, labels = y[nonempty], observed[nonempty], labels[nonempty]
    p = len(var_names)
    out = dict(
        dropped_ids=int((~keep).sum()),
        dropped_empty=int((~nonempty).sum()),
        n_inf=np.isinf(y).sum(axis=0),
        n_observed=observed.sum(axis=0),
        minimum=np.min(y, axis=0, where=observed, initial=np.inf) if len(y) else np.full(p,
                                                                                        np.inf),
        maximum=np.max(y, axis=0, where=observed, initial=-np.inf) if len(y) else np.full(
            p, -np.inf),
        complete=bool(observed.all()),
    )
    if want_rows or not out["complete"]:
        out.update(labels=labels, y=y, observed=observed)
        return out
    codes, local = pd.factorize(pd.Series(labels))
    size = np.bincount(codes, minlength=len(local))
    order = canonical_order(codes.astype(np.int64), row_keys(y, observed))
    means, scatter = cluster_moments(y[order], size)
    out.update(labels=np.asarray(local), cluster_size=size.astype(np.int64),
               cluster_means=means, cluster_scatter=scatter)
    return out


def _combine(parts: list[dict], p: int, rows: bool) -> Reduced:
    def cat(name, empty):
        arrays = [part[name] for part in parts if len(part[name])]
        return np.concatenate(arrays) if arrays else empty

    common = dict(
        complete=all(part["complete"] for part in parts),
        dropped_ids=sum(part["dropped_ids"] for part in parts),
        dropped_empty=sum(part["dropped_empty"] for part in parts),
        n_inf=np.sum([part["n_inf"] for part in parts], axis=0),
        n_observed=np.sum([part["n_observed"] for part in parts], axis=0),
        minimum=np.min([part["minimum"] for part in parts], axis=0),
        maximum=np.max([part["maximum"] for part in parts], axis=0),
        labels=cat("labels", np.array([])),
    )
    if rows:
        return Reduced(**common, y=cat("y", np.empty((0, p))),
                       observed=cat("observed", np.empty((0, p), dtype=bool)))
    return Reduced(**common, cluster_size=cat("cluster_size", np.empty(0, np.int64)),
                   cluster_means=cat("cluster_means", np.empty((0, p))),
                   cluster_scatter=cat("cluster_scatter", np.empty((0, p, p))))


def reduce_frame(data, clusters, var_names, want_rows: bool = False) -> Reduced:
    """Reduce a Dask DataFrame on the current scheduler (a ``distributed`` client if any).

    With ``want_rows=False`` the per-cluster moments are returned when every cell is
    observed; otherwise (some cell missing, or ``want_rows``) the rows are.
    """
    import dask

    var_names = list(var_names)
    frame = data[[clusters, *var_names]]
    p = len(var_names)
    if not want_rows:
        shuffled = frame.shuffle(on=clusters, npartitions=frame.npartitions)
        tasks = [dask.delayed(_partition)(part, clusters, var_names, False)
                 for part in shuffled.to_delayed()]
        parts = list(dask.compute(*tasks))
        if all(part["complete"] for part in parts):
            return _combine(parts, p, rows=False)
        del parts
    tasks = [dask.delayed(_partition)(part, clusters, var_names, True)
             for part in frame.to_delayed()]
    return _combine(list(dask.compute(*tasks)), p, rows=True)
