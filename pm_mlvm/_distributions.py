"""χ², noncentral χ² and normal tail functions from ``scipy.special``.

The few distribution functions fit measures and tests need, without importing
``scipy.stats`` (which costs more to import than the whole ML fit of a small model).
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["chi2_sf", "chi2_cdf", "chi2_isf", "norm_sf", "norm_isf", "ncx2_cdf", "ncx2_sf",
           "ncx2_noncentrality"]


def chi2_sf(x, df):
    """P(X > x) for X ~ χ²(df)."""
    return special.chdtrc(df, np.maximum(x, 0.0))


def chi2_cdf(x, df):
    return special.chdtr(df, np.maximum(x, 0.0))


def chi2_isf(p, df):
    """x with P(X > x) = p for X ~ χ²(df)."""
    return special.chdtri(df, p)


def norm_sf(z):
    return special.ndtr(-np.asarray(z, dtype=float))


def norm_isf(p):
    return -special.ndtri(p)


def ncx2_cdf(x, df, nc):
    """P(X ≤ x) for X ~ noncentral χ²(df, nc); the central χ² at nc = 0."""
    return special.chndtr(x, df, nc) if nc > 0 else chi2_cdf(x, df)


def ncx2_sf(x, df, nc):
    return 1.0 - ncx2_cdf(x, df, nc)


def ncx2_noncentrality(x, df, prob):
    """nc ≥ 0 with P(X ≤ x; df, nc) = prob (0 when even nc = 0 gives less than prob)."""
    if chi2_cdf(x, df) <= prob:
        return 0.0
    return float(special.chndtrinc(x, df, prob))
