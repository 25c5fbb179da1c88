"""Invariances of the exact two-level log-likelihood, as properties over generated cases.

For data y (N rows, p variables, J clusters; missing cells allowed) and moments
(μ, Σ_W, Σ_B), the log-likelihood logL and its gradient (g_μ, G_W, G_B) — through the public
API only (``pmv.TwoLevelStats``, ``pmv.twolevel_loglik[_grad|_per_cluster]``) — satisfy:

* row order: any permutation of the rows leaves logL and the gradient unchanged, and the
  per-cluster values stay with their clusters;
* cluster labels: relabelling the clusters by a bijection, into labels of any type (int,
  negative int, str, float, categorical, a mix of int and str), leaves logL and the gradient
  unchanged, and the per-cluster values follow the labels;
* variable order: permuting the columns together with (μ, Σ_W, Σ_B) leaves logL unchanged and
  permutes the gradient alike;
* units: with y → a + D y (D diagonal), logL(a + Dμ, DΣ_W D, DΣ_B D) equals
  logL(μ, Σ_W, Σ_B) − Σ over observed cells of log d_k (the Jacobian of the change of units),
  to 1e-9 of the larger magnitude, for d_k from 1e-8 to 1e8 on one variable or all; the
  gradient transforms as g_μ → D⁻¹ g_μ, G → D⁻¹ G D⁻¹;
* duplication: every cluster repeated once under a new label doubles logL and the gradient;
* routes: per-size statistics and the row-wise route (``route="rows"``) agree;
* oracle: the brute-force stacked multivariate normal of each cluster agrees.

Tolerances are relative to the larger magnitude (the kernels sum in different orders).
"""

import numpy as np
import pandas as pd
from hypothesis import assume
from hypothesis import strategies as st

import pm_mlvm as pmv
from tests.oracles import stacked_mvn_loglik
from tests.properties._support import (
    LABEL_KINDS,
    assert_close,
    cases_with_moments,
    prop,
    relabel,
)

RTOL = 1e-10


def _stats(y, clusters, **kwargs):
    return pmv.TwoLevelStats.from_arrays(y, clusters, **kwargs)


def _all(stats, m):
    """(logL, gradient tuple, per-cluster Series) at moments m."""
    value, *grad = pmv.twolevel_loglik_grad(stats, m.mu, m.sigma_within, m.sigma_between)
    per = pmv.twolevel_loglik_per_cluster(stats, m.mu, m.sigma_within, m.sigma_between)
    return value, grad, per


def _assume_finite(value):
    assume(np.isfinite(value))


def _assert_same(a, b, rtol=RTOL, what="logL"):
    assert_close(a[0], b[0], rtol, what)
    for name, ga, gb in zip(("g_mu", "G_W", "G_B"), a[1], b[1]):
        assert_close(ga, gb, rtol * 100, f"{what}: {name}")


# --------------------------------------------------------------------------- row order
@st.composite
def _shuffled(draw):
    case, m = draw(cases_with_moments())
    order = np.array(draw(st.permutations(range(len(case.y)))))
    return case, m, order


@prop(args=_shuffled())
def test_shuffling_rows_changes_neither_the_loglik_nor_the_gradient(args):
    case, m, order = args
    base = _all(_stats(case.y, case.clusters), m)
    _assume_finite(base[0])
    moved = _all(_stats(case.y[order], case.clusters[order]), m)
    _assert_same(moved, base, what="shuffled rows")
    pd.testing.assert_series_equal(moved[2], base[2], rtol=1e-9)



# ---------------------------------------------------------------------- cluster labels
@st.composite
def _relabelled(draw):
    case, m = draw(cases_with_moments())
    kind = draw(st.sampled_from(LABEL_KINDS))
    order = np.array(draw(st.permutations(range(case.n_clusters))))
    return case, m, kind, order


@prop(args=_relabelled())
def test_relabelling_clusters_keeps_the_loglik_and_per_cluster_values_follow_the_labels(args):
    case, m, kind, order = args
    base = _all(pmv.TwoLevelStats.from_dataframe(case.frame(), clusters="cluster"), m)
    _assume_finite(base[0])
    rows, mapping = relabel(case.clusters, kind, order)
    new = _all(pmv.TwoLevelStats.from_dataframe(case.frame(rows), clusters="cluster"), m)
    _assert_same(new, base, what=f"{kind} labels")
    followed = new[2].loc[[mapping[c] for c in range(case.n_clusters)]]
    assert_close(followed.to_numpy(), base[2].to_numpy(), 1e-9, "per-cluster values by label")



# ---------------------------------------------------------------------- variable order
@st.composite
def _permuted_vars(draw):
    case, m = draw(cases_with_moments())
    return case, m, np.array(draw(st.permutations(range(case.p))))


@prop(args=_permuted_vars())
def test_permuting_variables_with_the_moments_keeps_the_loglik_and_permutes_the_gradient(args):
    case, m, perm = args
    base = _all(_stats(case.y, case.clusters), m)
    _assume_finite(base[0])
    pm = type(m)(m.mu[perm], m.sigma_within[np.ix_(perm, perm)],
                 m.sigma_between[np.ix_(perm, perm)])
    new = _all(_stats(case.y[:, perm], case.clusters), pm)
    assert_close(new[0], base[0], RTOL, "permuted variables")
    assert_close(new[1][0], base[1][0][perm], RTOL * 100, "g_mu permuted alike")
    for k in (1, 2):
        assert_close(new[1][k], base[1][k][np.ix_(perm, perm)], RTOL * 100, "G permuted alike")



# ---------------------------------------------------------------------------- rescaling
_EXPONENT = st.one_of(st.sampled_from([-8.0, 8.0]), st.floats(-8.0, 8.0))


@st.composite
def _rescaled(draw, one_variable):
    case, m = draw(cases_with_moments())
    if one_variable:
        exps = np.zeros(case.p)
        exps[draw(st.integers(0, case.p - 1))] = draw(_EXPONENT)
    else:
        exps = np.array(draw(st.lists(_EXPONENT, min_size=case.p, max_size=case.p)))
    offsets = np.array(draw(st.lists(st.floats(-10, 10), min_size=case.p, max_size=case.p)))
    return case, m, 10.0**exps, offsets


def _check_rescaling(args):
    case, m, d, offsets = args
    base = _all(_stats(case.y, case.clusters), m)
    _assume_finite(base[0])
    a = offsets * d  # the offset in the new units: y' = a + D y
    sm = type(m)(a + d * m.mu, d[:, None] * m.sigma_within * d,
                 d[:, None] * m.sigma_between * d)
    new = _all(_stats(a + case.y * d, case.clusters), sm)
    jacobian = float(np.sum((~np.isnan(case.y)).sum(axis=0) * np.log(d)))
    assert_close(new[0], base[0] - jacobian, 1e-9, f"rescaled by {d}")
    assert_close(d * new[1][0], base[1][0], 1e-7, "D g_mu")
    for k, name in ((1, "D G_W D"), (2, "D G_B D")):
        assert_close(d[:, None] * new[1][k] * d, base[1][k], 1e-7, name)
    row_jacobian = (~np.isnan(case.y)) @ np.log(d)
    per_cluster_jacobian = np.bincount(case.clusters, weights=row_jacobian)
    assert_close(new[2].to_numpy(), base[2].to_numpy() - per_cluster_jacobian, 1e-9,
                 "per-cluster values")


@prop(args=_rescaled(one_variable=False))
def test_rescaling_every_variable_shifts_the_loglik_by_the_log_jacobian(args):
    _check_rescaling(args)


@prop(args=_rescaled(one_variable=True))
def test_rescaling_one_variable_shifts_the_loglik_by_the_log_jacobian(args):
    _check_rescaling(args)




# -------------------------------------------------------------------------- duplication
@prop(args=cases_with_moments())
def test_duplicating_every_cluster_doubles_the_loglik_and_gradient(args):
    case, m = args
    base = _all(_stats(case.y, case.clusters), m)
    _assume_finite(base[0])
    twice = _stats(np.vstack([case.y, case.y]),
                   np.concatenate([case.clusters, case.clusters + case.n_clusters]))
    new = _all(twice, m)
    assert_close(new[0], 2 * base[0], RTOL, "duplicated clusters")
    for name, g2, g in zip(("g_mu", "G_W", "G_B"), new[1], base[1]):
        assert_close(g2, 2 * g, RTOL * 100, name)
    per = new[2].to_numpy()
    assert_close(per, np.tile(base[2].to_numpy(), 2), 1e-9, "per-cluster values repeated")



# ------------------------------------------------------------------------------- routes
@prop(args=cases_with_moments(missing=False))
def test_the_per_size_and_row_routes_agree_on_complete_data(args):
    case, m = args
    per_size = _stats(case.y, case.clusters)
    rows = _stats(case.y, case.clusters, route="rows")
    assert (per_size.route, rows.route) == ("sizes", "rows")
    a, b = _all(per_size, m), _all(rows, m)
    if not np.isfinite(a[0]):
        assert a[0] == b[0] == -np.inf
        return
    _assert_same(b, a, rtol=1e-9, what="rows route vs per-size route")
    assert_close(b[2].to_numpy(), a[2].to_numpy(), 1e-9, "per-cluster values")



# ------------------------------------------------------------------------------- oracle
def _check_oracle(args):
    case, m = args
    stats = _stats(case.y, case.clusters)
    value, _, per = _all(stats, m)
    expected = stacked_mvn_loglik(case.y, case.clusters, m.mu, m.sigma_within,
                                  m.sigma_between, per_cluster=True)
    assert_close(value, expected.sum(), 1e-9, "total vs stacked MVN")
    assert_close(per.to_numpy(), expected, 1e-9, "per cluster vs stacked MVN")


@prop(args=cases_with_moments(missing=False))
def test_the_loglik_equals_the_brute_force_stacked_normal_on_complete_data(args):
    _check_oracle(args)


@prop(args=cases_with_moments(missing=True))
def test_the_loglik_equals_the_brute_force_stacked_normal_with_missing_cells(args):
    _check_oracle(args)
