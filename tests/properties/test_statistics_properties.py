"""Invariances of the two-level sufficient statistics, as properties over generated cases.

``pmv.TwoLevelStats`` (public attributes only) computed from generated data satisfies:

* row order: any permutation of the rows gives the same statistics (per-size means and
  covariances, pooled-within scatter, per-cluster means by label, the exact digest);
* cluster labels: relabelling by a bijection into labels of any type (int, negative int, str,
  float, categorical, a mix) gives the same per-size statistics, and the per-cluster means
  follow the labels;
* variable order: permuting the columns permutes every statistic alike;
* units: y → a + D y maps means to a + D m and covariances / scatters to D S D;
* duplication: every cluster twice under a new label doubles N, J, the size counts and the
  within scatter, and leaves the per-size means and covariances unchanged;
* routes: ``route="rows"`` keeps the rows (N·p observed cells, same clusters and sizes).
"""

import numpy as np
from hypothesis import strategies as st

import pm_mlvm as pmv
from tests.properties._support import (
    LABEL_KINDS,
    assert_close,
    prop,
    relabel,
    twolevel_cases,
)

RTOL = 1e-11


def _stats(y, clusters, **kwargs):
    return pmv.TwoLevelStats.from_arrays(y, clusters, **kwargs)


def _assert_same_statistics(a, b, rtol=RTOL, perm=None):
    """a's statistics equal b's (with b's variables taken in the order ``perm``)."""
    perm = np.arange(b.n_vars) if perm is None else perm
    pp = np.ix_(perm, perm)
    assert (a.n_obs, a.n_clusters, a.n_cells) == (b.n_obs, b.n_clusters, b.n_cells)
    np.testing.assert_array_equal(a.sizes, b.sizes)
    np.testing.assert_array_equal(a.size_counts, b.size_counts)
    assert_close(a.total_mean, b.total_mean[perm], rtol, "total mean")
    assert_close(a.total_cov, b.total_cov[pp], rtol, "total covariance")
    assert_close(a.between_cov, b.between_cov[pp], rtol, "between covariance")
    if not b.has_missing:
        assert_close(a.mean_by_size, b.mean_by_size[:, perm], rtol, "mean by size")
        assert_close(a.cov_by_size, b.cov_by_size[:, perm][:, :, perm], rtol, "cov by size")
        assert_close(a.scatter_within, b.scatter_within[pp], rtol, "within scatter")


@st.composite
def _shuffled(draw):
    case = draw(twolevel_cases())
    return case, np.array(draw(st.permutations(range(len(case.y)))))


@prop(args=_shuffled())
def test_shuffling_rows_leaves_every_statistic_unchanged(args):
    case, order = args
    base, moved = _stats(case.y, case.clusters), _stats(case.y[order], case.clusters[order])
    _assert_same_statistics(moved, base)
    assert list(moved.cluster_labels) == list(base.cluster_labels)
    np.testing.assert_array_equal(moved.cluster_size, base.cluster_size)
    assert_close(moved.cluster_means, base.cluster_means, RTOL, "cluster means")
    assert moved.digest == base.digest


@st.composite
def _relabelled(draw):
    case = draw(twolevel_cases())
    kind = draw(st.sampled_from(LABEL_KINDS))
    return case, kind, np.array(draw(st.permutations(range(case.n_clusters))))


@prop(args=_relabelled())
def test_relabelling_clusters_keeps_the_statistics_and_cluster_means_follow_the_labels(args):
    case, kind, order = args
    base = pmv.TwoLevelStats.from_dataframe(case.frame(), clusters="cluster")
    rows, mapping = relabel(case.clusters, kind, order)
    new = pmv.TwoLevelStats.from_dataframe(case.frame(rows), clusters="cluster")
    _assert_same_statistics(new, base)
    assert sorted(map(repr, new.cluster_labels)) == sorted(map(repr, mapping.values()))
    position = {label: k for k, label in enumerate(new.cluster_labels)}
    for code in range(case.n_clusters):
        k = position[mapping[code]]
        assert new.cluster_size[k] == base.cluster_size[code]
        assert_close(new.cluster_means[k], base.cluster_means[code], RTOL, f"cluster {code}")


@st.composite
def _permuted_vars(draw):
    case = draw(twolevel_cases())
    return case, np.array(draw(st.permutations(range(case.p))))


@prop(args=_permuted_vars())
def test_permuting_variables_permutes_every_statistic_alike(args):
    case, perm = args
    names = [f"v{k}" for k in range(case.p)]
    base = _stats(case.y, case.clusters, var_names=names)
    new = _stats(case.y[:, perm], case.clusters, var_names=[names[k] for k in perm])
    assert new.var_names == tuple(names[k] for k in perm)
    _assert_same_statistics(new, base, perm=perm)
    assert_close(new.cluster_means, base.cluster_means[:, perm], RTOL, "cluster means")


@st.composite
def _rescaled(draw):
    case = draw(twolevel_cases())
    exps = st.one_of(st.sampled_from([-8.0, 8.0]), st.floats(-8.0, 8.0))
    d = 10.0 ** np.array(draw(st.lists(exps, min_size=case.p, max_size=case.p)))
    offsets = np.array(draw(st.lists(st.floats(-10, 10), min_size=case.p, max_size=case.p)))
    return case, d, offsets * d


@prop(args=_rescaled())
def test_changing_units_maps_means_affinely_and_scatters_by_d_s_d(args):
    case, d, a = args
    base, new = _stats(case.y, case.clusters), _stats(a + d * case.y, case.clusters)
    dd = d[:, None] * d
    assert new.n_cells == base.n_cells
    assert_close(new.cluster_means / d, (a + d * base.cluster_means) / d, 1e-9,
                 "cluster means (in the old units)")
    assert_close(new.total_cov / dd, base.total_cov, 1e-9, "total covariance / dd'")
    if case.complete:
        assert_close(new.mean_by_size / d, (a + d * base.mean_by_size) / d, 1e-9,
                     "means by size (in the old units)")
        assert_close(new.cov_by_size / dd, base.cov_by_size, 1e-9, "cov by size / dd'")
        assert_close(new.scatter_within / dd, base.scatter_within, 1e-9, "scatter / dd'")


@prop(case=twolevel_cases())
def test_duplicating_every_cluster_doubles_the_counts_and_keeps_the_moments(case):
    base = _stats(case.y, case.clusters)
    twice = _stats(np.vstack([case.y, case.y]),
                   np.concatenate([case.clusters, case.clusters + case.n_clusters]))
    assert (twice.n_obs, twice.n_clusters, twice.n_cells) == (
        2 * base.n_obs, 2 * base.n_clusters, 2 * base.n_cells)
    np.testing.assert_array_equal(twice.sizes, base.sizes)
    np.testing.assert_array_equal(twice.size_counts, 2 * base.size_counts)
    assert_close(twice.cluster_means, np.vstack([base.cluster_means] * 2), RTOL, "means")
    if case.complete:
        assert_close(twice.mean_by_size, base.mean_by_size, RTOL, "means by size")
        assert_close(twice.cov_by_size, base.cov_by_size, 1e-9, "covariances by size")
        assert_close(twice.scatter_within, 2 * base.scatter_within, RTOL, "within scatter")


@prop(case=twolevel_cases(missing=False))
def test_the_row_route_keeps_every_row_of_complete_data(case):
    per_size, rows = _stats(case.y, case.clusters), _stats(case.y, case.clusters, route="rows")
    assert (per_size.route, rows.route) == ("sizes", "rows")
    assert rows.n_cells == rows.n_obs * rows.n_vars == per_size.n_cells
    assert list(rows.cluster_labels) == list(per_size.cluster_labels)
    np.testing.assert_array_equal(rows.cluster_size, per_size.cluster_size)
    assert rows.patterns.all()
    np.testing.assert_array_equal(np.bincount(rows.row_cluster), rows.cluster_size)
    assert_close(np.sort(rows.y, axis=0), np.sort(case.y, axis=0), 0.0, "rows kept")
