"""Posterior predictive p-value and network edge tables.

``ppp``: for posterior draws θ_s, replicate the data with the observed cluster sizes (and,
with missing cells, the observed missingness pattern) and compare the likelihood-ratio
discrepancy against the two-level saturated model,
``D(y, θ) = 2 [logL_sat(y) − logL(y; θ)]``, between the observed and the replicated data:
``ppp = mean_s( D(y_rep_s, θ_s) ≥ D(y, θ_s) )`` (Mplus' and blavaan's definition for
single-level models, with the two-level likelihood and saturated model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.likelihood.evaluate import twolevel_loglik
from pm_mlvm.likelihood.reference_models import fit_reference, reference_models
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["PPPResult", "ppp", "edge_table"]


@dataclass(frozen=True)
class PPPResult:
    """The posterior predictive p-value and the discrepancies behind it."""

    ppp: float
    observed: np.ndarray  # D(y, θ_s)
    replicated: np.ndarray  # D(y_rep_s, θ_s)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"observed": self.observed, "replicated": self.replicated})

    def __float__(self) -> float:
        return self.ppp


def _posterior(idata, arg: str = "idata"):
    """The full matrices of ``idata``: its ``matrices`` group (``model.sample()``), else its
    ``posterior``; :class:`MLVMInputError` when ``idata`` has neither."""
    post = getattr(idata, "matrices", None)
    if post is None:
        post = getattr(idata, "posterior", None)
    if post is None:
        raise MLVMInputError(f"{arg} must be the arviz InferenceData returned by "
                             f"model.sample(); got {type(idata).__name__}")
    return post


def _check_number(arg: str, value, valid: str, ok) -> None:
    """:class:`MLVMInputError` unless ``value`` is a real number with ``ok(value)``."""
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))
    if not (number and ok(value)):
        raise MLVMInputError(f"{arg}={value!r} is not valid; it must be {valid}")


def _draws(idata, n_draws, rng, p):
    post = _posterior(idata)
    expected = {"mu": (p,), "sigma_within": (p, p), "sigma_between": (p, p)}
    for name in ("mu", "sigma_within", "sigma_between"):
        if name not in post:
            raise MLVMInputError(f"idata.posterior has no {name!r}; sample with "
                                 "model.sample()")
        if post[name].sizes.get("chain", 0) * post[name].sizes.get("draw", 0) == 0:
            raise MLVMInputError("idata.posterior has no draws")
        if post[name].shape[2:] != expected[name]:
            raise MLVMInputError(f"idata.posterior[{name!r}] has shape {post[name].shape[2:]} "
                                 f"per draw; this model needs {expected[name]} (was idata "
                                 "sampled from another model?)")
    mu = post["mu"].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()
    sw = post["sigma_within"].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()
    sb = post["sigma_between"].stack(sample=("chain", "draw")).transpose("sample",
                                                                          ...).to_numpy()
    pick = rng.choice(len(mu), size=min(n_draws, len(mu)), replace=False)
    return mu[pick], sw[pick], sb[pick]


def _replicate(stats: TwoLevelStats, mu, sw, sb, rng) -> TwoLevelStats:
    sizes = stats.cluster_size
    clusters = np.repeat(np.arange(stats.n_clusters), sizes)
    p = stats.n_vars
    b = rng.multivariate_normal(np.zeros(p), sb, size=stats.n_clusters, method="eigh")
    y = mu + b[clusters] + rng.multivariate_normal(np.zeros(p), sw, size=len(clusters),
                                                   method="eigh")
    if stats.route == "rows":  # the same missingness pattern (rows are sorted by cluster)
        y = np.where(stats.observed, y, np.nan)
        return TwoLevelStats.from_arrays(y, stats.row_cluster, route="rows")
    return TwoLevelStats.from_arrays(y, clusters)


def ppp(model, idata, n_draws: int = 200, random_seed=None) -> PPPResult:
    """Posterior predictive p-value of the LR discrepancy (see the module docstring).

    Parameters
    ----------
    model : MLVM
        The model that was sampled (its data statistics are used).
    idata : arviz.InferenceData
        From ``model.sample()`` (needs ``mu``, ``sigma_within``, ``sigma_between``).
    n_draws : int
        Posterior draws used (at most all of them).
    """
    stats = getattr(model, "stats", None)
    if not isinstance(stats, TwoLevelStats):
        raise MLVMInputError(f"model must be the model (pmv.ml_lvm(...)) that was sampled; "
                             f"got {type(model).__name__}")
    _check_number("n_draws", n_draws, "an integer >= 1",
                  lambda v: isinstance(v, (int, np.integer)) and v >= 1)
    rng = np.random.default_rng(random_seed)
    draws = _draws(idata, n_draws, rng, stats.n_vars)
    sat_obs = reference_models(stats)[0].logl
    observed, replicated = [], []
    for mu, sw, sb in zip(*draws):
        observed.append(2 * (sat_obs - twolevel_loglik(stats, mu, sw, sb)))
        rep = _replicate(stats, mu, sw, sb, rng)
        sat_rep = fit_reference(rep, "saturated").logl
        replicated.append(2 * (sat_rep - twolevel_loglik(rep, mu, sw, sb)))
    observed, replicated = np.array(observed), np.array(replicated)
    return PPPResult(float(np.mean(replicated >= observed)), observed, replicated)


def edge_table(idata, matrix: str = "omega_zeta_between", threshold: float = 0.1,
               hdi_prob: float = 0.9) -> pd.DataFrame:
    """Posterior summary of every edge (lower triangle) of a network matrix.

    Columns: ``mean``, ``hdi_lower``, ``hdi_upper`` (highest density interval),
    ``prob_nonzero`` = P(abs(ω) > threshold), sorted by that probability.
    """
    import arviz as az

    post = _posterior(idata)
    _check_number("threshold", threshold, "a number >= 0", lambda v: v >= 0)
    _check_number("hdi_prob", hdi_prob, "a number in (0, 1)", lambda v: 0 < v < 1)
    if not isinstance(matrix, str) or matrix not in post:
        raise MLVMInputError(f"matrix={matrix!r} is not in the posterior; matrices there: "
                             f"{[v for v, x in post.data_vars.items() if x.ndim == 4]}")
    var = post[matrix]
    if var.ndim != 4:
        raise MLVMInputError(f"matrix={matrix!r} is not a square matrix")
    rows, cols = var.dims[2], var.dims[3]
    labels_r, labels_c = var[rows].values, var[cols].values
    values = var.stack(sample=("chain", "draw")).transpose(..., "sample").to_numpy()
    records = []
    for i in range(values.shape[0]):
        for j in range(i):
            draws = values[i, j]
            low, high = az.hdi(draws, hdi_prob=hdi_prob)
            records.append(dict(row=labels_r[i], col=labels_c[j], mean=float(draws.mean()),
                                hdi_lower=float(low), hdi_upper=float(high),
                                prob_nonzero=float(np.mean(np.abs(draws) > threshold))))
    table = pd.DataFrame(records)
    return table.sort_values("prob_nonzero", ascending=False).reset_index(drop=True)
