"""HTML rendering of fits for notebooks (no statistics computed here)."""

from __future__ import annotations

import html

__all__ = ["fit_html"]


def fit_html(fit) -> str:
    stats = fit.stats
    status = "converged" if fit.converged else "<b>NOT converged</b>"
    head = (f"<p><b>pm_mlvm {html.escape(fit.estimator)} fit</b> — N = {stats.n_obs}, "
            f"J = {stats.n_clusters}, {fit.npar} free parameters, logL = {fit.logl:.4f}, "
            f"{status}; SEs from the {html.escape(fit.information)} information</p>")
    try:
        fm = fit.fit_measures()
        keys = ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_n", "aic", "bic",
                "srmr_within", "srmr_between"]
        measures = fm[keys].to_frame().T.to_html(float_format=lambda v: f"{v:.3f}",
                                                 index=False)
    except Exception:  # noqa: BLE001 - a notebook display must not fail on a fit measure
        measures = ""
    table = fit.parameters().drop(columns=["par"]).to_html(
        float_format=lambda v: f"{v:.3f}", index=False, na_rep="")
    return head + measures + table
