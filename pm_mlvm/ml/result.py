"""The immutable result of a maximum-likelihood fit.

Estimates live in θ (the spec's free parameters); everything else is derived from θ and the
covariance matrix of θ on demand (cached). Matrix names follow psychonetrics.

A result is a value: it imports no algorithm. What needs one (fit measures, modification
indices, prune, stepup, standardized solutions, ICCs, factor scores, the bootstrap) goes
through the ``fitter`` that made it
(:class:`pm_mlvm.ml.fit.Fitter`), which owns the data and the fitting options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from pm_mlvm._distributions import norm_isf, norm_sf
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.report.text import fit_summary
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["MLResult", "derived_matrices"]


def derived_matrices(spec: MLVMSpec, theta) -> dict:
    """Every parameter matrix and derived matrix (NumPy) at θ, by psychonetrics name
    (:meth:`MLVMSpec.derived_matrices`)."""
    return spec.derived_matrices(theta)


@dataclass(frozen=True, eq=False)
class MLResult:
    """Maximum-likelihood estimates with standard errors (immutable).

    Attributes
    ----------
    spec, stats : the model and data statistics
    theta : estimates of the free parameters (spec order)
    logl : maximised log-likelihood (constant included)
    converged, message, n_iter, n_eval : optimiser status
    decrement : Newton decrement at the estimates (log-likelihood units; scale-free)
    information : ``"expected"`` or ``"observed"`` (what the SEs use; with
        ``se_type="robust"`` the bread of the sandwich)
    vcov : covariance matrix of θ (NaN rows/columns for parameters held on a bound)
    se_type : ``"standard"`` (inverse information) or ``"robust"`` (cluster-robust
        sandwich, lavaan's MLR; the fit measures then add the scaled test and robust indices)
    on_bound : mask of parameters held on a bound by the gradient (Heywood cases)
    fitter : the :class:`~pm_mlvm.ml.fit.Fitter` that made this result
    bootstrap_draws : cluster-bootstrap replicates
        (:class:`~pm_mlvm.ml.bootstrap.BootstrapDraws`) of a result returned by
        :meth:`bootstrap`; ``None`` otherwise
    """

    spec: MLVMSpec
    stats: TwoLevelStats
    theta: np.ndarray
    logl: float
    converged: bool
    message: str
    n_iter: int
    n_eval: int
    decrement: float
    information: str
    vcov: np.ndarray
    information_ok: bool
    on_bound: np.ndarray
    start: str
    notes: tuple
    estimator: str = "ML"
    history: tuple = ()
    fitter: Any = field(default=None, repr=False)
    se_type: str = "standard"
    bootstrap_draws: Any = field(default=None, repr=False)

    def __post_init__(self):
        for arr in (self.theta, self.vcov, self.on_bound):
            arr.setflags(write=False)

    # ------------------------------------------------------------------ numbers
    @property
    def npar(self) -> int:
        return self.spec.npar

    @cached_property
    def se(self) -> np.ndarray:
        var = np.diag(self.vcov).copy()
        var[var < 0] = np.nan
        return np.sqrt(var)

    @cached_property
    def _matrices(self) -> dict:
        return derived_matrices(self.spec, self.theta)

    @cached_property
    def heywood(self) -> pd.DataFrame:
        """Free parameters whose estimate lies on a bound (e.g. a zero variance)."""
        table = self.parameters()
        free = table[table["free"]].sort_values("par")
        return free[self.on_bound[free["par"].to_numpy()]].reset_index(drop=True)

    def parameters(self, ci: str | None = None, level: float = 0.95) -> pd.DataFrame:
        """Free parameters and non-zero fixed cells: matrix, row, col, level, est, se, z,
        pvalue, free, par.

        Parameters
        ----------
        ci : {None, "wald", "bootstrap"}
            Add ``ci_lower`` and ``ci_upper``: est ± z·se (``"wald"``), or the percentile
            interval of the cluster bootstrap (``"bootstrap"``; a result from
            :meth:`bootstrap`). Fixed cells get NaN.
        level : float
            Coverage of the interval.
        """
        if ci not in (None, "wald", "bootstrap"):
            raise MLVMInputError(f"ci={ci!r} is not valid; valid: None, 'wald', 'bootstrap'")
        if ci is not None and not (isinstance(level, float | int) and 0 < level < 1):
            raise MLVMInputError(f"level={level!r} must be a number between 0 and 1")
        table = self.spec.parameter_table()
        est = self.theta
        with np.errstate(divide="ignore", invalid="ignore"):
            z = est / self.se
        frame = pd.DataFrame({
            "matrix": table["matrix"], "row": table["row"], "col": table["col"],
            "level": table["level"], "est": est, "se": self.se, "z": z,
            "pvalue": 2 * norm_sf(np.abs(z)), "free": True, "par": table["par"],
        })
        if ci == "wald":
            half = norm_isf((1 - level) / 2) * self.se
            frame["ci_lower"], frame["ci_upper"] = est - half, est + half
        elif ci == "bootstrap":
            if self.bootstrap_draws is None:
                raise MLVMInputError("ci='bootstrap' needs bootstrap draws: use the result of "
                                     "fit.bootstrap(n=..., seed=...)")
            frame["ci_lower"], frame["ci_upper"] = self.bootstrap_draws.interval(level)
        fixed_rows = []
        for name, mat in self.spec.matrices.items():
            rows, cols = np.nonzero(~mat.free & (mat.fixed != 0))
            for r, c in zip(rows, cols):
                if mat.mirrored and c > r:
                    continue
                fixed_rows.append(dict(matrix=name, row=mat.row_names[r],
                                       col=mat.col_names[c] if mat.kind != "vector" else "",
                                       level=mat.level, est=mat.fixed[r, c], se=np.nan,
                                       z=np.nan, pvalue=np.nan, free=False, par=-1))
        if fixed_rows and not self.spec.observed_only:
            frame = pd.concat([frame, pd.DataFrame(fixed_rows)], ignore_index=True)
        order = {n: k for k, n in enumerate(self.spec.matrices)}
        frame = frame.sort_values(["matrix", "par"], key=lambda s: s.map(order)
                                  if s.name == "matrix" else s, kind="stable")
        return frame.reset_index(drop=True)

    @cached_property
    def _fit_measures(self) -> pd.Series:
        return self.fitter.fit_measures(self)

    def fit_measures(self) -> pd.Series:
        """Fit measures as a pandas Series.

        Reference models (fitted once per data set and cached): the saturated two-level model
        at its true maximum (h1) and the independence baseline (diagonal Σ_W and Σ_B).

        ``logl``, ``unrestricted_logl``, ``baseline_logl``; ``npar``; ``nobs`` (N, rows) and
        ``nclusters`` (J); ``df``; ``chisq`` = 2(logL_h1 − logL) with ``pvalue``;
        ``baseline_chisq``, ``baseline_df``, ``baseline_pvalue``; ``cfi``, ``tli``, ``nfi``,
        ``rni``; ``rmsea`` with ``rmsea_ci_lower``/``_upper`` (90 %) and ``rmsea_pvalue``
        (H0: RMSEA ≤ 0.05) using **J** (psychonetrics, the seed); ``rmsea_n`` and its CI and
        p-value using **N** (lavaan); ``aic``; ``bic`` and ``sabic`` using **J**; ``bic_n``
        and ``sabic_n`` using **N** (lavaan's ``bic``/``bic2``); ``srmr_within``,
        ``srmr_between`` (correlation residuals against h1, per level) and ``srmr`` (their
        sum, as lavaan).

        Robust fits (``se_type == "robust"``, lavaan's MLR) add the Yuan–Bentler (Mplus)
        scaled test ``chisq_scaled``, ``df_scaled``, ``pvalue_scaled``,
        ``chisq_scaling_factor`` (with ``trace_h1``, ``trace_h0``), the baseline's
        ``baseline_chisq_scaled``, ``baseline_pvalue_scaled``,
        ``baseline_chisq_scaling_factor``, and ``cfi_robust``, ``tli_robust``,
        ``rmsea_robust`` (J) and ``rmsea_robust_n`` (N, lavaan's ``rmsea.robust``) with CIs
        and p-values (:mod:`pm_mlvm.ml.robust`).
        """
        return self._fit_measures.copy()

    def matrix(self, name: str) -> pd.DataFrame:
        """A parameter or derived matrix as a labelled DataFrame (psychonetrics names)."""
        mats = self._matrices
        if name not in mats:
            raise KeyError(f"unknown matrix {name!r}; available: {', '.join(sorted(mats))}")
        rows, cols = self.spec.matrix_labels(name)
        value = np.asarray(mats[name])
        if cols is None:
            return pd.DataFrame({name: value.reshape(-1)}, index=rows)
        return pd.DataFrame(value, index=rows, columns=cols)

    @property
    def matrix_names(self) -> list[str]:
        return sorted(self._matrices)

    def implied(self) -> dict:
        """{"mu": Series, "sigma_within": DataFrame, "sigma_between": DataFrame}."""
        return {"mu": self.matrix("mu")["mu"], "sigma_within": self.matrix("sigma_within"),
                "sigma_between": self.matrix("sigma_between")}

    # ------------------------------------------------------------------ search
    def modification_indices(self, matrices=None) -> pd.DataFrame:
        """Score tests (MI, p-value, expected parameter change) of every fixed,
        non-identifying cell, largest first; ``matrices`` restricts them."""
        return self.fitter.modification_indices(self, matrices)

    def prune(self, alpha: float = 0.01, adjust: str = "none", matrices=None,
              recursive: bool = True):
        """A new, refitted result without the non-significant network cells
        (``omega_*`` of ggm blocks, off-diagonal ``kappa_*`` of prec blocks by default);
        ``adjust`` in "none", "bonferroni", "holm", "fdr". ``history`` records the removals."""
        return self.fitter.prune(self, alpha=alpha, adjust=adjust, matrices=matrices,
                                 recursive=recursive)

    def stepup(self, alpha: float = 0.01, criterion: str = "bic", matrices=None,
               max_steps=None, progress: bool = False):
        """A new, refitted result with network cells added by largest modification index
        while the LR test is significant and ``criterion`` does not get worse."""
        return self.fitter.stepup(self, alpha=alpha, criterion=criterion, matrices=matrices,
                                  max_steps=max_steps, progress=progress)

    # ------------------------------------------------------- lavaan-style outputs
    def standardized(self, kind: str = "std.all") -> pd.DataFrame:
        """Standardized solution as lavaan's ``standardizedSolution(type=kind)``, per level,
        with delta-method SEs (complex-step Jacobian × ``vcov``).

        ``kind``: ``"std.all"`` (latents and observed variables standardized) or ``"std.lv"``
        (latents only). Columns: matrix, row, col, level, est_std, se, z, pvalue; Λ appears
        once per level, Ψ/Θ as the blocks' covariances (``sigma_zeta_*``,
        ``sigma_epsilon_*``) whatever their parameterisation. See
        :mod:`pm_mlvm.ml.standardized`.
        """
        return self.fitter.standardized(self, kind)

    def icc(self, source: str = "saturated") -> pd.Series:
        """Intraclass correlation Σ_B,kk / (Σ_W,kk + Σ_B,kk) per variable.

        ``source="saturated"`` (default, as lavaan's ``lavInspect(fit, "icc")``): from the
        unrestricted two-level model at its maximum; ``"implied"``: from this model's
        implied Σ_W and Σ_B.
        """
        return self.fitter.icc(self, source)

    def factor_scores(self, level="within", data=None, clusters=None) -> pd.DataFrame:
        """Empirical-Bayes (regression) factor scores, as lavaan's ``lavPredict(fit,
        level = 1 / 2)``.

        ``level="within"``: one row per unit (indexed like the data); ``"between"``: one row
        per cluster (indexed by cluster id, in order of first appearance). ``data`` defaults
        to the frame the model was built from; a fit from statistics alone needs ``data=``
        (and ``clusters=``). Rows with missing cells are refused. See
        :mod:`pm_mlvm.ml.scores`.
        """
        return self.fitter.factor_scores(self, level=level, data=data, clusters=clusters)

    def bootstrap(self, n: int = 1000, seed=None, n_jobs: int = 1,
                  fit_measures: bool = True, progress: bool = False):
        """Cluster bootstrap: a new result, equal to this one, with ``n`` replicates attached
        (``bootstrap_draws``: estimates, fit measures, convergence).

        Clusters are resampled with replacement and the model refitted from these
        estimates, in ``n_jobs`` processes (−1: one per CPU); ``seed`` makes the draws
        reproducible whatever ``n_jobs``. Percentile intervals:
        ``parameters(ci="bootstrap")``. See :mod:`pm_mlvm.ml.bootstrap`.
        """
        return self.fitter.bootstrap(self, n=n, seed=seed, n_jobs=n_jobs,
                                     fit_measures=fit_measures, progress=progress)

    # --------------------------------------------------------------- reporting
    def summary(self) -> str:
        """A compact text report: estimator, sizes, optimiser status, parameters by level."""
        return fit_summary(self)

    def _repr_html_(self) -> str:
        from pm_mlvm.report.html import fit_html  # notebooks only: keeps `html` off the fit path

        return fit_html(self)

    def __repr__(self) -> str:
        status = "converged" if self.converged else "NOT converged"
        return (f"MLResult({self.estimator}, logl={self.logl:.4f}, npar={self.npar}, "
                f"N={self.stats.n_obs}, J={self.stats.n_clusters}, {status})")
