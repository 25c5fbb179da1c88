"""The distribution functions of ``pm_mlvm._distributions`` (plain Python, no SciPy) agree
with SciPy to 1e-10 relative over wide grids, and with exact arithmetic where SciPy itself is
less accurate; a fit with its fit measures imports no SciPy."""

import math
import os
import subprocess
import sys
from decimal import Decimal, getcontext
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from pm_mlvm import _distributions as dist
from pm_mlvm.ml import fitmeasures as fmx

ROOT = Path(__file__).resolve().parents[1]
REL = 1e-10
FLOOR = 1e-300  # below it (subnormals, underflow) compare absolutely

DFS = [0.5, 1, 2, 3, 5, 8, 13, 30, 77, 150, 400, 1000, 2500, 1e4, 1e5, 1e6]
X_OVER_DF = [1e-6, 1e-3, 0.01, 0.1, 0.3, 0.5, 0.8, 0.9, 0.99, 1, 1.01, 1.1, 1.5, 2, 3, 5]
X_FIXED = [1e-300, 1e-10, 1e-3, 0.5, 1, 10, 100, 700, 1400]
PROBS = [1e-300, 1e-100, 1e-20, 1e-10, 1e-5, 1e-3, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9,
         0.95, 0.975, 0.999, 1 - 1e-10]


def _assert_close(ours, ref, rel=REL, floor=FLOOR):
    ours, ref = np.broadcast_arrays(np.asarray(ours, float), np.asarray(ref, float))
    big = np.abs(ref) >= floor
    assert np.all(np.abs(ours[big] - ref[big]) <= rel * np.abs(ref[big])), (
        np.max(np.abs(ours[big] - ref[big]) / np.abs(ref[big])))
    assert np.all(np.abs(ours[~big] - ref[~big]) <= rel * floor)


# ------------------------------------------------------------------- exact arithmetic ----

getcontext().prec = 45
_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494")
_BERNOULLI = [(1, 6), (-1, 30), (1, 42), (-1, 30), (5, 66), (-691, 2730), (7, 6),
              (-3617, 510), (43867, 798), (-174611, 330)]  # B_2 … B_20


def _ln_gamma(z):
    """ln Γ(z) in Decimal: shift to z ≥ 40, then Stirling's series to B_20 (error < 1e-45)."""
    z = Decimal(z)
    shift = Decimal(0)
    while z < 40:
        shift += z.ln()
        z += 1
    total = (z - Decimal("0.5")) * z.ln() - z + (2 * _PI).ln() / 2
    for k, (num, den) in enumerate(_BERNOULLI, start=1):
        total += Decimal(num) / Decimal(den) / (2 * k * (2 * k - 1) * z ** (2 * k - 1))
    return total - shift


def _exact_lower_gamma(a, y):
    """P(a, y) = yᵃ e⁻ʸ / Γ(a+1) · Σ_n yⁿ / ((a+1)…(a+n)) in 45-digit arithmetic."""
    a, y = Decimal(a), Decimal(y)
    term = total = Decimal(1)
    n = a
    while term > total * Decimal("1e-44"):
        n += 1
        term = term * y / n
        total += term
    return (a * y.ln() - y - _ln_gamma(a + 1)).exp() * total


def _exact_ncx2_cdf(x, df, nc, terms):
    """Σ_j Poisson(j; nc/2) P(df/2 + j, x/2), j < terms, in 45-digit arithmetic."""
    a, y, mean = Decimal(df) / 2, Decimal(x) / 2, Decimal(nc) / 2
    p = _exact_lower_gamma(a + terms, y)
    log_d = (a + terms) * y.ln() - y - _ln_gamma(a + terms + 1)
    total = Decimal(0)
    for j in range(terms - 1, -1, -1):  # P(b) = P(b+1) + yᵇe⁻ʸ/Γ(b+1), downwards
        log_d += (a + j + 1).ln() - y.ln()
        p += log_d.exp()
        total += (j * mean.ln() - mean - _ln_gamma(j + 1)).exp() * p
    return total


# ---------------------------------------------------------------------------- tests ----

@pytest.mark.parametrize("df", DFS)
def test_chi2_tails_match_scipy_over_a_wide_grid(df):
    x = np.array([df * r for r in X_OVER_DF] + X_FIXED)
    _assert_close(dist.chi2_sf(x, df), special.chdtrc(df, x))
    _assert_close(dist.chi2_cdf(x, df), special.chdtr(df, x))


@pytest.mark.parametrize("df,x,tail", [
    (1e6, 990000.0, "cdf"), (2500, 750.0, "cdf"), (2500, 1400.0, "cdf"), (2500, 3750.0, "sf"),
    (30, 2.0, "cdf"), (8, 90.0, "sf"), (1, 1e-8, "cdf"), (1, 40.0, "sf")])
def test_chi2_far_tails_match_exact_arithmetic(df, x, tail):
    """Where SciPy's own error reaches 1e-11 (far tails at large df) we stay within 1e-12."""
    lower = _exact_lower_gamma(Decimal(df) / 2, Decimal(x) / 2)
    exact = float(lower if tail == "cdf" else 1 - lower)
    ours = dist.chi2_cdf(x, df) if tail == "cdf" else dist.chi2_sf(x, df)
    assert ours == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("df", [1, 2, 5, 30, 400, 1e4])
def test_chi2_upper_quantile_inverts_the_tails(df):
    p = np.array(PROBS)
    x = dist.chi2_isf(p, df)
    small = p <= 0.5
    _assert_close(x[small], special.chdtri(df, p[small]))
    # the side of the distribution where the probability is small is the accurate one
    _assert_close(special.chdtrc(df, x[small]), p[small])
    _assert_close(special.chdtr(df, x[~small]), 1 - p[~small], rel=1e-9)


def test_normal_tail_and_its_inverse_match_scipy():
    z = np.linspace(-38, 38, 2001)
    _assert_close(dist.norm_sf(z), special.ndtr(-z))
    p = np.array(PROBS)
    _assert_close(dist.norm_isf(p), -special.ndtri(p))
    assert dist.norm_isf(0.025) == pytest.approx(1.959963984540054, rel=1e-15)


NCX2_DFS = [1, 2, 3, 8, 30, 100, 400, 2000]
NCX2_NCS = [1e-8, 0.01, 0.5, 3, 10, 50, 200, 1000, 5000]


@pytest.mark.parametrize("df", NCX2_DFS)
def test_noncentral_chi2_tails_match_scipy_over_a_grid(df):
    for nc in NCX2_NCS:
        x = np.concatenate([[0.01, 0.5, 3.0],
                            (df + nc) * np.array([0.1, 0.5, 0.8, 1, 1.2, 2, 4])])
        for ours, ref in ((dist.ncx2_cdf(x, df, nc), stats.ncx2.cdf(x, df, nc)),
                          (dist.ncx2_sf(x, df, nc), stats.ncx2.sf(x, df, nc))):
            # below 1e-100 SciPy's relative error grows or it returns 0 (the exact-arithmetic
            # test below checks those values); there both are merely near 0
            big = ref >= 1e-100
            _assert_close(ours[big], ref[big])
            assert np.all(ours[~big] < 1e-40)


@pytest.mark.parametrize("x,df,nc,terms", [(103.0, 30, 1000, 1400), (10.0, 4, 3, 80),
                                           (2.0, 20, 60, 200), (500.0, 100, 300, 500),
                                           (0.01, 1, 200, 400), (0.01, 30, 200, 400)])
def test_noncentral_chi2_lower_tail_matches_exact_arithmetic(x, df, nc, terms):
    """Including 7e-110, where SciPy is 2e-8 off, and 4e-45 and 9e-91, where it returns 0."""
    exact = float(_exact_ncx2_cdf(x, df, nc, terms))
    assert dist.ncx2_cdf(x, df, nc) == pytest.approx(exact, rel=1e-12)


RMSEA_CASES = [(15.920781208938934, 20), (0.5, 1), (3.0, 3), (30.0, 3), (8.0, 8), (40.0, 8),
               (26.0, 20), (100.0, 20), (130.0, 100), (500.0, 100), (520.0, 400),
               (2000.0, 400), (3250.0, 2500), (50000.0, 2500), (1e6, 400)]


@pytest.mark.parametrize("chisq,df", RMSEA_CASES)
def test_noncentrality_of_the_rmsea_interval_matches_scipys_inverse(chisq, df):
    for prob in (0.95, 0.05, 0.975, 0.025, 0.5):
        ours = dist.ncx2_noncentrality(chisq, df, prob)
        if special.chdtr(df, chisq) <= prob:
            assert ours == 0.0
            continue
        assert ours == pytest.approx(special.chndtrinc(chisq, df, prob), rel=REL)
        assert stats.ncx2.cdf(chisq, df, ours) == pytest.approx(prob, rel=1e-11)


@pytest.mark.parametrize("chisq,df", RMSEA_CASES[:10])
def test_rmsea_interval_and_close_fit_pvalue_agree_with_scipy(chisq, df):
    n = 600
    lo, hi = fmx.rmsea_ci(chisq, df, n)
    for value, prob in ((lo, 0.95), (hi, 0.05)):
        nc = special.chndtrinc(chisq, df, prob) if special.chdtr(df, chisq) > prob else 0.0
        assert value == pytest.approx(math.sqrt(nc / (n * df)), rel=REL, abs=1e-300)
    ref = stats.ncx2.sf(chisq, df, n * df * 0.05**2)
    assert fmx.rmsea_pvalue(chisq, df, n) == pytest.approx(ref, rel=REL)


def test_edge_values_and_shapes():
    assert dist.chi2_sf(0.0, 3) == 1.0 and dist.chi2_sf(-2.0, 3) == 1.0
    assert dist.chi2_cdf(0.0, 3) == 0.0 and dist.chi2_sf(math.inf, 3) == 0.0
    assert math.isnan(dist.chi2_sf(math.nan, 3)) and math.isnan(dist.chi2_sf(1.0, 0))
    assert dist.chi2_isf(0.0, 2) == math.inf and dist.chi2_isf(1.0, 2) == 0.0
    assert math.isnan(dist.chi2_isf(1.5, 2))
    assert dist.norm_isf(0.0) == math.inf and dist.norm_isf(1.0) == -math.inf
    assert dist.norm_isf(0.5) == 0.0 and dist.norm_sf(math.inf) == 0.0
    assert dist.ncx2_cdf(0.0, 3, 2.0) == 0.0 and dist.ncx2_sf(0.0, 3, 2.0) == 1.0
    assert dist.ncx2_cdf(5.0, 3, 0.0) == dist.chi2_cdf(5.0, 3)
    assert math.isnan(dist.ncx2_cdf(5.0, 3, -1.0))
    assert dist.ncx2_noncentrality(1.0, 5, 0.05) == 0.0  # P(χ²₅ ≤ 1) = 0.037 < 0.05
    assert isinstance(dist.chi2_sf(3.0, 2), float) and isinstance(dist.norm_sf(1.0), float)
    grid = np.arange(12.0).reshape(3, 4)
    assert dist.chi2_sf(grid, 2).shape == (3, 4) and dist.norm_sf(grid).shape == (3, 4)
    assert dist.chi2_sf(grid, np.array([1, 2, 3, 4])).shape == (3, 4)


def test_a_fit_with_fit_measures_imports_neither_scipy_nor_pymc_nor_matplotlib():
    code = (
        "import sys, pm_mlvm as pmv\n"
        "fit = pmv.ml_lvm(pmv.load_seed_example(), lambda_={'F1': ['y1', 'y2', 'y3'], "
        "'F2': ['y4', 'y5', 'y6']}, clusters='cluster').fit()\n"
        "fit.fit_measures(); fit.parameters(); fit.summary()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('scipy', 'pytensor', 'pymc', 'arviz', 'matplotlib'))\n"
        "print(heavy)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
