"""Factor scores and intraclass correlations of a fitted two-level model, as labelled pandas
objects (lavaan's ``lavPredict(fit, level = 1 / 2)`` and ``lavInspect(fit, "icc")``).

Factor scores (``reference/lavaan_twolevel_extras.md`` §5) are empirical-Bayes (regression)
scores in two steps, at the fitted (structured) moments: the cluster effects
b̂_j = μ + Σ_B (Σ_B + Σ_W/n_j)⁻¹ (ȳ_j − μ), then per level η̂ = VETA Λ' Σ⁻¹ x with
x = y_ij − b̂_j (within) or b̂_j − μ (between)
(:func:`pm_mlvm.ml.lavaan_outputs.factor_scores`). They are the exact conditional means
E[η_W,ij | cluster data] and E[η_B,j | cluster data] of the fitted normal model. Within scores
are labelled by the data's row index, between scores by the cluster ids in order of first
appearance (lavaan's order). They need the raw rows: the fit keeps a reference to the frame it
was built from, or the caller passes one. Rows with missing cells are refused (lavaan 0.6-14
also fails for two-level FIML scores).

The ICC is Σ_B,kk / (Σ_W,kk + Σ_B,kk), from the unrestricted (saturated) two-level model at
its exact maximum (:func:`pm_mlvm.likelihood.reference_models.reference_models`) by default,
as lavaan — which however stops its EM at a log-likelihood change of 1e-4, so its ICCs differ
from ours in the 4th–5th decimal (we do not imitate that stopping point) — or from the fitted
model's implied Σ_W, Σ_B on request.

NumPy/pandas only; never PyTensor or PyMC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError, check_choice
from pm_mlvm.likelihood.reference_models import reference_models
from pm_mlvm.ml import lavaan_outputs as lo
from pm_mlvm.spec.layout import matrix_name
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["LEVEL_CHOICES", "ICC_SOURCES", "level_number", "data_columns", "scores_frame",
           "icc_series"]

#: what ``level=`` accepts, and the lavaan level number of each
LEVEL_CHOICES = {"within": 1, "between": 2, 1: 1, 2: 2}
#: where the ICC's Σ_W and Σ_B come from
ICC_SOURCES = ("saturated", "implied")


def level_number(level) -> int:
    """1 (within) or 2 (between) from ``"within"``/``"between"``/1/2."""
    check_choice("level", level, tuple(LEVEL_CHOICES))
    return LEVEL_CHOICES[level]


def data_columns(data: pd.DataFrame, var_names, clusters) -> list:
    """The columns of ``data`` holding ``var_names`` (matched exactly, or by their text, since
    the statistics keep variable names as strings); raises MLVMInputError naming what is
    missing."""
    if not isinstance(data, pd.DataFrame):
        raise MLVMInputError(f"data must be a pandas DataFrame with one row per unit; got "
                             f"{type(data).__name__}")
    if clusters is None or clusters not in data.columns:
        raise MLVMInputError(f"clusters={clusters!r} is not a column of data; columns are: "
                             f"{list(data.columns)}")
    by_text = {str(c): c for c in data.columns}
    columns, missing = [], []
    for name in var_names:
        if name in data.columns:
            columns.append(name)
        elif name in by_text:
            columns.append(by_text[name])
        else:
            missing.append(name)
    if missing:
        raise MLVMInputError(f"data lacks the model's variables {missing}; columns are: "
                             f"{list(data.columns)}")
    return columns


def scores_frame(spec: MLVMSpec, matrices: dict, data: pd.DataFrame, clusters,
                 level) -> pd.DataFrame:
    """Factor scores of one level as a labelled DataFrame.

    Parameters
    ----------
    spec : MLVMSpec
    matrices : dict
        The fit's matrices (:meth:`MLVMSpec.derived_matrices` at the estimates).
    data : pandas.DataFrame
        One row per unit (never modified); rows with a missing cluster id are skipped, as
        when the statistics were built.
    clusters : column label
        The cluster column.
    level : {"within", "between"} (or 1, 2)

    Returns
    -------
    pandas.DataFrame
        Columns = latent names. ``within``: one row per unit, indexed by ``data``'s index.
        ``between``: one row per cluster, indexed by cluster id (first-appearance order).
    """
    number = level_number(level)
    columns = data_columns(data, spec.var_names, clusters)
    ids = data[clusters]
    keep = ~ids.isna().to_numpy()
    y = data.loc[keep, columns].to_numpy(dtype=float)
    if np.isnan(y).any():
        raise MLVMInputError(
            "data has missing cells in the model's variables; factor scores need complete rows "
            "(drop the incomplete rows, or pass data= without them)")
    betas = {}
    for lv in ("within", "between"):
        name = matrix_name("beta", lv)
        betas[f"beta_{lv}"] = None if spec.matrices[name].is_zero else matrices[name]
    ids_kept = ids[keep].to_numpy()
    scores = lo.factor_scores(
        y, ids_kept, matrices["mu"], matrices["sigma_within"], matrices["sigma_between"],
        matrices["lambda"], matrices[matrix_name("sigma", "zeta_within")],
        matrices[matrix_name("sigma", "zeta_between")], level=number, **betas)
    latents = list(spec.latent_names)
    if number == 1:
        return pd.DataFrame(scores, index=data.index[keep], columns=latents)
    labels = pd.unique(ids_kept)
    return pd.DataFrame(scores, index=pd.Index(labels, name=clusters), columns=latents)


def icc_series(stats: TwoLevelStats, implied: dict | None = None,
               source: str = "saturated") -> pd.Series:
    """ICC per variable (see the module docstring).

    Parameters
    ----------
    stats : TwoLevelStats
    implied : dict, optional
        The fit's implied moments (``sigma_within``, ``sigma_between``); needed for
        ``source="implied"``.
    source : {"saturated", "implied"}

    Returns
    -------
    pandas.Series indexed by variable, named ``icc``.
    """
    check_choice("source", source, ICC_SOURCES)
    if source == "saturated":
        sat, _ = reference_models(stats)
        sw, sb = sat.sigma_within, sat.sigma_between
    else:
        sw, sb = implied["sigma_within"], implied["sigma_between"]
    return pd.Series(lo.icc(sw, sb), index=list(stats.var_names), name="icc")
