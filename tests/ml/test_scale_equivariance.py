"""ML fits are equivariant under a change of units: the explicit grid of the scale issue.

On the seed example with ``lambda_ = {"F1": [y1, y2, y3], "F2": [y4, y5, y6]}``, multiplying
the data by c — every variable, or one variable (y2, a non-marker indicator, and y4, a marker)
— for c in 1e-8 … 1e8 must give the same fit in the new units:

* χ² equal to the unscaled χ² to 1e-6 relative;
* logL shifted exactly by −N Σ_k log c_k (the Jacobian of the change of units), to 1e-9
  relative;
* ``converged`` True and no warning;
* every scale-free fit measure (CFI, TLI, RMSEA and its interval, SRMR, p-value, baseline χ²,
  AIC/BIC differences) equal to the unscaled one (1e-6 absolute).

The property-based version (random scales, estimates and SEs) is
``tests/properties/test_fit_properties.py``.
"""

import functools
import warnings

import numpy as np
import pytest

import pm_mlvm as pmv

LAMBDA = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}
VARS = ["y1", "y2", "y3", "y4", "y5", "y6"]
SCALES = [1e-8, 1e-4, 1e-3, 1e-2, 1.0, 1e2, 1e4, 1e8]
SCALE_FREE = ["df", "npar", "pvalue", "baseline_df", "baseline_pvalue", "cfi", "tli", "nfi",
              "rni", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "rmsea_pvalue", "rmsea_n",
              "srmr_within", "srmr_between", "srmr"]


@functools.cache
def _fit_scaled(targets: tuple, c: float):
    df = pmv.load_seed_example()
    df = df.assign(**{v: df[v] * c for v in targets})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = pmv.ml_lvm(df, lambda_=LAMBDA, clusters="cluster").fit()
        measures = fit.fit_measures()
    return fit, measures, [str(w.message) for w in caught], len(df)


@pytest.mark.parametrize("c", SCALES, ids=lambda c: f"x{c:g}")
@pytest.mark.parametrize("targets", [tuple(VARS), ("y2",), ("y4",)],
                         ids=["all variables", "y2", "y4 (marker)"])
def test_changing_units_gives_the_same_fit_in_the_new_units(targets, c):
    fit, measures, caught, n = _fit_scaled(targets, c)
    base, base_measures, _, _ = _fit_scaled(tuple(VARS), 1.0)
    assert measures["chisq"] == pytest.approx(base_measures["chisq"], rel=1e-6)
    shift = n * len(targets) * np.log(c)
    assert fit.logl == pytest.approx(base.logl - shift, rel=1e-9)
    for name in ("unrestricted_logl", "baseline_logl"):
        assert measures[name] == pytest.approx(base_measures[name] - shift, rel=1e-9), name
    np.testing.assert_allclose(measures[SCALE_FREE].to_numpy(dtype=float),
                               base_measures[SCALE_FREE].to_numpy(dtype=float), rtol=0,
                               atol=1e-6, err_msg=f"scale-free fit measures at x{c:g}")
    for name in ("aic", "bic", "bic_n"):  # information criteria shift by -2 x the logL shift
        assert measures[name] == pytest.approx(base_measures[name] + 2 * shift, rel=1e-9), name
    assert fit.converged, f"not converged at x{c:g}: {fit.message}"
    assert caught == [], f"warnings at x{c:g}: {caught}"
