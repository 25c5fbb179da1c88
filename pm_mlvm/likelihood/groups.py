"""The multi-group objective: Σ_g logℓ_g(θ[index[g]]) (NumPy only).

One :class:`~pm_mlvm.likelihood.objective.Objective` per group; a tied parameter appears in
several groups' θ_g, so the gradient and the information scatter-add the groups' parts:
∇ = Σ_g P_g' ∇_g, I = Σ_g P_g' I_g P_g (P_g the 0/1 selection θ → θ_g). The plain sum of the
groups' log-likelihoods — the likelihood of the data — with no group weights.

Same interface as ``Objective`` (``value``, ``value_grad``, ``metric``, ``information``), so
the optimiser and the standard errors treat one group and several alike.
"""

from __future__ import annotations

import numpy as np

from pm_mlvm.likelihood.objective import Objective
from pm_mlvm.spec.groups import GroupSpec

__all__ = ["GroupObjective"]


class GroupObjective:
    """logℓ(θ) = Σ_g logℓ_g(θ[index[g]]) with its gradient and information."""

    def __init__(self, gspec: GroupSpec, stats, psd_between: bool = False):
        stats = tuple(stats)
        if len(stats) != gspec.n_groups:
            raise ValueError(f"{len(stats)} statistics for {gspec.n_groups} groups")
        self.spec = gspec
        self.stats = stats
        self.groups = tuple(Objective(spec, st, psd_between=psd_between)
                            for spec, st in zip(gspec.specs, stats))
        self.index = gspec.index

    @property
    def npar(self) -> int:
        return self.spec.npar

    def _scatter(self, parts) -> np.ndarray:
        out = np.zeros(self.npar)
        for idx, part in zip(self.index, parts):
            np.add.at(out, idx, part)
        return out

    def _scatter2(self, parts) -> np.ndarray:
        out = np.zeros((self.npar, self.npar))
        for idx, part in zip(self.index, parts):
            np.add.at(out, np.ix_(idx, idx), part)
        return out

    def value_groups(self, theta) -> np.ndarray:
        """logℓ_g of each group."""
        theta = np.asarray(theta, dtype=float)
        return np.array([obj.value(theta[idx]) for obj, idx in zip(self.groups, self.index)])

    def value(self, theta) -> float:
        return float(np.sum(self.value_groups(theta)))

    def value_grad(self, theta):
        theta = np.asarray(theta, dtype=float)
        total, grads = 0.0, []
        for obj, idx in zip(self.groups, self.index):
            logl, grad = obj.value_grad(theta[idx])
            if grad is None:
                return -np.inf, None
            total += logl
            grads.append(grad)
        return total, self._scatter(grads)

    def metric(self, theta) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        return self._scatter2([obj.metric(theta[idx])
                               for obj, idx in zip(self.groups, self.index)])

    def information(self, theta, kind: str) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        return self._scatter2([obj.information(theta[idx], kind)
                               for obj, idx in zip(self.groups, self.index)])

    def expected_information(self, theta) -> np.ndarray:
        return self.information(theta, "expected")

    def observed_information(self, theta) -> np.ndarray:
        return self.information(theta, "observed")
