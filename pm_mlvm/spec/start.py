"""Start values for an :class:`~pm_mlvm.spec.mlvm.MLVMSpec` from simple data moments.

Follows psychonetrics' recipe in spirit (``reference/psychonetrics_ml_lvm.md`` §2.2):

* ν: the grand mean;
* Λ: per factor, the first principal component of the total covariance of its indicators,
  scaled so fixed (marker) loadings keep their value, then clipped to 0.1 ≤ |λ| ≤ 3;
* per level, Θ = diag(S)/4 shrunk by 0.9 until S − Θ is PD, Ψ = Λ⁺ (S − Θ) Λ⁺' made PD;
  the within S is the pooled-within covariance, the between S the covariance of the cluster
  means minus S_W / n̄ (floored to stay PD);
* β: free cells start at 0.001;
* each block's structure maps its target covariance to its own matrices.

``emergency_start`` gives a plain fallback (identity-like blocks) used when the first start
gives a non-finite likelihood.

Scale equivariance: every recipe runs on the moments standardised by the total standard
deviations D (so its floors and clips are relative), and the resulting θ is mapped back
exactly: Λ → DΛC⁻¹, β → CβC⁻¹, a latent block's matrices by C and a residual block's by D,
each cell by its role's ``scale_power`` (C the latent scales: the marker's d for a factor with
a fixed loading, 1 otherwise). Rescaling a variable of the data therefore rescales the start
values as the model says, and a fit from them does not depend on the data's units.
"""

from __future__ import annotations

import numpy as np

from pm_mlvm.spec.layout import BLOCKS, LEVELS, level_block, matrix_name
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.spec.structures import spectral_shift

__all__ = ["start_values", "emergency_start", "level_targets"]


def _unit_scales(cov) -> np.ndarray:
    """Standard deviations for standardising (a tiny relative floor keeps them positive)."""
    var = np.abs(np.diag(np.asarray(cov, dtype=float)))
    top = var.max() if var.size and var.max() > 0 else 1.0
    return np.sqrt(np.maximum(var, 1e-300 * top))


def _standardise(cov, d) -> np.ndarray:
    return np.asarray(cov, dtype=float) / np.outer(d, d)


def level_targets(within_cov, between_means_cov, mean_size) -> tuple[np.ndarray, np.ndarray]:
    """Within and between target covariances for start values (scale-equivariant)."""
    within_cov = np.asarray(within_cov, dtype=float)
    between_means_cov = np.asarray(between_means_cov, dtype=float)
    d = _unit_scales(within_cov + between_means_cov)
    w, b = _standardise(within_cov, d), _standardise(between_means_cov, d)
    s_w = spectral_shift(w, floor=1e-3)
    raw_b = b - s_w / max(mean_size, 1.0)
    floor = 0.05 * float(np.mean(np.diag(b)))
    s_b = spectral_shift(raw_b, floor=max(floor, 1e-4))
    dd = np.outer(d, d)
    return s_w * dd, s_b * dd


def _latent_scales(spec: MLVMSpec, d: np.ndarray) -> np.ndarray:
    """C: how each latent's scale follows the data's (the marker's d, or 1)."""
    if spec.observed_only:
        return d.copy()
    lam = spec.matrices["lambda"]
    scales = np.ones(spec.n_latent)
    for k in range(spec.n_latent):
        rows = np.flatnonzero(~lam.free[:, k] & (lam.fixed[:, k] != 0))
        if len(rows):
            scales[k] = d[rows[0]]
    return scales


def _cell_factors(spec: MLVMSpec, d: np.ndarray) -> dict:
    """name → matrix of factors mapping standardised-metric cells to the data's metric."""
    c = _latent_scales(spec, d)
    out = {"nu": np.zeros((spec.n_vars, 1)), "nu_eta": c[:, None].copy(),
           "lambda": np.outer(d, 1.0 / c)}
    for level in LEVELS:
        out[matrix_name("beta", level)] = np.outer(c, 1.0 / c)
    for block, info in BLOCKS.items():
        s = c if info.latent else d
        for role in spec.structure(block).roles:
            pr, pc = role.scale_power
            out[matrix_name(role.prefix, block)] = np.outer(s**pr, s**pc)
    return out


def _to_data_metric(spec: MLVMSpec, theta_std: np.ndarray, mean, d) -> np.ndarray:
    factors = _cell_factors(spec, d)
    mean_mats = {name: np.zeros(m.shape) for name, m in spec.matrices.items()}
    mean_mats["nu"] = np.asarray(mean, dtype=float)[:, None]
    scale = _cells(spec, factors)
    offset = _cells(spec, mean_mats)
    return offset + scale * theta_std


def start_values(spec: MLVMSpec, mean, total_cov, within_cov, between_cov) -> np.ndarray:
    """θ₀ for ``spec`` from the grand mean and total / within / between covariances."""
    d = _unit_scales(total_cov)
    theta = _start_standardised(spec, _standardise(total_cov, d), _standardise(within_cov, d),
                                _standardise(between_cov, d))
    return _to_data_metric(spec, theta, mean, d)


def _start_standardised(spec: MLVMSpec, total_cov, within_cov, between_cov) -> np.ndarray:
    mats = {name: np.array(m.fixed, dtype=float) for name, m in spec.matrices.items()}
    mats["nu"][:, 0] = np.where(spec.matrices["nu"].free[:, 0], 0.0, mats["nu"][:, 0])
    lam = _lambda_start(spec, np.asarray(total_cov, dtype=float))
    mats["lambda"] = lam
    for level, target in zip(LEVELS, (within_cov, between_cov)):
        beta = spec.matrices[matrix_name("beta", level)]
        mats[beta.name] = np.where(beta.free, 0.001, beta.fixed)
        psi, theta = _split_level(spec, lam, np.asarray(target, dtype=float))
        for block, cov in ((level_block(level, latent=True), psi),
                           (level_block(level, latent=False), theta)):
            own = spec.block_matrices(block)
            if all(m.n_free == 0 for m in own.values()):
                continue
            values = spec.structure(block).start(cov, {k: m.free for k, m in own.items()})
            for prefix, mat in own.items():
                mats[mat.name] = np.where(mat.free | (mat.free.T if mat.mirrored else False),
                                          values[prefix], mat.fixed)
    return _pack(spec, mats)


def emergency_start(spec: MLVMSpec, mean, total_cov) -> np.ndarray:
    """A plain start: loadings 1, identity-like latent blocks, half the variances residual
    (in the standardised metric, mapped back like :func:`start_values`)."""
    d = _unit_scales(total_cov)
    mats = {name: np.array(m.fixed, dtype=float) for name, m in spec.matrices.items()}
    mats["nu"][:, 0] = 0.0
    mats["lambda"] = np.where(spec.matrices["lambda"].free, 1.0, spec.matrices["lambda"].fixed)
    half = 0.5 * np.ones(spec.n_vars)
    for block, info in BLOCKS.items():
        latent = info.latent
        n = spec.n_latent if latent else spec.n_vars
        cov = np.eye(n) * (0.5 if latent else 1.0)
        if not latent:
            cov = np.diag(half * (0.5 if info.level == "between" else 1.0))
        if spec.observed_only and latent:
            cov = np.diag(half)
        own = spec.block_matrices(block)
        values = spec.structure(block).start(cov, {k: m.free for k, m in own.items()})
        for prefix, mat in own.items():
            mats[mat.name] = np.where(mat.free, values[prefix], mat.fixed)
    return _to_data_metric(spec, _pack(spec, mats), mean, d)


def _cells(spec: MLVMSpec, mats: dict) -> np.ndarray:
    """The free cells of full matrices, in θ order."""
    parts = []
    for name, mat in spec.matrices.items():
        rows, cols = mat.free_cells
        parts.append(np.asarray(mats[name], dtype=float)[rows, cols])
    return np.concatenate(parts) if parts else np.zeros(0)


def _pack(spec: MLVMSpec, mats: dict) -> np.ndarray:
    theta = _cells(spec, mats)
    low, high = spec.bounds()
    inside_low = np.where(np.isfinite(low), low + 1e-3, -np.inf)
    inside_high = np.where(np.isfinite(high), high - 1e-3, np.inf)
    return np.clip(np.nan_to_num(theta, nan=0.1), inside_low, inside_high)


def _lambda_start(spec: MLVMSpec, total_cov: np.ndarray) -> np.ndarray:
    lam_spec = spec.matrices["lambda"]
    lam = np.array(lam_spec.fixed, dtype=float)
    if spec.observed_only:
        return lam
    carried = lam_spec.free | (lam_spec.fixed != 0)
    for k in range(spec.n_latent):
        rows = np.flatnonzero(carried[:, k])
        if len(rows) == 1:
            lam[rows, k] = np.where(lam_spec.free[rows, k], 1.0, lam_spec.fixed[rows, k])
            continue
        sub = spectral_shift(total_cov[np.ix_(rows, rows)])
        vals, vecs = np.linalg.eigh(sub)
        load = vecs[:, -1] * np.sqrt(vals[-1])
        if load.sum() < 0:
            load = -load
        fixed_rows = [i for i, r in enumerate(rows) if not lam_spec.free[r, k]]
        if fixed_rows:
            i = fixed_rows[0]
            if abs(load[i]) > 1e-8:
                load = load * lam_spec.fixed[rows[i], k] / load[i]
        # keep loadings relative to the marker moderate (psychonetrics clips to [0.25, 2]
        # before scaling): a weak marker must not start the search near a degenerate ridge
        sign = np.where(load < 0, -1.0, 1.0)
        load = sign * np.clip(np.abs(load), 0.1, 3.0)
        lam[rows, k] = np.where(lam_spec.free[rows, k], load, lam_spec.fixed[rows, k])
    return lam


def _split_level(spec: MLVMSpec, lam: np.ndarray, s: np.ndarray):
    """Latent and residual target covariances on one level."""
    if spec.observed_only:
        return spectral_shift(s), np.zeros_like(s)
    theta = np.diag(np.diag(s)) / 4.0
    for _ in range(100):
        if np.linalg.eigvalsh(s - theta).min() > 0:
            break
        theta *= 0.9
    else:
        theta = np.eye(len(s))
    pinv = np.linalg.pinv(lam)
    psi = spectral_shift(pinv @ (s - theta) @ pinv.T, floor=1e-2)
    resid = s - lam @ psi @ lam.T
    off = 0.5 * (resid - np.diag(np.diag(resid)))
    theta_target = spectral_shift(np.diag(np.maximum(np.diag(theta), 1e-3)) + off, floor=1e-3)
    return psi, theta_target
