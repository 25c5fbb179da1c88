"""The statistics of a likelihood route as a PyTensor function of the data, for a fixed layout.

:func:`symbolic_statistics` rebuilds, from an (N, p) data tensor (e.g. a ``pm.Data`` shared
variable), the statistics inputs of the route a :class:`~pm_mlvm.stats.TwoLevelStats` was
computed with, holding its *layout* fixed: the rows' clusters, the cluster sizes and the
missing cells. The layout parts are constants taken from the statistics; the parts that
depend on the values (cluster means and scatters, per-size moments; the rows with missing
cells zeroed) are graph expressions of the data. So a model whose observed data is a shared
variable gets the new data's likelihood after ``set_value`` / ``pm.set_data`` without being
rebuilt or recompiled, as long as the layout is the same; a changed shape or changed missing
cells raise when the graph is evaluated.

The price is that these statistics are recomputed at each evaluation (cost O(N p²) of
segment sums), where statistics given as constants are computed once.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.raise_op import Assert

from pm_mlvm.likelihood.routes import ROUTES, data_arrays
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["symbolic_statistics"]

_SAME_MISSING = Assert("the data's missing cells differ from those the model was built with: "
                       "swapping data keeps the layout (rows, clusters, missing cells); build "
                       "a new model for another layout")


def _segment_sum(x, index, n):
    """Σ over rows of ``x`` grouped by the constant ``index`` (n groups)."""
    return pt.inc_subtensor(pt.zeros((n, *x.shape[1:]))[index], x)


def symbolic_statistics(data, stats: TwoLevelStats, codes: np.ndarray, mask: np.ndarray):
    """The route's statistics inputs as expressions of ``data`` (the N × p rows in their
    original order, NaN in the missing cells) with the layout of ``stats``.

    ``codes`` (N,) are the rows' cluster indices into ``stats.cluster_labels`` and ``mask``
    (N, p) their observed cells — the layout ``stats`` was computed from.

    Returns
    -------
    (route name, tuple of tensors in the order of ``ROUTES[route].fields``)
    """
    route, arrays = data_arrays(stats)
    fields = ROUTES[route].fields
    codes = np.asarray(codes, dtype=np.int64)
    mask = np.asarray(mask, dtype=bool)
    n_rows, p = mask.shape
    data = pt.specify_shape(pt.as_tensor_variable(data).astype("float64"), (n_rows, p))
    data = _SAME_MISSING(data, pt.all(pt.eq(pt.isnan(data), ~mask)))
    filled = pt.where(mask, data, 0.0)
    out = dict(zip(fields, (pt.constant(a, name=f"stats_{f}") for f, a in zip(fields, arrays))))
    n_clusters = len(stats.cluster_labels)
    if route == "rows":
        order = np.argsort(codes, kind="stable")  # rows grouped by cluster, as the statistics
        patterns = np.asarray(arrays[fields.index("patterns")], dtype=bool)
        index = {tuple(row): k for k, row in enumerate(patterns)}
        row_pattern = np.array([index[tuple(row)] for row in mask[order]], dtype=np.int64)
        out["y"] = filled[order]
        out["row_pattern"] = pt.constant(row_pattern, name="stats_row_pattern")
        return route, tuple(out[f] for f in fields)
    size = np.bincount(codes, minlength=n_clusters).astype(float)
    size_index = np.asarray(arrays[fields.index("size_index")], dtype=np.int64)
    size_counts = np.asarray(arrays[fields.index("size_counts")], dtype=float)
    means = _segment_sum(filled, codes, n_clusters) / size[:, None]
    dev = filled - means[codes]
    scatter = _segment_sum(dev[:, :, None] * dev[:, None, :], codes, n_clusters)
    mean_by_size = _segment_sum(means, size_index, len(size_counts)) / size_counts[:, None]
    d = means - mean_by_size[size_index]
    cov_by_size = (_segment_sum(d[:, :, None] * d[:, None, :], size_index, len(size_counts))
                   / size_counts[:, None, None])
    out.update(cluster_means=means, cluster_scatter=scatter, scatter_within=scatter.sum(axis=0),
               mean_by_size=mean_by_size, cov_by_size=cov_by_size)
    return route, tuple(out[f] for f in fields)
