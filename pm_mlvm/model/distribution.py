"""A PyMC distribution for two-level Gaussian data: :class:`TwoLevelNormal`.

Drop it into any ``with pm.Model():`` with your own priors on (mu, Sigma_W, Sigma_B), or on
Cholesky factors (``chol_within=`` / ``chol_between=``, as ``pm.MvNormal``). The observed
value is the raw N × p data (array or DataFrame, NaN for missing cells) with ``clusters=``
the N cluster labels; the sufficient statistics are computed once from it
(:class:`~pm_mlvm.stats.TwoLevelStats`; passing statistics directly still works).

Model (per cluster j, unit i): y_ij = mu_j + u_j + e_ij, u_j ~ N(0, Sigma_B),
e_ij ~ N(0, Sigma_W), with mu_j = mu for a (p,) mean or row j of a (J, p) cluster-varying
mean (level-2 covariates, e.g. ``mu = nu + w[:, None] * gamma``; rows in the order of the
cluster coordinate). It is a ``pm.CustomDist`` in the ``dist=`` form (PyMC's recommended
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

Invariant: with an array, DataFrame or TwoLevelStats ``observed``, the log-density is that of
the data the variable was built with (the statistics are graph constants, computed once); the
value PyMC passes to ``logp`` is not re-summarised, so ``pm.logp(y, other_value)`` is *not*
the density of ``other_value``. With ``observed=pm.Data(...)`` (a shared variable) the
statistics are instead graph expressions of the value (:mod:`pm_mlvm.graph.statistics`), for
the layout (rows → clusters, missing cells) of the data the variable was built with:
``pm.set_data`` swaps the data without rebuilding or recompiling, and ``pm.logp(y, value)``
is the density of ``value``; data with another layout (other row count, clusters or missing
cells) need a new variable (a changed shape or missing cell raises when evaluated).

Unit-level covariates (a per-row mean mu_ij = x_ij' beta) are not supported: the within part
would need the within scatter about per-row means (see ``docs/user_guide/bayes.md``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable

from pm_mlvm._names import CLUSTER_DIM
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.graph.ops import TwoLevelClusterLogLik, data_inputs
from pm_mlvm.graph.statistics import symbolic_statistics
from pm_mlvm.stats.twolevel import RowStats, TwoLevelStats

__all__ = ["TwoLevelNormal", "TwoLevelData", "Layout", "layout_of"]

_SIGNATURE = "(p),(p,p),(p,p),(n),(n,p),(j)->(n,p)"
_SIGNATURE_CLUSTER_MEAN = "(j,p),(p,p),(p,p),(n),(n,p),(j)->(n,p)"


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


def _raw_data(observed, clusters, keep_empty_rows=False):
    """(y (N, p) float with NaN, stats, layout) from raw data and cluster labels."""
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
    if empty.any() and keep_empty_rows:
        raise MLVMInputError(f"observed (pm.Data) has {int(empty.sum())} row(s) missing on "
                             "every variable; drop them from the data first")
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
    """Replicated data: mu_j + u[codes] + e (mu_j = mu, or mu[codes] for a (J, p) mean),
    missing cells NaN (size is the batch; unused: the variable is always core-shaped
    (N, p))."""
    p = mu.shape[-1]
    codes = codes.astype("int64")
    u = pm.MvNormal.dist(pt.zeros(p), cov=sigma_between, size=(cluster_index.shape[0],))
    e = pm.MvNormal.dist(pt.zeros(p), cov=sigma_within, size=(codes.shape[0],))
    y = (mu[codes] if mu.ndim == 2 else mu) + u[codes] + e
    return pt.where(mask, y, np.nan)


def _variable(name, mu, sw, sb, stats, layout, observed_value, inputs, shared_data,
              symbolic=False):
    if symbolic:  # statistics as expressions of the value (pm.Data observed)
        def logp(value, mu_, sw_, sb_, codes_, mask_, index_):
            route, data = symbolic_statistics(value, stats, layout.codes, layout.mask)
            return TwoLevelClusterLogLik(route)(mu_, sw_, sb_, *data)[0]
    else:
        route, data = inputs or data_inputs(stats, shared=shared_data)
        op = TwoLevelClusterLogLik(route)

        def logp(value, mu_, sw_, sb_, codes_, mask_, index_):
            return op(mu_, sw_, sb_, *data)[0]

    params = (mu, sw, sb, pt.as_tensor_variable(layout.codes.astype(float)),
              pt.as_tensor_variable(layout.mask), pt.as_tensor_variable(
                  np.arange(layout.n_clusters, dtype=float)))
    kwargs = dict(dist=_generate, logp=logp,
                  signature=_SIGNATURE_CLUSTER_MEAN if mu.ndim == 2 else _SIGNATURE)
    if name is None:
        return pm.CustomDist.dist(*params, class_name="TwoLevelNormal", **kwargs)
    return pm.CustomDist(name, *params, observed=observed_value, **kwargs)


def TwoLevelData(name: str, value, dims=None):  # noqa: N802 - mirrors pm.Data
    """A swappable (N, p) data container for :class:`TwoLevelNormal` that may hold NaN.

    ``pm.Data`` refuses NaN (it would be auto-imputed); this registers the same kind of
    shared variable in the current model without that check, so data with missing cells can
    be ``observed=`` of a :class:`TwoLevelNormal` and swapped with ``pm.set_data({name:
    new})`` (same layout: rows, clusters and missing cells). Complete data can use
    ``pm.Data`` directly.
    """
    if not isinstance(name, str):
        raise MLVMInputError(f"name must be a str; got {type(name).__name__}")
    if isinstance(value, pd.DataFrame):
        value = value.to_numpy(dtype=float)
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise MLVMInputError(f"value must be an (N, p) numeric array or DataFrame; got "
                             f"{type(value).__name__} ({err})") from None
    if array.ndim != 2:
        raise MLVMInputError(f"value must be an (N, p) array; got shape {array.shape}")
    model = pm.modelcontext(None)
    shared = pytensor.shared(array, name=name, shape=(None, None))
    model.register_data_var(shared, dims=dims)
    return shared


class TwoLevelNormal:
    """Observed two-level Gaussian likelihood of clustered data (a PyMC distribution).

    Parameters
    ----------
    name : str
        Name of the observed variable.
    mu : (p,) or (J, p) tensor
        Grand mean, or one mean per cluster (level-2 covariates: e.g.
        ``nu + w[:, None] * gamma`` for a cluster-level covariate ``w`` of length J). Row j
        belongs to the j-th label of the cluster coordinate (``model.coords[dims]``): the
        data's cluster labels sorted (order of first appearance if they cannot be sorted),
        as ``TwoLevelStats.cluster_labels``.
    sigma_within, sigma_between : (p, p) tensors, optional
        Within- and between-cluster covariance matrices.
    chol_within, chol_between : (p, p) tensors, optional
        Their lower Cholesky factors instead (exactly one of each pair).
    clusters : array_like, optional
        The N cluster labels of the rows (required with raw ``observed``).
    observed : (N, p) array or DataFrame, pm.Data, or TwoLevelStats
        The raw data (NaN for missing cells; rows missing on every variable are dropped) or
        precomputed statistics (then the observed value is NaN: statistics do not hold the
        rows, and draws use the layout of :func:`layout_of`). A ``pm.Data`` container (any
        shared variable) holding the (N, p) data makes the data swappable: the statistics
        are recomputed in the graph from its current value, so after
        ``pm.set_data({name: new})`` the log-density is that of ``new`` without rebuilding or
        recompiling — provided ``new`` has the same layout (N rows in the same clusters, NaN
        in the same cells; a different shape or missing cell raises when evaluated; for
        another layout build a new model). The cluster labels (``clusters=``) stay those
        given at construction. ``pm.Data`` refuses NaN: for data with missing cells use
        :func:`TwoLevelData` (same container, NaN allowed).
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

    Notes
    -----
    Level-2 (cluster-level) covariates enter through a (J, p) ``mu``: the likelihood stays
    exact on both routes (complete data: each cluster through ȳ_j − μ_j and its within
    scatter; missing cells: the rows' residuals y_ij − μ_j) with exact gradients with
    respect to the (J, p) mean, Σ_W and Σ_B; second derivatives (``pm.find_hessian``) are
    implemented for a (p,) mean only. Unit-level covariates (a per-row mean μ_ij = x_ij'β)
    are not supported: the within part would need the scatter about per-row means, i.e. an
    (N, p) mean on the rows route and statistics that can no longer be computed once.

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

    A cluster-level covariate ``w`` (one value per cluster, in the coordinate's order) and
    swappable data:

    >>> labels = np.unique(df["cluster"])
    >>> w = np.linspace(-1, 1, len(labels))
    >>> with pm.Model() as model:
    ...     nu = pm.Normal("nu", 0, 5, shape=2)
    ...     gamma = pm.Normal("gamma", 0, 1, shape=2)
    ...     data = pm.Data("data", df[["y1", "y2"]].to_numpy())
    ...     y = pmv.TwoLevelNormal("y", nu + w[:, None] * gamma, np.eye(2), 0.5 * np.eye(2),
    ...                            clusters=df["cluster"], observed=data)
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
        stats, layout, value, symbolic = _observed(observed, clusters)
        if symbolic and statistics_inputs is not None:
            raise MLVMInputError("statistics_inputs= cannot be combined with a pm.Data "
                                 "observed (its statistics are computed from the data)")
        model = pm.modelcontext(None)
        _check_coords(model, dims, layout.labels)
        mu, sw, sb = _moments(mu, sigma_within, sigma_between, chol_within, chol_between,
                              stats.n_vars, layout.n_clusters)
        return _variable(name, mu, sw, sb, stats, layout, value, statistics_inputs,
                         shared_data, symbolic)

    @classmethod
    def dist(cls, mu, sigma_within=None, sigma_between=None, *, clusters=None, observed=None,
             chol_within=None, chol_between=None):
        """The unregistered variable (for ``pm.draw`` or as a building block): ``observed``
        gives the layout of the draws and the data its log-density evaluates."""
        if observed is None:
            raise MLVMInputError("TwoLevelNormal.dist needs observed= (the (N, p) data with "
                                 "clusters=, or TwoLevelStats): it fixes the layout and the "
                                 "data the log-density evaluates")
        stats, layout, _, symbolic = _observed(observed, clusters)
        mu, sw, sb = _moments(mu, sigma_within, sigma_between, chol_within, chol_between,
                              stats.n_vars, layout.n_clusters)
        return _variable(None, mu, sw, sb, stats, layout, None, None, False, symbolic)


def _observed(observed, clusters):
    """(stats, layout, observed value, whether the statistics follow the value)."""
    if isinstance(observed, TwoLevelStats):
        layout = layout_of(observed)
        value = np.full(layout.mask.shape, np.nan)
        return observed, layout, pt.as_tensor_variable(value), False
    if isinstance(observed, Variable) and not isinstance(observed, Constant):
        if not isinstance(observed, SharedVariable):
            raise MLVMInputError(f"observed must be data (array, DataFrame, pm.Data) or "
                                 f"TwoLevelStats; got the symbolic variable {observed}")
        _, stats, layout = _raw_data(observed.get_value(), clusters, keep_empty_rows=True)
        return stats, layout, observed, True
    y, stats, layout = _raw_data(observed, clusters)
    # a constant, not an array: PyMC would treat NaN cells as values to impute
    return stats, layout, pt.as_tensor_variable(y), False


def _moments(mu, sigma_within, sigma_between, chol_within, chol_between, p, n_clusters):
    mu = _mean(mu, p, n_clusters)
    sw = _covariance("within", sigma_within, chol_within, p)
    sb = _covariance("between", sigma_between, chol_between, p)
    return mu, sw, sb


def _mean(mu, p, n_clusters):
    """``mu`` checked as a (p,) grand mean or a (J, p) cluster-varying mean."""
    try:
        ndim = pt.as_tensor_variable(mu).ndim
    except (TypeError, ValueError):
        ndim = 1  # _checked_shape reports it
    if ndim == 2:
        return _checked_shape("mu", mu, (n_clusters, p))
    return _checked_shape("mu", mu, (p,))


def _checked_shape(arg: str, value, shape: tuple):
    """``value`` as a tensor of ``shape``: a known wrong static shape raises
    :class:`MLVMInputError` now; an unknown one gets a symbolic shape check
    (``pt.specify_shape``) that fails when the graph is evaluated."""
    try:
        var = pt.as_tensor_variable(value)
    except (TypeError, ValueError) as err:
        raise MLVMInputError(f"{arg} must be a tensor of shape {shape}; got "
                             f"{type(value).__name__} ({err})") from None
    p = shape[-1]
    static = var.type.shape
    if var.ndim != len(shape) or any(s is not None and s != want
                                     for s, want in zip(static, shape)):
        got = tuple("?" if s is None else s for s in static)
        what = f"J={shape[0]} clusters and p={p}" if arg == "mu" and len(shape) == 2 \
            else f"p={p}"
        extra = " (mu may also be (J, p): one mean per cluster)" if arg == "mu" else ""
        raise MLVMInputError(f"{arg} must have shape {shape} for the data's {what} variables; "
                             f"got shape {got}{extra}")
    if any(s is None for s in static):
        var = pt.specify_shape(var, shape)
    return var
