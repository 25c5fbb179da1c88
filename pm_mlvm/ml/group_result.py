"""The immutable result of a multi-group maximum-likelihood fit.

Estimates live in the global θ of a :class:`~pm_mlvm.spec.groups.GroupSpec` (a parameter
tied across groups appears once). Every table carries a ``group`` column; matrix accessors
take ``group=``. One group's part is an ordinary
:class:`~pm_mlvm.ml.result.MLResult` (:meth:`GroupResult.group`) — its estimates, matrices,
standardized solution, ICCs and factor scores — whose standard errors are those of the joint
fit; fit measures, modification indices and equality edits belong to the multi-group result.

Like :class:`MLResult`, a value: what needs an algorithm goes through its ``fitter``
(:class:`pm_mlvm.ml.groups.GroupFitter`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from pm_mlvm.spec.groups import GroupSpec

__all__ = ["GroupResult"]


@dataclass(frozen=True, eq=False)
class GroupResult:
    """Maximum-likelihood estimates of a multi-group model (immutable).

    Attributes
    ----------
    spec : GroupSpec
    stats : per-group :class:`~pm_mlvm.stats.TwoLevelStats`, in group order
    theta : estimates of the global free parameters
    logl : Σ_g logL_g at the estimates; ``logl_groups`` the parts
    converged, message, n_iter, n_eval, decrement : optimiser status (as :class:`MLResult`)
    information : what the standard errors use (``"expected"`` or ``"observed"``)
    vcov : covariance matrix of θ (NaN for parameters held on a bound)
    on_bound : mask of parameters held on a bound
    """

    spec: GroupSpec
    stats: tuple
    theta: np.ndarray
    logl: float
    logl_groups: np.ndarray
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

    def __post_init__(self):
        for arr in (self.theta, self.vcov, self.on_bound, self.logl_groups):
            arr.setflags(write=False)

    # ------------------------------------------------------------------ numbers
    @property
    def npar(self) -> int:
        return self.spec.npar

    @property
    def labels(self) -> tuple[str, ...]:
        return self.spec.labels

    @property
    def digest(self) -> tuple:
        """The data's identity: each group's statistics digest."""
        return tuple(st.digest for st in self.stats)

    @cached_property
    def se(self) -> np.ndarray:
        var = np.diag(self.vcov).copy()
        var[var < 0] = np.nan
        return np.sqrt(var)

    @cached_property
    def _members(self) -> tuple:
        return tuple(self.fitter.member(self, g) for g in range(self.spec.n_groups))

    def group(self, group):
        """One group's part as an :class:`~pm_mlvm.ml.result.MLResult` (label or position):
        estimates, matrices, ``standardized()``, ``icc()``, ``factor_scores()``; standard
        errors from the joint fit."""
        return self._members[self.spec.group_position(group)]

    def parameters(self, ci: str | None = None, level: float = 0.95) -> pd.DataFrame:
        """The single-group table (see :meth:`MLResult.parameters`) for every group, with a
        ``group`` column, ``par`` numbering the global parameters (a parameter equal across
        groups has one number) and ``tied`` marking those."""
        frames = []
        for g, member in enumerate(self._members):
            table = member.parameters(ci=ci, level=level)
            table.insert(0, "group", self.labels[g])
            free = table["par"].to_numpy() >= 0
            par = table["par"].to_numpy().copy()
            spec = self.spec.specs[g]
            tied = np.zeros(len(table), dtype=bool)
            tied[free] = [self.spec.is_tied(spec.param_ids[k], g) for k in par[free]]
            par[free] = self.spec.index[g][par[free]]
            table["par"] = par
            table["tied"] = tied
            frames.append(table)
        return pd.concat(frames, ignore_index=True)

    def matrix(self, name: str, group=None):
        """A parameter or derived matrix (labelled DataFrame) of one group; ``group=None``:
        a dict label → DataFrame over all groups."""
        if group is None:
            return {label: m.matrix(name) for label, m in zip(self.labels, self._members)}
        return self.group(group).matrix(name)

    def implied(self, group=None):
        """Implied moments of one group, or a dict over groups (``group=None``)."""
        if group is None:
            return {label: m.implied() for label, m in zip(self.labels, self._members)}
        return self.group(group).implied()

    def _stacked(self, tables) -> pd.DataFrame:
        frames = []
        for label, table in zip(self.labels, tables):
            table = table.copy()
            table.insert(0, "group", label)
            frames.append(table)
        return pd.concat(frames)

    def standardized(self, kind: str = "std.all") -> pd.DataFrame:
        """Every group's standardized solution (:meth:`MLResult.standardized`, delta-method
        SEs from the joint fit) with a ``group`` column."""
        return self._stacked(m.standardized(kind) for m in self._members).reset_index(
            drop=True)

    def icc(self, source: str = "saturated") -> pd.DataFrame:
        """Intraclass correlations: one row per group, one column per variable."""
        return pd.DataFrame({label: m.icc(source) for label, m in
                             zip(self.labels, self._members)}).T.rename_axis("group")

    def factor_scores(self, level="within") -> pd.DataFrame:
        """Factor scores of every group's rows (``level="within"``, indexed like the data)
        or clusters (``"between"``), each from its group's estimates, with a ``group``
        column (:meth:`MLResult.factor_scores`)."""
        return self._stacked(m.factor_scores(level) for m in self._members)

    @property
    def matrix_names(self) -> list[str]:
        return self._members[0].matrix_names

    # ------------------------------------------------------------- fit measures
    @cached_property
    def _fit_measures(self) -> pd.Series:
        return self.fitter.fit_measures(self)

    def fit_measures(self) -> pd.Series:
        """Fit measures of the joint model (see :meth:`MLResult.fit_measures`).

        χ² = Σ_g 2(logL_h1,g − logL_g) against each group's saturated model; df = Σ_g
        moments − npar; the baseline is the independence model in every group; CFI/TLI from
        the summed χ² and df; RMSEA (J, psychonetrics) and ``rmsea_n`` (N, lavaan) multiplied
        by √G (lavaan's multigroup rule), so are their CIs; AIC/BIC with the total J or N;
        SRMR per level as the N_g/N-weighted mean of the groups' SRMRs, ``srmr`` their sum
        (lavaan). Per-group parts: :meth:`group_fit_measures`.
        """
        return self._fit_measures.copy()

    def group_fit_measures(self) -> pd.DataFrame:
        """One row per group: nobs, nclusters, logl, unrestricted_logl, baseline_logl, chisq
        (against the group's saturated model), srmr_within, srmr_between, srmr."""
        return self.fitter.group_fit_measures(self)

    # --------------------------------------------------------- search and edits
    def modification_indices(self, matrices=None) -> pd.DataFrame:
        """Score tests, largest first: freeing a fixed cell in one group (``kind="free"``)
        and releasing an equality constraint in one group (``kind="equality"``); columns
        group, kind, matrix, row, col, level, mi, pvalue, epc."""
        return self.fitter.modification_indices(self, matrices)

    def group_equal(self, matrix: str, row=None, col=None):
        """A refitted result with ``matrix`` (or one row / cell of it) equal across groups."""
        return self.fitter.group_equal(self, matrix, row, col)

    def group_free(self, matrix: str, row=None, col=None, group=None):
        """A refitted result with the equality of ``matrix`` (or one row / cell) released
        in ``group`` (label or position; required)."""
        return self.fitter.group_free(self, matrix, row, col, group)

    def prune(self, alpha: float = 0.01, adjust: str = "none", matrices=None,
              recursive: bool = True):
        """A refitted result without the non-significant network cells (as
        :meth:`MLResult.prune`); a parameter equal across groups is tested once and removed
        in every group."""
        return self.fitter.prune(self, alpha=alpha, adjust=adjust, matrices=matrices,
                                 recursive=recursive)

    def stepup(self, alpha: float = 0.01, criterion: str = "bic", matrices=None,
               max_steps=None):
        """A refitted result with network cells freed one at a time (in one group) by
        largest modification index (as :meth:`MLResult.stepup`)."""
        return self.fitter.stepup(self, alpha=alpha, criterion=criterion, matrices=matrices,
                                  max_steps=max_steps)

    # --------------------------------------------------------------- reporting
    def summary(self) -> str:
        status = "converged" if self.converged else "NOT converged"
        fm = self.fit_measures()
        lines = [f"Multi-group two-level ML fit ({self.estimator}), {self.spec.n_groups} "
                 f"groups, {status}",
                 f"logL = {self.logl:.4f}, npar = {self.npar}, df = {self.spec.df}",
                 f"chi-square = {fm['chisq']:.3f}, df {int(fm['df'])}, p = {fm['pvalue']:.4f}; "
                 f"CFI = {fm['cfi']:.3f}, TLI = {fm['tli']:.3f}, RMSEA = {fm['rmsea']:.3f} "
                 f"(N-based {fm['rmsea_n']:.3f}), SRMR = {fm['srmr']:.3f}",
                 "equal across groups: " + (", ".join(self.spec.equal) or "nothing")]
        for label, member, logl in zip(self.labels, self._members, self.logl_groups):
            lines.append(f"\n--- group {label}: N = {member.stats.n_obs}, "
                         f"J = {member.stats.n_clusters}, logL = {logl:.4f}")
            table = member.parameters()
            lines.append(table[["matrix", "row", "col", "level", "est", "se"]]
                         .to_string(index=False))
        return "\n".join(lines)

    def __repr__(self) -> str:
        status = "converged" if self.converged else "NOT converged"
        n = sum(st.n_obs for st in self.stats)
        return (f"GroupResult({self.estimator}, groups={list(self.labels)}, "
                f"logl={self.logl:.4f}, npar={self.npar}, N={n}, {status})")
