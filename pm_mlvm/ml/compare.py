"""Compare fits of the same data: information criteria and likelihood-ratio tests."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from pm_mlvm._distributions import chi2_sf

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.ml.group_result import GroupResult
from pm_mlvm.ml.result import MLResult

__all__ = ["compare"]


def compare(*fits, names=None) -> pd.DataFrame:
    """One row per model: npar, df, logl, AIC, BIC (ln J), BIC (ln N), chi-square, and the
    likelihood-ratio test of each model against the next less restricted one.

    Rows are ordered by df (most restricted last, as psychonetrics); ``chisq_diff``,
    ``df_diff`` and ``pvalue_diff`` compare each row with the row above it (for nested
    models this is the LR test, identical to the difference of their chi-squares because all
    share one saturated model).

    Parameters
    ----------
    *fits : MLResult or GroupResult
        Fits of the same data (multi-group fits: the same groups).
    names : list of str, optional
        Row labels (default ``model_1``, … in the order given).
    """
    not_fits = [f"fits[{k}] ({type(f).__name__})" for k, f in enumerate(fits)
                if not isinstance(f, (MLResult, GroupResult))]
    if not_fits:
        raise MLVMInputError(f"compare: {', '.join(not_fits)} are not fits; pass results of "
                             "model.fit()")
    if len(fits) < 2:
        raise MLVMInputError(f"compare needs at least two fits; got {len(fits)}")
    if isinstance(names, str):
        names = [names]
    names = list(names) if names is not None else [f"model_{k + 1}" for k in range(len(fits))]
    if len(names) != len(fits):
        raise MLVMInputError(f"names has {len(names)} labels for {len(fits)} fits")
    if len(set(names)) != len(names):
        raise MLVMInputError(f"names={names!r} must be unique")
    prints = {f.digest if isinstance(f, GroupResult) else f.stats.digest for f in fits}
    if len(prints) > 1:
        raise MLVMInputError("compare: the fits were made on different data (their statistics "
                         "differ); compare only models fitted to the same data")
    rows = []
    for name, fit in zip(names, fits):
        fm = fit.fit_measures()
        rows.append(dict(model=name, npar=fit.npar, df=int(fm["df"]), logl=fit.logl,
                         aic=fm["aic"], bic=fm["bic"], bic_n=fm["bic_n"], chisq=fm["chisq"],
                         pvalue=fm["pvalue"], cfi=fm["cfi"], rmsea=fm["rmsea"],
                         rmsea_n=fm["rmsea_n"]))
    table = pd.DataFrame(rows).sort_values("df", kind="stable").reset_index(drop=True)
    diff = table["chisq"].diff()
    ddf = table["df"].diff()
    pvals = [np.nan] + [float(chi2_sf(d, k)) if k > 0 else np.nan
                        for d, k in zip(diff[1:], ddf[1:])]
    if (diff[1:] < -1e-6).any():
        warnings.warn("compare: a more restricted model has a smaller chi-square; the models "
                      "are not nested or a fit did not converge", UserWarning, stacklevel=2)
    table["chisq_diff"] = diff
    table["df_diff"] = ddf
    table["pvalue_diff"] = pvals
    return table.set_index("model")
