"""Independent oracles shared by the tests (no pm_mlvm code inside)."""

from __future__ import annotations

import numpy as np
from scipy.stats import multivariate_normal


def stacked_mvn_loglik(y, clusters, mu, sigma_within, sigma_between, per_cluster=False):
    """Brute force: each cluster's stacked observed cells ~ MVN(1⊗mu, I⊗Σ_W + 11'⊗Σ_B).

    ``mu`` is a (p,) mean or a dict {cluster label: (p,) mean} (cluster-varying means); the
    per-cluster values are in the order of first appearance of the labels."""
    y = np.asarray(y, dtype=float)
    clusters = np.asarray(clusters)
    out = []
    for label in dict.fromkeys(clusters.tolist()):
        yj = y[clusters == label]
        n = len(yj)
        cov = np.kron(np.eye(n), sigma_within) + np.kron(np.ones((n, n)), sigma_between)
        v = yj.reshape(-1)
        obs = ~np.isnan(v)
        mean = np.tile(mu[label] if isinstance(mu, dict) else mu, n)
        out.append(
            multivariate_normal(mean[obs], cov[np.ix_(obs, obs)], allow_singular=False).logpdf(
                v[obs]
            )
        )
    out = np.array(out)
    return out if per_cluster else float(out.sum())


def random_spd(rng, p, scale=1.0, ridge=0.2):
    a = rng.normal(size=(p, p))
    return scale * (a @ a.T / p) + ridge * np.eye(p)


def random_twolevel(rng, p, sizes, missing=0.0, sigma_scale=1.0):
    """Random (y, clusters, mu, Σ_W, Σ_B) with the given cluster sizes."""
    sizes = np.asarray(sizes)
    j = len(sizes)
    sw = random_spd(rng, p, sigma_scale)
    sb = random_spd(rng, p, 0.5 * sigma_scale, ridge=0.1)
    mu = rng.normal(size=p)
    clusters = np.repeat(np.arange(j), sizes)
    b = rng.multivariate_normal(np.zeros(p), sb, size=j)
    y = mu + b[clusters] + rng.multivariate_normal(np.zeros(p), sw, size=len(clusters))
    if missing:
        mask = rng.random(y.shape) < missing
        empty = mask.all(axis=1)
        mask[empty, rng.integers(0, p, size=empty.sum())] = False
        y = np.where(mask, np.nan, y)
    # evaluate at moments near, not at, the truth
    return y, clusters, mu + 0.1, sw * 1.1, sb * 0.9
