"""Plain-text reports of fits (no statistics are computed here)."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_summary"]


def _fmt(x, width=9, digits=3):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return " " * (width - 1) + "-"
    return f"{x:{width}.{digits}f}"


def fit_summary(fit) -> str:
    stats = fit.stats
    ses = f"{fit.information} information"
    if getattr(fit, "se_type", "standard") == "robust":
        ses = f"robust (cluster sandwich, {fit.information} information bread)"
    lines = [
        f"pm_mlvm {fit.estimator} fit of a two-level latent variable model",
        f"  observations (N) {stats.n_obs:>8d}    clusters (J) {stats.n_clusters:>6d}"
        f"    variables {stats.n_vars}",
        f"  free parameters  {fit.npar:>8d}    log-likelihood {fit.logl:.4f}",
        f"  optimiser: {'converged' if fit.converged else 'NOT converged'} ({fit.message}; "
        f"{fit.n_iter} iterations)   standard errors: {ses}",
    ]
    measures = getattr(fit, "fit_measures", None)
    if callable(measures):
        try:
            fm = measures()
        except Exception:  # noqa: BLE001 - a report must not fail on a fit measure
            fm = None
        if fm is not None:
            lines.append("")
            lines.append("Fit measures")
            lines.append(
                f"  chi-square {fm['chisq']:.3f}  df {int(fm['df'])}  p {fm['pvalue']:.4f}"
                f"   CFI {fm['cfi']:.3f}  TLI {fm['tli']:.3f}   RMSEA {fm['rmsea']:.3f}"
                f" (J-based; N-based {fm['rmsea_n']:.3f})"
            )
            if "chisq_scaled" in fm:
                lines.append(
                    f"  scaled chi-square {fm['chisq_scaled']:.3f} (Yuan-Bentler, factor "
                    f"{fm['chisq_scaling_factor']:.3f})  p {fm['pvalue_scaled']:.4f}   robust "
                    f"CFI {fm['cfi_robust']:.3f}  TLI {fm['tli_robust']:.3f}  RMSEA "
                    f"{fm['rmsea_robust']:.3f} (N-based {fm['rmsea_robust_n']:.3f})"
                )
            lines.append(
                f"  AIC {fm['aic']:.2f}  BIC {fm['bic']:.2f} (ln J)  BIC {fm['bic_n']:.2f} (ln N)"
                f"   SRMR within {fm['srmr_within']:.3f}  between {fm['srmr_between']:.3f}"
            )
    table = fit.parameters()
    for level in ("both", "within", "between"):
        part = table[table["level"] == level]
        if part.empty:
            continue
        title = {"both": "Shared by both levels", "within": "Within level",
                 "between": "Between level"}[level]
        lines += ["", title, f"  {'matrix':<24}{'row':<12}{'col':<12}"
                  f"{'est':>9}{'se':>9}{'z':>9}{'p':>9}"]
        for _, r in part.iterrows():
            lines.append(f"  {r['matrix']:<24}{str(r['row'])[:11]:<12}{str(r['col'])[:11]:<12}"
                         f"{_fmt(r['est'])}{_fmt(r['se'])}{_fmt(r['z'], digits=2)}"
                         f"{_fmt(r['pvalue'])}")
    for step in getattr(fit, "history", ()):
        cells = ", ".join(map(str, step.params))
        if step.kind == "prune":
            lines.append(f"prune (alpha={step.alpha}, adjust={step.adjust}): removed {cells}")
        else:
            lines.append(f"stepup: freed {cells} (MI {step.statistic:.2f}, LR {step.lr:.2f})")
    for note in fit.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
