"""plot_path draws the fitted two-level model: boxes, circles, arrows and networks, counted
from the figure's artists (each carries a ``gid`` naming what it draws)."""

from collections import Counter

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, Rectangle  # noqa: E402

import pm_mlvm as pmv  # noqa: E402

TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}


@pytest.fixture(scope="module")
def data():
    return pmv.load_seed_example()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _inventory(fig):
    """(panel title, kind) -> count, and the texts, of every gid-tagged artist."""
    counts, texts = Counter(), []
    for ax in fig.axes:
        level = "within" if ax.get_title().startswith("Within") else "between"
        for patch in ax.patches:
            kind = (patch.get_gid() or "").split(":")[0]
            expected_type = {"observed": Rectangle, "latent": Circle}.get(kind, FancyArrowPatch)
            assert isinstance(patch, expected_type), (kind, type(patch))
            counts[level, kind] += 1
        texts += [t.get_text() for t in ax.texts]
    return counts, texts


def _save(fig, path):
    fig.savefig(path, dpi=80)
    assert path.stat().st_size > 10_000


def test_a_two_level_cfa_has_boxes_circles_loadings_residuals_and_covariances(data, tmp_path):
    fit = pmv.ml_lvm(data, TWO, clusters="cluster").fit()
    fig = pmv.plot_path(fit)
    _save(fig, tmp_path / "cfa.png")
    counts, texts = _inventory(fig)
    for level in ("within", "between"):
        assert counts[level, "observed"] == 6
        assert counts[level, "latent"] == 2
        assert counts[level, "loading"] == 6
        assert counts[level, "residual"] == 6
        assert counts[level, "covariance"] == 1      # F1 <-> F2
        assert counts[level, "regression"] == counts[level, "edge"] == 0
    assert texts.count("1*") == 4                    # the two markers, on both levels
    between = fit.matrix("sigma_zeta_between").loc["F2", "F1"]
    assert f"{between:.2f}" in texts
    dashed = [p for ax in fig.axes for p in ax.patches
              if p.get_gid().startswith("loading:") and p.get_linestyle() != "-"]
    assert sorted(p.get_gid() for p in dashed) == ["loading:F1->y1"] * 2 + ["loading:F2->y4"] * 2


def test_a_within_regression_is_an_arrow_and_replaces_the_covariance(data, tmp_path):
    beta = np.array([[0, 0], [1, 0]])                # F2 ~ F1 on the within level
    fit = pmv.ml_lvm(data, TWO, clusters="cluster", beta_within=beta).fit()
    fig = pmv.plot_path(fit)
    _save(fig, tmp_path / "beta.png")
    counts, texts = _inventory(fig)
    assert counts["within", "regression"] == 1 and counts["between", "regression"] == 0
    assert counts["within", "covariance"] == 0       # only exogenous latents covary
    assert counts["between", "covariance"] == 1
    gids = [p.get_gid() for ax in fig.axes for p in ax.patches]
    assert "regression:F1->F2" in gids
    assert f"{fit.matrix('beta_within').loc['F2', 'F1']:.2f}" in texts


def test_latent_networks_are_drawn_as_edges(data, tmp_path):
    fit = pmv.ml_lnm(data, TWO, clusters="cluster").fit()
    fig = pmv.plot_path(fit)
    _save(fig, tmp_path / "lnm.png")
    counts, _ = _inventory(fig)
    for level in ("within", "between"):
        assert counts[level, "edge"] == 1 and counts[level, "covariance"] == 0
        assert counts[level, "latent"] == 2 and counts[level, "loading"] == 6


def test_an_observed_variable_network_draws_one_edge_per_free_partial_correlation(data,
                                                                                  tmp_path):
    fit = pmv.ml_lnm(data, None, clusters="cluster").fit().prune(alpha=0.05)
    fig = pmv.plot_path(fit, digits=3)
    _save(fig, tmp_path / "ggm.png")
    counts, _ = _inventory(fig)
    table = fit.parameters()
    for level in ("within", "between"):
        n_edges = int((table["free"] & (table["matrix"] == f"omega_zeta_{level}")).sum())
        assert 0 < n_edges < 15                      # pruned, not empty
        assert counts[level, "edge"] == n_edges
        assert counts[level, "observed"] == 6 and counts[level, "latent"] == 0
        assert counts[level, "loading"] == counts[level, "residual"] == 0


def test_panels_can_be_given_and_standardized_is_not_there_yet(data):
    fit = pmv.ml_lvm(data, TWO, clusters="cluster").fit()
    fig, axes = plt.subplots(1, 2)
    assert pmv.plot_path(fit, axes=axes) is fig
    with pytest.raises(pmv.MLVMInputError, match="axes"):
        pmv.plot_path(fit, axes=[axes[0]])
    with pytest.raises(NotImplementedError, match="standardized"):
        pmv.plot_path(fit, standardized=True)
