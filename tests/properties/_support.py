"""Shared machinery of the property tests: strategies, the case counter, the `prop` decorator.

Strategies generate small two-level data sets — p = 1..5 variables, J = 2..12 clusters of
1..8 units (singletons allowed, not all of them), optionally with missing cells (never a row
missing on every variable, never a variable with fewer than two observed values) — and
random symmetric positive definite moments (μ, Σ_W, Σ_B). Numbers inside a case come from a
NumPy generator seeded by hypothesis; the shape of a case (p, sizes, missingness, scales,
permutations, labels) is drawn by hypothesis itself, so failures shrink towards small cases.

Every property is written once as a plain body and wrapped by :func:`prop`, which makes one
test that runs under the active hypothesis profile ("ci" by default, see ``tests/conftest.py``)
and a ``slow``-marked twin under the "slow" profile (10× the examples). Each executed case
increments :data:`CASES`; ``tests/conftest.py`` reports the total at the end of the run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import UnsatisfiedAssumption

#: Generated cases executed in this process (read by the conftest's per-test fixture).
CASES = {"n": 0}


def prop(*, max_examples=None, shrink=True, **strategies):
    """Decorate a property body: a test under the active profile and a slow-marked twin.

    Parameters
    ----------
    max_examples : int, optional
        Fixed example count for expensive properties (the twin runs 10× as many); default:
        the profile's.
    shrink : bool
        False for expensive properties (a failing fit would be refitted hundreds of times).
    **strategies
        Keyword strategies, as ``hypothesis.given``.
    """

    def decorate(body):
        @functools.wraps(body)
        def counted(*args, **kwargs):
            try:
                body(*args, **kwargs)
            except UnsatisfiedAssumption:
                raise
            except BaseException:
                CASES["n"] += 1
                raise
            CASES["n"] += 1

        def runner(profile):
            overrides = {}
            if max_examples is not None:
                overrides["max_examples"] = max_examples * (10 if profile == "slow" else 1)
            if not shrink:
                overrides["phases"] = [p for p in settings.default.phases if p.name != "shrink"]
            parent = settings.get_profile("slow") if profile == "slow" else None
            return settings(parent, **overrides)(given(**strategies)(counted))

        @pytest.mark.parametrize(
            "profile", ["active", pytest.param("slow", marks=pytest.mark.slow)]
        )
        def test(profile):
            runner(profile)()

        test.__name__ = body.__name__
        test.__qualname__ = body.__qualname__
        test.__doc__ = body.__doc__
        test.__module__ = body.__module__
        return test

    return decorate


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Case:
    """One generated two-level data set: rows ``y`` (NaN = missing) and cluster codes."""

    y: np.ndarray
    clusters: np.ndarray  # int codes 0..J-1, one per row
    sizes: tuple

    @property
    def p(self) -> int:
        return self.y.shape[1]

    @property
    def n_clusters(self) -> int:
        return len(self.sizes)

    @property
    def complete(self) -> bool:
        return not np.isnan(self.y).any()

    def frame(self, labels=None, names=None) -> pd.DataFrame:
        names = names or [f"y{k + 1}" for k in range(self.p)]
        df = pd.DataFrame(self.y, columns=names)
        df["cluster"] = self.clusters if labels is None else labels
        return df


@dataclass(frozen=True)
class Moments:
    mu: np.ndarray
    sigma_within: np.ndarray
    sigma_between: np.ndarray


def _spd(rng, p, scale):
    a = rng.normal(size=(p, p))
    return scale * (a @ a.T / p + 0.3 * np.eye(p))


@st.composite
def cluster_sizes(draw, min_j=2, max_j=12, max_size=8):
    """J sizes in 1..max_size, not all singletons."""
    sizes = draw(st.lists(st.integers(1, max_size), min_size=min_j, max_size=max_j))
    if max(sizes) == 1:
        sizes[draw(st.integers(0, len(sizes) - 1))] = draw(st.integers(2, max_size))
    return tuple(sizes)


@st.composite
def twolevel_cases(draw, p=None, missing=None, max_p=5):
    """A :class:`Case`; ``missing`` None draws whether cells are missing, True/False fixes it."""
    if p is None:
        p = draw(st.integers(2 if missing else 1, max_p))
    sizes = draw(cluster_sizes())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    j, n = len(sizes), sum(sizes)
    clusters = np.repeat(np.arange(j), sizes)
    mu = rng.normal(size=p) * 2
    between = rng.multivariate_normal(np.zeros(p), _spd(rng, p, 0.5), size=j)
    y = mu + between[clusters] + rng.multivariate_normal(np.zeros(p), _spd(rng, p, 1.0), size=n)
    if missing is None:
        missing = p > 1 and draw(st.booleans())
    if missing and p > 1:
        rate = draw(st.sampled_from([0.05, 0.2, 0.4]))
        mask = rng.random(y.shape) < rate
        full = mask.all(axis=1)
        mask[full, rng.integers(0, p, size=full.sum())] = False  # no all-missing row
        for k in range(p):  # every variable keeps two observed values
            if (~mask[:, k]).sum() < 2:
                mask[:2, k] = False
        y = np.where(mask, np.nan, y)
    return Case(y=y, clusters=clusters, sizes=sizes)


@st.composite
def moments(draw, p):
    """Random (μ, Σ_W, Σ_B) with Σ_W, Σ_B symmetric positive definite."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale_b = draw(st.sampled_from([0.05, 0.5, 2.0]))
    return Moments(mu=rng.normal(size=p) * 2, sigma_within=_spd(rng, p, 1.0),
                   sigma_between=_spd(rng, p, scale_b))


@st.composite
def cases_with_moments(draw, **kwargs):
    case = draw(twolevel_cases(**kwargs))
    return case, draw(moments(case.p))


@st.composite
def permutations(draw, n):
    return np.array(draw(st.permutations(range(n))), dtype=np.int64)


LABEL_KINDS = ("int", "negative", "str", "float", "categorical", "mixed")


def relabel(codes: np.ndarray, kind: str, order: np.ndarray):
    """New cluster labels of type ``kind``, assigned to the codes by the bijection ``order``.

    Returns the per-row labels (a list, array or Categorical) and the mapping code → label.
    """
    j = len(order)
    if kind == "int":
        pool = [int(7 * k + 3) for k in range(j)]
    elif kind == "negative":
        pool = [-int(5 * k + 1) for k in range(j)]
    elif kind == "str":
        pool = [f"school {k:02d}.x" for k in range(j)]
    elif kind == "float":
        pool = [0.25 * k - 1.5 for k in range(j)]
    elif kind == "categorical":
        pool = [f"c{k}" for k in range(j)]
    elif kind == "mixed":
        pool = [k if k % 2 else f"k{k}" for k in range(j)]
    else:
        raise ValueError(kind)
    mapping = {code: pool[order[code]] for code in range(j)}
    rows = [mapping[c] for c in codes]
    if kind == "categorical":
        rows = pd.Categorical(rows, categories=[pool[k] for k in np.argsort(order)][::-1])
    elif kind != "mixed":
        rows = np.asarray(rows)
    else:
        rows = np.asarray(rows, dtype=object)
    return rows, mapping


# --------------------------------------------------------------------------- checks
def assert_close(actual, expected, rtol, what=""):
    """|actual - expected| <= rtol · (largest magnitude of either), element-wise over arrays;
    NaN (an undefined statistic) must sit in the same places in both."""
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert a.shape == e.shape, f"{what}: shapes {a.shape} and {e.shape}"
    nan = np.isnan(a)
    assert np.array_equal(nan, np.isnan(e)), f"{what}: NaN in different places"
    a, e = a[~nan], e[~nan]
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(e), initial=0.0))
    err = np.max(np.abs(a - e), initial=0.0)
    assert err <= rtol * scale, f"{what}: max |diff| {err:.3e} > {rtol:g} × {scale:.3e}"
