"""Under mode="NUMBA" and mode="JAX" a TwoLevelNormal model's logp and gradient equal the C
backend's, without object mode, for both routes (missing cells included)."""

import warnings

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest

import pm_mlvm as pmv
from pm_mlvm.graph import backends
from tests.oracles import random_twolevel

MODES = ["NUMBA", pytest.param("JAX", marks=pytest.mark.skipif(
    not backends.HAS_JAX, reason="jax is the optional [backends] extra"))]


def _model(stats, p):
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 5, shape=p)
        sd_w = pm.HalfNormal("sd_w", 2, shape=p)
        sd_b = pm.HalfNormal("sd_b", 2, shape=p)
        corr = pm.Uniform("corr", -0.5, 0.5)
        sw = pt.outer(sd_w, sd_w) * (pt.eye(p) + corr * (pt.ones((p, p)) - pt.eye(p)))
        pmv.TwoLevelNormal("y", mu, sw, pt.diag(sd_b ** 2), observed=stats)
    return model


@pytest.mark.slow  # cold Numba JIT of the kernels: minutes; JAX: ~1 min (disk caches help)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("missing", [0.0, 0.15], ids=["complete", "rows"])
def test_logp_and_gradient_equal_the_c_backend_without_object_mode(rng, mode, missing):
    y, cl, *_ = random_twolevel(rng, 3, [2, 5, 1, 3, 4, 4, 2], missing)
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    model = _model(stats, 3)
    outputs = [model.logp(), model.dlogp()]
    reference = model.compile_fn(outputs, inputs=model.value_vars, point_fn=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*object mode.*")
        native = model.compile_fn(outputs, inputs=model.value_vars, point_fn=False, mode=mode)
        point = model.initial_point()
        for _ in range(3):
            x = [point[v.name] + 0.2 * rng.normal(size=np.shape(point[v.name]))
                 for v in model.value_vars]
            (logp_n, grad_n), (logp_c, grad_c) = native(*x), reference(*x)
            assert logp_n == pytest.approx(logp_c, rel=1e-10)
            np.testing.assert_allclose(grad_n, grad_c, rtol=1e-10,
                                       atol=1e-10 * np.abs(grad_c).max())
