"""Fit measures: pure functions of numbers, and a thin adapter reading a fit.

Conventions (``reference/lavaan_twolevel.md``, ``reference/psychonetrics_ml_lvm.md`` §4):

* chi-square = 2 (logL_h1 − logL), h1 the saturated two-level model at its maximum;
  df = p + p(p+1) − npar; the baseline is the independence model (3p parameters).
* Sample size for RMSEA and BIC: the seed / psychonetrics use J (clusters) — ``rmsea``,
  ``bic``, ``sabic``; lavaan uses N (rows) — ``rmsea_n``, ``bic_n``, ``sabic_n``. Hence
  ``rmsea / rmsea_n = sqrt(N / J)`` whenever both are positive.
* RMSEA = sqrt(max(X²/(n df) − 1/n, 0)); its 90 % CI inverts the noncentral χ²
  (lavaan's method); its p-value tests RMSEA ≤ 0.05.
* SRMR per level (lavaan): root mean square of the correlation residuals between the h1
  and model-implied matrices, diagonal included in the count; ``srmr`` = within + between.
* Several groups (lavaan's rules): RMSEA, its CI and close-fit p-value with √G
  (RMSEA = √G·√max(X²/(n df) − 1/n, 0)); SRMR per level the N_g/N-weighted mean over groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pm_mlvm._distributions import chi2_sf, ncx2_noncentrality, ncx2_sf

__all__ = [
    "chisq_pvalue", "cfi", "tli", "nfi", "rni", "rmsea", "rmsea_ci", "rmsea_pvalue",
    "information_criteria", "srmr", "fit_measures",
]


def chisq_pvalue(chisq: float, df: int) -> float:
    return float(chi2_sf(chisq, df)) if df > 0 else float("nan")


def cfi(chisq, df, base_chisq, base_df) -> float:
    """1 − max(X² − df, 0) / max(X² − df, X²_b − df_b, 0); 1 when both are 0."""
    num = max(chisq - df, 0.0)
    den = max(chisq - df, base_chisq - base_df, 0.0)
    return 1.0 if den == 0 else 1.0 - num / den


def tli(chisq, df, base_chisq, base_df) -> float:
    """(X²_b/df_b − X²/df) / (X²_b/df_b − 1); not truncated; 1 when df = 0."""
    if df == 0 or base_df == 0:
        return 1.0
    den = base_chisq / base_df - 1.0
    return 1.0 if den == 0 else (base_chisq / base_df - chisq / df) / den


def nfi(chisq, base_chisq) -> float:
    return (base_chisq - chisq) / base_chisq if base_chisq > 0 else float("nan")


def rni(chisq, df, base_chisq, base_df) -> float:
    den = base_chisq - base_df
    return 1.0 - (chisq - df) / den if den != 0 else float("nan")


def rmsea(chisq, df, n, groups: int = 1) -> float:
    if df <= 0:
        return 0.0
    return float(np.sqrt(groups) * np.sqrt(max(chisq / (n * df) - 1.0 / n, 0.0)))


def rmsea_ci(chisq, df, n, level=0.90, groups: int = 1) -> tuple[float, float]:
    """Noncentral-χ² confidence interval of RMSEA (lavaan's method; √G with G groups)."""
    if df <= 0:
        return 0.0, 0.0
    n = n / groups
    upper_p, lower_p = (1 + level) / 2, (1 - level) / 2

    def ncp_for(prob):
        return ncx2_noncentrality(chisq, df, prob)

    lam_lo, lam_hi = ncp_for(upper_p), ncp_for(lower_p)
    return float(np.sqrt(lam_lo / (n * df))), float(np.sqrt(lam_hi / (n * df)))


def rmsea_pvalue(chisq, df, n, close=0.05, groups: int = 1) -> float:
    if df <= 0:
        return float("nan")
    return float(ncx2_sf(chisq, df, n * df * close**2 / groups))


def information_criteria(logl, npar, n) -> dict:
    return {"aic": -2 * logl + 2 * npar, "bic": -2 * logl + npar * np.log(n),
            "sabic": -2 * logl + npar * np.log((n + 2) / 24)}


def _cov2cor(cov):
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def _force_pd(cov):
    """lavaan's symmetric-force-pd: raise eigenvalues below 1e-6·λ_max to that value."""
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    floor = 1e-6 * vals.max()
    return (vecs * np.maximum(vals, floor)) @ vecs.T


def srmr(observed_cov, implied_cov) -> float:
    """sqrt(mean over vech, diagonal included, of (cor(S) − cor(Σ))²).

    Σ is forced positive definite on the correlation scale, so SRMR does not depend on the
    variables' units."""
    resid = _cov2cor(observed_cov) - _cov2cor(_force_pd(_cov2cor(implied_cov)))
    rows, cols = np.tril_indices(len(resid))
    return float(np.sqrt(np.mean(resid[rows, cols] ** 2)))


def fit_measures(logl, npar, df, sat_logl, sat_npar, base_logl, base_npar, n_obs, n_clusters,
                 h1_within, h1_between, implied_within, implied_between,
                 groups: int = 1, weights=None) -> pd.Series:
    """Every fit measure from numbers (see the module docstring for conventions).

    With ``weights`` (the groups' N_g/N), ``h1_*`` and ``implied_*`` are sequences (one
    matrix per group); ``groups`` is G."""
    chisq = max(2.0 * (sat_logl - logl), 0.0)
    base_chisq = max(2.0 * (sat_logl - base_logl), 0.0)
    base_df = sat_npar - base_npar
    out = {
        "logl": logl, "unrestricted_logl": sat_logl, "baseline_logl": base_logl,
        "npar": npar, "nobs": n_obs, "nclusters": n_clusters, "df": df,
        "chisq": chisq, "pvalue": chisq_pvalue(chisq, df),
        "baseline_chisq": base_chisq, "baseline_df": base_df,
        "baseline_pvalue": chisq_pvalue(base_chisq, base_df),
        "cfi": cfi(chisq, df, base_chisq, base_df), "tli": tli(chisq, df, base_chisq, base_df),
        "nfi": nfi(chisq, base_chisq), "rni": rni(chisq, df, base_chisq, base_df),
    }
    for suffix, n in (("", n_clusters), ("_n", n_obs)):
        lo, hi = rmsea_ci(chisq, df, n, groups=groups)
        out[f"rmsea{suffix}"] = rmsea(chisq, df, n, groups=groups)
        out[f"rmsea{suffix}_ci_lower"] = lo
        out[f"rmsea{suffix}_ci_upper"] = hi
        out[f"rmsea{suffix}_pvalue"] = rmsea_pvalue(chisq, df, n, groups=groups)
    ic_j, ic_n = information_criteria(logl, npar, n_clusters), information_criteria(logl, npar,
                                                                                     n_obs)
    out.update(aic=ic_j["aic"], bic=ic_j["bic"], sabic=ic_j["sabic"], bic_n=ic_n["bic"],
               sabic_n=ic_n["sabic"])
    if weights is None:
        out["srmr_within"] = srmr(h1_within, implied_within)
        out["srmr_between"] = srmr(h1_between, implied_between)
    else:
        out["srmr_within"] = float(sum(w * srmr(h, m) for w, h, m in
                                       zip(weights, h1_within, implied_within)))
        out["srmr_between"] = float(sum(w * srmr(h, m) for w, h, m in
                                        zip(weights, h1_between, implied_between)))
    out["srmr"] = out["srmr_within"] + out["srmr_between"]
    return pd.Series(out, name="fit_measures", dtype=float)
