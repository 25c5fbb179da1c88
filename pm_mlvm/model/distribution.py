"""A PyMC building block for the two-level likelihood: :func:`TwoLevelNormal`.

Drop it into any ``with pm.Model():`` with your own priors on (mu, Sigma_W, Sigma_B). It is an
observed ``pm.CustomDist`` whose log-density is the vector of per-cluster contributions
(:class:`~pm_mlvm.graph.ops.TwoLevelClusterLogLik`, which also returns the gradient of their
sum, so logp + dlogp costs one kernel pass), so ``pm.compute_log_likelihood`` gives one
value per cluster (dimension ``"cluster"``, the user's cluster ids) and ``az.loo`` does
leave-one-cluster-out. The data enter through the statistics; the observed values stored by
PyMC are the cluster indices 0..J-1.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from pm_mlvm._names import CLUSTER_DIM
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.graph.ops import TwoLevelClusterLogLik, data_inputs
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["TwoLevelNormal"]


def TwoLevelNormal(name: str, mu, sigma_within, sigma_between, observed: TwoLevelStats,
                   dims: str = CLUSTER_DIM, shared_data: bool = False, _inputs=None):
    """Observed two-level Gaussian likelihood of clustered data.

    Parameters
    ----------
    name : str
        Name of the observed variable.
    mu : (p,) tensor
        Grand mean.
    sigma_within, sigma_between : (p, p) tensors
        Within- and between-cluster covariance matrices.
    observed : TwoLevelStats
        The data's sufficient statistics.
    dims : str
        Name of the cluster dimension (added to the model's coords with the cluster ids when
        absent).
    shared_data : bool
        Hold the statistics in shared variables (so a compiled function can be reused on new
        data of the same structure) instead of constants.

    Returns
    -------
    TensorVariable
        The observed variable (one entry per cluster).

    Examples
    --------
    >>> import numpy as np, pymc as pm, pm_mlvm as pmv
    >>> df = pmv.simulate_twolevel(20, 5, np.zeros(2), np.eye(2), 0.5 * np.eye(2), rng=1)
    >>> stats = pmv.TwoLevelStats.from_dataframe(df, clusters="cluster")
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu", 0, 5, shape=2)
    ...     sd_w = pm.HalfNormal("sd_w", 2, shape=2)
    ...     sd_b = pm.HalfNormal("sd_b", 2, shape=2)
    ...     y = pmv.TwoLevelNormal("y", mu, pm.math.diag(sd_w**2), pm.math.diag(sd_b**2),
    ...                            observed=stats)
    >>> model["y"].eval().shape
    (20,)
    """
    if not isinstance(observed, TwoLevelStats):
        raise MLVMInputError(
            "observed must be a TwoLevelStats (pmv.TwoLevelStats.from_dataframe(data, "
            f"clusters=...)); got {type(observed).__name__}"
        )
    model = pm.modelcontext(None)
    labels = np.asarray(observed.cluster_labels)
    if dims in model.coords:
        if len(model.coords[dims]) != observed.n_clusters:
            raise MLVMInputError(
                f"dims={dims!r} already has {len(model.coords[dims])} coordinates but the data "
                f"have {observed.n_clusters} clusters; pass another dims name"
            )
    else:
        model.add_coord(dims, labels)
    p = observed.n_vars
    mu = _checked_shape("mu", mu, (p,))
    sigma_within = _checked_shape("sigma_within", sigma_within, (p, p))
    sigma_between = _checked_shape("sigma_between", sigma_between, (p, p))
    route, inputs = _inputs or data_inputs(observed, shared=shared_data)
    op = TwoLevelClusterLogLik(route)
    index = np.arange(observed.n_clusters, dtype=float)

    def logp(value, index_param, mu_, sw_, sb_):
        return op(mu_, sw_, sb_, *inputs)[0]

    return pm.CustomDist(
        name,
        pt.as_tensor_variable(index),
        mu,
        sigma_within,
        sigma_between,
        logp=logp,
        observed=index,
        signature="(j),(p),(p,p),(p,p)->(j)",
        dims=dims,
    )


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
