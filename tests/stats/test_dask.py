"""The Dask route equals the pandas route exactly, on a small dask.distributed cluster."""

import numpy as np
import pandas as pd
import pytest

import pm_mlvm as pmv
from pm_mlvm.stats.twolevel import RowStats, SizeStats, TwoLevelStats
from tests.oracles import random_spd

dd = pytest.importorskip("dask.dataframe")  # the test extra installs pm_mlvm[dask]
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def _unsorted_frame(rng, n_clusters=45, p=4, missing=0.0, labels=str):
    sizes = rng.integers(1, 10, size=n_clusters)
    cl = np.repeat(np.arange(n_clusters), sizes)
    y = (rng.normal(size=(len(cl), p)) @ np.linalg.cholesky(random_spd(rng, p)).T
         + np.repeat(rng.normal(size=(n_clusters, p)), sizes, 0) + 10.0)
    if missing:
        mask = rng.random(y.shape) < missing
        mask[mask.all(axis=1), 0] = False
        y = np.where(mask, np.nan, y)
    df = pd.DataFrame(y, columns=[f"v{k}" for k in range(p)])
    df["school"] = [labels(c) for c in cl]
    # unsorted rows: every cluster ends up spread over the partitions
    return df.sample(frac=1.0, random_state=int(rng.integers(1000))).reset_index(drop=True)


def _assert_same(a: TwoLevelStats, b: TwoLevelStats):
    assert type(a) is type(b) and a.route == b.route
    assert list(a.cluster_labels) == list(b.cluster_labels)
    mu = a.total_mean + 0.1
    sw, sb = a.pooled_within_cov + 0.1 * np.eye(a.n_vars), 0.3 * np.eye(a.n_vars)
    la, lb = pmv.twolevel_loglik(a, mu, sw, sb), pmv.twolevel_loglik(b, mu, sw, sb)
    assert abs(la - lb) <= 1e-10 * abs(lb)
    assert a.digest == b.digest  # the same bytes: the reduction order is canonical


@pytest.mark.parametrize("labels", [str, int], ids=["str-labels", "int-labels"])
def test_dask_per_size_statistics_equal_the_pandas_route(rng, client, labels):
    df = _unsorted_frame(rng, labels=labels)
    ddf = dd.from_pandas(df, npartitions=6)
    spread = ddf.map_partitions(lambda part: part["school"].drop_duplicates()).compute()
    assert spread.duplicated().any()  # some cluster has rows in several partitions
    got = TwoLevelStats.from_dataframe(ddf, clusters="school")
    want = TwoLevelStats.from_dataframe(df, clusters="school")
    assert isinstance(got, SizeStats)
    for name in ("scatter_within", "mean_by_size", "cov_by_size", "cluster_scatter"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    _assert_same(got, want)


def test_dask_row_statistics_with_missing_cells_equal_the_pandas_route(rng, client):
    df = _unsorted_frame(rng, missing=0.12)
    got = TwoLevelStats.from_dataframe(dd.from_pandas(df, npartitions=5), clusters="school")
    want = TwoLevelStats.from_dataframe(df, clusters="school")
    assert isinstance(got, RowStats) and got.has_missing
    np.testing.assert_array_equal(got.y, want.y)
    np.testing.assert_array_equal(got.row_pattern, want.row_pattern)
    _assert_same(got, want)


def test_dask_rows_route_on_complete_data_equals_the_pandas_route(rng, client):
    df = _unsorted_frame(rng)
    got = TwoLevelStats.from_dataframe(dd.from_pandas(df, npartitions=4), clusters="school",
                                       route="rows")
    _assert_same(got, TwoLevelStats.from_dataframe(df, clusters="school", route="rows"))


def test_dask_route_reads_parquet_files(rng, client, tmp_path):
    df = _unsorted_frame(rng)
    for k, rows in enumerate(np.array_split(np.arange(len(df)), 3)):
        df.iloc[rows].to_parquet(tmp_path / f"part{k}.parquet")
    got = TwoLevelStats.from_dataframe(dd.read_parquet(str(tmp_path / "*.parquet")),
                                       clusters="school", vars=["v0", "v1", "v2", "v3"])
    _assert_same(got, TwoLevelStats.from_dataframe(df, clusters="school"))


def test_dask_route_warns_and_refuses_as_the_pandas_route(rng, client):
    df = _unsorted_frame(rng)
    df.loc[[2, 5], "school"] = None
    with pytest.warns(UserWarning, match="2 row\\(s\\) with a missing cluster id"):
        got = TwoLevelStats.from_dataframe(dd.from_pandas(df, npartitions=3), clusters="school")
    assert got.n_obs == len(df) - 2
    with pytest.raises(pmv.MLVMInputError, match="variable 'v1' is constant"):
        TwoLevelStats.from_dataframe(dd.from_pandas(df.assign(v1=1.0), npartitions=3),
                                     clusters="school")
    with pytest.raises(pmv.MLVMInputError, match="route='sizes' needs complete data"):
        TwoLevelStats.from_dataframe(
            dd.from_pandas(df.assign(v2=df["v2"].where(df.index != 3)), npartitions=3),
            clusters="school", route="sizes")
    with pytest.raises(pmv.MLVMInputError, match="clusters='class' is not a column"):
        TwoLevelStats.from_dataframe(dd.from_pandas(df, npartitions=3), clusters="class")
