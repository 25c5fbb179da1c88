"""Normal, χ² and noncentral χ² tail functions in plain Python (``math``), without SciPy.

Fit measures, Wald tests and the RMSEA interval need only a handful of distribution
functions; importing ``scipy.special`` for them cost more than a whole ML fit of a small
model, so they are computed here from their textbook definitions:

* normal upper tail ``Φ̄(z) = erfc(z/√2)/2``; its inverse by Halley steps on ``Φ̄`` from the
  Abramowitz–Stegun 26.2.23 starting value;
* χ² tails through the regularized incomplete gamma functions P(a, x) and Q(a, x): the power
  series of P for x < a + 1, Legendre's continued fraction of Q otherwise (modified Lentz),
  both scaled by the Poisson probability ``xᵃ e⁻ˣ / Γ(a+1)`` computed from Stirling's error
  term and ``log1p`` so that it stays accurate for large a;
* the noncentral χ² as a Poisson(λ/2) mixture of central χ² with df + 2j degrees of freedom,
  summed (in logarithms, vectorised) over a window of j around the largest term; the
  incomplete gammas along the window follow from one value at its end by the recurrence
  ``P(b, y) = P(b+1, y) + yᵇe⁻ʸ/Γ(b+1)`` (``Q(b+1, y) = Q(b, y) + yᵇe⁻ʸ/Γ(b+1)``) run in the
  direction that only adds. The smaller of the two tails is summed, the other is 1 − it, so
  both are accurate in relative terms where they are small;
* quantiles (χ² upper quantile, the noncentrality giving a cdf value — the RMSEA interval)
  by safeguarded Newton iteration inside a bracket, on the log scale in far tails.

Accuracy (``tests/test_distributions.py``): within 1e-10 relative of SciPy over wide grids,
and within 1e-12 of 45-digit decimal arithmetic where SciPy itself is less accurate (far
tails of large-df χ²; noncentral χ² below 1e-100).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["chi2_sf", "chi2_cdf", "chi2_isf", "norm_sf", "norm_isf", "ncx2_cdf", "ncx2_sf",
           "ncx2_noncentrality"]

_EPS = 2.0**-52
_SQRT_HALF = math.sqrt(0.5)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_TINY = 1e-300
_MAX_ITER = 100_000

# Stirling series of ln Γ(a+1) − [(a + ½) ln a − a + ½ ln 2π]: B_2k / (2k (2k − 1) a^(2k−1))
_STIRLING = (1.0 / 12, -1.0 / 360, 1.0 / 1260, -1.0 / 1680, 1.0 / 1188, -691.0 / 360360,
             1.0 / 156)


def _stirling_error(a: float) -> float:
    """ln Γ(a+1) − (a + ½) ln a + a − ½ ln 2π (a > 0)."""
    if a < 16.0:
        return math.lgamma(a + 1.0) - (a + 0.5) * math.log(a) + a - _LOG_SQRT_2PI
    inv2 = 1.0 / (a * a)
    total = 0.0
    for coef in reversed(_STIRLING):
        total = total * inv2 + coef
    return total / a


def _log_poisson_term(a: float, x: float) -> float:
    """ln(xᵃ e⁻ˣ / Γ(a+1)) for a ≥ 0, x > 0 (the log Poisson probability of a at mean x)."""
    if a == 0.0:
        return -x
    if a < 1.0:  # Stirling's form loses accuracy near a = 0; the direct form is fine there
        return a * math.log(x) - x - math.lgamma(a + 1.0)
    # a ln x − x − ln Γ(a+1) = a·(log1p(t) − t) − ½ ln(2πa) − stirling(a), t = (x − a)/a
    t = (x - a) / a
    if abs(t) < 0.5:
        log1pmt = _log1p_minus(t)
    else:  # log(x/a) keeps its accuracy for x ≪ a, where 1 + t would not
        log1pmt = math.log(x / a) - t
    return a * log1pmt - _stirling_error(a) - 0.5 * math.log(2.0 * math.pi * a)


def _poisson_term(a: float, x: float) -> float:
    """xᵃ e⁻ˣ / Γ(a+1) for a ≥ 0, x ≥ 0."""
    if x == 0.0:
        return 1.0 if a == 0.0 else 0.0
    return math.exp(_log_poisson_term(a, x))


def _log1p_minus(t: float) -> float:
    """log(1 + t) − t for |t| < ½, without the cancellation of the two terms."""
    # log(1+t) − t = −t²/2 + t·(t − log(1+t))... use the series in u = t/(2 + t):
    # log(1+t) = 2 atanh(u) = 2(u + u³/3 + u⁵/5 + …), so log(1+t) − t = 2 Σ_{k≥1} u^(2k+1)/(2k+1)
    # − t·u  (because t − 2u = t·u).
    u = t / (2.0 + t)
    u2 = u * u
    term = u * u2
    total = 0.0
    k = 3
    while True:
        add = term / k
        total += add
        if abs(add) <= _EPS * abs(total):
            break
        term *= u2
        k += 2
    return 2.0 * total - t * u


def _gamma_p_series(a: float, x: float) -> float:
    """P(a, x) / (xᵃ e⁻ˣ / Γ(a+1)): the power series Σ_n xⁿ / ((a+1)…(a+n)), for x < a + 1."""
    term = 1.0
    total = 1.0
    n = a
    for _ in range(_MAX_ITER):
        n += 1.0
        term *= x / n
        total += term
        if term <= _EPS * total:
            break
    return total


def _gamma_q_fraction(a: float, x: float) -> float:
    """Q(a, x) / (xᵃ e⁻ˣ / Γ(a)): Legendre's continued fraction (modified Lentz), x ≥ a + 1."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) <= _EPS:
            break
    return h


def _gamma_pq(a: float, x: float) -> tuple[float, float]:
    """(P(a, x), Q(a, x)), regularized lower and upper incomplete gamma, a > 0, x ≥ 0."""
    if x <= 0.0:
        return 0.0, 1.0
    if math.isinf(x):
        return 1.0, 0.0
    if x < a + 1.0:
        p = _poisson_term(a, x) * _gamma_p_series(a, x)
        return p, 1.0 - p
    q = a * _poisson_term(a, x) * _gamma_q_fraction(a, x)  # xᵃe⁻ˣ/Γ(a) = a·xᵃe⁻ˣ/Γ(a+1)
    return 1.0 - q, q


def _log_one_minus_exp(v: float) -> float:
    """ln(1 − eᵛ) for v ≤ 0, accurate on both sides of v = −ln 2."""
    if v >= 0.0:
        return -math.inf
    return math.log(-math.expm1(v)) if v > -0.6931471805599453 else math.log1p(-math.exp(v))


def _log_gamma_pq(a: float, x: float) -> tuple[float, float, float]:
    """(ln P(a, x), ln Q(a, x), ln(xᵃ e⁻ˣ / Γ(a+1))) for a > 0, 0 < x < ∞; the logarithms
    stay accurate where P or Q itself would underflow."""
    log_d = _log_poisson_term(a, x)
    if x < a + 1.0:
        log_p = log_d + math.log(_gamma_p_series(a, x))
        return log_p, _log_one_minus_exp(log_p), log_d
    log_q = math.log(a) + log_d + math.log(_gamma_q_fraction(a, x))
    return _log_one_minus_exp(log_q), log_q, log_d


def _scalar_or_array(func, *args):
    """Apply a scalar function elementwise; a float for scalar input, an array otherwise."""
    arrays = np.broadcast_arrays(*[np.asarray(a, dtype=float) for a in args])
    if arrays[0].ndim == 0:
        return func(*(float(a) for a in arrays))
    flat = [a.ravel().tolist() for a in arrays]
    out = np.fromiter((func(*vals) for vals in zip(*flat)), dtype=float,
                      count=arrays[0].size)
    return out.reshape(arrays[0].shape)


# --------------------------------------------------------------------------------- χ² ----

def _chi2_pq(x: float, df: float) -> tuple[float, float]:
    if math.isnan(x) or math.isnan(df) or df <= 0.0:
        return math.nan, math.nan
    return _gamma_pq(0.5 * df, 0.5 * max(x, 0.0))


def chi2_sf(x, df):
    """P(X > x) for X ~ χ²(df); 1 for x ≤ 0."""
    return _scalar_or_array(lambda x_, k: _chi2_pq(x_, k)[1], x, df)


def chi2_cdf(x, df):
    """P(X ≤ x) for X ~ χ²(df); 0 for x ≤ 0."""
    return _scalar_or_array(lambda x_, k: _chi2_pq(x_, k)[0], x, df)


def _chi2_density(x: float, df: float) -> float:
    """Density of χ²(df) at x > 0: (x/2)^(a−1) e^(−x/2) / (2 Γ(a)) = a·Poisson(a; x/2)/x."""
    a = 0.5 * df
    return a * _poisson_term(a, 0.5 * x) / x


def _chi2_isf_scalar(p: float, df: float) -> float:
    if math.isnan(p) or math.isnan(df) or df <= 0.0 or p < 0.0 or p > 1.0:
        return math.nan
    if p == 0.0:
        return math.inf
    if p == 1.0:
        return 0.0
    # Wilson–Hilferty start, then Newton on Q(x) = p (on log Q in the far tail)
    z = _norm_isf_scalar(p)
    h = 2.0 / (9.0 * df)
    x = df * max(1.0 - h + z * math.sqrt(h), 0.1) ** 3

    def upper_tail(x_):
        lower, upper = _chi2_pq(x_, df)
        return upper, lower, _chi2_density(x_, df)

    return _decreasing_root(upper_tail, x, 0.0, math.inf, p)


def chi2_isf(p, df):
    """x with P(X > x) = p for X ~ χ²(df)."""
    return _scalar_or_array(_chi2_isf_scalar, p, df)


# ----------------------------------------------------------------------------- normal ----

def _norm_sf_scalar(z: float) -> float:
    return 0.5 * math.erfc(z * _SQRT_HALF)


def norm_sf(z):
    """P(Z > z) for Z ~ N(0, 1)."""
    return _scalar_or_array(_norm_sf_scalar, z)


def _norm_isf_scalar(p: float) -> float:
    if math.isnan(p) or p < 0.0 or p > 1.0:
        return math.nan
    if p == 0.0:
        return math.inf
    if p == 1.0:
        return -math.inf
    if p > 0.5:
        return -_norm_isf_scalar(1.0 - p)  # exact: 1 − p has no rounding for p in [½, 1]
    if p == 0.5:
        return 0.0
    # Abramowitz & Stegun 26.2.23 (|error| < 4.5e-4), then Halley's iteration on Φ̄(z) = p
    t = math.sqrt(-2.0 * math.log(p))
    z = t - (2.515517 + t * (0.802853 + t * 0.010328)) / (
        1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)))
    for _ in range(8):
        density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        if density == 0.0:
            break
        g = _norm_sf_scalar(z) - p
        # Φ̄' = −φ, Φ̄'' = zφ:  z ← z − 2gg' / (2g'² − gg'') = z + 2g / (2φ − g z)
        step = 2.0 * g / (2.0 * density - g * z)
        z += step
        if abs(step) <= 4.0 * _EPS * abs(z):
            break
    return z


def norm_isf(p):
    """z with P(Z > z) = p for Z ~ N(0, 1)."""
    return _scalar_or_array(_norm_isf_scalar, p)


# ---------------------------------------------------------------------- noncentral χ² ----

_NEGLIGIBLE = math.log(1e-17)  # relative size of the terms a sum may leave out


def _log1p_minus_array(t: np.ndarray) -> np.ndarray:
    """log(1 + t) − t elementwise for |t| < ½ (the series of ``_log1p_minus``, 22 terms:
    |u| ≤ ⅓ there, so the omitted terms are below 9⁻²² of the first)."""
    u = t / (2.0 + t)
    u2 = u * u
    series = np.zeros_like(t)
    for k in range(45, 1, -2):  # Horner: Σ_{k odd ≥ 3} u^k / k = u³ (1/3 + u²(1/5 + …))
        series = series * u2 + 1.0 / k
    return 2.0 * u * u2 * series - t * u


def _log_poisson_terms(b: np.ndarray, x: float) -> np.ndarray:
    """``_log_poisson_term`` elementwise over b ≥ 0 (x > 0 a scalar)."""
    out = np.empty_like(b)
    small = b < 1.0
    if small.any():
        out[small] = [bb * math.log(x) - x - math.lgamma(bb + 1.0) for bb in b[small]]
    big = ~small
    if big.any():
        bb = b[big]
        t = (x - bb) / bb
        near = np.abs(t) < 0.5
        log1pmt = np.empty_like(bb)
        log1pmt[near] = _log1p_minus_array(t[near])
        log1pmt[~near] = np.log(x / bb[~near]) - t[~near]
        stirling = np.empty_like(bb)
        low = bb < 16.0
        stirling[low] = [_stirling_error(v) for v in bb[low]]
        inv2 = 1.0 / (bb[~low] * bb[~low])
        total = np.zeros_like(inv2)
        for coef in reversed(_STIRLING):
            total = total * inv2 + coef
        stirling[~low] = total / bb[~low]
        out[big] = bb * log1pmt - stirling - 0.5 * np.log(2.0 * math.pi * bb)
    return out


def _log_sum_exp(values: np.ndarray) -> float:
    top = float(values.max()) if values.size else -math.inf
    if top == -math.inf:
        return -math.inf
    return top + math.log(float(np.exp(values - top).sum()))


def _ncx2_mixture(x: float, df: float, nc: float, upper: bool) -> tuple[float, float]:
    """(Σ_j w_j T(a + j, y), Σ_j w_j D(a + j, y)) with y = x/2, a = df/2, w_j the
    Poisson(nc/2) probabilities, D(b, y) = yᵇ e⁻ʸ / Γ(b+1), and T = P (``upper=False``: the
    cdf) or T = Q (``upper=True``: the survival function); the second sum is −2 ∂cdf/∂nc.

    j runs over the peak of the terms ± (12 √max(mean, peak) + 40); the window widens until
    the terms left out on either side are provably below 1e-17 of the sum. T along the
    window comes from one incomplete gamma value at the end where the recurrence adds
    positive numbers — P(b, y) = P(b + 1, y) + D(b, y) accumulated downwards from the top,
    Q(b + 1, y) = Q(b, y) + D(b, y) upwards from the bottom — as a cumulative sum.
    Logarithms and scaled sums throughout, so nothing underflows before the result does."""
    a, y, mean = 0.5 * df, 0.5 * x, 0.5 * nc
    # the terms peak near j* with j*(a + j*) = mean·y (w_j D(a+j, y) is largest there); j* is
    # the Poisson mode when x is the mean df + nc, below it in the lower tail, above in the upper
    centre = round(0.5 * (math.sqrt(a * a + 4.0 * mean * y) - a))
    reach = math.ceil(12.0 * math.sqrt(max(mean, centre, 1.0)) + 40.0)
    log_p_first = None  # ln P(a, y) ≥ P(a + j, y) for every j
    for _ in range(40):  # widen (double the reach) until the left-out bound holds
        lo, hi = max(centre - reach, 0), centre + reach
        j = np.arange(lo, hi + 1, dtype=float)
        log_w = _log_poisson_terms(j, mean)
        log_d = _log_poisson_terms(a + j, y)
        end = lo if upper else hi
        log_p_end, log_q_end, _ = _log_gamma_pq(a + end, y)
        log_t_end = log_q_end if upper else log_p_end
        scale = max(float(log_d.max()), log_t_end)
        d = np.exp(log_d - scale)
        if upper:  # Q(a + lo + k) = Q(a + lo) + Σ_{i < k} D(a + lo + i)
            t = np.exp(log_t_end - scale) + np.concatenate(([0.0], np.cumsum(d[:-1])))
        else:      # P(a + hi − k) = P(a + hi) + Σ_{i < k} D(a + hi − 1 − i)
            t = np.exp(log_t_end - scale) + np.concatenate(
                (np.cumsum(d[-2::-1])[::-1], [0.0]))
        with np.errstate(divide="ignore"):
            log_t = np.log(t) + scale
        log_total = _log_sum_exp(log_w + log_t)
        # terms left out above hi: T ≤ T(hi) for P, ≤ 1 for Q; the weights sum to
        # ≤ w(hi)·r/(1 − r) with r = mean/(hi + 1) when r < 1, and to ≤ 1 anyway
        r_hi = mean / (hi + 1.0)
        above = (math.log(r_hi / (1.0 - r_hi)) + log_w[-1] if r_hi < 1.0 else 0.0) + (
            0.0 if upper else log_t[-1])
        # below lo: T ≤ T(lo) for Q, ≤ P(a, y) for P; weights ≤ w(lo)·r/(1 − r), r = lo/mean
        below = -math.inf
        if lo > 0:
            if log_p_first is None and not upper:
                log_p_first = _log_gamma_pq(a, y)[0]
            r_lo = lo / mean
            below = (math.log(r_lo / (1.0 - r_lo)) + log_w[0] if r_lo < 1.0 else 0.0) + (
                log_t[0] if upper else log_p_first)
        if max(above, below) <= _NEGLIGIBLE + log_total:
            break
        reach *= 2
    return math.exp(log_total), math.exp(_log_sum_exp(log_w + log_d))


def _ncx2_valid(x, df, nc):
    return not (math.isnan(x) or math.isnan(df) or math.isnan(nc) or df <= 0.0 or nc < 0.0)


def _ncx2_tails(x: float, df: float, nc: float) -> tuple[float, float, float]:
    """(cdf, sf, −∂cdf/∂nc) of the noncentral χ²(df, nc) at x > 0, nc > 0: one mixture sum
    for the tail below ½ (x below / above the mean df + nc), the other tail as 1 − it."""
    upper = x > df + nc
    tail, deriv = _ncx2_mixture(x, df, nc, upper=upper)
    tail = min(tail, 1.0)
    if upper:
        return 1.0 - tail, tail, 0.5 * deriv
    return tail, 1.0 - tail, 0.5 * deriv


def _ncx2_cdf_scalar(x: float, df: float, nc: float) -> float:
    if not _ncx2_valid(x, df, nc):
        return math.nan
    if x <= 0.0:
        return 0.0
    if math.isinf(x):
        return 1.0
    if nc == 0.0:
        return _chi2_pq(x, df)[0]
    return _ncx2_tails(x, df, nc)[0]


def _ncx2_sf_scalar(x: float, df: float, nc: float) -> float:
    if not _ncx2_valid(x, df, nc):
        return math.nan
    if x <= 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if nc == 0.0:
        return _chi2_pq(x, df)[1]
    return _ncx2_tails(x, df, nc)[1]


def ncx2_cdf(x, df, nc):
    """P(X ≤ x) for X ~ noncentral χ²(df, nc); the central χ² at nc = 0."""
    return _scalar_or_array(_ncx2_cdf_scalar, x, df, nc)


def ncx2_sf(x, df, nc):
    """P(X > x) for X ~ noncentral χ²(df, nc), accurate in relative terms where it is small."""
    return _scalar_or_array(_ncx2_sf_scalar, x, df, nc)


def ncx2_noncentrality(x, df, prob):
    """nc ≥ 0 with P(X ≤ x; df, nc) = prob (0 when even nc = 0 gives less than prob)."""
    x, df, prob = float(x), float(df), float(prob)
    if not _ncx2_valid(x, df, 0.0) or not 0.0 < prob < 1.0:
        return math.nan
    if x <= 0.0 or _ncx2_cdf_scalar(x, df, 0.0) <= prob:
        return 0.0
    if math.isinf(x):
        return math.inf

    def lower_tail(nc):  # the cdf falls as nc grows; −∂cdf/∂nc = ½ Σ_j w_j D(a + j, x/2)
        if nc == 0.0:
            lower, upper = _chi2_pq(x, df)
            return lower, upper, 0.5 * _poisson_term(0.5 * df, 0.5 * x)
        return _ncx2_tails(x, df, nc)

    # the noncentral χ² has mean df + nc: start where x is that mean
    return float(_decreasing_root(lower_tail, max(x - df, 1.0), 0.0, math.inf, prob))


# ------------------------------------------------------------------------ root finding ----

def _decreasing_root(func, x, lo, hi, target):
    """x in (lo, hi) with value(x) = target for a decreasing probability ``value``.

    ``func(x)`` returns (value, 1 − value computed accurately, −d value/dx). Newton steps —
    on log(value) when value is small, on log(1 − value) when that is small, so far tails
    converge too — kept inside a bracket that shrinks as the sign of value − target is seen;
    bisection (doubling while the bracket is open above) when a step would leave it."""
    for _ in range(500):
        value, complement, slope = func(x)
        # the sign from the smaller (accurately known) tail: 1 − target is exact for
        # target ≥ ½, and value − target would round to 0 too early when value ≈ 1
        gap = value - target if value <= complement else (1.0 - target) - complement
        if gap == 0.0:
            return x
        if gap > 0.0:
            lo = x
        else:
            hi = x
        new = math.nan
        if slope > 0.0 and math.isfinite(slope):
            if 0.0 < value < 0.1:
                new = x + math.log(value / target) * value / slope
            elif 0.0 < complement < 0.1:
                log_ratio = math.log((1.0 - target) / complement)
                new = x + log_ratio * complement / slope
                if not lo < new < hi and x > 0.0:
                    # near x = 0 the complement behaves like a power of x: Newton on
                    # log(complement) against log x
                    new = x * math.exp(log_ratio * complement / (x * slope))
            else:
                new = x + gap / slope
            if abs(new - x) <= 4.0 * _EPS * abs(x):
                return new  # converged (rounding may put it on the bracket's edge)
        if not (math.isfinite(new) and lo < new < hi):
            new = 2.0 * x + 1.0 if math.isinf(hi) else 0.5 * (lo + hi)
        if math.isfinite(hi) and hi - lo <= 4.0 * _EPS * hi:
            return new
        x = new
    return x
