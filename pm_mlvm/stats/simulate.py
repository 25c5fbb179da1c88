"""Simulate two-level Gaussian data (for tests, examples and benchmarks); the seed data.

``simulate_twolevel`` draws y_ij = μ + b_j + w_ij from given Σ_W and Σ_B with NumPy;
``simulate_seed_design`` uses it for the psychonetrics seed example's design at any size.
``load_seed_example`` returns the seed document's own data set, made by its R code
(``set.seed(2)``) and shipped as CSV in ``pm_mlvm/data`` -- the data its printed
χ²(20) = 15.92 refers to.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError, check_choice

__all__ = ["simulate_twolevel", "cluster_sizes", "simulate_seed_design", "load_seed_example"]


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
SEED_CLUSTER_SIZES = (10, 18)


def simulate_seed_design(n_clusters: int = 60, cluster_size=10, rng=2) -> pd.DataFrame:
    """Simulate the seed example's *design* with NumPy (other sizes, other seeds).

    Two factors with loadings (1, .8, .6) on three indicators each, Ψ_W = I, Ψ_B = 0.5 I,
    Θ_W = 0.5 I, Θ_B = 0.3 I, ν = 0. NumPy's generator differs from R's, so this does *not*
    reproduce the document's data set; :func:`load_seed_example` returns that one.

    Parameters
    ----------
    n_clusters : int
        Number of clusters J.
    cluster_size : int, (low, high) tuple or array
        Cluster sizes (see :func:`cluster_sizes`).
    rng : numpy.random.Generator, int or None
        Random generator or seed.

    Returns
    -------
    pandas.DataFrame
        Columns ``y1..y6`` and ``cluster`` (ids 1..J).

    Examples
    --------
    >>> simulate_seed_design(n_clusters=5, cluster_size=3, rng=1).shape
    (15, 7)
    """
    lam = np.zeros((6, 2))
    lam[:3, 0] = lam[3:, 1] = [1.0, 0.8, 0.6]
    sw = lam @ lam.T + 0.5 * np.eye(6)
    sb = lam @ (0.5 * np.eye(2)) @ lam.T + 0.3 * np.eye(6)
    return simulate_twolevel(n_clusters, cluster_size, np.zeros(6), sw, sb, rng=rng)


def load_seed_example(cluster_size: int = 10) -> pd.DataFrame:
    """The psychonetrics seed document's data set, exactly as its R code makes it.

    The document simulates 60 clusters with ``set.seed(2)`` in R (two factors, six
    indicators); ``tests/reference/seed/make_seed_reference.R`` runs that code verbatim and
    writes the CSVs shipped here (15 significant digits). ``cluster_size=18`` is the
    document's "ML vs FIML" variant (same code, ``perCluster <- 18``).

    Parameters
    ----------
    cluster_size : {10, 18}
        Units per cluster: 10 (the example, N = 600) or 18 (the variant, N = 1080).

    Returns
    -------
    pandas.DataFrame
        Columns ``y1..y6`` (float) and ``cluster`` (int, 1..60).

    Raises
    ------
    MLVMInputError
        If ``cluster_size`` is not 10 or 18.

    Examples
    --------
    >>> data = load_seed_example()
    >>> data.shape, data["cluster"].nunique()
    ((600, 7), 60)
    """
    from importlib.resources import files

    check_choice("cluster_size", cluster_size, SEED_CLUSTER_SIZES)
    name = f"seed_60x{int(cluster_size)}.csv"
    with files("pm_mlvm.data").joinpath(name).open("r") as handle:
        return pd.read_csv(handle)
