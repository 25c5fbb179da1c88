"""Invariances of maximum likelihood fits, as properties over generated transformations.

A two-level two-factor model (``lambda_ = {"F1": [y1, y2, y3], "F2": [y4, y5, y6]}``, marker
loadings fixed to 1, default blocks) is fitted through the public API
(``pmv.ml_lvm(...).fit()``, ``fit.logl``, ``fit.fit_measures()``, ``fit.parameters()``,
``fit.implied()``) to a data set — the seed example or a simulated one — and to a transformed
copy. The ML estimator is equivariant, so:

* row order and cluster labels (any type, any bijection): the same fit — logL, χ², every fit
  measure, every estimate and SE;
* variable order (columns and the loading pattern permuted alike, each factor keeping its
  marker): the same logL and fit measures, implied moments permuted alike, the same estimate
  for every parameter identity (matrix, row, col);
* duplication (every cluster twice under new labels): logL and χ² double, the estimates stay,
  the SEs shrink by √2 (the information doubles);
* units: y_k → c_k y_k with c_k from 1e-8 to 1e8 (every variable or one): χ² equals the
  unscaled χ² to 1e-6 relative; logL shifts by exactly −N Σ_k log c_k; estimates and SEs
  transform as the model says — ν_k by c_k, λ_kF by c_k / c_marker(F), a latent (co)variance
  ψ_FG by c_marker(F) c_marker(G), a residual (co)variance θ_kl by c_k c_l.

Fits are expensive, so each property runs a handful of cases, without shrinking.
"""

import functools

import numpy as np
import pandas as pd
import pymc  # noqa: F401  (raises the recursion limit on import: here, not inside a case)
from hypothesis import strategies as st

import pm_mlvm as pmv
from tests.properties._support import LABEL_KINDS, assert_close, prop, relabel

VARS = ["y1", "y2", "y3", "y4", "y5", "y6"]
FACTORS = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}
MARKER = {"F1": "y1", "F2": "y4"}
EXAMPLES = 4
DATASETS = ("seed", 11, 12)
MEASURES = ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr_within", "srmr_between",
            "baseline_chisq"]


@functools.cache
def _data(which) -> pd.DataFrame:
    if which == "seed":
        return pmv.load_seed_example()
    lam = np.zeros((6, 2))
    lam[:3, 0], lam[3:, 1] = [1.0, 0.9, 0.7], [1.0, 0.8, 0.6]
    sw = lam @ np.array([[1.0, 0.3], [0.3, 0.8]]) @ lam.T + 0.5 * np.eye(6)
    sb = lam @ np.array([[0.4, 0.1], [0.1, 0.3]]) @ lam.T + 0.2 * np.eye(6)
    return pmv.simulate_twolevel(50, 8, np.linspace(-1, 1, 6), sw, sb, rng=which)


def _fit(df, lambda_=FACTORS, require_converged=True, **kwargs):
    fit = pmv.ml_lvm(df, lambda_=lambda_, clusters="cluster", **kwargs).fit()
    if require_converged:
        assert fit.converged, f"not converged: {fit.message}"
    return fit


@functools.cache
def _base(which):
    return _fit(_data(which))


def _table(fit) -> pd.DataFrame:
    return fit.parameters().set_index(["matrix", "row", "col"])[["est", "se", "free"]]


def _assert_same_fit(new, base, what, rtol=1e-6):
    assert_close(new.logl, base.logl, 1e-9, f"{what}: logL")
    a, b = new.fit_measures()[MEASURES], base.fit_measures()[MEASURES]
    assert_close(a["chisq"], b["chisq"], rtol, f"{what}: chisq")
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-5, atol=1e-6,
                               err_msg=f"{what}: fit measures")
    ta, tb = _table(new), _table(base).loc[_table(new).index]
    assert_close(ta["est"].to_numpy(), tb["est"].to_numpy(), 1e-5, f"{what}: estimates")
    assert_close(ta["se"].to_numpy(), tb["se"].to_numpy(), 1e-4, f"{what}: SEs")


# ----------------------------------------------------------------- rows and labels
@st.composite
def _shuffled(draw):
    which = draw(st.sampled_from(DATASETS))
    seed = draw(st.integers(0, 2**32 - 1))
    return which, np.random.default_rng(seed).permutation(len(_data(which)))


@prop(args=_shuffled(), max_examples=EXAMPLES, shrink=False)
def test_shuffling_rows_gives_the_same_fit(args):
    which, order = args
    new = _fit(_data(which).iloc[order].reset_index(drop=True))
    _assert_same_fit(new, _base(which), "shuffled rows")


@st.composite
def _relabelled(draw):
    which = draw(st.sampled_from(DATASETS))
    kind = draw(st.sampled_from(LABEL_KINDS))
    seed = draw(st.integers(0, 2**32 - 1))
    j = _data(which)["cluster"].nunique()
    return which, kind, np.random.default_rng(seed).permutation(j)


@prop(args=_relabelled(), max_examples=EXAMPLES, shrink=False)
def test_relabelling_clusters_gives_the_same_fit(args):
    which, kind, order = args
    df = _data(which)
    codes = pd.factorize(df["cluster"], sort=True)[0]
    rows, _ = relabel(codes, kind, order)
    new = df.drop(columns="cluster")
    new["cluster"] = rows
    _assert_same_fit(_fit(new), _base(which), f"{kind} labels")


# ------------------------------------------------------------------ variable order
@st.composite
def _permuted(draw):
    which = draw(st.sampled_from(DATASETS))
    order = list(draw(st.permutations(VARS)))
    for factor, marker in MARKER.items():  # each factor keeps its marker first
        first = min(order.index(v) for v in FACTORS[factor])
        k = order.index(marker)
        order[first], order[k] = order[k], order[first]
    return which, order


@prop(args=_permuted(), max_examples=EXAMPLES, shrink=False)
def test_permuting_variables_and_pattern_alike_gives_the_same_fit(args):
    which, order = args
    df = _data(which)
    pattern = np.array([[v in FACTORS[f] for f in FACTORS] for v in order], dtype=float)
    new = _fit(df[[*order, "cluster"]], lambda_=pattern, latents=list(FACTORS), vars=order)
    base = _base(which)
    _assert_same_fit(new, base, f"variables in the order {order}")
    implied_new, implied_base = new.implied(), base.implied()
    assert list(implied_new["mu"].index) == order
    for name in ("sigma_within", "sigma_between"):  # permuted alike: equal by variable name
        assert list(implied_new[name].index) == order
        assert_close(implied_new[name].loc[VARS, VARS].to_numpy(),
                     implied_base[name].loc[VARS, VARS].to_numpy(), 1e-5, name)
    assert_close(implied_new["mu"].loc[VARS].to_numpy(), implied_base["mu"].loc[VARS].to_numpy(),
                 1e-5, "mu")


# ---------------------------------------------------------------------- duplication
@prop(which=st.sampled_from(DATASETS), max_examples=EXAMPLES, shrink=False)
def test_duplicating_every_cluster_doubles_the_loglik_and_keeps_the_estimates(which):
    df = _data(which)
    copy = df.assign(cluster=df["cluster"].astype(str) + "_copy")
    twice = _fit(pd.concat([df, copy], ignore_index=True))
    base = _base(which)
    assert_close(twice.logl, 2 * base.logl, 1e-9, "logL doubles")
    assert_close(twice.fit_measures()["chisq"], 2 * base.fit_measures()["chisq"], 1e-6, "chisq")
    ta, tb = _table(twice), _table(base)
    assert_close(ta["est"].to_numpy(), tb["est"].to_numpy(), 1e-5, "estimates stay")
    assert_close(ta["se"].to_numpy() * np.sqrt(2), tb["se"].to_numpy(), 1e-4, "SEs / sqrt 2")


# -------------------------------------------------------------------------- units
_EXPONENT = st.one_of(st.sampled_from([-8.0, 8.0]), st.integers(-8, 8).map(float))


@st.composite
def _scales(draw, one_variable):
    which = draw(st.sampled_from(DATASETS))
    if one_variable:
        exps = np.zeros(len(VARS))
        exps[draw(st.integers(0, len(VARS) - 1))] = draw(_EXPONENT)
    else:
        exps = np.array(draw(st.lists(_EXPONENT, min_size=len(VARS), max_size=len(VARS))))
    return which, dict(zip(VARS, 10.0**exps))


def transform_factor(matrix: str, row: str, col: str, c: dict) -> float:
    """How a parameter scales when each y_k is multiplied by c[y_k] (markers fixed to 1)."""
    unit = {**c, **{f: c[m] for f, m in MARKER.items()}}  # a latent's unit is its marker's
    if matrix == "nu":
        return c[row]
    if matrix == "lambda":
        return c[row] / c[MARKER[col]]
    if matrix.startswith("sigma_"):
        return unit[row] * unit[col]
    raise AssertionError(f"no scaling rule for matrix {matrix!r}")


def _check_rescaled(args):
    which, c = args
    df = _data(which)
    scaled = df.assign(**{v: df[v] * c[v] for v in VARS})
    new, base = _fit(scaled, require_converged=False), _base(which)
    shift = len(df) * sum(np.log(c[v]) for v in VARS)
    assert_close(new.logl, base.logl - shift, 1e-9, f"logL shift at scales {c}")
    assert_close(new.fit_measures()["chisq"], base.fit_measures()["chisq"], 1e-6, "chisq")
    assert new.converged, f"not converged: {new.message}"
    tb = _table(base)
    ta = _table(new).loc[tb.index]
    factor = np.array([transform_factor(m, r, k, c) for m, r, k in tb.index])
    assert_close(ta["est"].to_numpy() / factor, tb["est"].to_numpy(), 1e-5, "estimates / c")
    free = tb["free"].to_numpy()
    assert_close(ta["se"].to_numpy()[free] / factor[free], tb["se"].to_numpy()[free], 1e-4,
                 "SEs / c")


@prop(args=_scales(one_variable=False), max_examples=EXAMPLES, shrink=False)
def test_rescaling_every_variable_transforms_the_fit_as_the_model_says(args):
    _check_rescaled(args)


@prop(args=_scales(one_variable=True), max_examples=EXAMPLES, shrink=False)
def test_rescaling_one_variable_transforms_the_fit_as_the_model_says(args):
    _check_rescaled(args)
