"""Statistics saved with to_npz load back exactly, in this process and in a fresh one."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pm_mlvm as pmv
from pm_mlvm.stats.twolevel import RowStats, SizeStats, TwoLevelStats

ROOT = Path(__file__).resolve().parents[2]


def _frame(rng, missing=False):
    sizes = rng.integers(2, 8, size=25)
    cl = np.repeat(np.arange(25), sizes)
    y = rng.normal(size=(len(cl), 3)) + np.repeat(rng.normal(size=(25, 3)), sizes, 0)
    if missing:
        y[rng.random(y.shape) < 0.1] = np.nan
        y[np.isnan(y).all(axis=1), 0] = 0.5
    df = pd.DataFrame(y, columns=["y.1", "score two", "ψ"])
    df["g"] = cl
    return df


def _moments(st):
    p = st.n_vars
    return st.total_mean, st.pooled_within_cov + 0.05 * np.eye(p), 0.4 * np.eye(p)


@pytest.mark.parametrize("route", ["auto", "rows", "missing"])
def test_npz_round_trip_is_exact_for_both_variants(rng, tmp_path, route):
    df = _frame(rng, missing=route == "missing")
    st = TwoLevelStats.from_dataframe(df, clusters="g",
                                      route="rows" if route == "rows" else "auto")
    st.to_npz(tmp_path / "s.npz")
    back = TwoLevelStats.from_npz(tmp_path / "s.npz")
    assert type(back) is type(st) and back.route == st.route
    assert back.digest == st.digest and back.var_names == st.var_names
    pd.testing.assert_index_equal(back.cluster_labels, st.cluster_labels)
    assert pmv.twolevel_loglik(back, *_moments(st)) == pmv.twolevel_loglik(st, *_moments(st))


@pytest.mark.parametrize(
    "relabel, exact",
    [(lambda c: c.astype(str) + "_s", True), (lambda c: c * 0.5, True),
     (lambda c: pd.to_datetime("2020-01-01") + pd.to_timedelta(c, "D"), True),
     (lambda c: c.map(lambda v: v if v % 2 else str(v)), False)],
    ids=["str", "float", "datetime", "mixed"],
)
def test_cluster_labels_survive_the_round_trip_or_come_back_as_their_repr(rng, tmp_path,
                                                                         relabel, exact):
    df = _frame(rng)
    df["g"] = relabel(df["g"])
    st = TwoLevelStats.from_dataframe(df, clusters="g")
    st.to_npz(tmp_path / "s.npz")
    back = TwoLevelStats.from_npz(tmp_path / "s.npz")
    if exact:
        pd.testing.assert_index_equal(back.cluster_labels, st.cluster_labels)
        assert back.digest == st.digest
    else:
        assert list(back.cluster_labels) == [repr(v) for v in st.cluster_labels]
        np.testing.assert_array_equal(back.scatter_within, st.scatter_within)


def test_a_file_that_is_not_statistics_is_refused(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(pmv.MLVMInputError, match="not a pm_mlvm statistics file"):
        TwoLevelStats.from_npz(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(pmv.MLVMInputError, match="not a readable statistics"):
        TwoLevelStats.from_npz(tmp_path / "junk.npz")


def test_a_damaged_file_fails_its_digest_check(rng, tmp_path):
    st = TwoLevelStats.from_dataframe(_frame(rng), clusters="g")
    st.to_npz(tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz") as archive:
        payload = {k: archive[k] for k in archive.files}
    payload["field_scatter_within"] = payload["field_scatter_within"] * (1 + 1e-15)
    np.savez(tmp_path / "bad.npz", **payload)
    with pytest.raises(pmv.MLVMInputError, match="do not match the digest"):
        TwoLevelStats.from_npz(tmp_path / "bad.npz")


_CHILD = """
import json, sys
import numpy as np
import pm_mlvm as pmv
st = pmv.TwoLevelStats.from_npz(sys.argv[1])
mu, sw, sb = (np.array(v) for v in json.loads(sys.argv[2]))
out = dict(digest=st.digest, route=st.route, logl=pmv.twolevel_loglik(st, mu, sw, sb))
if len(sys.argv) > 3:
    fit = pmv.ml_lvm(st, lambda_={"F": list(st.var_names)}).fit()
    out["fit_logl"] = fit.logl
print(json.dumps(out))
"""


def _child(*args):
    env = {"PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", _CHILD, *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("missing", [False, True], ids=["sizes", "rows"])
def test_statistics_loaded_in_a_fresh_process_give_the_same_loglik(rng, tmp_path, missing):
    st = TwoLevelStats.from_dataframe(_frame(rng, missing=missing), clusters="g")
    assert isinstance(st, RowStats if missing else SizeStats)
    st.to_npz(tmp_path / "s.npz")
    moments = _moments(st)
    got = _child(tmp_path / "s.npz", json.dumps([m.tolist() for m in moments]))
    assert got["digest"] == st.digest and got["route"] == st.route
    assert got["logl"] == pmv.twolevel_loglik(st, *moments)


def test_ml_lvm_fits_statistics_loaded_in_a_fresh_process(rng, tmp_path):
    df = _frame(rng)
    st = TwoLevelStats.from_dataframe(df, clusters="g")
    st.to_npz(tmp_path / "s.npz")
    moments = _moments(st)
    got = _child(tmp_path / "s.npz", json.dumps([m.tolist() for m in moments]), "fit")
    here = pmv.ml_lvm(df, lambda_={"F": list(st.var_names)}, clusters="g",
                      estimator="ML").fit()
    assert got["fit_logl"] == pytest.approx(here.logl, rel=1e-10)
