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


def _draws(idata, n_draws, rng):
    post = idata.posterior
    for name in ("mu", "sigma_within", "sigma_between"):
        if name not in post:
            raise ValueError(f"idata.posterior has no {name!r}; sample with model.sample()")
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
    rng = np.random.default_rng(random_seed)
    stats = model.stats
    sat_obs = reference_models(stats)[0].logl
    observed, replicated = [], []
    for mu, sw, sb in zip(*_draws(idata, n_draws, rng)):
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

    if matrix not in idata.posterior:
        raise ValueError(f"{matrix!r} is not in the posterior; matrices there: "
                         f"{[v for v, x in idata.posterior.data_vars.items() if x.ndim == 4]}")
    var = idata.posterior[matrix]
    if var.ndim != 4:
        raise ValueError(f"{matrix!r} is not a square matrix")
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
