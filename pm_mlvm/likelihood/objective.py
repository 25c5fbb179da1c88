"""The maximum-likelihood objective of a specification on data statistics (NumPy only).

``logℓ(θ) = ℓ(μ(θ), Σ_W(θ), Σ_B(θ) | statistics)``: the moment map of
:mod:`pm_mlvm.spec.moments` composed with the likelihood kernels of the statistics' route.
Gradient by the chain rule through the exact Jacobian Δ = ∂φ/∂θ; expected information
Δ' I_φ Δ; observed information −(Δ' H_φ Δ + Σ_m g_m ∂²φ_m/∂θ∂θ') with the closed-form
Hessian H_φ of :mod:`pm_mlvm.likelihood.hessian`. No compilation, no shared mutable state:
objectives are cheap to build and safe to use from several threads at once.

The statistics' arrays are converted once, here, not on every evaluation.
"""

from __future__ import annotations

import numpy as np

from pm_mlvm.likelihood import hessian as likelihood_hessian
from pm_mlvm.likelihood.information import expected_information
from pm_mlvm.likelihood.routes import ROUTES, data_arrays
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.spec.moments import MomentDerivatives, MomentMap
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = ["Objective"]


def _psd(matrix, reference) -> bool:
    """Positive semi-definite, judged on the scale of ``reference``'s diagonal (so the test
    does not depend on the variables' units)."""
    d = np.sqrt(np.abs(np.diag(reference)))
    d = np.where(d > 0, d, 1.0)
    return bool(np.linalg.eigvalsh(matrix / np.outer(d, d)).min() >= -1e-10)


class Objective:
    """logℓ(θ), its gradient and information for one (spec, statistics) pair.

    Parameters
    ----------
    spec : MLVMSpec
    stats : TwoLevelStats
    psd_between : bool
        Treat a Σ_B that is not positive semi-definite as infeasible (the saturated and
        baseline models keep Σ_B PSD, as lavaan's h1 does).
    """

    def __init__(self, spec: MLVMSpec, stats: TwoLevelStats, psd_between: bool = False):
        if tuple(stats.var_names) != tuple(spec.var_names):
            raise ValueError(f"the statistics' variables {stats.var_names} differ from the "
                             f"model's {spec.var_names}")
        self.spec = spec
        self.stats = stats
        self.map = MomentMap(spec)
        route_name, self._arrays = data_arrays(stats)
        self.route = ROUTES[route_name]
        self.psd_between = psd_between
        self._sizes = np.asarray(stats.sizes, dtype=float)
        self._counts = np.asarray(stats.size_counts, dtype=float)
        self._last = (None, None)  # (θ bytes, first derivatives): an objective serves one fit

    def _derivatives(self, theta) -> MomentDerivatives:
        """First derivatives at θ, reused when the same θ is asked for again (the optimiser
        asks for the gradient and the metric at each accepted point)."""
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        cached_key, cached = self._last
        if cached_key == key:
            return cached
        der = self.map.derivatives(theta)
        self._last = (key, der)
        return der

    @property
    def npar(self) -> int:
        return self.spec.npar

    # ------------------------------------------------------------------ values
    def _kernel(self, mu, sw, sb):
        if self.psd_between and not _psd(sb, sw + sb):
            return -np.inf, None, None, None
        logl, g_mu, g_w, g_b = self.route.total(mu, sw, sb, *self._arrays)
        if not np.isfinite(logl):
            return -np.inf, None, None, None
        return float(logl), g_mu, g_w, g_b

    def value(self, theta) -> float:
        try:
            moments = self.map.moments(theta)
        except np.linalg.LinAlgError:  # a singular structure (e.g. I − Ω of a ggm block)
            return -np.inf
        return self._kernel(*moments)[0]

    def value_grad(self, theta):
        """(logℓ, ∇logℓ), or (-inf, None) where the model is not positive definite (or a
        structure's matrix to invert is singular)."""
        try:
            der = self._derivatives(theta)
        except np.linalg.LinAlgError:
            return -np.inf, None
        logl, g_mu, g_w, g_b = self._kernel(der.mu, der.sigma_within, der.sigma_between)
        if g_mu is None:
            return -np.inf, None
        return logl, der.chain(g_mu, g_w, g_b)

    def moments(self, theta):
        return self.map.moments(theta)

    # ------------------------------------------------------------- information
    def expected_information(self, theta) -> np.ndarray:
        """Expected (Fisher) information of θ for the clusters' size design."""
        der = self._derivatives(theta)
        return self._expected(der)

    def _expected(self, der: MomentDerivatives) -> np.ndarray:
        return expected_information(self._sizes, self._counts, der.sigma_within,
                                    der.sigma_between, der.d_mu.T, der.d_w, der.d_b)

    def observed_information(self, theta) -> np.ndarray:
        """−∇²logℓ(θ), exact (closed-form Hessian in the moments + the map's curvature)."""
        der = self.map.derivatives(theta, order=2)
        mu, sw, sb = der.mu, der.sigma_within, der.sigma_between
        logl, g_mu, g_w, g_b = self._kernel(mu, sw, sb)
        k = self.npar
        if g_mu is None:
            return np.full((k, k), np.nan)
        h_phi = likelihood_hessian.hessian(self.route.name, mu, sw, sb, *self._arrays)
        rows, cols = np.tril_indices(len(mu))
        delta = np.concatenate([der.d_mu, der.d_w[:, rows, cols], der.d_b[:, rows, cols]],
                               axis=1)
        hess = delta @ h_phi @ delta.T + der.curvature(g_mu, g_w, g_b)
        return -0.5 * (hess + hess.T)

    def information(self, theta, kind: str) -> np.ndarray:
        """``kind`` = "expected" or "observed"."""
        if kind == "expected":
            return self.expected_information(theta)
        return self.observed_information(theta)

    def metric(self, theta) -> np.ndarray:
        """The positive (semi-)definite metric the optimiser uses: the expected information
        of the design (for data with missing cells, that of the complete-data design)."""
        der = self._derivatives(theta)
        try:
            return self._expected(der)
        except np.linalg.LinAlgError:
            return np.full((self.npar, self.npar), np.nan)
