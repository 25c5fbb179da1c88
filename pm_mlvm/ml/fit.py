"""Maximum likelihood: the :class:`Fitter` that fits specifications to one data set.

A fit maximises logℓ(θ) (:class:`~pm_mlvm.likelihood.objective.Objective`, NumPy only) under
psychonetrics' bounds (variances ≥ 0, partial correlations and correlations in [−1, 1]) with
the one optimiser of :mod:`pm_mlvm.likelihood.optimize`: preconditioned L-BFGS-B, then
Newton / scoring polish, converged when the Newton decrement is below 1e-9 (log-likelihood
units, so the test means the same at every scale of the data). Start values come from the
data (scale-equivariant, :mod:`pm_mlvm.spec.start`); if they fail or do not converge, a plain
emergency start is tried too and the better optimum kept. Standard errors come from the
expected (default) or the exact observed information (``se="standard"``), or from the
cluster-robust sandwich with that information as bread (``se="robust"``, lavaan's MLR;
:mod:`pm_mlvm.ml.robust`), which also adds the Yuan–Bentler scaled test and robust indices
to the fit measures.

The :class:`Fitter` is also the handle a result keeps: it owns the data's statistics and the
fitting options, and is what refits (prune, stepup), fit measures and modification indices
use. Results (values) never import this module; this module imports the algorithms.
Nothing here is compiled or shared between threads, so concurrent fits are independent.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from functools import partial

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError, MLVMWarning, check_choice
from pm_mlvm.likelihood.information import invert_information
from pm_mlvm.likelihood.objective import Objective
from pm_mlvm.likelihood.optimize import maximize
from pm_mlvm.likelihood.reference_models import reference_models
from pm_mlvm.ml import bootstrap, robust, scores, search, standardized
from pm_mlvm.ml.fitmeasures import fit_measures
from pm_mlvm.ml.result import MLResult
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.spec.start import emergency_start, level_targets, start_values
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["Fitter", "fit_ml", "data_start", "warn_status", "best_maximum", "free_vcov",
           "INFORMATION", "TOLERANCE"]

INFORMATION = ("expected", "observed")
#: convergence threshold on the Newton decrement (log-likelihood units)
TOLERANCE = 1e-9


def data_start(spec: MLVMSpec, stats: TwoLevelStats) -> np.ndarray:
    """Start values from the statistics' moments."""
    s_w, s_b = level_targets(stats.pooled_within_cov if stats.n_obs > stats.n_clusters
                             else 0.5 * stats.total_cov, stats.between_cov,
                             stats.n_obs / stats.n_clusters)
    return start_values(spec, stats.total_mean, stats.total_cov, s_w, s_b)


def _check_not_collinear(stats: TwoLevelStats) -> None:
    """Perfectly collinear variables (within clusters) leave no finite maximum."""
    if stats.n_obs <= stats.n_clusters or stats.n_vars < 2:
        return
    cov = stats.pooled_within_cov
    sd = np.sqrt(np.diag(cov))
    if np.any(sd <= 0):
        return
    vals, vecs = np.linalg.eigh(cov / np.outer(sd, sd))
    if vals[0] > 1e-12 * stats.n_vars:
        return
    involved = [stats.var_names[k] for k in np.flatnonzero(np.abs(vecs[:, 0]) > 1e-3)]
    raise MLVMInputError(
        "data: the variables " + ", ".join(map(repr, involved)) + " are perfectly collinear "
        "within clusters (their pooled within-cluster covariance is singular), so no model "
        "has a finite maximum likelihood; remove one of them from vars")


class Fitter:
    """Fits specifications to one data set by maximum likelihood (see the module docstring).

    Parameters
    ----------
    stats : TwoLevelStats
    estimator : str
        ``"ML"`` or ``"FIML"`` (recorded in results; the statistics decide the route).
    information : {"expected", "observed"}
    maxiter : int
        Iteration limit of the quasi-Newton search.
    se : {"standard", "robust"}
        Default standard errors of :meth:`fit` (refits by prune / stepup keep it):
        the inverse information, or the cluster-robust sandwich (lavaan's MLR).
    data : pandas.DataFrame, optional
        The rows the statistics were computed from (a reference, never copied or modified),
        for factor scores; ``clusters`` names its cluster column.
    """

    def __init__(self, stats: TwoLevelStats, estimator: str = "ML",
                 information: str = "expected", maxiter: int = 10000, se: str = "standard",
                 data=None, clusters=None):
        check_choice("information", information, INFORMATION)
        check_choice("se", se, robust.SE_TYPES)
        if not isinstance(maxiter, (int, np.integer)) or isinstance(maxiter, bool) or \
                maxiter < 1:
            raise MLVMInputError(f"maxiter={maxiter!r} must be a positive integer")
        _check_not_collinear(stats)
        self.stats = stats
        self.estimator = estimator
        self.information = information
        self.maxiter = int(maxiter)
        self.se = se
        self.data = data
        self.clusters = clusters

    # ------------------------------------------------------------------ fitting
    def information_kind(self) -> str:
        """What the SEs use: the expected information is the complete-data design's, so with
        missing cells the observed information is used."""
        if self.information == "expected" and self.stats.has_missing:
            return "observed"
        return self.information

    def fit(self, spec: MLVMSpec, start=None, history=(), warn: bool = True,
            se: str | None = None) -> MLResult:
        """Fit ``spec``; ``start`` (θ in spec order) replaces the data-based start; ``se``
        ("standard" or "robust") overrides the fitter's default."""
        se = self.se if se is None else se
        check_choice("se", se, robust.SE_TYPES)
        stats = self.stats
        objective = Objective(spec, stats)
        low, high = spec.bounds()
        notes = []
        if start is not None:
            theta0 = np.asarray(start, dtype=float)
            if theta0.shape != (spec.npar,) or not np.all(np.isfinite(theta0)):
                raise MLVMInputError(f"start must hold {spec.npar} finite values (one per free "
                                     f"parameter, spec order); got shape {theta0.shape}")
            starts = [("user", np.clip(theta0, low, high))]
        else:
            starts = [("data", data_start(spec, stats))]
        starts.append(("emergency", emergency_start(spec, stats.total_mean, stats.total_cov)))
        label, res = best_maximum(objective, starts, low, high, stats.n_obs, self.maxiter,
                                  notes)
        theta = res.x
        kind = self.information_kind()
        if kind != self.information:
            notes.append("expected information is not available with missing data; observed "
                         "information used")
        info = objective.information(theta, kind)
        # parameters on a bound (Heywood cases) are held there: their SEs are not defined
        free = res.free
        vcov, info_ok = free_vcov(info, free)
        if se == "robust":
            vcov = robust.sandwich(objective, theta, free, kind, information=info).vcov
        result = MLResult(
            spec=spec, stats=stats, theta=theta, logl=res.value, converged=res.converged,
            message=res.message, n_iter=res.n_iter, n_eval=res.n_eval,
            decrement=res.decrement, information=kind, vcov=vcov, information_ok=info_ok,
            on_bound=~free, start=label, notes=tuple(notes), estimator=self.estimator,
            history=tuple(history), fitter=self, se_type=se,
        )
        if warn:
            _warn(result)
        return result

    # ---------------------------------------------------------- what results ask
    def fit_measures(self, result: MLResult) -> pd.Series:
        """Fit measures; a robust fit (``se_type == "robust"``) adds the scaled test and
        robust indices (:func:`pm_mlvm.ml.robust.robust_fit_measures`), as lavaan reports
        them only for MLR."""
        stats = result.stats
        sat, base = reference_models(stats)
        implied = result.spec.implied(result.theta)
        out = fit_measures(
            result.logl, result.npar, result.spec.df, sat.logl, sat.npar, base.logl, base.npar,
            stats.n_obs, stats.n_clusters, sat.sigma_within, sat.sigma_between,
            implied["sigma_within"], implied["sigma_between"],
        )
        if result.se_type != "robust":
            return out
        kind = result.information
        extra = robust.robust_fit_measures(
            out["chisq"], int(out["df"]),
            robust.trace_reference(stats, sat, kind=kind),
            robust.trace_h0(Objective(result.spec, stats), result.theta, ~result.on_bound,
                            kind),
            out["baseline_chisq"], int(out["baseline_df"]),
            robust.trace_reference(stats, base, robust.baseline_coordinates(stats.n_vars),
                                   kind),
            stats.n_obs, stats.n_clusters)
        return pd.concat([out, pd.Series(extra, dtype=float)]).rename("fit_measures")

    def modification_indices(self, result: MLResult, matrices=None) -> pd.DataFrame:
        return search.modification_indices(result, matrices)

    def standardized(self, result: MLResult, kind: str = "std.all") -> pd.DataFrame:
        """Standardized solution with delta-method SEs
        (:func:`pm_mlvm.ml.standardized.standardized_solution`)."""
        return standardized.standardized_solution(result.spec, result.theta, result.vcov, kind)

    def icc(self, result: MLResult, source: str = "saturated") -> pd.Series:
        """Intraclass correlations (:func:`pm_mlvm.ml.scores.icc_series`)."""
        return scores.icc_series(result.stats, result.spec.implied(result.theta), source)

    def factor_scores(self, result: MLResult, level="within", data=None,
                      clusters=None) -> pd.DataFrame:
        """Factor scores of one level (:func:`pm_mlvm.ml.scores.scores_frame`) from ``data``
        or, by default, the rows the model was built from."""
        scores.level_number(level)
        if data is None:
            if self.data is None:
                raise MLVMInputError(
                    "data=None, but this fit was made from statistics alone, without the "
                    "rows: factor scores need them; pass data= (a DataFrame with the model's "
                    "variables and the cluster column) and clusters=")
            data = self.data
        clusters = self.clusters if clusters is None else clusters
        return scores.scores_frame(result.spec, derived_matrices_at(result), data, clusters,
                                   level)

    def bootstrap(self, result: MLResult, n: int = 1000, seed=None, n_jobs: int = 1,
                  fit_measures: bool = True, progress: bool = False) -> MLResult:
        """The result with cluster-bootstrap draws attached
        (:func:`pm_mlvm.ml.bootstrap.run_bootstrap`); replicates refit ``result.spec`` with
        this fitter's options, starting from ``result.theta``."""
        make_fitter = partial(Fitter, estimator=self.estimator, information=self.information,
                              maxiter=self.maxiter)
        draws = bootstrap.run_bootstrap(result.spec, result.stats, result.theta, make_fitter,
                                        n=n, seed=seed, n_jobs=n_jobs,
                                        fit_measures=fit_measures, progress=progress)
        return replace(result, bootstrap_draws=draws)

    def prune(self, result: MLResult, **kwargs) -> MLResult:
        return search.prune(result, self, **kwargs)

    def stepup(self, result: MLResult, **kwargs) -> MLResult:
        return search.stepup(result, self, **kwargs)


def best_maximum(objective, starts, low, high, n_scale, maxiter, notes):
    """(start label, :class:`~pm_mlvm.likelihood.optimize.Maximum`): the optimiser run from
    each ``(label, θ0)`` start in turn until one converges, the best kept (converged first,
    then the highest value); starts giving a non-PD model are skipped with a note appended to
    ``notes``. :class:`MLVMInputError` when no start is feasible."""
    best = None
    for label, theta0 in starts:
        if not np.isfinite(objective.value(theta0)):
            notes.append(f"{label} start values give a non-PD model; trying another start")
            continue
        res = maximize(objective.value_grad, theta0, low, high, objective.metric,
                       n_scale=n_scale, tol=TOLERANCE, maxiter=maxiter)
        if best is None or (res.converged, res.value) > (best[1].converged, best[1].value):
            best = (label, res)
        if res.converged:
            break
    if best is None:
        raise MLVMInputError("no start values give a positive definite model; check the data "
                             "and the model specification (or pass start=)")
    return best


def free_vcov(info, free) -> tuple[np.ndarray, bool]:
    """(covariance of θ, information positive definite): the inverse information over the
    ``free`` parameters, NaN rows and columns for those held on a bound."""
    k = len(free)
    vcov = np.full((k, k), np.nan)
    sub, ok = invert_information(info[np.ix_(free, free)])
    vcov[np.ix_(free, free)] = sub
    return vcov, ok


def derived_matrices_at(result: MLResult) -> dict:
    """Every matrix of a result at its estimates."""
    return result.spec.derived_matrices(result.theta)


def warn_status(result) -> None:
    """Warn when a fit (one group or several) did not converge or its information matrix is
    not positive definite."""
    if not result.converged:
        warnings.warn(f"the ML optimiser did not converge ({result.message}; Newton decrement "
                      f"{result.decrement:.2e}); estimates and SEs are unreliable", MLVMWarning,
                      stacklevel=5)
    if not result.information_ok:
        warnings.warn("the information matrix is not positive definite: the model may not be "
                      "identified; standard errors are unreliable", MLVMWarning, stacklevel=5)


def _warn(result: MLResult) -> None:
    warn_status(result)
    if not result.on_bound.any():  # the common case: no table to build
        return
    on_bound = result.heywood
    if len(on_bound):
        cells = ", ".join(f"{r.matrix}[{r.row},{r.col}]={r.est:.3g}" for r in
                          on_bound.itertuples())
        warnings.warn(f"estimates on a bound (Heywood case): {cells}; their standard errors "
                      "are not valid", MLVMWarning, stacklevel=4)


def fit_ml(spec: MLVMSpec, stats: TwoLevelStats, information: str = "expected", start=None,
           maxiter: int = 10000, estimator: str = "ML", se: str = "standard",
           data=None, clusters=None) -> MLResult:
    """Fit ``spec`` to ``stats`` by maximum likelihood (a :class:`Fitter` of its own);
    ``data``/``clusters``: the rows, for factor scores."""
    return Fitter(stats, estimator=estimator, information=information,
                  maxiter=maxiter, se=se, data=data, clusters=clusters).fit(spec, start=start)
