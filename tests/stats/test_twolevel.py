"""TwoLevelStats: statistics, invariances, and errors at the data boundary."""

import warnings

import numpy as np
import pandas as pd
import pytest

import pm_mlvm as pmv
from pm_mlvm.errors import MLVMInputError
from pm_mlvm.stats.twolevel import RowStats, SizeStats, TwoLevelStats


def _frame(rng, sizes=(3, 5, 5, 1, 2, 3, 5), p=3):
    cl = np.repeat(np.arange(len(sizes)), sizes)
    y = rng.normal(size=(len(cl), p)) + np.repeat(rng.normal(size=(len(sizes), p)), sizes, 0)
    df = pd.DataFrame(y, columns=[f"y{k + 1}" for k in range(p)])
    df["school"] = cl
    return df


def test_statistics_match_their_definitions(rng):
    df = _frame(rng)
    st = TwoLevelStats.from_dataframe(df, clusters="school")
    y = df[["y1", "y2", "y3"]].to_numpy()
    groups = df.groupby("school")
    means = groups[["y1", "y2", "y3"]].mean()
    centred = y - means.loc[df["school"]].to_numpy()
    assert st.n_obs == len(df) and st.n_clusters == 7
    np.testing.assert_allclose(st.scatter_within, centred.T @ centred, atol=1e-12)
    np.testing.assert_allclose(
        st.pooled_within_cov, centred.T @ centred / (len(df) - 7), atol=1e-12
    )
    np.testing.assert_array_equal(st.sizes, [1, 2, 3, 5])
    np.testing.assert_array_equal(st.size_counts, [1, 1, 2, 3])
    size = groups.size()
    for k, s in enumerate(st.sizes):
        m = means[size.to_numpy() == s].to_numpy()
        np.testing.assert_allclose(st.mean_by_size[k], m.mean(0), atol=1e-12)
        d = m - m.mean(0)
        np.testing.assert_allclose(st.cov_by_size[k], d.T @ d / len(m), atol=1e-12)
    np.testing.assert_allclose(st.cov_by_size[0], 0.0)  # a size with one cluster
    np.testing.assert_allclose(st.total_mean, y.mean(0), atol=1e-12)
    np.testing.assert_allclose(st.total_cov, np.cov(y, rowvar=False), atol=1e-12)
    np.testing.assert_allclose(st.cluster_scatter.sum(0), st.scatter_within, atol=1e-12)


def test_all_singleton_clusters_have_no_within_part(rng):
    df = pd.DataFrame({"y": rng.normal(size=6), "z": rng.normal(size=6), "g": range(6)})
    st = TwoLevelStats.from_dataframe(df, clusters="g")
    assert st.n_obs == st.n_clusters == 6
    np.testing.assert_array_equal(st.pooled_within_cov, 0.0)
    np.testing.assert_array_equal(st.sizes, [1])


@pytest.mark.parametrize(
    "relabel",
    [
        lambda c: c.astype(str) + "_school",
        lambda c: c.astype(float) + 0.5,
        lambda c: pd.Categorical(c.astype(str)),
        lambda c: 100 - c,
    ],
    ids=["str", "float", "categorical", "reversed-int"],
)
def test_statistics_do_not_depend_on_label_type_or_row_order(rng, relabel):
    df = _frame(rng)
    base = TwoLevelStats.from_dataframe(df, clusters="school")
    other = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    other["school"] = relabel(other["school"])
    st = TwoLevelStats.from_dataframe(other, clusters="school")
    for field in ("sizes", "size_counts"):
        np.testing.assert_array_equal(getattr(st, field), getattr(base, field))
    for field in ("mean_by_size", "cov_by_size", "scatter_within", "total_mean"):
        np.testing.assert_allclose(getattr(st, field), getattr(base, field), rtol=1e-12,
                                   atol=1e-12)
    mu, sw, sb = np.zeros(3), np.eye(3), 0.5 * np.eye(3)
    assert pmv.twolevel_loglik(st, mu, sw, sb) == pytest.approx(
        pmv.twolevel_loglik(base, mu, sw, sb), rel=1e-13
    )


def test_variable_names_with_dots_spaces_and_unicode_are_kept(rng):
    df = _frame(rng)
    names = {"y1": "y.1", "y2": "score two", "y3": "ψ_ü"}
    st = TwoLevelStats.from_dataframe(df.rename(columns=names), clusters="school")
    base = TwoLevelStats.from_dataframe(df, clusters="school")
    assert st.var_names == ("y.1", "score two", "ψ_ü")
    np.testing.assert_array_equal(st.scatter_within, base.scatter_within)


def test_the_input_frame_is_not_modified(rng):
    df = _frame(rng)
    df.loc[2, "y1"] = np.nan
    df.loc[4, "school"] = np.nan
    before = df.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        TwoLevelStats.from_dataframe(df, clusters="school", vars=["y1", "y2"])
    pd.testing.assert_frame_equal(df, before)


def test_missing_cells_switch_to_the_per_cluster_route(rng):
    df = _frame(rng)
    df.loc[[0, 4, 9], "y2"] = np.nan
    df.loc[5, "y3"] = np.nan
    st = TwoLevelStats.from_dataframe(df, clusters="school")
    assert st.has_missing and st.n_cells == df[["y1", "y2", "y3"]].notna().sum().sum()
    assert isinstance(st, RowStats) and st.route == "rows"
    observed = st.patterns[st.row_pattern]
    assert observed.sum() == st.n_cells
    assert np.all(st.y[~observed] == 0.0)
    assert st.pair_count.sum() == st.n_obs
    assert np.all(np.diff(st.row_cluster) >= 0)


def test_clusters_not_a_column_lists_the_columns(rng):
    df = _frame(rng)
    with pytest.raises(ValueError, match=r"clusters='class' is not a column.*'y1', 'y2'"):
        TwoLevelStats.from_dataframe(df, clusters="class")


def test_unknown_or_non_numeric_vars_are_named(rng):
    df = _frame(rng)
    df["label"] = "a"
    with pytest.raises(ValueError, match=r"vars: not columns of data: 'y9'"):
        TwoLevelStats.from_dataframe(df, clusters="school", vars=["y1", "y9"])
    with pytest.raises(ValueError, match=r"vars: not numeric: 'label'"):
        TwoLevelStats.from_dataframe(df, clusters="school", vars=["y1", "label"])
    with pytest.raises(ValueError, match=r"not numeric: 'label'.*pass vars="):
        TwoLevelStats.from_dataframe(df, clusters="school")
    with pytest.raises(ValueError, match="must not contain the cluster column"):
        TwoLevelStats.from_dataframe(df, clusters="school", vars=["y1", "school"])
    with pytest.raises(MLVMInputError, match="pandas DataFrame"):
        TwoLevelStats.from_dataframe(df.to_numpy(), clusters="school")


def test_rows_with_missing_cluster_ids_are_dropped_with_a_count(rng):
    df = _frame(rng)
    df.loc[[1, 3], "school"] = np.nan
    with pytest.warns(UserWarning, match="2 row\\(s\\) with a missing cluster id"):
        st = TwoLevelStats.from_dataframe(df, clusters="school")
    assert st.n_obs == len(df) - 2


def test_rows_missing_everywhere_are_dropped_with_a_count(rng):
    df = _frame(rng)
    df.loc[[0, 6, 7], ["y1", "y2", "y3"]] = np.nan
    with pytest.warns(UserWarning, match="3 row\\(s\\) missing on every variable"):
        st = TwoLevelStats.from_dataframe(df, clusters="school")
    assert st.n_obs == len(df) - 3 and not st.has_missing


def test_fewer_than_two_clusters_and_constant_variables_are_refused(rng):
    df = _frame(rng)
    with pytest.raises(ValueError, match="need at least 2 clusters.*found 1"):
        TwoLevelStats.from_dataframe(df.assign(school=1), clusters="school")
    with pytest.raises(ValueError, match="variable 'y2' is constant"):
        TwoLevelStats.from_dataframe(df.assign(y2=3.0), clusters="school")


def test_subset_clusters_equals_statistics_of_the_subset(rng):
    df = _frame(rng)
    st = TwoLevelStats.from_dataframe(df, clusters="school")
    keep = np.array([True, False, True, True, False, True, True])
    sub = st.subset_clusters(keep)
    direct = TwoLevelStats.from_dataframe(df[df["school"].isin(np.flatnonzero(keep))], "school")
    np.testing.assert_allclose(sub.scatter_within, direct.scatter_within, atol=1e-12)
    np.testing.assert_allclose(sub.mean_by_size, direct.mean_by_size, atol=1e-12)


# ------------------------------------------------------------ boundary errors are named
@pytest.mark.parametrize("vars", [None, ["y1", "y3"]])
def test_duplicate_column_names_are_reported_as_duplicates_not_as_non_numeric(rng, vars):
    df = _frame(rng)
    df.columns = ["y1", "y1", "y3", "school"]
    with pytest.raises(MLVMInputError, match=r"duplicate column names: 'y1'"):
        TwoLevelStats.from_dataframe(df, clusters="school", vars=vars)


def test_a_duplicated_cluster_column_is_reported_as_a_duplicate(rng):
    df = _frame(rng)
    df.columns = ["y1", "y2", "school", "school"]
    with pytest.raises(MLVMInputError, match=r"duplicate column names: 'school'"):
        TwoLevelStats.from_dataframe(df, clusters="school", vars=["y1", "y2"])


def test_an_empty_frame_is_reported_as_having_no_rows(rng):
    df = _frame(rng)
    with pytest.raises(MLVMInputError, match=r"data has no rows \(shape \(0, 4\)\)"):
        TwoLevelStats.from_dataframe(df.iloc[:0], clusters="school")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(MLVMInputError, match=r"data has no rows with a cluster id"):
            TwoLevelStats.from_dataframe(df.assign(school=np.nan), clusters="school")


def test_errors_at_the_data_boundary_are_input_errors(rng):
    df = _frame(rng)
    for kwargs in (dict(clusters="class"), dict(clusters="school", vars=["y9"]),
                   dict(clusters="school", vars=[]),
                   dict(clusters="school", vars=["y1", "y1"])):
        with pytest.raises(MLVMInputError):
            TwoLevelStats.from_dataframe(df, **kwargs)


@pytest.mark.parametrize("route", ["auto", "rows"])
def test_the_digest_is_the_same_in_any_row_order_and_changes_with_any_value(rng, route):
    df = _frame(rng)
    st = TwoLevelStats.from_dataframe(df, clusters="school", route=route)
    shuffled = df.sample(frac=1.0, random_state=7).reset_index(drop=True)
    again = TwoLevelStats.from_dataframe(shuffled, clusters="school", route=route)
    assert again.digest == st.digest
    for name in ("scatter_within", "cluster_means", "total_cov"):
        np.testing.assert_array_equal(getattr(again, name), getattr(st, name))
    nudged = df.copy()
    nudged.loc[4, "y2"] = np.nextafter(nudged.loc[4, "y2"], np.inf)  # one ulp
    assert TwoLevelStats.from_dataframe(nudged, clusters="school", route=route).digest != st.digest
    moved = df.copy()
    moved.loc[0, "school"] = 6  # one row to another cluster
    assert TwoLevelStats.from_dataframe(moved, clusters="school", route=route).digest != st.digest
    renamed = df.rename(columns={"y3": "z"})
    assert TwoLevelStats.from_dataframe(renamed, clusters="school", route=route).digest != st.digest


def test_each_variant_names_its_route_and_the_digest_tells_them_apart(rng):
    df = _frame(rng)
    sizes = TwoLevelStats.from_dataframe(df, clusters="school")
    rows = TwoLevelStats.from_dataframe(df, clusters="school", route="rows")
    assert isinstance(sizes, SizeStats) and sizes.route == "sizes" and not sizes.has_missing
    assert isinstance(rows, RowStats) and rows.route == "rows" and not rows.has_missing
    assert sizes.digest != rows.digest
    mu, sw, sb = np.zeros(3), np.eye(3), 0.5 * np.eye(3)
    assert pmv.twolevel_loglik(rows, mu, sw, sb) == pytest.approx(
        pmv.twolevel_loglik(sizes, mu, sw, sb), rel=1e-12)
    assert "route='sizes'" in repr(sizes) and "route='rows'" in repr(rows)


def test_a_route_that_cannot_be_honoured_is_refused(rng):
    df = _frame(rng)
    with pytest.raises(MLVMInputError, match="route='complete' is not valid.*'sizes'"):
        TwoLevelStats.from_dataframe(df, clusters="school", route="complete")
    df.loc[3, "y1"] = np.nan
    with pytest.raises(MLVMInputError, match="route='sizes' needs complete data"):
        TwoLevelStats.from_dataframe(df, clusters="school", route="sizes")


def test_survey_reports_missingness_and_the_largest_cluster_without_summarising(rng):
    from pm_mlvm.stats.twolevel import survey

    df = _frame(rng)
    assert survey(df, "school") == (False, 5)
    df.loc[0, "y1"] = np.nan
    df.loc[[1, 2], ["y1", "y2", "y3"]] = np.nan  # dropped rows do not count as missing cells
    assert survey(df, "school") == (True, 5)
    assert survey(df.loc[[1, 2, 3, 4, 5]], "school") == (False, 3)
