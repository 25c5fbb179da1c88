"""Several groups (``ml_lvm(..., groups=, equal=)``): the joint likelihood is the plain sum
over groups, equality constraints tie parameters, fit measures and tests follow lavaan's
multigroup rules; oracles: lavaan 0.6.14 on Demo.twolevel split into two groups of clusters
(tests/reference/lavaan/make_groups.R) and a brute-force stacked multivariate normal."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

import pm_mlvm as pmv
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.likelihood.groups import GroupObjective
from pm_mlvm.spec.params import ParamId
from tests.lavaan_reference import REF_DIR
from tests.oracles import stacked_mvn_loglik

LAMBDA = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}
EXTRAS = REF_DIR / "extras"


def _reference(case):
    ref = json.loads((EXTRAS / f"{case}.json").read_text())
    data = pd.read_csv(EXTRAS / "demo_twolevel_groups.csv")
    other = [c for c in ("g_equal", "g_unequal") if c != ref["group_column"]]
    return ref, data.drop(columns=other)


def _model(case, equal=None):
    ref, data = _reference(case)
    return ref, pmv.ml_lvm(data, lambda_=LAMBDA, clusters="cluster",
                           groups=ref["group_column"], equal=equal)


def _lavaan_cells(ref_fit):
    """lavaan's free parameters as (group position, matrix, row, col) → (est, se)."""
    out = {}
    for prm in ref_fit["parameters"]:
        if not prm["free_index"]:
            continue
        level = "within" if prm["level"] == 1 else "between"
        lhs, op, rhs = prm["lhs"], prm["op"], prm["rhs"]
        if op == "=~":
            if level == "between":
                continue  # equal to the within loading (shared Λ)
            key = ("lambda", rhs, lhs)
        elif op == "~1":
            key = ("nu", lhs, "")
        elif op == "~~":
            block = "zeta" if lhs.startswith("F") else "epsilon"
            a, b = sorted([lhs, rhs])
            key = (f"sigma_{block}_{level}", b, a)
        else:
            continue
        out[(prm["group"] - 1, *key)] = (prm["est"], prm["se"])
    return out


def _ours(fit):
    table = fit.parameters()
    table = table[table["free"]]
    out = {}
    for row in table.itertuples():
        out[(fit.spec.labels.index(row.group), row.matrix, row.row, row.col)] = (row.est, row.se)
    return out


def _compare_estimates(fit, ref_fit, est_tol, se_tol):
    theirs, ours = _lavaan_cells(ref_fit), _ours(fit)
    assert set(theirs) == set(ours)
    for key, (est, se) in theirs.items():
        assert ours[key][0] == pytest.approx(est, abs=est_tol), key
        assert ours[key][1] == pytest.approx(se, rel=se_tol), key


# ------------------------------------------------------------------ lavaan parity
@pytest.mark.parametrize("step, equal", [("configural", None), ("metric", "lambda")])
def test_equal_sized_groups_match_lavaan(step, equal):
    ref, model = _model("groups_equal", equal)
    fit = model.fit(information="observed")
    theirs = ref[step]
    assert fit.converged
    assert fit.logl == pytest.approx(theirs["logl"], rel=1e-6)
    fm = fit.fit_measures()
    lav = theirs["fit_measures"]
    assert int(fm["df"]) == lav["df"] and fit.npar == lav["npar"]
    assert fm["chisq"] == pytest.approx(lav["chisq"], abs=1e-2)
    assert fm["cfi"] == pytest.approx(lav["cfi"], abs=1e-3)
    assert fm["tli"] == pytest.approx(lav["tli"], abs=1e-3)
    assert fm["rmsea_n"] == pytest.approx(lav["rmsea"], abs=1e-3)
    assert fm["rmsea_n_ci_upper"] == pytest.approx(lav["rmsea.ci.upper"], abs=1e-3)
    assert fm["baseline_chisq"] == pytest.approx(lav["baseline.chisq"], abs=1e-2)
    assert fm["bic_n"] == pytest.approx(lav["bic"], abs=1e-2)
    assert fm["srmr"] == pytest.approx(lav["srmr"], abs=1e-3)
    per_group = fit.group_fit_measures()
    np.testing.assert_allclose(per_group["chisq"], theirs["chisq_group"], atol=1e-2)
    np.testing.assert_allclose(per_group["logl"], theirs["logl_group"], rtol=1e-6)
    _compare_estimates(fit, theirs, est_tol=1e-3, se_tol=1e-2)


def test_compare_of_configural_and_metric_equals_lavaans_lrt():
    ref, configural = _model("groups_equal")
    _, metric = _model("groups_equal", "lambda")
    table = pmv.compare(configural.fit(), metric.fit(), names=["configural", "metric"])
    lrt = ref["lrt"]
    assert table.loc["metric", "chisq_diff"] == pytest.approx(lrt["chisq_diff"], abs=1e-2)
    assert table.loc["metric", "df_diff"] == lrt["df_diff"]
    assert table.loc["metric", "pvalue_diff"] == pytest.approx(lrt["pvalue"], abs=1e-3)


def test_unequal_sized_groups_configural_matches_lavaan():
    ref, model = _model("groups_unequal")
    fit = model.fit(information="observed")
    theirs = ref["configural"]
    assert fit.logl == pytest.approx(theirs["logl"], rel=1e-6)
    assert int(fit.fit_measures()["df"]) == theirs["df"]
    assert fit.fit_measures()["chisq"] == pytest.approx(theirs["chisq"], abs=1e-2)
    _compare_estimates(fit, theirs, est_tol=1e-3, se_tol=1e-2)


def _theta_at_lavaan(fit, ref_fit):
    """Our global θ holding lavaan's estimates."""
    theirs = _lavaan_cells(ref_fit)
    thetas = []
    for g, spec in enumerate(fit.spec.specs):
        values = []
        for pid in spec.param_ids:
            values.append(theirs[(g, pid.matrix, pid.row, pid.col)][0])
        thetas.append(np.array(values))
    return fit.spec.combine(thetas)


def test_unequal_sized_metric_is_the_likelihood_not_lavaans_weighted_objective():
    """lavaan 0.6.14 maximises Σ_g (N_g/N) logL_g with cross-group constraints: the same
    likelihood evaluates to its reported logL at its estimates, and our maximum of the plain
    sum is higher, with a zero projected gradient."""
    ref, model = _model("groups_unequal", "lambda")
    fit = model.fit(information="observed")
    theirs = ref["metric"]
    objective = GroupObjective(fit.spec, fit.stats)
    at_lavaan = _theta_at_lavaan(fit, theirs)
    assert objective.value(at_lavaan) == pytest.approx(theirs["logl"], rel=1e-8)
    np.testing.assert_allclose(objective.value_groups(at_lavaan), theirs["logl_group"],
                               rtol=1e-8)
    assert fit.logl >= theirs["logl"]
    assert fit.logl - theirs["logl"] > 1e-4  # lavaan's estimates are not the ML estimates
    _, grad = objective.value_grad(fit.theta)
    assert np.max(np.abs(grad)) < 1e-3
    assert fit.decrement < 1e-9


# ---------------------------------------------------------------- brute force
def _two_group_data(shift_item=None, n_clusters=(25, 30), seed=5):
    rng = np.random.default_rng(seed)
    lam = np.array([[1.0], [0.8], [1.2], [0.9]])
    frames = []
    for g, (j, latent_mean) in enumerate(zip(n_clusters, (0.0, 0.5))):
        mu = 1.0 + lam[:, 0] * latent_mean
        if shift_item is not None and g == 1:
            mu[shift_item] += 0.8
        sw = lam @ lam.T * 1.0 + np.diag([0.5, 0.6, 0.4, 0.5])
        sb = lam @ lam.T * 0.4 + np.diag([0.1, 0.15, 0.1, 0.12])
        frame = pmv.simulate_twolevel(j, rng.integers(3, 9, j), mu, sw, sb, rng=rng)
        frame["cluster"] += 1000 * g
        frame["school"] = ["public", "private"][g]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _brute_force_logl(gspec, frames, theta):
    """Σ_g Σ_j log N(vec y_j; 1⊗μ, I⊗Σ_W + 11'⊗Σ_B): every cluster's stacked np-vector
    (clusters of one size batched) or, with missing cells, tests.oracles' row-wise form."""
    total = 0.0
    for spec, frame, theta_g in zip(gspec.specs, frames, gspec.group_thetas(theta)):
        imp = spec.implied(theta_g)
        mu, sw, sb = imp["mu"], imp["sigma_within"], imp["sigma_between"]
        y = frame[list(spec.var_names)].to_numpy()
        clusters = frame["cluster"].to_numpy()
        if np.isnan(y).any():
            total += stacked_mvn_loglik(y, clusters, mu, sw, sb)
            continue
        ids, codes = np.unique(clusters, return_inverse=True)
        order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes)
        blocks = np.split(y[order], np.cumsum(sizes)[:-1])
        for n in np.unique(sizes):
            stacked = np.array([b.reshape(-1) for b, m in zip(blocks, sizes) if m == n])
            cov = np.kron(np.eye(n), sw) + np.kron(np.ones((n, n)), sb)
            resid = stacked - np.tile(mu, n)
            sign, logdet = np.linalg.slogdet(cov)
            if sign <= 0:
                return -np.inf
            quad = np.einsum("ij,ji->i", resid, np.linalg.solve(cov, resid.T))
            total += float(np.sum(-0.5 * (n * len(mu) * np.log(2 * np.pi) + logdet + quad)))
    return total


@pytest.mark.parametrize("equal", [["lambda"], ["lambda", "nu"]], ids=["metric", "scalar"])
def test_metric_and_scalar_fits_equal_a_brute_force_fit(equal):
    data = _two_group_data()
    model = pmv.ml_lvm(data, lambda_={"F": ["y1", "y2", "y3", "y4"]}, clusters="cluster",
                       groups="school", equal=equal)
    fit = model.fit()
    frames = [data[data["school"] == label] for label in fit.spec.labels]
    assert _brute_force_logl(fit.spec, frames, fit.theta) == pytest.approx(fit.logl, rel=1e-10)
    low, high = fit.spec.bounds()
    start = fit.theta + 0.05 * np.random.default_rng(0).standard_normal(fit.npar)
    start = np.clip(start, low + 1e-3, high - 1e-3)
    res = optimize.minimize(lambda t: -_brute_force_logl(fit.spec, frames, t), start,
                            jac="3-point", method="L-BFGS-B", bounds=list(zip(low, high)),
                            options=dict(ftol=1e-15, gtol=1e-10, maxiter=5000))
    assert -res.fun <= fit.logl + 1e-8 * abs(fit.logl)
    assert -res.fun == pytest.approx(fit.logl, rel=1e-8)
    np.testing.assert_allclose(res.x, fit.theta, atol=1e-4)
    if "nu" in equal:  # scalar: the second group's latent mean is free and estimated
        assert fit.group("private").matrix("nu_eta").iloc[0, 0] == pytest.approx(0.5, abs=0.4)


# ------------------------------------------------------------------ behaviour
def test_one_group_is_the_single_group_model():
    data = pmv.load_seed_example()
    single = pmv.ml_lvm(data, lambda_=LAMBDA, clusters="cluster").fit()
    grouped = pmv.ml_lvm(data.assign(all="everyone"), lambda_=LAMBDA, clusters="cluster",
                         groups="all").fit()
    assert grouped.logl == pytest.approx(single.logl, rel=1e-12)
    np.testing.assert_allclose(grouped.theta, single.theta, rtol=1e-8)
    np.testing.assert_allclose(grouped.se, single.se, rtol=1e-6)
    fm_single, fm_grouped = single.fit_measures(), grouped.fit_measures()
    for key in ("chisq", "df", "cfi", "tli", "rmsea", "rmsea_n", "srmr", "bic"):
        assert fm_grouped[key] == pytest.approx(fm_single[key], rel=1e-8, abs=1e-10), key


def test_tied_parameters_are_one_parameter_and_identical_in_every_group():
    _, model = _model("groups_equal", ["lambda", "sigma_epsilon_within"])
    fit = model.fit()
    assert fit.npar == 56 - 4 - 6
    lam = fit.matrix("lambda")
    pd.testing.assert_frame_equal(lam["1"], lam["2"])
    params = fit.parameters()
    tied = params[params["tied"]]
    assert set(tied["matrix"]) == {"lambda", "sigma_epsilon_within"}
    assert (tied.groupby("par")["group"].nunique() == 2).all()
    assert not params.loc[params["matrix"] == "nu", "tied"].any()


def test_equal_intercepts_free_the_latent_means_after_the_first_group():
    _, model = _model("groups_equal", ["lambda", "nu"])
    table = model.parameter_table()
    nu_eta = table[table["matrix"] == "nu_eta"]
    assert list(nu_eta["group"]) == ["2", "2"]
    assert model.npar == 56 - 4 - 6 + 2


def test_variance_identification_frees_later_groups_scale_with_equal_loadings():
    _, data = _reference("groups_equal")
    model = pmv.ml_lvm(data, lambda_=LAMBDA, clusters="cluster", groups="g_equal",
                       equal="lambda", identification="variance")
    table = model.parameter_table()
    variances = table[(table["matrix"] == "sigma_zeta_within") & (table["row"] == table["col"])]
    assert list(variances["group"]) == ["2", "2"]
    unequal = pmv.ml_lvm(data, lambda_=LAMBDA, clusters="cluster", groups="g_equal",
                         identification="variance").parameter_table()
    assert not ((unequal["matrix"] == "sigma_zeta_within") &
                (unequal["row"] == unequal["col"])).any()


def test_group_free_and_group_equal_move_between_models():
    _, model = _model("groups_equal", "lambda")
    metric = model.fit()
    freed = metric.group_free("lambda", "y2", "F1", group="2")
    assert freed.npar == metric.npar + 1
    assert freed.logl >= metric.logl - 1e-9
    lam = freed.matrix("lambda")
    assert lam["1"].loc["y2", "F1"] != lam["2"].loc["y2", "F1"]
    again = freed.group_equal("lambda", "y2", "F1")
    assert again.npar == metric.npar
    assert again.logl == pytest.approx(metric.logl, abs=1e-7)
    configural = model.fit()
    assert configural.group_equal("nu").npar == metric.npar - 6 + 2


def test_equality_modification_index_is_the_likelihood_ratio_to_first_order():
    _, model = _model("groups_equal", "lambda")
    metric = model.fit()
    mi = metric.modification_indices()
    equality = mi[mi["kind"] == "equality"]
    assert len(equality) == 2 * 4  # 4 tied loadings, released in either group
    top = equality.iloc[0]
    freed = metric.group_free("lambda", top["row"], top["col"], group=top["group"])
    lr = 2 * (freed.logl - metric.logl)
    assert top["mi"] == pytest.approx(lr, rel=0.02)
    assert (mi["kind"] == "free").any()


def test_invariance_helper_flags_a_non_invariant_intercept():
    data = _two_group_data(shift_item=2, n_clusters=(60, 60), seed=11)
    model = pmv.ml_lvm(data, lambda_={"F": ["y1", "y2", "y3", "y4"]}, clusters="cluster",
                       groups="school")
    result = model.invariance(steps=["configural", "metric", "scalar"])
    table = result.table
    assert list(table.index) == ["configural", "metric", "scalar"]
    assert table.loc["metric", "pvalue_diff"] > 0.01
    assert table.loc["scalar", "pvalue_diff"] < 0.001
    assert "delta_cfi" in table and "delta_rmsea" in table
    mi = result.fits["scalar"].modification_indices("nu")
    top = mi[mi["kind"] == "equality"].iloc[0]
    assert top["row"] == "y3"
    partial = result.fits["scalar"].group_free("nu", "y3", group="private")
    assert pmv.compare(result.fits["metric"], partial).iloc[-1]["pvalue_diff"] > 0.01


def test_fiml_with_groups_uses_the_rows_of_every_group():
    data = _two_group_data(seed=3)
    data.loc[data.index[::7], "y2"] = np.nan
    model = pmv.ml_lvm(data, lambda_={"F": ["y1", "y2", "y3", "y4"]}, clusters="cluster",
                       groups="school", equal="lambda")
    assert model.estimator == "FIML"
    fit = model.fit()
    assert fit.converged and fit.information == "observed"
    frames = [data[data["school"] == label] for label in fit.spec.labels]
    assert _brute_force_logl(fit.spec, frames, fit.theta) == pytest.approx(fit.logl, rel=1e-10)


def test_one_groups_view_reports_its_part_and_refuses_joint_quantities():
    _, model = _model("groups_equal", "lambda")
    fit = model.fit()
    member = fit.group("2")
    assert member.logl == pytest.approx(fit.logl_groups[1])
    assert set(member.standardized()["matrix"]) >= {"lambda"}
    assert len(member.icc()) == 6
    with pytest.raises(MLVMInputError, match="multi-group"):
        member.fit_measures()


@pytest.mark.parametrize("kwargs, match", [
    (dict(groups="nope"), "groups='nope' is not a column"),
    (dict(groups="cluster"), "also the cluster column"),
    (dict(equal="lambda"), "needs groups="),
    (dict(groups="g_equal", equal="lambdas"), "not parameter matrices"),
])
def test_bad_group_arguments_are_refused_clearly(kwargs, match):
    _, data = _reference("groups_equal")
    with pytest.raises(MLVMInputError, match=match):
        pmv.ml_lvm(data, lambda_=LAMBDA, clusters="cluster", **kwargs)


def test_group_arguments_of_results_are_checked():
    _, model = _model("groups_equal", "lambda")
    fit = model.fit()
    with pytest.raises(MLVMInputError, match="not a group"):
        fit.matrix("lambda", group="3")
    with pytest.raises(MLVMInputError, match="group=None"):
        fit.group_free("lambda", "y2", "F1")
    with pytest.raises(MLVMInputError, match="not equal across groups"):
        fit.spec.with_released([ParamId("nu", "y1", "")], 1)


def test_the_data_frame_is_not_modified():
    _, data = _reference("groups_equal")
    before = data.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pmv.ml_lvm(data, lambda_=LAMBDA, clusters="cluster", groups="g_equal").fit()
    pd.testing.assert_frame_equal(data, before)


def test_prune_removes_a_tied_edge_in_every_group_and_keeps_significant_ones():
    _, data = _reference("groups_equal")
    names = [f"y{k}" for k in range(1, 7)]
    edges = pd.DataFrame(0, index=names, columns=names)
    for a, b in (("y1", "y2"), ("y1", "y4"), ("y2", "y5"), ("y3", "y6"), ("y5", "y6")):
        edges.loc[a, b] = edges.loc[b, a] = 1
    model = pmv.ml_rnm(data, lambda_=LAMBDA, clusters="cluster", groups="g_equal",
                       omega_epsilon_within=edges, equal=["lambda", "omega_epsilon_within"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an identified network model: converged, interior
        fit = model.fit()
    pruned = fit.prune(alpha=0.2)
    params = pruned.parameters()
    kept = params[params["free"] & (params["matrix"] == "omega_epsilon_within")]
    assert len(kept) == 2 * 3 and kept["tied"].all()  # 3 tied edges, listed in both groups
    assert (kept["pvalue"] < 0.2).all()
    assert pruned.npar == fit.npar - 2  # two tied edges removed: two parameters
    for spec in pruned.spec.specs:  # removed in both groups alike
        assert (spec.matrices["omega_epsilon_within"].free ==
                pruned.spec.specs[0].matrices["omega_epsilon_within"].free).all()
    assert pruned.history[-1][0] == "prune"


def test_stepup_frees_edges_in_one_group_while_they_improve_the_fit():
    _, data = _reference("groups_equal")
    model = pmv.ml_rnm(data, lambda_=LAMBDA, clusters="cluster", groups="g_equal",
                       equal="lambda")
    fit = model.fit()
    stepped = fit.stepup(alpha=0.05, criterion="aic", max_steps=2)
    assert stepped.logl >= fit.logl - 1e-9
    assert stepped.npar - fit.npar == len([h for h in stepped.history if h[0] == "stepup"])
    assert stepped.fit_measures()["aic"] <= fit.fit_measures()["aic"] + 1e-9


def test_robust_configural_fit_is_the_groups_own_robust_fits_side_by_side():
    """Without constraints the groups are independent models: the joint sandwich is block
    diagonal with each group's own MLR covariance, and the joint scaling factor pools the
    groups' traces and df."""
    ref, model = _model("groups_unequal")
    joint = model.fit(se="robust")
    _, data = _reference("groups_unequal")
    singles = [pmv.ml_lvm(data[data["g_unequal"].astype(str) == label].drop(
        columns="g_unequal"), lambda_=LAMBDA, clusters="cluster").fit(se="robust")
        for label in joint.spec.labels]
    for g, single in enumerate(singles):
        idx = joint.spec.index[g]
        # the two fits converge separately (Newton decrement 1e-9): equal to ~1e-5
        np.testing.assert_allclose(joint.vcov[np.ix_(idx, idx)], single.vcov, rtol=1e-4,
                                   atol=1e-8)
    other = np.ix_(joint.spec.index[0], joint.spec.index[1])
    np.testing.assert_allclose(joint.vcov[other], 0.0, atol=1e-12)
    fm = joint.fit_measures()
    parts = [s.fit_measures() for s in singles]
    c = (sum(p["trace_h1"] for p in parts) - sum(p["trace_h0"] for p in parts)) / sum(
        p["df"] for p in parts)
    assert fm["chisq_scaling_factor"] == pytest.approx(c, rel=1e-5)
    assert fm["chisq_scaled"] == pytest.approx(fm["chisq"] / c, rel=1e-5)
    assert np.isfinite(fm["cfi_robust"]) and np.isfinite(fm["rmsea_robust_n"])


def test_robust_one_group_is_the_single_group_mlr_fit():
    data = pmv.load_seed_example()
    single = pmv.ml_lvm(data, lambda_=LAMBDA, clusters="cluster").fit(se="robust")
    grouped = pmv.ml_lvm(data.assign(all=1), lambda_=LAMBDA, clusters="cluster",
                         groups="all").fit(se="robust")
    np.testing.assert_allclose(grouped.se, single.se, rtol=1e-6)
    for key in ("chisq_scaled", "chisq_scaling_factor", "cfi_robust", "tli_robust",
                "rmsea_robust_n", "rmsea_robust_n_ci_upper"):
        assert grouped.fit_measures()[key] == pytest.approx(single.fit_measures()[key],
                                                            rel=1e-6), key


def test_standardized_icc_and_factor_scores_carry_the_group():
    _, model = _model("groups_equal", "lambda")
    fit = model.fit()
    std = fit.standardized()
    assert list(std["group"].unique()) == ["1", "2"]
    pd.testing.assert_frame_equal(std[std["group"] == "2"].drop(columns="group")
                                  .reset_index(drop=True), fit.group("2").standardized())
    icc = fit.icc()
    assert list(icc.index) == ["1", "2"] and list(icc.columns) == list(fit.spec.var_names)
    scores = fit.factor_scores("between")
    assert len(scores) == 200 and set(scores["group"]) == {"1", "2"}
    within = fit.factor_scores("within")
    _, data = _reference("groups_equal")
    assert sorted(within.index) == sorted(data.index)


def test_groups_from_statistics_alone_equal_groups_from_the_rows():
    ref, model = _model("groups_equal", "lambda")
    _, data = _reference("groups_equal")
    by_stats = {label: pmv.TwoLevelStats.from_dataframe(
        data[data["g_equal"].astype(str) == label].drop(columns="g_equal"), clusters="cluster")
        for label in model.labels}
    from_stats = pmv.ml_lvm(by_stats, lambda_=LAMBDA, equal="lambda")
    assert from_stats.labels == model.labels
    a, b = model.fit(), from_stats.fit()
    assert b.logl == pytest.approx(a.logl, rel=1e-12)
    np.testing.assert_allclose(b.theta, a.theta, rtol=1e-9)
    assert b.fit_measures()["chisq"] == pytest.approx(a.fit_measures()["chisq"], rel=1e-9)
    with pytest.raises(MLVMInputError, match="the keys are the groups"):
        pmv.ml_lvm(by_stats, lambda_=LAMBDA, groups="g_equal")
    with pytest.raises(MLVMInputError, match="not TwoLevelStats"):
        pmv.ml_lvm({"a": data}, lambda_=LAMBDA)


def test_releasing_an_equality_in_either_of_two_groups_is_the_same_score_test():
    """With two groups, freeing a tied cell in group 1 or in group 2 gives the same model:
    the two score tests agree (the host model of a score test adds only the new parameter:
    releasing every intercept of group 2 must not re-identify its latent mean away)."""
    data = _two_group_data(shift_item=2, n_clusters=(60, 60), seed=11)
    fit = pmv.ml_lvm(data, lambda_={"F": ["y1", "y2", "y3", "y4"]}, clusters="cluster",
                     groups="school", equal=["lambda", "nu"]).fit()
    mi = fit.modification_indices()
    equality = mi[mi["kind"] == "equality"]
    by_group = equality.pivot_table(index="param_id", columns="group", values="mi")
    np.testing.assert_allclose(by_group["public"], by_group["private"], rtol=1e-6)
    top = equality.iloc[0]
    freed = fit.group_free(top["matrix"], top["row"], top["col"] or None, group=top["group"])
    assert top["mi"] == pytest.approx(2 * (freed.logl - fit.logl), rel=0.25)


@pytest.mark.parametrize("equal", [None, ["lambda"], ["lambda", "nu"]],
                         ids=["configural", "metric", "scalar"])
def test_the_order_of_the_groups_changes_no_likelihood_or_fit_measure(equal):
    """Which group comes first (the reference for latent means) is a parameterisation:
    logL, χ², df and the invariance conclusions do not depend on it."""
    data = _two_group_data(shift_item=2, n_clusters=(30, 35), seed=4)
    flipped = pd.concat([data[data["school"] == "private"], data[data["school"] == "public"]])
    fits = [pmv.ml_lvm(frame, lambda_={"F": ["y1", "y2", "y3", "y4"]}, clusters="cluster",
                       groups="school", equal=equal).fit() for frame in (data, flipped)]
    assert fits[0].spec.labels == ("public", "private")
    assert fits[1].spec.labels == ("private", "public")
    assert fits[1].logl == pytest.approx(fits[0].logl, rel=1e-10)
    a, b = fits[0].fit_measures(), fits[1].fit_measures()
    for key in ("chisq", "df", "cfi", "tli", "rmsea_n", "srmr", "bic"):
        assert b[key] == pytest.approx(a[key], rel=1e-6, abs=1e-9), key


def test_group_equal_names_a_cell_of_a_symmetric_matrix_in_either_order():
    _, model = _model("groups_equal")
    fit = model.fit()
    upper = fit.group_equal("sigma_zeta_within", "F1", "F2")
    lower = fit.group_equal("sigma_zeta_within", "F2", "F1")
    assert upper.npar == lower.npar == fit.npar - 1
    assert upper.logl == pytest.approx(lower.logl, rel=1e-12)
    with pytest.raises(MLVMInputError, match="sigma_zeta_within\\['F1', 'F9'\\]"):
        fit.group_equal("sigma_zeta_within", "F1", "F9")
