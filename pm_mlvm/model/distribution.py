"""A PyMC distribution for two-level Gaussian data: :class:`TwoLevelNormal`.

Drop it into any ``with pm.Model():`` with your own priors on (mu, Sigma_W, Sigma_B), or on
Cholesky factors (``chol_within=`` / ``chol_between=``, as ``pm.MvNormal``). The observed
value is the raw N × p data (array or DataFrame, NaN for missing cells) with ``clusters=``
the N cluster labels; the sufficient statistics are computed once from it
(:class:`~pm_mlvm.stats.TwoLevelStats`; passing statistics directly still works).

Model (per cluster j, unit i): y_ij = mu + u_j + e_ij, u_j ~ N(0, Sigma_B),
e_ij ~ N(0, Sigma_W). It is a ``pm.CustomDist`` in the ``dist=`` form (PyMC's recommended
shape recipe for a per-cluster likelihood of N × p data, see
``reference/pytensor_backends.md`` §5):

* log-density: the (J,) vector of per-cluster contributions of the observed data
  (:class:`~pm_mlvm.graph.ops.TwoLevelClusterLogLik`, which also returns the gradient of
  their sum, so logp + dlogp costs one kernel pass). PyMC sums it; ``pm.compute_log_likelihood``
  gives one value per cluster (``az.loo`` is leave-one-cluster-out).
* draws: the generative graph above, with the observed row → cluster layout and the observed
  missing-cell mask (missing cells are NaN in every draw), so ``pm.draw``,
  ``pm.sample_prior_predictive``, ``pm.sample_posterior_predictive`` and the model graphs work
  in every backend.

Invariant: the log-density is that of the data the variable was built with (the statistics are
graph inputs, computed once); the value PyMC passes to ``logp`` is not re-summarised. So
``pm.logp(y, other_value)`` is *not* the density of ``other_value``; to use other data, build
the variable on them (or swap statistics with :func:`set_two_level_data`, same variables).

Only (p,) means are supported: cluster-varying means (level-2 covariates) and unit-level
covariates are not implemented (see ``docs/user_guide/bayes.md``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from pm_mlvm._names import CLUSTER_DIM
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.graph.ops import TwoLevelClusterLogLik, data_inputs
from pm_mlvm.stats.twolevel import RowStats, TwoLevelStats

__all__ = ["TwoLevelNormal", "Layout", "layout_of"]

_SIGNATURE = "(p),(p,p),(p,p),(n),(n,p),(j)->(n,p)"


class Layout:
    """Where the N rows of the data sit: their cluster codes, observed-cell mask and the
    labels of the J clusters (``codes`` index ``labels``)."""

    def __init__(self, codes: np.ndarray, mask: np.ndarray, labels: pd.Index):
        self.codes = np.asarray(codes, dtype=np.int64)
        self.mask = np.asarray(mask, dtype=bool)
        self.labels = pd.Index(labels)

    @property
    def n_clusters(self) -> int:
        return len(self.labels)


def layout_of(stats: TwoLevelStats) -> Layout:
    """The layout implied by statistics alone: rows grouped by cluster (in the statistics'
    cluster order), every cell observed for :class:`SizeStats`, the stored mask for
    :class:`RowStats`."""
    if isinstance(stats, RowStats):
        return Layout(stats.row_cluster, stats.observed, stats.cluster_labels)
    codes = np.repeat(np.arange(stats.n_clusters), stats.cluster_size)
    return Layout(codes, np.ones((len(codes), stats.n_vars), bool), stats.cluster_labels)


def _raw_data(observed, clusters):
    """(y (N, p) float with NaN, var names, stats, layout) from raw data and cluster labels."""
    if clusters is None:
        raise MLVMInputError("clusters= is required with raw observed data: pass the N "
                             "cluster labels of the rows (array or Series)")
    if isinstance(observed, pd.DataFrame):
        var_names = [str(c) for c in observed.columns]
        y = observed.to_numpy(dtype=float)
    else:
        try:
            y = np.asarray(observed, dtype=float)
        except (TypeError, ValueError) as err:
            raise MLVMInputError(f"observed must be an (N, p) numeric array or DataFrame (or "
                                 f"TwoLevelStats); got {type(observed).__name__} ({err})") \
                from None
        if y.ndim == 1:
            y = y[:, None]
        var_names = None
    if y.ndim != 2:
        raise MLVMInputError(f"observed must be an (N, p) array (rows × variables); got shape "
                             f"{y.shape}")
    ids = pd.Series(np.asarray(clusters))
    if len(ids) != len(y):
        raise MLVMInputError(f"clusters has {len(ids)} labels for the {len(y)} rows of "
                             "observed; pass one cluster label per row")
    empty = np.isnan(y).all(axis=1)
    if empty.any():  # rows without data carry no information (statistics drop them too)
        y, ids = y[~empty], ids[~empty].reset_index(drop=True)
    stats = TwoLevelStats.from_arrays(y, ids, var_names=var_names)
    codes = stats.cluster_labels.get_indexer(ids)
    return y, stats, Layout(codes, ~np.isnan(y), stats.cluster_labels)


def _check_coords(model, dims: str, labels: pd.Index) -> None:
    """Add the cluster coordinate, or check that an existing one names the same clusters in
    the same order."""
    if dims not in model.coords:
        model.add_coord(dims, labels)
        return
    existing = pd.Index(model.coords[dims])
    if len(existing) != len(labels) or not existing.astype(str).equals(labels.astype(str)):
        show = lambda idx: list(idx[:5]) + (["..."] if len(idx) > 5 else [])  # noqa: E731
        raise MLVMInputError(
            f"dims={dims!r}: the model's coordinate {show(existing)} ({len(existing)} labels) "
            f"does not list the data's clusters {show(labels)} ({len(labels)}) in the same "
            "order; per-cluster values would be attached to the wrong clusters. Use the data's "
            "cluster labels (sorted as TwoLevelStats sorts them) or pass another dims name"
        )


def _covariance(arg, sigma, chol, p):
    if (sigma is None) == (chol is None):
        raise MLVMInputError(f"pass exactly one of sigma_{arg}= and chol_{arg}=")
    if chol is not None:
        chol = _checked_shape(f"chol_{arg}", chol, (p, p))
        return chol @ chol.T
    return _checked_shape(f"sigma_{arg}", sigma, (p, p))


def _generate(mu, sigma_within, sigma_between, codes, mask, cluster_index, size):
    """Replicated data: mu + u[codes] + e, missing cells NaN (size is the batch; unused:
    the variable is always core-shaped (N, p))."""
    p = mu.shape[-1]
    u = pm.MvNormal.dist(pt.zeros(p), cov=sigma_between, size=(cluster_index.shape[0],))
    e = pm.MvNormal.dist(pt.zeros(p), cov=sigma_within, size=(codes.shape[0],))
    y = mu + u[codes.astype("int64")] + e
    return pt.where(mask, y, np.nan)


def _variable(name, mu, sw, sb, stats, layout, observed_value, inputs, shared_data):
    route, data = inputs or data_inputs(stats, shared=shared_data)
    op = TwoLevelClusterLogLik(route)

    def logp(value, mu_, sw_, sb_, codes_, mask_, index_):
        return op(mu_, sw_, sb_, *data)[0]

    params = (mu, sw, sb, pt.as_tensor_variable(layout.codes.astype(float)),
              pt.as_tensor_variable(layout.mask), pt.as_tensor_variable(
                  np.arange(layout.n_clusters, dtype=float)))
    kwargs = dict(dist=_generate, logp=logp, signature=_SIGNATURE)
    if name is None:
        return pm.CustomDist.dist(*params, class_name="TwoLevelNormal", **kwargs)
    return pm.CustomDist(name, *params, observed=observed_value, **kwargs)


class TwoLevelNormal:
    """Observed two-level Gaussian likelihood of clustered data (a PyMC distribution).

    Parameters
    ----------
    name : str
        Name of the observed variable.
    mu : (p,) tensor
        Grand mean.
    sigma_within, sigma_between : (p, p) tensors, optional
        Within- and between-cluster covariance matrices.
    chol_within, chol_between : (p, p) tensors, optional
        Their lower Cholesky factors instead (exactly one of each pair).
    clusters : array_like, optional
        The N cluster labels of the rows (required with raw ``observed``).
    observed : (N, p) array or DataFrame, or TwoLevelStats
        The raw data (NaN for missing cells; rows missing on every variable are dropped) or
        precomputed statistics (then the observed value is NaN: statistics do not hold the
        rows, and draws use the layout of :func:`layout_of`).
    dims : str
        Name of the cluster coordinate: added with the data's cluster labels when absent,
        reused only if it lists the same labels in the same order, else
        :class:`MLVMInputError`.
    shared_data : bool
        Hold the statistics in shared variables instead of constants.
    statistics_inputs : tuple, optional
        The statistics as PyTensor inputs already made by
        :func:`pm_mlvm.graph.ops.data_inputs` (e.g. shared variables one caller holds for
        several models); by default they are made from ``observed``.

    Returns
    -------
    TensorVariable
        The observed (N, p) variable.

    Examples
    --------
    >>> import numpy as np, pymc as pm, pytensor.tensor as pt, pm_mlvm as pmv
    >>> df = pmv.simulate_twolevel(20, 5, np.zeros(2), np.eye(2), 0.5 * np.eye(2), rng=1)
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu", 0, 5, shape=2)
    ...     sd_w = pm.HalfNormal("sd_w", 2, shape=2)
    ...     sd_b = pm.HalfNormal("sd_b", 2, shape=2)
    ...     y = pmv.TwoLevelNormal("y", mu, pt.diag(sd_w**2), pt.diag(sd_b**2),
    ...                            clusters=df["cluster"], observed=df[["y1", "y2"]])
    >>> pm.draw(y).shape
    (100, 2)
    """

    def __new__(cls, name: str, mu, sigma_within=None, sigma_between=None, *, clusters=None,
                observed=None, chol_within=None, chol_between=None, dims: str = CLUSTER_DIM,
                shared_data: bool = False, statistics_inputs=None):
        if not isinstance(name, str):
            raise MLVMInputError(f"name must be a str; got {type(name).__name__}")
        if observed is None:
            raise MLVMInputError("observed= is required: the (N, p) data (with clusters=) or "
                                 "TwoLevelStats; for an unobserved variable use "
                                 "TwoLevelNormal.dist")
        stats, layout, value = _observed(observed, clusters)
        model = pm.modelcontext(None)
        _check_coords(model, dims, layout.labels)
        mu, sw, sb = _moments(mu, sigma_within, sigma_between, chol_within, chol_between,
                              stats.n_vars)
        return _variable(name, mu, sw, sb, stats, layout, value, statistics_inputs,
                         shared_data)

    @classmethod
    def dist(cls, mu, sigma_within=None, sigma_between=None, *, clusters=None, observed=None,
             chol_within=None, chol_between=None):
        """The unregistered variable (for ``pm.draw`` or as a building block): ``observed``
        gives the layout of the draws and the data its log-density evaluates."""
        if observed is None:
            raise MLVMInputError("TwoLevelNormal.dist needs observed= (the (N, p) data with "
                                 "clusters=, or TwoLevelStats): it fixes the layout and the "
                                 "data the log-density evaluates")
        stats, layout, _ = _observed(observed, clusters)
        mu, sw, sb = _moments(mu, sigma_within, sigma_between, chol_within, chol_between,
                              stats.n_vars)
        return _variable(None, mu, sw, sb, stats, layout, None, None, False)


def _observed(observed, clusters):
    if isinstance(observed, TwoLevelStats):
        layout = layout_of(observed)
        value = np.full(layout.mask.shape, np.nan)
        return observed, layout, pt.as_tensor_variable(value)
    y, stats, layout = _raw_data(observed, clusters)
    # a constant, not an array: PyMC would treat NaN cells as values to impute
    return stats, layout, pt.as_tensor_variable(y)


def _moments(mu, sigma_within, sigma_between, chol_within, chol_between, p):
    mu = _checked_shape("mu", mu, (p,))
    sw = _covariance("within", sigma_within, chol_within, p)
    sb = _covariance("between", sigma_between, chol_between, p)
    return mu, sw, sb


def _checked_shape(arg: str, value, shape: tuple):
    """``value`` as a tensor of ``shape``: a known wrong static shape raises
    :class:`MLVMInputError` now; an unknown one gets a symbolic shape check
    (``pt.specify_shape``) that fails when the graph is evaluated."""
    try:
        var = pt.as_tensor_variable(value)
    except (TypeError, ValueError) as err:
        raise MLVMInputError(f"{arg} must be a tensor of shape {shape}; got "
                             f"{type(value).__name__} ({err})") from None
    p = shape[0]
    static = var.type.shape
    if var.ndim != len(shape) or any(s is not None and s != want
                                     for s, want in zip(static, shape)):
        got = tuple("?" if s is None else s for s in static)
        raise MLVMInputError(f"{arg} must have shape {shape} for the data's p={p} variables; "
                             f"got shape {got}")
    if any(s is None for s in static):
        var = pt.specify_shape(var, shape)
    return var
