"""Under mode="NUMBA" and mode="JAX" a TwoLevelNormal model's logp and gradient equal the C
backend's, without object mode, for both routes (missing cells included); under "NUMBA" its
Hessian too."""

import warnings

import numpy as np
import pymc as pm
import pytensor
import pytensor.gradient
import pytensor.tensor as pt
import pytest

import pm_mlvm as pmv
from pm_mlvm.graph import backends, ops
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


# In the default run, so CI tests the native backends (cold Numba JIT of the kernels takes a
# few minutes on a fresh clone; JAX about a minute; disk caches help afterwards).
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


# slow: a cold Numba compile of a whole model's d2logp graph took 340-430 s on a loaded
# 2-core machine (the weighted test below covers the same Ops in the default run)
@pytest.mark.slow
@pytest.mark.parametrize("missing", [0.0, 0.15], ids=["complete", "rows"])
def test_hessian_of_the_model_logp_under_numba_equals_the_c_backend_without_object_mode(
        rng, missing):
    y, cl, *_ = random_twolevel(rng, 3, [2, 5, 1, 3, 4, 4, 2], missing)
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    model = _model(stats, 3)
    logp = model.logp()
    vectors = [v for v in model.value_vars if v.ndim == 1]  # hessian() takes vectors
    outputs = [model.d2logp(), *pytensor.gradient.hessian(logp, vectors)]
    reference = model.compile_fn(outputs, inputs=model.value_vars, point_fn=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*object mode.*")
        native = model.compile_fn(outputs, inputs=model.value_vars, point_fn=False,
                                  mode="NUMBA")
        point = model.initial_point()
        for _ in range(2):
            x = [point[v.name] + 0.2 * rng.normal(size=np.shape(point[v.name]))
                 for v in model.value_vars]
            for h_n, h_c in zip(native(*x), reference(*x)):
                assert np.all(np.isfinite(h_c)) and np.abs(h_c).max() > 0
                np.testing.assert_allclose(h_n, h_c, rtol=1e-10,
                                           atol=1e-10 * np.abs(h_c).max())


# the rows route's Numba compile of the whole Hessian graph takes ~2 min cold: slow; its HVP
# kernel is checked against NumPy in the default run (tests/likelihood/test_numba_hvp.py)
@pytest.mark.parametrize("missing", [0.0, pytest.param(0.15, marks=pytest.mark.slow)],
                         ids=["complete", "rows"])
def test_weighted_hessian_and_weight_jacobian_under_numba_equal_the_c_backend(rng, missing):
    """Non-uniform per-cluster weights: the weighted-gradient Op's derivatives (the HVP Op
    and the per-cluster gradients) run natively too."""
    p = 3
    y, cl, mu0, sw0, sb0 = random_twolevel(rng, p, [2, 5, 1, 3, 4, 4, 2], missing)
    stats = pmv.TwoLevelStats.from_arrays(y, cl)
    theta = pt.dvector("theta")
    weights = pt.dvector("weights")
    a_w = theta[p:p + p * p].reshape((p, p))
    a_b = theta[p + p * p:].reshape((p, p))
    f = pt.sum(weights * ops.loglik_per_cluster(
        stats, theta[:p], a_w @ a_w.T + 0.5 * pt.eye(p), a_b @ a_b.T + 0.1 * pt.eye(p)))
    grad = pytensor.grad(f, theta)
    outputs = [pytensor.gradient.hessian(f, theta), pytensor.gradient.jacobian(grad, weights)]
    reference = pytensor.function([theta, weights], outputs)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*object mode.*")
        native = pytensor.function([theta, weights], outputs, mode="NUMBA")
    x = np.concatenate([mu0, np.linalg.cholesky(sw0).ravel(), np.linalg.cholesky(sb0).ravel()])
    g = rng.uniform(0.5, 1.5, size=stats.n_clusters)
    for h_n, h_c in zip(native(x, g), reference(x, g)):
        assert np.abs(h_c).max() > 0
        np.testing.assert_allclose(h_n, h_c, rtol=1e-10, atol=1e-10 * np.abs(h_c).max())


_FRESH_PROCESS = """
import json, sys, warnings
import numpy as np
import pm_mlvm as pmv
warnings.filterwarnings("error", message=".*object mode.*")
df = pmv.simulate_twolevel(8, 4, np.zeros(3), np.eye(3) + 0.5, 0.5 * np.eye(3) + 0.2, rng=3)
model = pmv.ml_lvm(df, {"F": ["y1", "y2", "y3"]}, clusters="cluster").pymc_model
f = model.compile_fn([model.logp(), model.dlogp()], inputs=model.value_vars, point_fn=False,
                     mode="NUMBA")
point = model.initial_point()
x = [point[v.name] + 0.1 for v in model.value_vars]
logp, grad = f(*x)
print(json.dumps({"logp": float(logp), "grad": np.asarray(grad).tolist()}))
"""


def test_cached_numba_graph_functions_load_in_fresh_processes(tmp_path):
    # The Ops' Numba functions call the kernels by symbol, so PyTensor caches whole graph
    # functions on disk; a second process loads them (its symbols registered first) and
    # must compute the same numbers as the C backend.
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp_path / 'compiledir'}")
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", _FRESH_PROCESS], env=env, check=True,
                             capture_output=True, text=True, timeout=600)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert any((tmp_path / "compiledir" / "numba").rglob("*.nbi"))  # the first run cached
    df = pmv.simulate_twolevel(8, 4, np.zeros(3), np.eye(3) + 0.5, 0.5 * np.eye(3) + 0.2,
                               rng=3)
    model = pmv.ml_lvm(df, {"F": ["y1", "y2", "y3"]}, clusters="cluster").pymc_model
    reference = model.compile_fn([model.logp(), model.dlogp()], inputs=model.value_vars,
                                 point_fn=False)
    point = model.initial_point()
    logp, grad = reference(*[point[v.name] + 0.1 for v in model.value_vars])
    for run in runs:
        assert run["logp"] == pytest.approx(float(logp), rel=1e-10)
        np.testing.assert_allclose(run["grad"], grad, rtol=1e-10, atol=1e-10)
