"""NumPy entry points: evaluate the two-level log-likelihood at given moments.

These validate their arguments (the user boundary) and call the same kernels as the Ops, so
``twolevel_loglik`` and a compiled graph give identical numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.likelihood.routes import ROUTES, data_arrays
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["twolevel_loglik", "twolevel_loglik_per_cluster", "twolevel_loglik_grad"]


def _check_moments(stats, mu, sigma_within, sigma_between):
    if not isinstance(stats, TwoLevelStats):
        raise MLVMInputError(
            "stats must be a TwoLevelStats (build it with "
            f"pmv.TwoLevelStats.from_dataframe); got {type(stats).__name__}"
        )
    p = stats.n_vars
    out = []
    for name, value, shape in (("mu", mu, (p,)), ("sigma_within", sigma_within, (p, p)),
                               ("sigma_between", sigma_between, (p, p))):
        arr = np.asarray(value, dtype=float)
        if arr.shape != shape:
            raise MLVMInputError(f"{name} must have shape {shape} for p={p} variables; got "
                                 f"{arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise MLVMInputError(f"{name} contains non-finite values")
        out.append(arr)
    return out


def twolevel_loglik(stats, mu, sigma_within, sigma_between) -> float:
    """The exact two-level Gaussian log-likelihood (constant included).

    Parameters
    ----------
    stats : TwoLevelStats
    mu : (p,) array_like
        Grand mean.
    sigma_within, sigma_between : (p, p) array_like
        Within- and between-cluster covariance matrices (symmetrised before use).

    Returns
    -------
    float
        The log-likelihood, or ``-inf`` when Sigma_W (with any cluster of two or more units)
        or some Sigma_W + n Sigma_B is not positive definite.

    Examples
    --------
    >>> import numpy as np, pandas as pd, pm_mlvm as pmv
    >>> df = pd.DataFrame({"g": [1, 1, 2, 2, 3, 3], "y": [0.1, 0.5, 1.2, 0.9, 2.0, 1.1]})
    >>> st = pmv.TwoLevelStats.from_dataframe(df, clusters="g")
    >>> round(pmv.twolevel_loglik(st, [1.0], [[0.2]], [[0.3]]), 6)
    -5.083509
    """
    mu, sw, sb = _check_moments(stats, mu, sigma_within, sigma_between)
    route, arrays = data_arrays(stats)
    return float(ROUTES[route].total(mu, sw, sb, *arrays)[0])


def twolevel_loglik_grad(stats, mu, sigma_within, sigma_between):
    """Log-likelihood and its gradient with respect to (mu, Sigma_W, Sigma_B).

    The matrix gradients G are symmetric with d logL = tr(G dSigma).
    """
    mu, sw, sb = _check_moments(stats, mu, sigma_within, sigma_between)
    route, arrays = data_arrays(stats)
    logl, dmu, dw, db = ROUTES[route].total(mu, sw, sb, *arrays)
    return float(logl), dmu, dw, db


def twolevel_loglik_per_cluster(stats, mu, sigma_within, sigma_between) -> pd.Series:
    """Per-cluster log-likelihood contributions, indexed by cluster id; they sum to the total."""
    mu, sw, sb = _check_moments(stats, mu, sigma_within, sigma_between)
    route, arrays = data_arrays(stats)
    values = ROUTES[route].per_cluster(mu, sw, sb, *arrays)
    return pd.Series(values, index=stats.cluster_labels, name="loglik")
