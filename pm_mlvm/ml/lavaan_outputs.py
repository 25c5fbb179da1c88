"""Derived outputs of a two-level fit as lavaan 0.6-14 defines them: standardized solutions,
intraclass correlations, empirical-Bayes factor scores, the robust (sandwich) covariance
and the Yuan–Bentler scaling factor of the test statistic.

Pure NumPy functions of model matrices, data and information matrices; no PyTensor, no
PyMC and no other ``pm_mlvm.ml`` module. The result objects wire them up.

Conventions (``reference/lavaan_twolevel_extras.md`` §1–§5; Rosseel 2021, *Evaluating
two-level SEMs*; Yuan & Bentler 2000):

* Matrices use psychonetrics names: ``lambda`` (p×q, shared by both levels),
  ``sigma_zeta_{level}`` (latent (residual) covariance Ψ), ``sigma_epsilon_{level}``
  (residual covariance Θ), ``beta_{level}`` (structural regressions, row ← column), ``nu``.
* Standardization works level by level: each level's parameters are rescaled with that
  level's own implied latent covariance VETA = (I−B)⁻¹Ψ(I−B)⁻ᵀ and implied observed
  covariance Σ = ΛVETAΛ' + Θ. Invariant: standardizing twice changes nothing for
  ``std.lv`` loadings of exogenous factors with unit variance.
* ICC_k = Σ_B,kk / (Σ_W,kk + Σ_B,kk). lavaan feeds it its EM h1 moments (stopped at a
  log-likelihood change of 1e-4), so use those moments to reproduce its numbers.
* Factor scores follow lavPredict's two-step scheme: first the cluster random effect
  b̂_j = μ + Σ_B (Σ_B + Σ_W/n_j)⁻¹ (ȳ_j − μ), then a regression (EBM) score per level,
  η̂ = VETA Λ' Σ⁺ x, with x = y_ij − b̂_j (level 1) or x = b̂_j − μ (level 2).
* Sandwich: vcov = E⁺ B E⁺ / J, E = observed information per cluster, B = mean cross-product
  of the (uncentered) cluster scores, J the number of clusters, no small-sample factor.
  With equality constraints (Jacobian H), E⁺ is the top-left block of the inverse of
  [[E + H'H, H'], [H, 0]].
* Yuan–Bentler (Mplus variant): c = [tr(A1⁻¹B1) − tr(E⁺B0)] / df, the first trace from the
  unrestricted (h1) model, the second from the fitted model.

:func:`standardize` and :func:`latent_covariance` are analytic in their inputs and accept
complex matrices, so complex-step differentiation gives their exact Jacobians (the delta-method
SEs of :mod:`pm_mlvm.ml.standardized`).

Numerical trouble (a non-positive variance, a singular matrix) gives NaN/inf entries,
never an exception; bad arguments raise :class:`pm_mlvm.errors.MLVMInputError`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pm_mlvm.errors import MLVMInputError, check_choice

__all__ = [
    "LEVELS", "STANDARDIZATIONS", "latent_covariance", "standardize", "icc",
    "cluster_random_effects", "factor_scores", "constrained_inverse", "sandwich_vcov",
    "trace_inverse_product", "yuan_bentler_scaling_factor",
]

LEVELS = ("within", "between")
STANDARDIZATIONS = ("std.all", "std.lv")


# --------------------------------------------------------------------------- helpers

def _numeric(value) -> np.ndarray:
    """Float array, or complex when given complex numbers (complex-step derivatives)."""
    arr = np.asarray(value)
    return arr.astype(complex if np.iscomplexobj(arr) else float, copy=False)


def _square(name: str, value, size: int | None = None) -> np.ndarray:
    arr = _numeric(value)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise MLVMInputError(f"{name} must be a square matrix; got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise MLVMInputError(f"{name} must be {size}×{size}; got shape {arr.shape}")
    return arr


def _lambda(value) -> np.ndarray:
    arr = _numeric(value)
    if arr.ndim != 2:
        raise MLVMInputError(f"lambda_ must be a p×q matrix; got shape {arr.shape}")
    return arr


def _sqrt_diag(matrix: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.diag(matrix))


def _divide(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def _correlation_offdiag(cov: np.ndarray) -> np.ndarray:
    """cov_kl / sqrt(cov_kk cov_ll) off the diagonal; the diagonal is left to the caller."""
    sd = _sqrt_diag(cov)
    return _divide(cov, np.outer(sd, sd))


def latent_covariance(psi, beta=None) -> np.ndarray:
    """Total latent covariance VETA = (I − β)⁻¹ Ψ (I − β)⁻ᵀ of one level.

    Parameters
    ----------
    psi : array_like, q×q
        Latent (residual) covariance ``sigma_zeta_{level}``.
    beta : array_like, q×q, optional
        Structural regressions ``beta_{level}`` (row regressed on column); none if omitted.

    Returns
    -------
    numpy.ndarray
        q×q latent covariance (NaN if I − β is singular).

    Examples
    --------
    >>> float(latent_covariance(np.eye(2), np.array([[0, 0], [0.5, 0]]))[1, 1])
    1.25
    """
    psi = _square("psi", psi)
    if beta is None:
        return psi.copy()
    beta = _square("beta", beta, psi.shape[0])
    try:
        b_inv = np.linalg.inv(np.eye(psi.shape[0]) - beta)
    except np.linalg.LinAlgError:
        return np.full_like(psi, np.nan)
    return b_inv @ psi @ b_inv.T


# --------------------------------------------------------------------------- std

def _standardize_level(lam, psi, theta, beta, kind):
    veta = latent_covariance(psi, beta)
    sigma = lam @ veta @ lam.T + theta
    sd_lv = _sqrt_diag(veta)
    sd_ov = _sqrt_diag(sigma)
    out = {}
    lam_std = lam * sd_lv[None, :]
    out["lambda"] = _divide(lam_std, sd_ov[:, None]) if kind == "std.all" else lam_std
    if beta is not None:
        out["beta"] = _divide(beta * sd_lv[None, :], sd_lv[:, None])
    psi_std = _correlation_offdiag(psi)
    np.fill_diagonal(psi_std, _divide(np.diag(psi), np.diag(veta)))
    out["sigma_zeta"] = psi_std
    if kind == "std.all":
        theta_std = _correlation_offdiag(theta)
        np.fill_diagonal(theta_std, _divide(np.diag(theta), np.diag(sigma)))
        out["sigma_epsilon"] = theta_std
    else:
        out["sigma_epsilon"] = theta.copy()
    return out, sd_ov


def standardize(mats: Mapping, kind: str = "std.all") -> dict:
    """Standardized point estimates of a two-level model, per level, as lavaan's
    ``standardizedSolution(type=kind)``.

    Each level uses its own implied latent covariance VETA and implied observed covariance
    Σ = Λ VETA Λ' + Θ (not sample moments).

    * ``std.lv``: loadings λ·sd(η); regressions β·sd(η_rhs)/sd(η_lhs); latent variances
      ψ/VETA (1 for exogenous factors); latent covariances ψ_kl/√(ψ_kk ψ_ll); residuals and
      intercepts unchanged.
    * ``std.all``: additionally loadings divided by sd(y) of that level; residual variances
      θ/Σ_kk; residual covariances θ_kl/√(θ_kk θ_ll); the (between-level) intercepts ν/√Σ_B,kk.

    Parameters
    ----------
    mats : mapping
        ``lambda`` (p×q), ``sigma_zeta_within``, ``sigma_zeta_between`` (q×q),
        ``sigma_epsilon_within``, ``sigma_epsilon_between`` (p×p); optional
        ``beta_within``, ``beta_between`` (q×q) and ``nu`` (p).
    kind : {"std.all", "std.lv"}

    Returns
    -------
    dict
        ``lambda_within``, ``lambda_between`` (the shared Λ standardized per level),
        ``sigma_zeta_{level}``, ``sigma_epsilon_{level}``, ``beta_{level}`` when given, and
        ``nu`` when given. Entries that lavaan does not report (for example the zero
        off-diagonal cells of a diagonal Θ) come out as 0.

    Examples
    --------
    >>> lam = np.array([[1.0], [0.5]])
    >>> mats = {"lambda": lam, "sigma_zeta_within": [[1.0]], "sigma_zeta_between": [[0.5]],
    ...         "sigma_epsilon_within": np.eye(2), "sigma_epsilon_between": 0.1 * np.eye(2)}
    >>> round(float(standardize(mats, "std.all")["lambda_within"][0, 0]), 6)
    0.707107
    """
    check_choice("kind", kind, STANDARDIZATIONS)
    if not isinstance(mats, Mapping):
        raise MLVMInputError(f"mats must be a mapping of matrix name to array; got {type(mats)}")
    required = ["lambda"] + [f"sigma_{b}_{lv}" for b in ("zeta", "epsilon") for lv in LEVELS]
    missing = [key for key in required if key not in mats]
    if missing:
        raise MLVMInputError(f"mats lacks {missing}; it needs {required} "
                             "(and optionally beta_within, beta_between, nu)")
    lam = _lambda(mats["lambda"])
    p, q = lam.shape
    out = {}
    sd_between = None
    for level in LEVELS:
        psi = _square(f"sigma_zeta_{level}", mats[f"sigma_zeta_{level}"], q)
        theta = _square(f"sigma_epsilon_{level}", mats[f"sigma_epsilon_{level}"], p)
        beta = mats.get(f"beta_{level}")
        beta = None if beta is None else _square(f"beta_{level}", beta, q)
        std, sd_ov = _standardize_level(lam, psi, theta, beta, kind)
        for name, value in std.items():
            out[f"{name}_{level}"] = value
        if level == "between":
            sd_between = sd_ov
    if mats.get("nu") is not None:
        nu = _numeric(mats["nu"]).reshape(-1)
        if nu.shape != (p,):
            raise MLVMInputError(f"nu must have {p} entries; got shape {nu.shape}")
        out["nu"] = _divide(nu, sd_between) if kind == "std.all" else nu.copy()
    return out


# --------------------------------------------------------------------------- ICC

def icc(sigma_within, sigma_between) -> np.ndarray:
    """Intraclass correlation per variable: Σ_B,kk / (Σ_W,kk + Σ_B,kk).

    lavaan's ``lavInspect(fit, "icc")`` applies this to its unrestricted (h1) EM moments.

    Parameters
    ----------
    sigma_within, sigma_between : array_like, p×p

    Returns
    -------
    numpy.ndarray, shape (p,)

    Examples
    --------
    >>> icc(np.diag([3.0, 1.0]), np.diag([1.0, 1.0]))
    array([0.25, 0.5 ])
    """
    sw = _square("sigma_within", sigma_within)
    sb = _square("sigma_between", sigma_between, sw.shape[0])
    between = np.diag(sb)
    return _divide(between, np.diag(sw) + between)


# --------------------------------------------------------------------------- factor scores

def _cluster_index(clusters, n_rows: int):
    clusters = np.asarray(clusters)
    if clusters.ndim != 1 or clusters.shape[0] != n_rows:
        raise MLVMInputError(f"clusters must be one label per row of y ({n_rows}); "
                             f"got shape {clusters.shape}")
    labels, first, inverse = np.unique(clusters, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")          # clusters by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return labels[order], rank[inverse.reshape(-1)]


def cluster_random_effects(y, clusters, mu, sigma_within, sigma_between):
    """Posterior means b̂_j = μ + Σ_B (Σ_B + Σ_W/n_j)⁻¹ (ȳ_j − μ) of the cluster effects.

    This is the E-step of lavaan's two-level EM evaluated at the given moments, and step 1 of
    lavPredict. Each cluster uses its own size n_j (singletons included).

    Parameters
    ----------
    y : array_like, N×p
        Data, complete rows.
    clusters : array_like, length N
        Cluster label per row.
    mu, sigma_within, sigma_between : array_like
        Implied mean (p) and level covariances (p×p).

    Returns
    -------
    effects : numpy.ndarray, J×p
        b̂_j (the between mean included), clusters in order of first appearance.
    labels : numpy.ndarray, J
        The cluster labels of those rows.
    row_cluster : numpy.ndarray of int, N
        For each row of ``y``, its row in ``effects``.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 2:
        raise MLVMInputError(f"y must be an N×p matrix; got shape {y.shape}")
    if np.isnan(y).any():
        raise MLVMInputError("y has missing cells; factor scores need complete rows "
                             "(drop incomplete rows first, as lavaan's listwise default does)")
    n_rows, p = y.shape
    mu = np.asarray(mu, dtype=float).reshape(-1)
    if mu.shape != (p,):
        raise MLVMInputError(f"mu must have {p} entries (columns of y); got shape {mu.shape}")
    sw = _square("sigma_within", sigma_within, p)
    sb = _square("sigma_between", sigma_between, p)
    labels, row_cluster = _cluster_index(clusters, n_rows)
    n_j = np.bincount(row_cluster, minlength=labels.size)
    sums = np.zeros((labels.size, p))
    np.add.at(sums, row_cluster, y)
    centred = sums / n_j[:, None] - mu
    effects = np.empty_like(centred)
    for size in np.unique(n_j):
        rows = n_j == size
        try:
            gain = np.linalg.solve(sb + sw / size, sb).T   # Σ_B (Σ_B + Σ_W/n)⁻¹ (symmetric)
        except np.linalg.LinAlgError:
            gain = np.full((p, p), np.nan)
        effects[rows] = centred[rows] @ gain.T
    return effects + mu, labels, row_cluster


def factor_scores(y, clusters, mu, sigma_within, sigma_between, lambda_, psi_within,
                  psi_between, level: int, beta_within=None, beta_between=None) -> np.ndarray:
    """Regression (empirical-Bayes) factor scores of one level, as lavaan's
    ``lavPredict(fit, level=level)`` (method "EBM").

    Step 1: cluster effects b̂_j (:func:`cluster_random_effects`) at the implied moments.
    Step 2: η̂ = VETA Λ' Σ⁺ x with that level's VETA and Σ (Moore–Penrose inverse), where
    x = y_ij − b̂_j at level 1 and x = b̂_j − μ at level 2. Latent means are 0 and the
    within-level means of the indicators are 0, as in the model of ``pm_mlvm``.

    Parameters
    ----------
    y : array_like, N×p
        Data (complete rows), columns in the order of ``lambda_``'s rows.
    clusters : array_like, length N
        Cluster label per row.
    mu : array_like, p
        Implied mean.
    sigma_within, sigma_between : array_like, p×p
        Implied level covariances.
    lambda_ : array_like, p×q
        Loadings (shared by both levels).
    psi_within, psi_between : array_like, q×q
        Latent (residual) covariances ``sigma_zeta_{level}``.
    level : {1, 2}
        1 = within (one row per observation, data-row order), 2 = between (one row per
        cluster, clusters in order of first appearance in ``clusters``).
    beta_within, beta_between : array_like, q×q, optional
        Structural regressions; the scores then use VETA = (I−β)⁻¹Ψ(I−β)⁻ᵀ.

    Returns
    -------
    numpy.ndarray
        N×q (level 1) or J×q (level 2).

    Examples
    --------
    >>> y = np.array([[1.0, 1.0], [3.0, 3.0], [0.0, 2.0]])
    >>> lam = np.ones((2, 1))
    >>> sw = lam @ lam.T + np.eye(2)
    >>> sb = 0.5 * lam @ lam.T + 0.1 * np.eye(2)
    >>> factor_scores(y, [1, 1, 2], [0, 0], sw, sb, lam, [[1.0]], [[0.5]], level=2).shape
    (2, 1)
    """
    check_choice("level", level, (1, 2))
    lam = _lambda(lambda_)
    p, q = lam.shape
    effects, _, row_cluster = cluster_random_effects(y, clusters, mu, sigma_within,
                                                     sigma_between)
    if effects.shape[1] != p:
        raise MLVMInputError(f"lambda_ has {p} rows but y has {effects.shape[1]} columns")
    if level == 1:
        veta = latent_covariance(_square("psi_within", psi_within, q), beta_within)
        sigma = _square("sigma_within", sigma_within, p)
        x = np.asarray(y, dtype=float) - effects[row_cluster]
    else:
        veta = latent_covariance(_square("psi_between", psi_between, q), beta_between)
        sigma = _square("sigma_between", sigma_between, p)
        x = effects - np.asarray(mu, dtype=float).reshape(-1)
    if not np.all(np.isfinite(sigma)):
        return np.full((x.shape[0], q), np.nan)
    weights = veta @ lam.T @ np.linalg.pinv(sigma)        # q×p
    return x @ weights.T


# --------------------------------------------------------------------------- sandwich

def constrained_inverse(information, constraints=None) -> np.ndarray:
    """Inverse of an information matrix under linear equality constraints.

    Without constraints this is E⁻¹. With constraints H θ = 0 (H: k×m Jacobian) it is the
    top-left m×m block of the (generalized) inverse of [[E + H'H, H'], [H, 0]], the
    covariance of the constrained estimator.

    Parameters
    ----------
    information : array_like, m×m
    constraints : array_like, k×m, optional

    Returns
    -------
    numpy.ndarray, m×m
    """
    info = _square("information", information)
    m = info.shape[0]
    if constraints is None or np.size(constraints) == 0:
        return np.linalg.pinv(info, hermitian=True)
    h = np.atleast_2d(np.asarray(constraints, dtype=float))
    if h.shape[1] != m:
        raise MLVMInputError(f"constraints must have {m} columns (one per parameter); "
                             f"got shape {h.shape}")
    k = h.shape[0]
    augmented = np.block([[info + h.T @ h, h.T], [h, np.zeros((k, k))]])
    return np.linalg.pinv(augmented, hermitian=True)[:m, :m]


def sandwich_vcov(bread, meat, n_clusters: int, constraints=None) -> np.ndarray:
    """Robust (Huber–White) covariance of the estimates, lavaan's MLR for two-level models.

    vcov = E⁺ B E⁺ / J, E = observed information per cluster (−∂²logL/∂θ∂θ' / J),
    B = (1/J) Σ_j s_j s_j' (uncentered cluster scores; with groups Σ_g (N_g/N) B_g),
    E⁺ = :func:`constrained_inverse`. No J/(J−1) factor.

    Parameters
    ----------
    bread : array_like, m×m
        Information per cluster, E.
    meat : array_like, m×m
        First-order information per cluster, B.
    n_clusters : int
        J, the total number of clusters.
    constraints : array_like, k×m, optional
        Jacobian of the equality constraints.

    Returns
    -------
    numpy.ndarray, m×m

    Examples
    --------
    >>> sandwich_vcov(np.eye(2), 2 * np.eye(2), n_clusters=4)
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    if not (isinstance(n_clusters, (int, np.integer)) and n_clusters > 0):
        raise MLVMInputError(f"n_clusters must be a positive integer; got {n_clusters!r}")
    inv = constrained_inverse(bread, constraints)
    b = _square("meat", meat, inv.shape[0])
    vcov = inv @ b @ inv / n_clusters
    return (vcov + vcov.T) / 2


def trace_inverse_product(information_inverse, first_order) -> float:
    """tr(E⁺ B), the trace entering the Yuan–Bentler scaling (h0 part with the fitted
    model's E⁺ and meat; h1 part with the unrestricted model's A1⁻¹ and B1)."""
    inv = _square("information_inverse", information_inverse)
    b = _square("first_order", first_order, inv.shape[0])
    return float(np.sum(inv * b.T))


def yuan_bentler_scaling_factor(trace_h1: float, trace_h0: float, df: int) -> float:
    """Scaling factor c = (tr(A1⁻¹B1) − tr(E⁺B0)) / df of lavaan's ``yuan.bentler.mplus``.

    The scaled statistic is χ²/c on df degrees of freedom. NaN when df is 0 or c < 0
    (lavaan reports NA there).

    Examples
    --------
    >>> yuan_bentler_scaling_factor(30.0, 20.0, 10)
    1.0
    """
    try:
        whole = float(df).is_integer() and df >= 0
    except (TypeError, ValueError):
        whole = False
    if not whole:
        raise MLVMInputError(f"df must be a non-negative whole number; got {df!r}")
    df = int(df)
    if df == 0:
        return float("nan")
    c = (float(trace_h1) - float(trace_h0)) / df
    return c if c >= 0 else float("nan")
