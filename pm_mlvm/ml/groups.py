"""Maximum likelihood with several groups: the :class:`GroupFitter`.

Fits a :class:`~pm_mlvm.spec.groups.GroupSpec` to one :class:`TwoLevelStats` per group by
maximising Σ_g logℓ_g (:class:`~pm_mlvm.likelihood.groups.GroupObjective`) with the same
optimiser, convergence test and standard errors as one group (:mod:`pm_mlvm.ml.fit`).
Also what a :class:`~pm_mlvm.ml.group_result.GroupResult` asks for: fit measures (each
group against its own saturated and baseline model), modification indices — for fixed cells
in one group and for equality constraints released in one group — and refits with
parameters made equal (``group_equal``) or released (``group_free``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from pm_mlvm._distributions import chi2_isf, chi2_sf
from pm_mlvm.errors import MLVMInputError, MLVMWarning, check_choice
from pm_mlvm.likelihood.groups import GroupObjective
from pm_mlvm.likelihood.reference_models import reference_models
from pm_mlvm.ml.fit import (
    INFORMATION,
    Fitter,
    best_maximum,
    data_start,
    free_vcov,
    warn_status,
)
from pm_mlvm.ml.search import (
    ADJUST,
    CRITERIA,
    adjust_pvalues,
    check_alpha,
    check_matrices,
    score_statistics,
)
from pm_mlvm.ml.fitmeasures import fit_measures, srmr
from pm_mlvm.ml import robust
from pm_mlvm.ml.group_result import GroupResult
from pm_mlvm.ml.lavaan_outputs import constrained_inverse, sandwich_vcov, trace_inverse_product
from pm_mlvm.ml.result import MLResult
from pm_mlvm.spec.groups import GroupSpec
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.spec.start import emergency_start

__all__ = ["GroupFitter", "theta_from_matrices"]


def theta_from_matrices(spec: MLVMSpec, mats: dict) -> np.ndarray:
    """θ of ``spec`` read from full matrices (e.g. another specification's estimates)."""
    out = np.empty(spec.npar)
    for k, pid in enumerate(spec.param_ids):
        name, r, c = spec.cell_of(pid)
        out[k] = mats[name][r, c]
    return out


class _MemberFitter(Fitter):
    """The fitter of one group's view: what is defined per group works; what belongs to the
    joint model says so."""

    def _joint_only(self, what):
        raise MLVMInputError(f"{what} of one group of a multi-group fit is not defined (the "
                             "groups share parameters): use the multi-group result's "
                             f"{what}")

    def fit_measures(self, result):
        self._joint_only("fit_measures()")

    def modification_indices(self, result, matrices=None):
        self._joint_only("modification_indices()")

    def prune(self, result, **kwargs):
        self._joint_only("prune()")

    def stepup(self, result, **kwargs):
        self._joint_only("stepup()")

    def bootstrap(self, result, *args, **kwargs):
        self._joint_only("bootstrap()")


class GroupFitter:
    """Fits multi-group specifications to per-group statistics (see the module docstring).

    Parameters
    ----------
    stats : sequence of TwoLevelStats, one per group (the GroupSpec's group order)
    estimator, information, maxiter : as :class:`~pm_mlvm.ml.fit.Fitter`
    data, clusters, groups : the rows (a DataFrame), its cluster and group columns, for
        factor scores of one group
    """

    def __init__(self, stats, estimator: str = "ML", information: str = "expected",
                 maxiter: int = 10000, se: str = "standard", data=None, clusters=None,
                 groups=None, labels=None):
        check_choice("information", information, INFORMATION)
        check_choice("se", se, robust.SE_TYPES)
        self.members = []
        for k, st in enumerate(stats):
            frame = None
            if data is not None and groups is not None and labels is not None:
                frame = data[data[groups].astype(str) == labels[k]]
            self.members.append(Fitter(st, estimator=estimator, information=information,
                                       maxiter=maxiter, data=frame, clusters=clusters))
        self.stats = tuple(stats)
        self.estimator = estimator
        self.information = information
        self.maxiter = int(maxiter)
        self.se = se

    def information_kind(self) -> str:
        if self.information == "expected" and any(st.has_missing for st in self.stats):
            return "observed"
        return self.information

    # ------------------------------------------------------------------ fitting
    def _starts(self, gspec: GroupSpec, start):
        if start is not None:
            theta0 = np.asarray(start, dtype=float)
            if theta0.shape != (gspec.npar,) or not np.all(np.isfinite(theta0)):
                raise MLVMInputError(f"start must hold {gspec.npar} finite values (one per "
                                     f"free parameter); got shape {theta0.shape}")
            low, high = gspec.bounds()
            yield "user", np.clip(theta0, low, high)
        else:
            yield "data", gspec.combine([data_start(spec, st)
                                         for spec, st in zip(gspec.specs, self.stats)])
        yield "emergency", gspec.combine([emergency_start(spec, st.total_mean, st.total_cov)
                                          for spec, st in zip(gspec.specs, self.stats)])

    def fit(self, gspec: GroupSpec, start=None, history=(), warn: bool = True,
            se: str | None = None) -> GroupResult:
        """Fit ``gspec``; ``start`` (global θ) replaces the data-based start; ``se``
        ("standard" or "robust") overrides the fitter's default."""
        se = self.se if se is None else se
        check_choice("se", se, robust.SE_TYPES)
        objective = GroupObjective(gspec, self.stats)
        low, high = gspec.bounds()
        n_obs = sum(st.n_obs for st in self.stats)
        notes = []
        label, res = best_maximum(objective, self._starts(gspec, start), low, high, n_obs,
                                  self.maxiter, notes)
        kind = self.information_kind()
        if kind != self.information:
            notes.append("expected information is not available with missing data; observed "
                         "information used")
        info = objective.information(res.x, kind)
        vcov, info_ok = free_vcov(info, res.free)
        if se == "robust":
            vcov = self._sandwich(objective, res.x, res.free, info)[0]
        result = GroupResult(
            spec=gspec, stats=self.stats, theta=res.x, logl=res.value,
            logl_groups=objective.value_groups(res.x), converged=res.converged,
            message=res.message, n_iter=res.n_iter, n_eval=res.n_eval,
            decrement=res.decrement, information=kind, vcov=vcov, information_ok=info_ok,
            on_bound=~res.free, start=label, notes=tuple(notes), estimator=self.estimator,
            history=tuple(history), fitter=self, se_type=se)
        if warn:
            _warn(result)
        return result

    def _sandwich(self, objective: GroupObjective, theta, free, info):
        """(vcov, tr(A⁻¹B)): the cluster-robust covariance A⁻¹ B A⁻¹ over all groups, with
        A the joint information and B = Σ_g Σ_j s_gj s_gj' the clusters' scores in the
        global θ (each cluster counts once: the plain sandwich of the likelihood, where
        lavaan 0.6.14 weights group g's meat by (N_g/N)(J/J_g); equal when N_g/J_g is the
        same in every group)."""
        k = objective.npar
        parts = []
        for obj, idx in zip(objective.groups, objective.index):
            local = robust.cluster_scores(obj, np.asarray(theta)[idx])
            scores = np.zeros((local.shape[0], k))
            np.add.at(scores.T, idx, local.T)
            parts.append(scores)
        scores = np.vstack(parts)[:, free]
        j = scores.shape[0]
        bread = info[np.ix_(free, free)] / j
        meat = scores.T @ scores / j
        vcov = np.full((k, k), np.nan)
        vcov[np.ix_(free, free)] = sandwich_vcov(bread, meat, n_clusters=j)
        return vcov, trace_inverse_product(constrained_inverse(bread), meat)

    def member(self, result: GroupResult, g: int) -> MLResult:
        """Group g's part of a fit as a single-group result (see :class:`GroupResult`)."""
        idx = result.spec.index[g]
        base = self.members[g]
        fitter = _MemberFitter(base.stats, estimator=base.estimator,
                               information=base.information, maxiter=base.maxiter,
                               data=base.data, clusters=base.clusters)
        return MLResult(
            spec=result.spec.specs[g], stats=self.stats[g], theta=result.theta[idx].copy(),
            logl=float(result.logl_groups[g]), converged=result.converged,
            message=result.message, n_iter=result.n_iter, n_eval=result.n_eval,
            decrement=result.decrement, information=result.information,
            vcov=result.vcov[np.ix_(idx, idx)].copy(), information_ok=result.information_ok,
            on_bound=result.on_bound[idx].copy(), start=result.start, notes=result.notes,
            estimator=result.estimator, fitter=fitter, se_type=result.se_type)

    def refit(self, result: GroupResult, gspec: GroupSpec, history=()) -> GroupResult:
        """Fit ``gspec`` starting from ``result``'s estimates (cells new to ``gspec`` start
        at their fixed values in ``result``)."""
        thetas = []
        for g, spec in enumerate(gspec.specs):
            old = result.spec.specs[g]
            mats = old.unpack(result.theta[result.spec.index[g]])
            thetas.append(theta_from_matrices(spec, mats))
        start = gspec.combine(thetas)
        low, high = gspec.bounds()
        start = np.clip(start, low, high)
        return self.fit(gspec, start=start, history=history, se=result.se_type)

    def group_equal(self, result: GroupResult, matrix, row=None, col=None) -> GroupResult:
        cells = result.spec.cells(matrix, row, col)
        return self.refit(result, result.spec.with_tied(cells),
                          history=result.history + (("group_equal", matrix, row, col),))

    def group_free(self, result: GroupResult, matrix, row=None, col=None,
                   group=None) -> GroupResult:
        if group is None:
            raise MLVMInputError("group_free: group=None; name the group (label or position) "
                                 f"whose parameter is released; groups: "
                                 f"{list(result.spec.labels)}")
        g = result.spec.group_position(group)
        cells = [p for p in result.spec.cells(matrix, row, col) if p in result.spec.tied]
        if not cells:
            raise MLVMInputError(f"group_free: {matrix} has no cell equal across groups here")
        return self.refit(result, result.spec.with_released(cells, g),
                          history=result.history + (("group_free", matrix, row, col,
                                                     result.spec.labels[g]),))

    # ---------------------------------------------------------- fit measures
    def fit_measures(self, result: GroupResult) -> pd.Series:
        refs = [reference_models(st) for st in self.stats]
        n_obs = sum(st.n_obs for st in self.stats)
        implied = [m.implied() for m in result._members]
        out = fit_measures(
            result.logl, result.npar, result.spec.df, sum(s.logl for s, _ in refs),
            sum(s.npar for s, _ in refs), sum(b.logl for _, b in refs),
            sum(b.npar for _, b in refs), n_obs, sum(st.n_clusters for st in self.stats),
            [s.sigma_within for s, _ in refs], [s.sigma_between for s, _ in refs],
            [np.asarray(m["sigma_within"]) for m in implied],
            [np.asarray(m["sigma_between"]) for m in implied],
            groups=result.spec.n_groups, weights=[st.n_obs / n_obs for st in self.stats])
        if result.se_type != "robust":
            return out
        kind = result.information
        objective = GroupObjective(result.spec, self.stats)
        free = ~result.on_bound
        trace_h0 = self._sandwich(objective, result.theta, free,
                                  objective.information(result.theta, kind))[1]
        p = result.spec.base.n_vars
        extra = robust.robust_fit_measures(
            out["chisq"], int(out["df"]),
            sum(robust.trace_reference(st, sat, kind=kind)
                for st, (sat, _) in zip(self.stats, refs)),
            trace_h0, out["baseline_chisq"], int(out["baseline_df"]),
            sum(robust.trace_reference(st, base, robust.baseline_coordinates(p), kind)
                for st, (_, base) in zip(self.stats, refs)),
            n_obs, sum(st.n_clusters for st in self.stats), groups=result.spec.n_groups)
        return pd.concat([out, pd.Series(extra, dtype=float)]).rename("fit_measures")

    def group_fit_measures(self, result: GroupResult) -> pd.DataFrame:
        rows = []
        for g, st in enumerate(self.stats):
            sat, base = reference_models(st)
            implied = result._members[g].implied()
            logl = float(result.logl_groups[g])
            rows.append(dict(
                group=result.spec.labels[g], nobs=st.n_obs, nclusters=st.n_clusters,
                logl=logl, unrestricted_logl=sat.logl, baseline_logl=base.logl,
                chisq=max(2 * (sat.logl - logl), 0.0),
                srmr_within=srmr(sat.sigma_within, np.asarray(implied["sigma_within"])),
                srmr_between=srmr(sat.sigma_between, np.asarray(implied["sigma_between"]))))
        table = pd.DataFrame(rows).set_index("group")
        table["srmr"] = table["srmr_within"] + table["srmr_between"]
        return table

    # ------------------------------------------------------------- score tests
    def _score_tests(self, result: GroupResult, host: GroupSpec, new: np.ndarray):
        """(MI, EPC) of each new parameter of ``host`` (positions ``new``), each alone.

        The test is in the coordinates (θ, δ) of the current model extended by one
        difference δ per new parameter: a released cell is θ_tied + δ in its group, a
        freed cell is δ. Then the current gradient is zero at the estimates and
        MI = g_δ² / (I_δδ − I_δθ I_θθ⁻¹ I_θδ), EPC = g_δ / (…), with I = T' I_host T and
        T the 0/1 map (θ, δ) → host parameters."""
        current = result.spec
        objective = GroupObjective(host, self.stats)
        thetas = []
        for g, spec in enumerate(host.specs):
            mats = current.specs[g].unpack(result.theta[current.index[g]])
            thetas.append(theta_from_matrices(spec, mats))
        theta = host.combine(thetas)
        _, grad = objective.value_grad(theta)
        if grad is None:
            return np.full(len(new), np.nan), np.full(len(new), np.nan)
        k = current.npar
        transform = np.zeros((host.npar, k + len(new)))
        for g, spec in enumerate(host.specs):
            old = current.specs[g]
            free_before = set(old.param_ids)
            for local, pid in enumerate(spec.param_ids):
                if pid in free_before:
                    transform[host.index[g][local], current.index[g][old.index_of(pid)]] = 1.0
        transform[new, k + np.arange(len(new))] = 1.0
        info = transform.T @ objective.information(theta, result.information) @ transform
        score = transform.T @ grad
        return score_statistics(info, score, k + np.arange(len(new)),
                                np.flatnonzero(~result.on_bound))

    def modification_indices(self, result: GroupResult, matrices=None) -> pd.DataFrame:
        gspec = result.spec
        matrices = check_matrices(gspec.base, matrices)
        rows = []
        for g, spec in enumerate(gspec.specs):
            label = gspec.labels[g]
            # fixed cells freed in this group only
            params = spec.search_candidates(matrices)
            if params:
                host_spec = spec.with_params(params, free=True)
                host = gspec.with_group_spec(g, host_spec, identify=False)
                new = np.array([host.index[g][host_spec.index_of(p)] for p in params])
                mi, epc = self._score_tests(result, host, new)
                rows += _mi_rows(label, "free", spec, params, mi, epc)
            # equality constraints released in this group
            tied = [p for p in spec.param_ids if gspec.is_tied(p, g)
                    and (matrices is None or p.matrix in matrices)]
            if tied:
                host = gspec.with_released(tied, g, identify=False)
                new = np.array([host.index[g][spec.index_of(p)] for p in tied])
                mi, epc = self._score_tests(result, host, new)
                rows += _mi_rows(label, "equality", spec, tied, mi, epc)
        table = pd.DataFrame(rows, columns=["group", "kind", "param_id", "matrix", "row", "col",
                                           "level", "mi", "pvalue", "epc"])
        return table.sort_values("mi", ascending=False, na_position="last").reset_index(
            drop=True)


    # ------------------------------------------------------------------ search
    def _search_matrices(self, gspec: GroupSpec, matrices) -> list[str]:
        """The matrices a search tests: the given ones (checked) or the network matrices."""
        return check_matrices(gspec.base, matrices) or gspec.base.network_matrices()

    def prune(self, result: GroupResult, alpha=0.01, adjust="none", matrices=None,
              recursive=True) -> GroupResult:
        """Fix the non-significant free off-diagonal cells of the search matrices (network
        matrices by default) to zero and refit, until all are significant. A parameter equal
        across groups is one test and is removed in every group; a group's own parameter in
        that group only."""
        alpha = check_alpha(alpha)
        check_choice("adjust", adjust, ADJUST)
        matrices = self._search_matrices(result.spec, matrices)
        if not matrices:
            warnings.warn("prune: the model has no ggm or prec blocks, so nothing is tested; "
                          "pass matrices=[...]", UserWarning, stacklevel=3)
            return result
        current = result
        while True:
            table = current.parameters()
            table = table[table["free"] & table["matrix"].isin(matrices)
                          & (table["row"] != table["col"])].drop_duplicates("par")
            if table.empty:
                break
            adjusted = adjust_pvalues(table["pvalue"].fillna(1.0).to_numpy(), adjust)
            drop = set(table["par"].to_numpy()[adjusted > alpha])
            if not drop:
                break
            # every group's removals from the current numbering, applied at once
            specs = []
            for g, spec in enumerate(current.spec.specs):
                removed = [pid for k, pid in enumerate(spec.param_ids)
                           if current.spec.index[g][k] in drop]
                specs.append(spec.with_params(removed, free=False) if removed else spec)
            gspec = current.spec.with_specs(specs)
            history = current.history + (("prune", tuple(sorted(int(k) for k in drop)),
                                          alpha, adjust),)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*on a bound")
                current = self.refit(current, gspec, history=history)
            if not recursive:
                break
        return current

    def stepup(self, result: GroupResult, alpha=0.01, criterion="bic", matrices=None,
               max_steps=None) -> GroupResult:
        """Free, one at a time, the fixed cell (in one group) with the largest modification
        index while its LR test is significant and ``criterion`` does not get worse."""
        alpha = check_alpha(alpha)
        check_choice("criterion", criterion, CRITERIA)
        matrices = self._search_matrices(result.spec, matrices)
        if not matrices:
            warnings.warn("stepup: the model has no ggm or prec blocks; pass matrices=[...]",
                          UserWarning, stacklevel=3)
            return result
        current, steps = result, 0
        while max_steps is None or steps < max_steps:
            mi = self.modification_indices(current, matrices)
            mi = mi[mi["kind"] == "free"]
            if mi.empty or not np.isfinite(mi["mi"].iloc[0]) or \
                    mi["mi"].iloc[0] <= chi2_isf(alpha, 1):
                break
            top = mi.iloc[0]
            g = current.spec.group_position(top["group"])
            spec = current.spec.specs[g].with_params([top["param_id"]], free=True)
            gspec = current.spec.with_group_spec(g, spec)
            history = current.history + (("stepup", top["group"], top["param_id"]),)
            candidate = self.refit(current, gspec, history=history)
            lr = 2 * (candidate.logl - current.logl)
            better = candidate.fit_measures()[criterion] <= current.fit_measures()[criterion]
            if not (chi2_sf(lr, 1) < alpha and better):
                break
            current, steps = candidate, steps + 1
        return current


def _mi_rows(label, kind, spec, params, mi, epc):
    rows = []
    for pid, m, e in zip(params, mi, epc):
        rows.append(dict(group=label, kind=kind, param_id=pid, matrix=pid.matrix, row=pid.row,
                         col=pid.col, level=spec.matrices[pid.matrix].level, mi=m,
                         pvalue=chi2_sf(m, 1) if np.isfinite(m) else np.nan, epc=e))
    return rows


def _warn(result: GroupResult) -> None:
    warn_status(result)
    if result.on_bound.any():
        warnings.warn(f"{int(result.on_bound.sum())} estimates on a bound (Heywood case); "
                      "their standard errors are not valid", MLVMWarning, stacklevel=4)
