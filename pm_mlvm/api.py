"""User-facing model constructors: ``ml_lvm`` and the network wrappers.

``pmv.ml_lvm(data, lambda_=..., clusters=...)`` validates the arguments into an
:class:`~pm_mlvm.spec.mlvm.MLVMSpec`, computes the data's statistics once, and returns an
:class:`MLVM` — the model, from which ``.fit()`` gives maximum likelihood and ``.pymc_model``
the one ``pm.Model`` (for sampling or extension).

Estimators (psychonetrics' names; both give the same exact two-level likelihood):
``"ML"`` uses per-size sufficient statistics for complete data (cost independent of cluster
size) and the per-cluster form with missing cells; ``"FIML"`` always evaluates cluster by
cluster on the rows. ``"default"`` picks ML for complete data whose largest cluster has more
than 5 units and FIML otherwise (psychonetrics' rule).
"""

from __future__ import annotations

import inspect
from functools import cached_property

import pandas as pd

from pm_mlvm.errors import MLVMInputError, check_choice
from pm_mlvm.ml.fit import Fitter
from pm_mlvm.ml.groups import GroupFitter
from pm_mlvm.ml.invariance import STEPS, measurement_invariance
from pm_mlvm.spec.groups import GroupSpec, build_group_spec
from pm_mlvm.spec.mlvm import MLVMSpec, build_spec
from pm_mlvm.spec.syntax import syntax_arguments
from pm_mlvm.stats.twolevel import TwoLevelStats, survey

__all__ = ["MLVM", "GroupMLVM", "ml_lvm", "ml_lnm", "ml_rnm", "ml_lrnm", "choose_estimator"]

ESTIMATORS = ("default", "ML", "FIML")


def choose_estimator(estimator: str, has_missing: bool, max_cluster_size: int):
    """(estimator, reason) by psychonetrics' default rule."""
    check_choice("estimator", estimator, ESTIMATORS)
    if estimator != "default":
        return estimator, "requested"
    if has_missing:
        return "FIML", "the data have missing cells"
    if max_cluster_size <= 5:
        return "FIML", f"the largest cluster has {max_cluster_size} units (5 or fewer)"
    return "ML", f"complete data and the largest cluster has {max_cluster_size} (> 5) units"


class MLVM:
    """A two-level latent variable model bound to data. Build with :func:`ml_lvm`.

    Attributes
    ----------
    spec : MLVMSpec
        The identified specification (immutable).
    stats : TwoLevelStats
        The data's statistics.
    estimator : str
        ``"ML"`` or ``"FIML"``; ``estimator_reason`` says why.
    data : pandas.DataFrame or None
        The frame the model was built from (a reference: never copied or modified; ``None``
        when built from statistics), for factor scores; ``clusters`` its cluster column.
    """

    def __init__(self, spec: MLVMSpec, stats: TwoLevelStats, estimator: str, reason: str,
                 data=None, clusters=None):
        self.spec = spec
        self.stats = stats
        self.estimator = estimator
        self.estimator_reason = reason
        self.data = data
        self.clusters = clusters

    @cached_property
    def _built(self):
        from pm_mlvm.model.build import build_pymc_model

        return build_pymc_model(self.spec, self.stats)

    @property
    def pymc_model(self):
        """The ``pm.Model`` (flat priors on the parameters' supports; see ``model.build``)."""
        return self._built.model

    @property
    def npar(self) -> int:
        return self.spec.npar

    @property
    def df(self) -> int:
        return self.spec.df

    def parameter_table(self) -> pd.DataFrame:
        """The free parameters (matrix, row, col, level, bounds)."""
        return self.spec.parameter_table()

    def fit(self, information: str | None = None, start=None, maxiter: int = 10000,
            se: str = "standard"):
        """Maximum likelihood. Returns an immutable :class:`~pm_mlvm.ml.result.MLResult`.

        Parameters
        ----------
        information : {"expected", "observed"}, optional
            Standard errors from the analytic expected information (default for
            ``se="standard"``, as psychonetrics) or the exact observed information (lavaan's
            two-level default; the default bread for ``se="robust"``, as lavaan's MLR).
            With missing cells the observed information is always used.
        se : {"standard", "robust"}
            ``"robust"``: cluster-robust (sandwich) standard errors, as lavaan's
            ``estimator="MLR"``; ``fit_measures()`` then adds the Yuan–Bentler scaled test
            (``chisq_scaled``, ``chisq_scaling_factor``, ``pvalue_scaled``) and the robust
            ``cfi_robust``, ``tli_robust``, ``rmsea_robust``. Also with missing data.
        start : array_like, optional
            Start values for the free parameters (spec order); default from the data.
        maxiter : int
            Iteration limit of the optimiser.
        """
        if information is None:
            information = "observed" if se == "robust" else "expected"
        return Fitter(self.stats, estimator=self.estimator, information=information,
                      maxiter=maxiter, se=se, data=self.data,
                      clusters=self.clusters).fit(self.spec, start=start)

    def bayesian_model(self, priors=None, sparsity=None):
        """The ``pm.Model`` that :meth:`sample` samples: the default (or given) priors, the
        observed data as ``"y"`` (its real rows when the model was built from a DataFrame),
        free-parameter values as ``<matrix>__values`` and the full matrices as
        deterministics. ``priors`` and ``sparsity`` as in :meth:`sample`."""
        from pm_mlvm.bayes.sample import bayesian_model

        return bayesian_model(self, priors=priors, sparsity=sparsity).model

    def sample(self, draws: int = 1000, tune: int = 1000, chains: int = 4, priors=None,
               random_seed=None, sparsity=None, **pm_kwargs):
        """Sample the posterior with NUTS; returns ``arviz.InferenceData``.

        The ``posterior`` group holds the free parameters, one variable per matrix with
        labelled cells (``lambda``, ``nu``, …), so ``az.summary`` / ``az.plot_trace`` see only
        sampled quantities; the full matrices (fixed cells included), ``mu``,
        ``sigma_within`` and ``sigma_between`` are in the ``matrices`` group.
        ``log_likelihood`` has one value per cluster (dimension ``cluster``),
        ``observed_data`` the data (``y``, rows × variables).

        Parameters
        ----------
        draws, tune, chains, random_seed
            As ``pm.sample``.
        priors : dict, optional
            Overrides of the default priors by matrix name (``"lambda"``) or matrix and cell
            class (``"sigma_zeta_between_diag"``): a ``.dist`` distribution or a function
            ``size -> distribution``. Defaults: :mod:`pm_mlvm.bayes.priors`.
        sparsity : {None, "horseshoe"}
            A regularised horseshoe on the partial correlations of ``ggm`` blocks.
        **pm_kwargs
            Passed to ``pm.sample`` (e.g. ``nuts_sampler="nutpie"``, ``cores``,
            ``target_accept``, ``progressbar``). ``var_names`` selects variables of the
            ``posterior`` / ``matrices`` groups by name; ``return_inferencedata=False``
            returns PyMC's raw trace of the model (no relabelling).
        """
        from pm_mlvm.bayes.sample import check_sample_arguments, sample_mlvm

        check_sample_arguments(draws, tune, chains, pm_kwargs)
        return sample_mlvm(self, draws=draws, tune=tune, chains=chains, priors=priors,
                           random_seed=random_seed, sparsity=sparsity, **pm_kwargs)

    def posterior_factor_scores(self, idata, level="within", data=None, clusters=None,
                                max_draws: int = 200, random_seed=0):
        """Posterior factor scores of one level from ``idata`` (from :meth:`sample`): the
        ML factor-score map (lavaan's ``lavPredict`` scheme) at each of up to ``max_draws``
        posterior draws; ``.mean``, ``.sd`` (labelled DataFrames) and ``.draws``. See
        :mod:`pm_mlvm.bayes.scores`."""
        from pm_mlvm.bayes.scores import posterior_factor_scores

        return posterior_factor_scores(self, idata, level=level, data=data, clusters=clusters,
                                       max_draws=max_draws, random_seed=random_seed)

    def sample_posterior_predictive(self, idata, random_seed=None, extend_inferencedata=True,
                                    progressbar=True, priors=None, sparsity=None):
        """Replicated data ``y`` (draws × rows × variables, the observed cluster layout and
        missing cells) for each posterior draw of ``idata`` (from :meth:`sample`); added to
        ``idata`` as ``posterior_predictive`` (or returned when ``extend_inferencedata`` is
        False). Pass the ``priors`` / ``sparsity`` used for sampling."""
        from pm_mlvm.bayes.sample import sample_posterior_predictive

        return sample_posterior_predictive(self, idata, random_seed=random_seed,
                                           extend_inferencedata=extend_inferencedata,
                                           progressbar=progressbar, priors=priors,
                                           sparsity=sparsity)

    def __repr__(self) -> str:
        types = ", ".join(f"{k}={v}" for k, v in self.spec.types.items())
        return (f"MLVM(p={self.spec.n_vars}, q={self.spec.n_latent}, npar={self.npar}, "
                f"df={self.df}, estimator={self.estimator}, {types})")


class GroupMLVM:
    """A two-level model for several groups bound to data. Build with
    ``ml_lvm(..., groups=...)``.

    Attributes
    ----------
    spec : GroupSpec
        One identified specification per group and the cross-group equality constraints
        (:mod:`pm_mlvm.spec.groups`).
    stats : tuple of TwoLevelStats
        Each group's statistics, in group order (``spec.labels``: order of first
        appearance in the data).
    estimator : str
        ``"ML"`` or ``"FIML"`` (the same for every group); ``estimator_reason`` says why.
    """

    def __init__(self, spec: GroupSpec, stats, estimator: str, reason: str, data=None,
                 clusters=None, groups=None):
        self.spec = spec
        self.stats = tuple(stats)
        self.estimator = estimator
        self.estimator_reason = reason
        self.data = data
        self.clusters = clusters
        self.groups = groups

    @property
    def labels(self) -> tuple[str, ...]:
        return self.spec.labels

    @property
    def npar(self) -> int:
        return self.spec.npar

    @property
    def df(self) -> int:
        return self.spec.df

    def parameter_table(self) -> pd.DataFrame:
        """The free parameters of every group (``group`` column; ``par`` is the global
        parameter, shared by groups where the cell is equal across groups)."""
        return self.spec.parameter_table()

    def _fitter(self, information=None, maxiter=10000, se="standard"):
        if information is None:
            information = "observed" if se == "robust" else "expected"
        return GroupFitter(self.stats, estimator=self.estimator, information=information,
                           maxiter=maxiter, se=se, data=self.data, clusters=self.clusters,
                           groups=self.groups, labels=self.labels)

    def fit(self, information: str | None = None, start=None, maxiter: int = 10000,
            se: str = "standard"):
        """Maximum likelihood of the joint model (the plain sum of the groups'
        log-likelihoods). Returns a :class:`~pm_mlvm.ml.group_result.GroupResult`.
        ``information``, ``start`` (global θ), ``maxiter``, ``se`` as :meth:`MLVM.fit`;
        ``se="robust"``: the cluster-robust sandwich over the clusters of all groups and the
        scaled test with the groups' summed traces (:mod:`pm_mlvm.ml.groups`)."""
        return self._fitter(information, maxiter, se).fit(self.spec, start=start)

    def bayesian_model(self, priors=None, sparsity=None):
        """The ``pm.Model`` that :meth:`sample` samples: each parameter once (shared by the
        groups where it is equal), one observed ``y__<group>`` per group. See
        :mod:`pm_mlvm.bayes.groups`."""
        from pm_mlvm.bayes.groups import group_bayesian_model

        return group_bayesian_model(self, priors=priors, sparsity=sparsity)

    def sample(self, draws: int = 1000, tune: int = 1000, chains: int = 4, priors=None,
               random_seed=None, sparsity=None, **pm_kwargs):
        """Sample the posterior with NUTS; returns ``arviz.InferenceData`` (``posterior``:
        one variable per matrix over its parameters, a cell equal across groups once;
        ``matrices`` with a ``group`` dimension; ``log_likelihood["y"]`` per cluster of
        every group). Arguments as :meth:`MLVM.sample`; see :mod:`pm_mlvm.bayes.groups`."""
        from pm_mlvm.bayes.groups import sample_groups

        return sample_groups(self, draws=draws, tune=tune, chains=chains, priors=priors,
                             random_seed=random_seed, sparsity=sparsity, **pm_kwargs)

    def invariance(self, steps=STEPS, information: str | None = None, se: str = "standard"):
        """Fit configural → metric → scalar → strict (or the given ``steps``) and compare
        them: an :class:`~pm_mlvm.ml.invariance.InvarianceResult` (``.table``, ``.fits``).
        The model's own ``equal=`` is ignored: each step sets its constraints."""
        return measurement_invariance(self.spec.base, self.labels,
                                      self._fitter(information, se=se), steps=steps)

    def __repr__(self) -> str:
        return (f"GroupMLVM(groups={list(self.labels)}, p={self.spec.base.n_vars}, "
                f"q={self.spec.base.n_latent}, npar={self.npar}, df={self.df}, "
                f"equal={list(self.spec.equal)}, estimator={self.estimator})")


def ml_lvm(
    data: pd.DataFrame,
    lambda_=None,
    clusters=None,
    vars=None,
    latents=None,
    within_latent: str = "cov",
    between_latent: str = "cov",
    within_residual: str = "cov",
    between_residual: str = "cov",
    beta_within=None,
    beta_between=None,
    identification: str = "loadings",
    estimator: str = "default",
    fix=None,
    groups=None,
    equal=None,
    model: str | None = None,
    **matrices,
):
    """Two-level latent variable model (psychonetrics' ``ml_lvm``).

    Parameters
    ----------
    data : pandas.DataFrame, TwoLevelStats, or dict
        Long data: one row per unit, a cluster column. Never modified. Precomputed
        statistics (e.g. ``TwoLevelStats.from_moments`` for population moments) are accepted
        too, and for several groups a dict ``{label: TwoLevelStats}`` (fits from statistics
        alone, e.g. each group's computed with Dask; returns a :class:`GroupMLVM`).
    lambda_ : pattern or dict, optional
        p×q 0/1 loading pattern (array or DataFrame, columns = factor names), or
        ``{"F1": ["y1", "y2", "y3"], ...}``. ``None`` gives the observed-variable model
        (Λ = I, no residuals: the latent blocks are the observed within/between structures).
        Λ is shared by both levels.
    clusters : column label
        The cluster column (required).
    vars : list, optional
        Observed variables (default: every other column).
    latents : list of str, optional
        Factor names (default: dict keys, DataFrame columns or ``Eta_1..``).
    within_latent : {"cov", "chol", "prec", "ggm", "cor"}
        Structure of Ψ_W, the within-cluster latent covariance (``sigma_zeta_within``):
        a free covariance, its Cholesky factor, its precision (inverse), a Gaussian
        graphical model (partial correlations ``omega_zeta_within``), or SDs and correlations.
    between_latent : {"cov", "chol", "prec", "ggm", "cor"}
        Structure of Ψ_B, the between-cluster latent covariance (``sigma_zeta_between``);
        ``"ggm"`` makes the cluster-level latents a network (``omega_zeta_between``).
    within_residual : {"cov", "chol", "prec", "ggm", "cor"}
        Structure of Θ_W, the within-cluster residual covariance (``sigma_epsilon_within``),
        diagonal by default; ``"ggm"`` gives a (by default empty) residual network.
    between_residual : {"cov", "chol", "prec", "ggm", "cor"}
        Structure of Θ_B, the between-cluster residual covariance
        (``sigma_epsilon_between``), diagonal by default; ``"ggm"`` as for
        ``within_residual``.
    beta_within, beta_between : pattern, optional
        q×q structural regressions (row regressed on column); diagonals are fixed at 0.
    identification : {"loadings", "variance"}
        ``"loadings"``: each factor's marker loading is fixed to 1 (scaling both levels, as
        Λ is shared). The marker is the first indicator *as listed* for dict input
        (lavaan's rule: ``{"F2": ["y4", "y5", "y6", "y3"]}`` marks y4), and the first free
        row in variable (``vars``) order for a pattern matrix; a factor with a fixed
        non-zero loading (``fix=``) keeps it instead. ``"variance"``: the within latent
        scale (variances) is fixed to 1 and every loading is free.
    estimator : {"default", "ML", "FIML"}
        See the module docstring.
    fix : dict, optional
        ``{(matrix, row, col): value}`` fixes cells, e.g. ``{("lambda", "y1", "F1"): 0.8}``.
    groups : column label, optional
        The group column (psychonetrics' ``groups=``): one two-level model per group (its
        own clusters; Λ shared by the levels within a group), groups in order of first
        appearance, labels compared as ``str``. Returns a :class:`GroupMLVM`.
    equal : str or list of str, optional
        With ``groups``: matrices equal across groups, e.g. ``["lambda", "nu"]``
        (psychonetrics' ``equal=``). When the intercepts ``nu`` are equal, the latent means
        ``nu_eta`` are free in the groups after the first; with
        ``identification="variance"`` and equal loadings, the within latent variances are
        free after the first group. See :mod:`pm_mlvm.spec.groups`.
    model : str, optional
        lavaan model syntax instead of ``lambda_`` (not both), e.g.
        ``"F1 =~ y1 + y2 + y3; F2 =~ y4 + y5 + y6"`` (one block: both levels) or lavaan's
        ``level: 1`` / ``level: 2`` form with the loadings labelled equal across levels.
        ``=~``, ``~`` between factors, ``~~``, ``y ~ 1``, fixed values, ``NA*`` and labels
        map onto the arguments here; what does not map (different loadings per level,
        level-only variables, other equality labels) raises ``MLVMInputError`` naming the
        line. ``vars`` defaults to the model's observed variables. See
        :mod:`pm_mlvm.spec.syntax`.
    **matrices
        psychonetrics matrix patterns: ``sigma_zeta_within=``, ``omega_epsilon_between=``,
        ``delta_zeta_within=``, ``kappa_...``, ``lowertri_...``, ``rho_...``, ``SD_...``;
        each ``"full"``, ``"diag"``, ``"zero"`` or a 0/1 matrix.

    Returns
    -------
    MLVM, or GroupMLVM with ``groups``

    Examples
    --------
    >>> import numpy as np, pm_mlvm as pmv
    >>> df = pmv.simulate_twolevel(30, 8, np.zeros(4), np.eye(4) + 0.5, 0.3 * np.eye(4) + 0.2,
    ...                            rng=1)
    >>> model = pmv.ml_lvm(df, lambda_={"F": ["y1", "y2", "y3", "y4"]}, clusters="cluster")
    >>> model.df
    8
    """
    by_group = isinstance(data, dict)
    if by_group:
        _check_group_statistics(data, groups)
    if equal is not None and groups is None and not by_group:
        raise MLVMInputError(f"equal={equal!r} needs groups= (constraints across groups)")
    choose_estimator(estimator, False, 10)  # validate the name before touching the data
    if not isinstance(data, (TwoLevelStats, pd.DataFrame, dict)):
        raise MLVMInputError(f"data must be a pandas DataFrame (one row per unit), "
                             f"TwoLevelStats or a dict group → TwoLevelStats; got "
                             f"{type(data).__name__}")
    if by_group:
        data_stats = dict(data)
        data = next(iter(data_stats.values()))
    if model is not None:
        columns = (data.var_names if isinstance(data, TwoLevelStats)
                   else [c for c in data.columns if c not in (clusters, groups)])
        args = syntax_arguments(
            model, columns, dict(lambda_=lambda_, vars=columns if isinstance(
                data, TwoLevelStats) else vars, beta_within=beta_within,
                                 beta_between=beta_between, fix=fix, **matrices),
            identification=identification,
            types=dict(within_latent=within_latent, between_latent=between_latent,
                       within_residual=within_residual, between_residual=between_residual))
        lambda_, vars, beta_within, beta_between, fix = (
            args.pop(k) for k in ("lambda_", "vars", "beta_within", "beta_between", "fix"))
        matrices = args
    if groups is not None or by_group:
        return _group_model(data_stats if by_group else data, clusters, groups, vars,
                            estimator, equal,
                            dict(lambda_=lambda_, latents=latents, within_latent=within_latent,
                                 between_latent=between_latent,
                                 within_residual=within_residual,
                                 between_residual=between_residual, beta_within=beta_within,
                                 beta_between=beta_between, identification=identification,
                                 fix=fix, **matrices))
    if isinstance(data, TwoLevelStats):
        stats = data
        if estimator == "default":
            estimator = "FIML" if data.route == "rows" else "ML"
        if estimator == "FIML" and data.route != "rows":
            raise MLVMInputError("estimator='FIML' needs the rows: pass the DataFrame, or "
                                 "TwoLevelStats built with route='rows'")
        chosen, reason = choose_estimator(estimator, stats.has_missing, stats.max_cluster_size)
    else:
        if clusters is None:
            raise MLVMInputError("clusters=None: clusters is required, the name of the cluster "
                                 "column of data")
        # a cheap pass decides the estimator, and so the route; the data are summarised once
        has_missing, max_size = survey(data, clusters, vars)
        chosen, reason = choose_estimator(estimator, has_missing, max_size)
        route = "rows" if chosen == "FIML" else "auto"
        stats = TwoLevelStats.from_dataframe(data, clusters=clusters, vars=vars, route=route)
    _check_separable(stats)
    spec = build_spec(stats.var_names, lambda_=lambda_, latents=latents,
                      within_latent=within_latent, between_latent=between_latent,
                      within_residual=within_residual, between_residual=between_residual,
                      beta_within=beta_within, beta_between=beta_between,
                      identification=identification, fix=fix, **matrices)
    frame = data if isinstance(data, pd.DataFrame) else None
    return MLVM(spec, stats, chosen, reason, data=frame,
                clusters=clusters if frame is not None else None)


def _check_group_statistics(data: dict, groups) -> None:
    """A dict of per-group statistics: non-empty, TwoLevelStats with the same variables, and
    no ``groups=`` (the keys are the groups)."""
    if groups is not None:
        raise MLVMInputError(f"groups={groups!r} names a column of a DataFrame; with a dict of "
                             "statistics the keys are the groups: omit groups=")
    if not data:
        raise MLVMInputError("data={} holds no group; give {label: TwoLevelStats, ...}")
    bad = [k for k, v in data.items() if not isinstance(v, TwoLevelStats)]
    if bad:
        raise MLVMInputError(f"data is a dict whose values for {bad} are not TwoLevelStats: a "
                             "dict must map each group label to its statistics; for rows, "
                             "pass a pandas DataFrame")
    names = {tuple(v.var_names) for v in data.values()}
    if len(names) > 1:
        raise MLVMInputError(f"data: the groups' statistics have different variables "
                             f"{sorted(names)}; every group needs the same variables")


def _group_model(data, clusters, groups, vars, estimator, equal, spec_args) -> GroupMLVM:
    """The :class:`GroupMLVM` of ``ml_lvm(..., groups=...)`` or of a dict of statistics."""
    if isinstance(data, dict):
        labels = tuple(str(k) for k in data)
        stats = list(data.values())
        if estimator == "default":
            estimator = "FIML" if any(st.route == "rows" for st in stats) else "ML"
        if estimator == "FIML" and any(st.route != "rows" for st in stats):
            raise MLVMInputError("estimator='FIML' needs the rows: build every group's "
                                 "TwoLevelStats with route='rows'")
        chosen, reason = choose_estimator(estimator, any(st.has_missing for st in stats),
                                          max(st.max_cluster_size for st in stats))
        for label, st in zip(labels, stats):
            try:
                _check_separable(st)
            except MLVMInputError as err:
                raise MLVMInputError(f"group {label!r}: {err}") from None
        base = build_spec(stats[0].var_names, **spec_args)
        return GroupMLVM(build_group_spec(base, labels, equal), stats, chosen, reason)
    if not isinstance(data, pd.DataFrame):
        raise MLVMInputError(f"groups={groups!r} needs the rows: data must be a pandas "
                             f"DataFrame; got {type(data).__name__}")
    if clusters is None:
        raise MLVMInputError("clusters=None: clusters is required, the name of the cluster "
                             "column of data")
    if groups not in data.columns:
        raise MLVMInputError(f"groups={groups!r} is not a column of data; columns are: "
                             + ", ".join(map(repr, data.columns)))
    if groups == clusters:
        raise MLVMInputError(f"groups={groups!r} is also the cluster column; groups must be "
                             "a different column")
    if data[groups].isna().any():
        raise MLVMInputError(f"groups={groups!r}: {int(data[groups].isna().sum())} rows have "
                             "no group; drop them or give them a group")
    if vars is None:
        vars = [c for c in data.columns if c not in (clusters, groups)]
    elif groups in list(vars):
        raise MLVMInputError(f"vars includes the group column {groups!r}")
    keys = data[groups].astype(str)
    labels = tuple(pd.unique(keys))
    frames = [data[(keys == label).to_numpy()] for label in labels]
    surveys = [survey(frame, clusters, vars) for frame in frames]
    chosen, reason = choose_estimator(estimator, any(m for m, _ in surveys),
                                      max(n for _, n in surveys))
    route = "rows" if chosen == "FIML" else "auto"
    stats = []
    for label, frame in zip(labels, frames):
        st = TwoLevelStats.from_dataframe(frame, clusters=clusters, vars=vars, route=route)
        try:
            _check_separable(st)
        except MLVMInputError as err:
            raise MLVMInputError(f"group {label!r}: {err}") from None
        stats.append(st)
    base = build_spec(stats[0].var_names, **spec_args)
    gspec = build_group_spec(base, labels, equal)
    return GroupMLVM(gspec, stats, chosen, reason, data=data, clusters=clusters,
                     groups=groups)


def _check_separable(stats: TwoLevelStats) -> None:
    """Refuse data where every cluster has one unit: Σ_W and Σ_B are then not separable."""
    if stats.max_cluster_size < 2:
        raise MLVMInputError(
            f"clusters: every cluster has exactly one unit (N = J = {stats.n_obs}), so the "
            "within (Sigma_W) and between (Sigma_B) covariances cannot be separated: the data "
            "identify only their sum. Check the clusters column (is it a unit id?), or fit a "
            "single-level model; some singleton clusters among larger ones are fine."
        )


def _wrapper(name, preset, doc):
    def wrapper(data, lambda_=None, clusters=None, **kwargs):
        clash = sorted(set(preset) & set(kwargs))
        if clash:
            raise MLVMInputError(f"{name}() sets {clash} itself; use ml_lvm() to choose them")
        return ml_lvm(data, lambda_=lambda_, clusters=clusters, **preset, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = doc + "\n\nSame arguments as :func:`ml_lvm`; presets: " + ", ".join(
        f"{k}={v!r}" for k, v in preset.items()) + "."
    # the signature users and help() see: ml_lvm's, without the preset arguments
    full = inspect.signature(ml_lvm)
    wrapper.__signature__ = full.replace(parameters=[
        param for param in full.parameters.values() if param.name not in preset])
    return wrapper


ml_lnm = _wrapper("ml_lnm", dict(within_latent="ggm", between_latent="ggm",
                                 within_residual="cov", between_residual="cov"),
                  "Two-level latent network model: both latent blocks are GGMs.")
ml_rnm = _wrapper("ml_rnm", dict(within_latent="cov", between_latent="cov",
                                 within_residual="ggm", between_residual="ggm"),
                  "Two-level residual network model: both residual blocks are GGMs (empty "
                  "networks unless omega_epsilon_within/_between are given).")
ml_lrnm = _wrapper("ml_lrnm", dict(within_latent="ggm", between_latent="ggm",
                                   within_residual="ggm", between_residual="ggm"),
                   "Two-level latent and residual network model: all four blocks are GGMs.")
