"""Compiled functions for maximum likelihood, cached per model structure.

From the spec's one ``pm.Model``: the log-likelihood term (no priors, no Jacobians) of the
untransformed model (``remove_value_transforms``), as a function of the flat parameter vector
θ in the spec's order, with its analytic gradient. Alongside: θ → (μ, Σ_W, Σ_B) and the
vector-Jacobian product of that map (for the model Jacobian Δ = ∂φ/∂θ used by the expected
information).

Compiled functions are cached by the spec's structure and the likelihood route; the
statistics live in shared variables, so fitting a new data set of the same structure only
swaps their values (:meth:`CompiledML.bind`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pytensor
import pytensor.tensor as pt
from pymc.model.transform.conditioning import remove_value_transforms
from pytensor.graph.replace import graph_replace

from pm_mlvm.graph.implied import symbolic_moments
from pm_mlvm.likelihood.routes import data_arrays
from pm_mlvm.model.build import LOGLIK_NAME, BuiltModel, build_pymc_model
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["CompiledML", "Embedded", "compiled_for", "embedding_index"]

#: PyTensor mode for the log-likelihood function. "FAST_COMPILE" compiles in ~0.5 s and
#: evaluates in under a millisecond for typical models; "FAST_RUN" compiles C code (1-2 s
#: warm, much longer cold) and evaluates ~2x faster, worth it for many refits of one structure.
DEFAULT_MODE = "FAST_COMPILE"

_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 32
_LOCK = threading.Lock()


class CompiledML:
    """logℓ(θ) with gradient, moments(θ) and their VJP for one model structure."""

    def __init__(self, spec: MLVMSpec, built: BuiltModel, mode=None):
        self.spec = spec
        self.route = built.route
        self.data_vars = built.data_vars
        x = pt.dvector("theta")
        plain = remove_value_transforms(built.model)
        logl = plain.logp(vars=[plain[LOGLIK_NAME]], jacobian=False)
        replacements = {}
        for g in built.groups:
            value_var = plain.rvs_to_values[plain[g.var_name]]
            replacements[value_var] = x[g.theta_index]
        logl = graph_replace(logl, replacements, strict=False)
        self._logl_grad = pytensor.function([x], [logl, pt.grad(logl, x)], mode=mode,
                                            on_unused_input="ignore")
        moments = symbolic_moments(spec, x)
        mu, sw, sb = moments["mu"], moments["sigma_within"], moments["sigma_between"]
        g_mu, g_w, g_b = pt.dvector("g_mu"), pt.dmatrix("g_w"), pt.dmatrix("g_b")
        inner = pt.sum(g_mu * mu) + pt.sum(g_w * sw) + pt.sum(g_b * sb)
        # one small function gives the moments and their vector-Jacobian product; it runs a
        # few dozen times per fit, so it is compiled for compile speed
        self._moments_vjp = pytensor.function(
            [x, g_mu, g_w, g_b], [mu, sw, sb, pt.grad(inner, x)], mode="FAST_COMPILE",
            on_unused_input="ignore")

    # --------------------------------------------------------------------------
    def bind(self, stats: TwoLevelStats) -> None:
        """Point the shared statistics at ``stats``."""
        route, arrays = data_arrays(stats)
        if route != self.route:
            raise ValueError(f"statistics need the {route!r} route; compiled for {self.route!r}")
        for var, value in zip(self.data_vars, arrays):
            var.set_value(value)

    def logl_grad(self, theta):
        logl, grad = self._logl_grad(np.asarray(theta, dtype=float))
        return float(logl), np.asarray(grad)

    def moments(self, theta):
        p = self.spec.n_vars
        mu, sw, sb, _ = self._moments_vjp(np.asarray(theta, dtype=float), np.zeros(p),
                                          np.zeros((p, p)), np.zeros((p, p)))
        return mu, sw, sb

    def _vjp(self, theta, g_mu, g_w, g_b):
        return self._moments_vjp(theta, g_mu, g_w, g_b)[3]

    def jacobian(self, theta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """∂μ/∂θ (p, k), ∂Σ_W/∂θ and ∂Σ_B/∂θ (k, p, p), exact (one VJP per moment)."""
        theta = np.asarray(theta, dtype=float)
        p, k = self.spec.n_vars, len(theta)
        zero_v, zero_m = np.zeros(p), np.zeros((p, p))
        d_mu = np.empty((p, k))
        for i in range(p):
            e = zero_v.copy()
            e[i] = 1.0
            d_mu[i] = self._vjp(theta, e, zero_m, zero_m)
        d_w, d_b = np.empty((k, p, p)), np.empty((k, p, p))
        for i in range(p):
            for j in range(i + 1):
                e = zero_m.copy()
                e[i, j] = 1.0
                d_w[:, i, j] = d_w[:, j, i] = self._vjp(theta, zero_v, e, zero_m)
                d_b[:, i, j] = d_b[:, j, i] = self._vjp(theta, zero_v, zero_m, e)
        return d_mu, d_w, d_b


def compiled_for(spec: MLVMSpec, stats: TwoLevelStats, built: BuiltModel | None = None,
                 mode=None, host: MLVMSpec | None = None):
    """The cached compiled functions for ``spec``'s structure, bound to ``stats``.

    With ``host`` (a specification whose free cells include ``spec``'s), the host's functions
    serve ``spec`` through :class:`Embedded`.
    """
    if host is not None and host.structure_key() != spec.structure_key():
        return Embedded(compiled_for(host, stats, mode=mode), spec)
    route = stats.route
    mode = mode or DEFAULT_MODE
    key = (spec.structure_key(), route, str(mode))
    with _LOCK:
        fns = _CACHE.get(key)
        if fns is not None:
            _CACHE.move_to_end(key)
    if fns is None:
        built = built if built is not None and built.route == route else build_pymc_model(
            spec, stats, deterministics=False)
        fns = CompiledML(spec, built, mode=mode)
        with _LOCK:
            _CACHE[key] = fns
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    fns.bind(stats)
    return fns


def embedding_index(spec: MLVMSpec, host: MLVMSpec) -> tuple[np.ndarray, np.ndarray]:
    """(index, template): ``spec``'s θ sits at ``host`` positions ``index``; ``template`` is a
    host θ holding ``spec``'s fixed values at the host's other free cells."""
    if spec.var_names != host.var_names or spec.latent_names != host.latent_names or \
            spec.types != host.types or set(spec.matrices) != set(host.matrices):
        raise ValueError("the host specification has a different structure")
    index, template = [], np.zeros(host.npar)
    for name, mat in spec.matrices.items():
        big = host.matrices[name]
        if np.any(mat.free & ~big.free):
            raise ValueError(f"{name}: a free cell of the model is fixed in the host")
        rows, cols = big.free_cells
        start = host.offsets[name].start
        for k, (r, c) in enumerate(zip(rows, cols)):
            if mat.free[r, c]:
                index.append(start + k)
            else:
                template[start + k] = mat.fixed[r, c]
    return np.asarray(index, dtype=np.int64), template


class Embedded:
    """A model's compiled functions served by a larger (host) model's, with the extra host
    parameters pinned at the model's fixed values: prune / stepup / modification indices
    refit nested models without compiling again."""

    def __init__(self, host_fns: CompiledML, spec: MLVMSpec):
        self.host = host_fns
        self.spec = spec
        self.index, self.template = embedding_index(spec, host_fns.spec)

    def lift(self, theta) -> np.ndarray:
        x = self.template.copy()
        x[self.index] = theta
        return x

    def logl_grad(self, theta):
        logl, grad = self.host.logl_grad(self.lift(theta))
        return logl, grad[self.index]

    def moments(self, theta):
        return self.host.moments(self.lift(theta))

    def jacobian(self, theta):
        d_mu, d_w, d_b = self.host.jacobian(self.lift(theta))
        return d_mu[:, self.index], d_w[self.index], d_b[self.index]
