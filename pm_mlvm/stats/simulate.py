"""Simulate two-level Gaussian data (for tests, examples and benchmarks)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError

__all__ = ["simulate_twolevel", "cluster_sizes", "seed_example", "load_seed_example"]


def cluster_sizes(n_clusters: int, size, rng: np.random.Generator) -> np.ndarray:
    """Cluster sizes: an int (balanced), a (low, high) tuple (uniform, inclusive) or an array."""
    if np.isscalar(size):
        return np.full(n_clusters, int(size))
    if isinstance(size, tuple) and len(size) == 2:
        return rng.integers(size[0], size[1] + 1, size=n_clusters)
    size = np.asarray(size, dtype=int)
    if size.shape != (n_clusters,):
        raise MLVMInputError(f"size must be an int, a (low, high) tuple or {n_clusters} sizes")
    return size


def simulate_twolevel(
    n_clusters: int,
    size,
    mu,
    sigma_within,
    sigma_between,
    rng: np.random.Generator | int | None = None,
    var_names=None,
    cluster_col: str = "cluster",
) -> pd.DataFrame:
    """Draw y_ij = mu + b_j + w_ij with b_j ~ N(0, Sigma_B), w_ij ~ N(0, Sigma_W).

    Returns a long DataFrame with the variables and a cluster column (ids 1..J).
    """
    rng = np.random.default_rng(rng)
    mu = np.asarray(mu, dtype=float)
    p = len(mu)
    n_j = cluster_sizes(n_clusters, size, rng)
    b = rng.multivariate_normal(np.zeros(p), np.asarray(sigma_between), size=n_clusters)
    w = rng.multivariate_normal(np.zeros(p), np.asarray(sigma_within), size=int(n_j.sum()))
    cl = np.repeat(np.arange(1, n_clusters + 1), n_j)
    y = mu + b[cl - 1] + w
    names = var_names or [f"y{k + 1}" for k in range(p)]
    frame = pd.DataFrame(y, columns=names)
    frame[cluster_col] = cl
    return frame


SEED_LAMBDA = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


def seed_example(n_clusters: int = 60, cluster_size=10, rng=2) -> pd.DataFrame:
    """Data as in the psychonetrics seed example: two factors with loadings (1, .8, .6) on
    three indicators each, Ψ_W = I, Ψ_B = 0.5 I, Θ_W = 0.5 I, Θ_B = 0.3 I, ν = 0."""
    lam = np.zeros((6, 2))
    lam[:3, 0] = lam[3:, 1] = [1.0, 0.8, 0.6]
    sw = lam @ lam.T + 0.5 * np.eye(6)
    sb = lam @ (0.5 * np.eye(2)) @ lam.T + 0.3 * np.eye(6)
    return simulate_twolevel(n_clusters, cluster_size, np.zeros(6), sw, sb, rng=rng)


def load_seed_example() -> pd.DataFrame:
    """The seed example's 60 clusters × 10 data set shipped with the package (columns y1..y6
    and ``cluster``); made by ``seed_example()`` and stored as CSV so it never changes."""
    from importlib.resources import files

    with files("pm_mlvm.data").joinpath("seed_example.csv").open("r") as handle:
        return pd.read_csv(handle)
