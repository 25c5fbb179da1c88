"""Modification indices, prune and stepup; network plots."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pm_mlvm as pmv  # noqa: E402
from pm_mlvm.likelihood.objective import Objective  # noqa: E402
from pm_mlvm.ml.search import adjust_pvalues, embedding_index, network_matrices  # noqa: E402

TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


def _ggm_cov(omega, sd):
    d = np.diag(sd)
    return d @ np.linalg.inv(np.eye(len(sd)) - omega) @ d


@pytest.fixture(scope="module")
def cross_loading_data():
    lam = np.zeros((6, 2))
    lam[:3, 0] = lam[3:, 1] = [1.0, 0.8, 0.6]
    lam[2, 1] = 0.15  # a small cross-loading the CFA leaves out
    sw = lam @ lam.T + 0.5 * np.eye(6)
    sb = lam @ (0.5 * np.eye(2)) @ lam.T + 0.3 * np.eye(6)
    return pmv.simulate_twolevel(100, 10, np.zeros(6), sw, sb, rng=4)


def test_modification_index_approximates_the_lr_test_of_freeing_the_cell(cross_loading_data):
    fit = pmv.ml_lvm(cross_loading_data, TWO, clusters="cluster").fit()
    mi = fit.modification_indices()
    top = mi.iloc[0]
    assert (top["matrix"], top["row"], top["col"]) == ("lambda", "y3", "F2")
    pattern = np.zeros((6, 2), int)
    pattern[:3, 0] = pattern[3:, 1] = 1
    pattern[2, 1] = 1
    freed = pmv.ml_lvm(cross_loading_data, pattern, latents=["F1", "F2"], clusters="cluster",
                       fix={("lambda", "y4", "F2"): 1.0}).fit()
    lr = 2 * (freed.logl - fit.logl)
    assert top["mi"] == pytest.approx(lr, rel=0.05)
    assert top["epc"] == pytest.approx(freed.matrix("lambda").loc["y3", "F2"], rel=0.1)
    assert set(mi.columns) == {"param_id", "matrix", "row", "col", "level", "mi", "pvalue",
                               "epc"}
    assert np.all(np.diff(mi["mi"].dropna().to_numpy()) <= 0)
    only = fit.modification_indices(matrices="sigma_epsilon_between")
    assert set(only["matrix"]) == {"sigma_epsilon_between"}
    # identification-fixed cells are never candidates
    assert not ((mi["matrix"] == "lambda") & (mi["row"] == "y1") & (mi["col"] == "F1")).any()


def test_score_equals_a_finite_difference_score(cross_loading_data):
    fit = pmv.ml_lvm(cross_loading_data, TWO, clusters="cluster").fit()
    from pm_mlvm.ml.search import _candidates, _freed

    cells = _candidates(fit.spec, ["lambda"])
    host = _freed(fit.spec, cells)
    objective = Objective(host, fit.stats)
    index, template = embedding_index(fit.spec, host)
    theta = template.copy()
    theta[index] = fit.theta
    _, grad = objective.value_grad(theta)
    for k in np.setdiff1d(np.arange(host.npar), index):
        h = 1e-5
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        fd = (objective.value(up) - objective.value(down)) / (2 * h)
        assert grad[k] == pytest.approx(fd, abs=1e-6 * max(1.0, abs(fd)))


def _sparse_networks(p=8):
    ow = np.zeros((p, p))
    for i in range(p - 1):
        ow[i + 1, i] = 0.3
    ow[5, 0], ow[7, 3] = -0.25, 0.25
    ob = np.zeros((p, p))
    ob[1, 0], ob[3, 2], ob[5, 4], ob[7, 6], ob[6, 0] = 0.4, 0.4, -0.35, 0.4, 0.3
    return ow + ow.T, ob + ob.T


def _rates(estimate, truth):
    low = np.tril_indices(len(truth), -1)
    est, true = estimate[low] != 0, truth[low] != 0
    return (est & true).sum() / true.sum(), (~est & ~true).sum() / (~true).sum()


def test_prune_recovers_sparse_two_level_networks_of_observed_variables():
    ow, ob = _sparse_networks()
    p = len(ow)
    df = pmv.simulate_twolevel(150, 10, np.zeros(p), _ggm_cov(ow, np.ones(p)),
                               _ggm_cov(ob, np.sqrt(0.5) * np.ones(p)), rng=1)
    full = pmv.ml_lnm(df, None, clusters="cluster").fit()
    pruned = full.prune(alpha=0.01)
    sens_w, spec_w = _rates(pruned.matrix("omega_zeta_within").to_numpy(), ow)
    _, spec_b = _rates(pruned.matrix("omega_zeta_between").to_numpy(), ob)
    assert sens_w >= 0.9 and spec_w >= 0.9 and spec_b >= 0.85
    assert pruned.history and pruned.history[0].kind == "prune"
    assert full.history == ()  # the input result is untouched
    assert full.spec.matrices["omega_zeta_within"].n_free == p * (p - 1) // 2
    # compare shows the LR test of the pruned model against the full one
    table = pmv.compare(full, pruned, names=["full", "pruned"])
    assert table.loc["pruned", "chisq_diff"] == pytest.approx(2 * (full.logl - pruned.logl),
                                                              rel=1e-9)
    assert table.loc["pruned", "df_diff"] == full.npar - pruned.npar
    # stepup from empty networks reaches a BIC no worse than the pruned model's
    empty = pmv.ml_lnm(df, None, clusters="cluster", omega_zeta_within="zero",
                       omega_zeta_between="zero").fit()
    stepped = empty.stepup(alpha=0.01)
    assert stepped.fit_measures()["bic"] <= pruned.fit_measures()["bic"] + 1e-6
    assert all(step.kind == "stepup" for step in stepped.history)
    # prune and stepup chain
    chained = pruned.stepup(alpha=0.01)
    assert [h.kind for h in chained.history][: len(pruned.history)] == [
        h.kind for h in pruned.history]


def test_prune_recovers_a_residual_network_with_one_factor():
    p = 6
    lam = np.full((p, 1), 0.7)
    ow, ob = np.zeros((p, p)), np.zeros((p, p))
    ow[1, 0], ow[3, 2], ow[5, 4] = 0.3, -0.3, 0.3
    ob[2, 0], ob[5, 3] = 0.4, 0.4
    ow, ob = ow + ow.T, ob + ob.T
    sw = lam @ lam.T + _ggm_cov(ow, np.sqrt(0.6) * np.ones(p))
    sb = lam @ (0.4 * np.ones((1, 1))) @ lam.T + _ggm_cov(ob, np.sqrt(0.3) * np.ones(p))
    df = pmv.simulate_twolevel(200, 10, np.zeros(p), sw, sb, rng=2)
    # full residual networks on both levels plus a factor are not identified (each level's
    # residual GGM alone is saturated), so the search starts from empty networks (the
    # ml_rnm default), steps up, then prunes
    model = pmv.ml_rnm(df, {"F": [f"y{k}" for k in range(1, p + 1)]}, clusters="cluster")
    assert set(network_matrices(model.spec)) == {"omega_epsilon_within", "omega_epsilon_between"}
    with pytest.raises(ValueError, match="not identified"):
        pmv.ml_rnm(df, {"F": [f"y{k}" for k in range(1, p + 1)]}, clusters="cluster",
                   omega_epsilon_within="full", omega_epsilon_between="full")
    pruned = model.fit().stepup(alpha=0.01).prune(alpha=0.01)
    sens_w, spec_w = _rates(pruned.matrix("omega_epsilon_within").to_numpy(), ow)
    _, spec_b = _rates(pruned.matrix("omega_epsilon_between").to_numpy(), ob)
    assert sens_w >= 0.9 and spec_w >= 0.9 and spec_b >= 0.85


def test_prune_of_a_model_without_networks_warns_and_returns_it(cross_loading_data):
    fit = pmv.ml_lvm(cross_loading_data, TWO, clusters="cluster").fit()
    with pytest.warns(UserWarning, match="no ggm or prec blocks"):
        assert fit.prune() is fit
    with pytest.raises(ValueError, match="matrices: \\['omega'\\] are not parameter matrices"):
        fit.prune(matrices=["omega"])
    with pytest.raises(ValueError, match="adjust='BY'"):
        fit.prune(adjust="BY", matrices=["sigma_zeta_within"])


def test_p_value_adjustments():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjust_pvalues(p, "bonferroni"), [0.04, 0.16, 0.12, 0.02])
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(adjust_pvalues(p, "fdr"), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_array_equal(adjust_pvalues(p, "none"), p)


def test_plot_network_writes_a_png(tmp_path, cross_loading_data):
    fit = pmv.ml_lnm(cross_loading_data, TWO, clusters="cluster").fit()
    fig = pmv.plot_network(fit, "omega_zeta_between")
    path = tmp_path / "net.png"
    fig.savefig(path)
    assert path.stat().st_size > 5000
    fig2 = pmv.plot_parameters(fit, matrices="lambda")
    fig2.savefig(tmp_path / "par.png")
    assert (tmp_path / "par.png").stat().st_size > 5000
    with pytest.raises(ValueError, match="not a square matrix"):
        pmv.plot_network(fit, "nu")
