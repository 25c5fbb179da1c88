"""Cluster-robust (sandwich, "MLR") standard errors, the Yuan–Bentler scaled test statistic
and the robust fit indices of a two-level fit, as lavaan 0.6-14's ``estimator = "MLR"``.

What it computes (``reference/lavaan_twolevel_extras.md`` §1–§2; Yuan & Bentler 2000;
Asparouhov & Muthén 2005 for the Mplus variant of the trace; Brosseau-Liard & Savalei 2014
and Savalei 2018 for the robust CFI/TLI/RMSEA):

* **Cluster scores.** s̃_j = ∇_φ ℓ_j, the gradient of cluster j's log-likelihood in the moment
  coordinates φ = (μ, vech Σ_W, vech Σ_B) (:func:`pm_mlvm.likelihood.hessian.grad_per_cluster`
  mapped by ``moment_gradient``), and s_j = Δ s̃_j in θ, Δ = ∂φ/∂θ the model Jacobian. Both
  likelihood routes (per-size statistics, rows with missing cells) give them, so the same code
  serves complete data and FIML.
* **Sandwich.** With A = −∂²logL/∂θ∂θ' (the observed information by default, as lavaan's MLR;
  the expected information on request) and B = Σ_j s_j s_j' (scores not centred),
  vcov = A⁻¹ B A⁻¹ — lavaan's E⁺ B̄ E⁺ / J with E = A/J, B̄ = B/J
  (:func:`pm_mlvm.ml.lavaan_outputs.sandwich_vcov`). No J/(J−1) factor.
* **Scaled test (Mplus "yuan.bentler.mplus").** tr(UΓ) = tr(A1⁻¹B1) − tr(A⁻¹B): the first
  trace from the unrestricted (h1, saturated) model at its estimates, in φ coordinates, the
  second from the fitted model. c = tr(UΓ)/df, χ²_scaled = χ²/c on df degrees of freedom.
  The baseline (independence) model gets its own c_b = [tr(A1⁻¹B1) − tr(A_b⁻¹B_b)]/df_b.
  Since the saturated and baseline models are coordinate subspaces of φ, their traces are
  computed directly in φ (the baseline keeps μ and the diagonals of Σ_W and Σ_B).
* **Robust indices.** cfi_robust = 1 − max(T − c·df, 0)/max(T − c·df, T_b − c_b·df_b, 0);
  tli_robust = 1 − (T − c·df)·df_b / ((T_b − c_b·df_b)·df); rmsea_robust =
  √max(T/(n·df) − c/n, 0) = √c · RMSEA(T/c), with its 90 % CI √c · CI(T/c) and close-fit
  p-value at ε0 = 0.05 with noncentrality n·df·ε0²/c. lavaan uses n = N (rows); pm_mlvm's
  naming grammar reports both: ``rmsea_robust`` with n = J (like ``rmsea``) and
  ``rmsea_robust_n`` with n = N (lavaan's ``rmsea.robust``).

Invariants: the traces and c do not depend on the parameterisation (a reparameterisation
transforms A and B by the same Jacobian); with equal cluster scores and A = B (a correctly
specified model, large J) c → 1 and the sandwich → A⁻¹.

Deliberate differences from lavaan (documented, not imitated): the h1 model is fitted to its
maximum (lavaan stops its EM at a log-likelihood gain of 1e-4, which moves χ² and tr(A1⁻¹B1)
in the 4th decimal); the bread is the exact observed information (lavaan: a 5-point
finite difference of the analytic gradient, equal to ~1e-7); with missing data the scores of
the rows route are used (lavaan 0.6-14 fails for two-level MLR with ``missing = "ml"``).

NumPy only: imports ``likelihood/``, ``spec/`` and the pure ``ml/`` function modules, never
PyTensor, PyMC or the fitting module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pm_mlvm._distributions import chi2_sf
from pm_mlvm.errors import check_choice
from pm_mlvm.likelihood import hessian as likelihood_hessian
from pm_mlvm.likelihood.information import expected_information
from pm_mlvm.likelihood.objective import Objective
from pm_mlvm.likelihood.reference_models import ReferenceFit
from pm_mlvm.likelihood.routes import data_arrays
from pm_mlvm.ml.fitmeasures import rmsea, rmsea_ci, rmsea_pvalue
from pm_mlvm.ml.lavaan_outputs import (
    constrained_inverse,
    sandwich_vcov,
    trace_inverse_product,
    yuan_bentler_scaling_factor,
)
from pm_mlvm.spec.moments import MomentDerivatives
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = [
    "SE_TYPES", "Sandwich", "moment_jacobian", "cluster_scores_phi", "cluster_scores",
    "information_phi", "sandwich", "trace_h0", "trace_reference", "baseline_coordinates",
    "cfi_robust", "tli_robust", "rmsea_robust", "robust_fit_measures",
]

#: the ``se=`` choices of a fit
SE_TYPES = ("standard", "robust")
_KINDS = ("expected", "observed")


# ------------------------------------------------------------------ scores and information

def moment_jacobian(der: MomentDerivatives) -> np.ndarray:
    """Δ = ∂φ/∂θ' as a (k_θ, k_φ) array, φ = (μ, vech Σ_W, vech Σ_B), vech in the order of
    ``np.tril_indices(p)`` (the coordinates of :mod:`pm_mlvm.likelihood.hessian`)."""
    rows, cols = np.tril_indices(len(der.mu))
    return np.concatenate([der.d_mu, der.d_w[:, rows, cols], der.d_b[:, rows, cols]], axis=1)


def cluster_scores_phi(stats: TwoLevelStats, mu, sigma_within, sigma_between) -> np.ndarray:
    """Per-cluster scores ∇_φ ℓ_j at the given moments, shape (J, k_φ).

    They sum to the gradient of logL in φ; zeros when the moments are not positive definite.

    Examples
    --------
    >>> from pm_mlvm.stats import TwoLevelStats
    >>> rng = np.random.default_rng(0)
    >>> st = TwoLevelStats.from_arrays(rng.normal(size=(12, 2)), np.repeat(np.arange(4), 3))
    >>> cluster_scores_phi(st, np.zeros(2), np.eye(2), 0.5 * np.eye(2)).shape
    (4, 8)
    """
    route, arrays = data_arrays(stats)
    scores = likelihood_hessian.grad_per_cluster(route, mu, sigma_within, sigma_between,
                                                 *arrays)
    return likelihood_hessian.moment_gradient(*scores)


def cluster_scores(objective: Objective, theta) -> np.ndarray:
    """Per-cluster scores s_j = ∂ℓ_j/∂θ of a model at θ, shape (J, k_θ) (Δ s̃_j)."""
    der = objective.map.derivatives(theta)
    phi = cluster_scores_phi(objective.stats, der.mu, der.sigma_within, der.sigma_between)
    return phi @ moment_jacobian(der).T


def information_phi(stats: TwoLevelStats, mu, sigma_within, sigma_between,
                    kind: str = "observed") -> np.ndarray:
    """Information of the moments φ for the whole sample: −∂²logL/∂φ∂φ' (``"observed"``,
    exact) or the expected (Fisher) information of the cluster-size design (``"expected"``;
    with missing cells the observed one is used, as for model fits)."""
    check_choice("kind", kind, _KINDS)
    if kind == "expected" and not stats.has_missing:
        v_mu, v_w, v_b = likelihood_hessian.moment_directions(len(mu))
        return expected_information(stats.sizes, stats.size_counts, sigma_within,
                                    sigma_between, v_mu.T, v_w, v_b)
    route, arrays = data_arrays(stats)
    return -likelihood_hessian.hessian(route, mu, sigma_within, sigma_between, *arrays)


# ----------------------------------------------------------------------------- sandwich

@dataclass(frozen=True)
class Sandwich:
    """The parts of a cluster-robust covariance (free parameters only).

    Attributes
    ----------
    free : bool mask (k_θ,) of the parameters the sandwich covers (not held on a bound)
    bread : (m, m) information A = −∂²logL/∂θ∂θ' (or its expectation) of the free parameters
    meat : (m, m) B = Σ_j s_j s_j' of the free parameters' cluster scores
    vcov : (k_θ, k_θ) A⁻¹ B A⁻¹, NaN rows/columns for parameters held on a bound
    n_clusters : J
    """

    free: np.ndarray
    bread: np.ndarray
    meat: np.ndarray
    vcov: np.ndarray
    n_clusters: int

    @property
    def trace(self) -> float:
        """tr(A⁻¹B), the fitted model's part of tr(UΓ) (lavaan's ``trace_h0``)."""
        j = self.n_clusters
        return trace_inverse_product(constrained_inverse(self.bread / j), self.meat / j)


def sandwich(objective: Objective, theta, free=None, kind: str = "observed",
             information=None) -> Sandwich:
    """Cluster-robust covariance A⁻¹ B A⁻¹ of the estimates θ (see the module docstring).

    Parameters
    ----------
    objective : Objective
        The model's objective on the data.
    theta : array_like (k_θ,)
        The estimates.
    free : bool array (k_θ,), optional
        Parameters to cover (default all); the others (e.g. held on a bound) get NaN.
    kind : {"observed", "expected"}
        The bread: exact observed information (lavaan's MLR) or the expected information.
    information : array_like (k_θ, k_θ), optional
        The bread if already computed (of kind ``kind``).

    Returns
    -------
    Sandwich
    """
    check_choice("kind", kind, _KINDS)
    theta = np.asarray(theta, dtype=float)
    k = len(theta)
    free = np.ones(k, bool) if free is None else np.asarray(free, bool)
    info = objective.information(theta, kind) if information is None else np.asarray(
        information, dtype=float)
    scores = cluster_scores(objective, theta)[:, free]
    j = scores.shape[0]
    bread = info[np.ix_(free, free)]
    meat = scores.T @ scores
    vcov = np.full((k, k), np.nan)
    vcov[np.ix_(free, free)] = sandwich_vcov(bread / j, meat / j, n_clusters=j)
    return Sandwich(free, bread, meat, vcov, j)


def trace_h0(objective: Objective, theta, free=None, kind: str = "observed") -> float:
    """tr(A⁻¹B) of a fitted model (free parameters), the h0 part of tr(UΓ)."""
    return sandwich(objective, theta, free, kind).trace


def baseline_coordinates(p: int) -> np.ndarray:
    """Mask of the φ coordinates free in the independence baseline: μ and the diagonals of
    Σ_W and Σ_B (3p of the p + p(p+1))."""
    rows, cols = np.tril_indices(p)
    diag = rows == cols
    return np.concatenate([np.ones(p, bool), diag, diag])


def trace_reference(stats: TwoLevelStats, ref: ReferenceFit, coordinates=None,
                    kind: str = "observed") -> float:
    """tr(A⁻¹B) of a reference model that frees the φ ``coordinates`` (mask; default all:
    the saturated model, lavaan's tr(A1⁻¹B1)), at its fitted moments."""
    mu, sw, sb = ref.mu, ref.sigma_within, ref.sigma_between
    keep = np.ones(likelihood_hessian.n_moments(len(mu)), bool) if coordinates is None \
        else np.asarray(coordinates, bool)
    info = information_phi(stats, mu, sw, sb, kind)[np.ix_(keep, keep)]
    scores = cluster_scores_phi(stats, mu, sw, sb)[:, keep]
    j = scores.shape[0]
    return trace_inverse_product(constrained_inverse(info / j), scores.T @ scores / j)


# ------------------------------------------------------------------------- fit indices

def cfi_robust(chisq, df, c, base_chisq, base_df, base_c) -> float:
    """Robust CFI (Brosseau-Liard & Savalei 2014):
    1 − max(T − c·df, 0) / max(T − c·df, T_b − c_b·df_b, 0); 1 when both are 0; NaN when a
    scaling factor is not available.

    Examples
    --------
    >>> round(cfi_robust(30.0, 10, 1.5, 500.0, 15, 1.2), 6)
    0.96888
    """
    if not (np.isfinite(c) and np.isfinite(base_c)):
        return float("nan")
    num = max(chisq - c * df, 0.0)
    den = max(chisq - c * df, base_chisq - base_c * base_df, 0.0)
    return 1.0 if den == 0 else 1.0 - num / den


def tli_robust(chisq, df, c, base_chisq, base_df, base_c) -> float:
    """Robust TLI: 1 − (T − c·df)·df_b / ((T_b − c_b·df_b)·df) (not truncated); 1 when
    df = 0; NaN when a scaling factor is not available."""
    if df == 0 or base_df == 0:
        return 1.0
    if not (np.isfinite(c) and np.isfinite(base_c)):
        return float("nan")
    den = (base_chisq - base_c * base_df) * df
    return float("nan") if den == 0 else 1.0 - (chisq - c * df) * base_df / den


def rmsea_robust(chisq, df, c, n, groups: int = 1) -> dict:
    """Robust RMSEA √max(T/(n·df) − c/n, 0) with its 90 % CI and close-fit p-value
    (ε0 = 0.05), as lavaan's ``rmsea.robust`` (n = N there; × √G with G groups). Keys
    ``rmsea``, ``ci_lower``, ``ci_upper``, ``pvalue``."""
    if df <= 0 or not np.isfinite(c) or c <= 0:
        return dict(rmsea=float("nan"), ci_lower=float("nan"), ci_upper=float("nan"),
                    pvalue=float("nan"))
    scale = np.sqrt(c)
    lo, hi = rmsea_ci(chisq / c, df, n, groups=groups)
    return dict(rmsea=float(scale * rmsea(chisq / c, df, n, groups=groups)),
                ci_lower=float(scale * lo), ci_upper=float(scale * hi),
                pvalue=float(rmsea_pvalue(chisq / c, df, n / c, groups=groups)))


def robust_fit_measures(chisq, df, trace_h1, trace_h0_model, base_chisq, base_df,
                        trace_h0_base, n_obs, n_clusters, groups: int = 1) -> dict:
    """The scaled test and robust indices from the traces (see the module docstring).

    Returns
    -------
    dict with ``chisq_scaled``, ``df_scaled``, ``pvalue_scaled``, ``chisq_scaling_factor``,
    ``trace_h1``, ``trace_h0``, ``baseline_chisq_scaled``, ``baseline_pvalue_scaled``,
    ``baseline_chisq_scaling_factor``, ``cfi_robust``, ``tli_robust``, and
    ``rmsea_robust`` (n = J) / ``rmsea_robust_n`` (n = N) each with ``_ci_lower``,
    ``_ci_upper``, ``_pvalue``. ``groups``: G, for the √G of the RMSEA variants.
    """
    c = yuan_bentler_scaling_factor(trace_h1, trace_h0_model, int(df))
    c_b = yuan_bentler_scaling_factor(trace_h1, trace_h0_base, int(base_df))
    out = {
        "chisq_scaled": chisq / c, "df_scaled": df,
        "pvalue_scaled": float(chi2_sf(chisq / c, df)) if np.isfinite(c) else float("nan"),
        "chisq_scaling_factor": c, "trace_h1": trace_h1, "trace_h0": trace_h0_model,
        "baseline_chisq_scaled": base_chisq / c_b,
        "baseline_pvalue_scaled": float(chi2_sf(base_chisq / c_b, base_df))
        if np.isfinite(c_b) else float("nan"),
        "baseline_chisq_scaling_factor": c_b,
        "cfi_robust": cfi_robust(chisq, df, c, base_chisq, base_df, c_b),
        "tli_robust": tli_robust(chisq, df, c, base_chisq, base_df, c_b),
    }
    for suffix, n in (("", n_clusters), ("_n", n_obs)):
        r = rmsea_robust(chisq, df, c, n, groups=groups)
        out[f"rmsea_robust{suffix}"] = r["rmsea"]
        out[f"rmsea_robust{suffix}_ci_lower"] = r["ci_lower"]
        out[f"rmsea_robust{suffix}_ci_upper"] = r["ci_upper"]
        out[f"rmsea_robust{suffix}_pvalue"] = r["pvalue"]
    return out
