"""Standardized solutions of a two-level fit with delta-method standard errors, as lavaan's
``standardizedSolution(fit, type = "std.all" | "std.lv")``.

What it computes (``reference/lavaan_twolevel_extras.md`` §3): every reported cell is
rescaled with the moments of its own level — that level's implied latent covariance
VETA = (I − β)⁻¹Ψ(I − β)⁻ᵀ and implied observed covariance Σ = Λ VETA Λ' + Θ — by
:func:`pm_mlvm.ml.lavaan_outputs.standardize`. The shared Λ therefore appears twice, once per
level. Ψ and Θ are the blocks' covariance matrices whatever their parameterisation (``cov``,
``chol``, ``prec``, ``ggm``, ``cor``), so a network block is reported as its implied
(partial-correlation-free) covariance, standardized.

Standard errors: the delta method, V_std = J V J' with V the fit's covariance of θ and
J = ∂(standardized cells)/∂θ' computed by **complex-step differentiation**
(Squire & Trapp 1998): J[:, k] = Im f(θ + i h e_k) / h with h = 1e-20, exact to machine
precision because the map θ → standardized cells is analytic (no subtraction of nearby
values). lavaan 0.6-14 tries the complex step too but falls back to forward differences;
its SEs agree with ours to the accuracy of those differences.

Which cells are reported: Λ cells that are free or fixed non-zero (both levels), free or
fixed non-zero β cells, and the lower triangle (diagonal included) of Ψ and Θ where the
block's covariance is not identically zero at the estimates, then ν (between level; std.lv
leaves it unscaled, std.all divides by √Σ_B,kk). Cells that depend on a parameter held on a
bound (a Heywood case, whose variance is undefined) get SE NaN.

NumPy only; imports ``spec/`` and the pure ``ml/lavaan_outputs``, never PyTensor or PyMC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pm_mlvm._distributions import norm_sf
from pm_mlvm.errors import check_choice
from pm_mlvm.ml.lavaan_outputs import STANDARDIZATIONS, standardize
from pm_mlvm.spec.layout import BLOCKS, LEVELS, level_block, matrix_name
from pm_mlvm.spec.mlvm import MLVMSpec, compose_moments
from pm_mlvm.spec.structures import NUMPY_BACKEND

__all__ = ["STANDARDIZATIONS", "COMPLEX_STEP", "complex_matrices", "standardized_cells",
           "standardized_values", "complex_step_jacobian", "standardized_solution"]

#: the imaginary step of the complex-step derivative
COMPLEX_STEP = 1e-20


def complex_matrices(spec: MLVMSpec, theta) -> dict:
    """name → full matrix at θ, keeping θ's dtype (complex θ gives complex matrices).

    The same filling as :meth:`MLVMSpec.unpack` (free cells in column-major order, mirrored
    cells of symmetric matrices), without its cast to float.
    """
    theta = np.asarray(theta)
    dtype = np.result_type(float, theta.dtype)
    out = {}
    for name, mat in spec.matrices.items():
        full = np.array(mat.fixed, dtype=dtype)
        rows, cols = mat.free_cells
        values = theta[spec.offsets[name]]
        full[rows, cols] = values
        if mat.mirrored:
            full[cols, rows] = values
        out[name] = full
    return out


def _standardized_matrices(spec: MLVMSpec, theta, kind: str) -> dict:
    mats = complex_matrices(spec, theta)
    blocks = compose_moments(spec, mats, NUMPY_BACKEND)["blocks"]
    inputs = {"lambda": mats["lambda"], "nu": mats["nu"][:, 0]}
    for block in BLOCKS:
        inputs[matrix_name("sigma", block)] = blocks[block]
    for level in LEVELS:
        beta = matrix_name("beta", level)
        if not spec.matrices[beta].is_zero:
            inputs[beta] = mats[beta]
    return standardize(inputs, kind)


def standardized_cells(spec: MLVMSpec, theta) -> list[tuple[str, str, int, int]]:
    """The reported cells as (matrix, level, row position, column position), in table order
    (see the module docstring; chosen at the real estimates θ)."""
    theta = np.asarray(theta, dtype=float)
    mats = spec.unpack(theta)
    blocks = spec.implied(theta)["blocks"]
    cells = []

    def pattern(name):
        mat = spec.matrices[name]
        return mat.free | (mat.fixed != 0)

    for level in LEVELS:
        for name in ("lambda", matrix_name("beta", level)):
            cols, rows = np.nonzero(pattern(name).T)          # column-major, as θ
            cells += [(name, level, int(r), int(c)) for r, c in zip(rows, cols)]
        for latent in (True, False):
            block = level_block(level, latent)
            sigma = blocks[block]
            mask = np.tril(sigma != 0)
            cols, rows = np.nonzero(mask.T)
            cells += [(matrix_name("sigma", block), level, int(r), int(c))
                      for r, c in zip(rows, cols)]
    cells += [("nu", "between", r, 0) for r in range(mats["nu"].shape[0])]
    return cells


def standardized_values(spec: MLVMSpec, theta, kind: str, cells) -> np.ndarray:
    """The standardized values of ``cells`` at θ (real or complex θ)."""
    std = _standardized_matrices(spec, theta, kind)
    out = []
    for name, level, r, c in cells:
        if name == "nu":
            out.append(std["nu"][r])
        else:   # the shared Λ is standardized per level; β and Σ blocks keep their names
            out.append(std[f"lambda_{level}" if name == "lambda" else name][r, c])
    return np.array(out)


def complex_step_jacobian(func, theta, step: float = COMPLEX_STEP) -> np.ndarray:
    """J[i, k] = ∂f_i/∂θ_k by the complex step Im f(θ + i·step·e_k) / step.

    ``func`` must be analytic (built from +, −, ×, ÷, inverses, square roots of positive
    numbers; no ``abs``, conjugates or comparisons on its argument).

    Examples
    --------
    >>> complex_step_jacobian(lambda t: np.array([t[0] ** 2 * t[1]]), np.array([3.0, 2.0]))
    array([[12.,  9.]])
    """
    theta = np.asarray(theta, dtype=float)
    columns = []
    for k in range(theta.size):
        shifted = theta.astype(complex)
        shifted[k] += 1j * step
        columns.append(np.imag(func(shifted)) / step)
    return np.column_stack(columns) if columns else np.zeros((0, 0))


def standardized_solution(spec: MLVMSpec, theta, vcov, kind: str = "std.all") -> pd.DataFrame:
    """The standardized solution with delta-method SEs.

    Parameters
    ----------
    spec : MLVMSpec
    theta : array_like
        Estimates (spec order).
    vcov : array_like
        Their covariance matrix (NaN rows/columns for parameters held on a bound).
    kind : {"std.all", "std.lv"}

    Returns
    -------
    pandas.DataFrame
        matrix, row, col, level, est_std, se, z, pvalue — one row per reported cell.
    """
    check_choice("kind", kind, STANDARDIZATIONS)
    theta = np.asarray(theta, dtype=float)
    vcov = np.asarray(vcov, dtype=float)
    cells = standardized_cells(spec, theta)
    est = np.real(standardized_values(spec, theta, kind, cells))
    jac = complex_step_jacobian(lambda t: standardized_values(spec, t, kind, cells), theta)
    undefined = ~np.isfinite(np.diag(vcov)) if vcov.size else np.zeros(0, bool)
    cov = np.where(np.isfinite(vcov), vcov, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.einsum("ik,kl,il->i", jac, cov, jac) if theta.size else np.zeros(len(cells))
        se = np.sqrt(np.where(var < 0, np.nan, var))
        se[np.any(jac[:, undefined] != 0, axis=1) if undefined.any() else False] = np.nan
        se[~np.isfinite(est)] = np.nan
        z = est / se
    z[se == 0] = np.nan
    rows, cols = [], []
    for name, _, r, c in cells:
        row_names, col_names = spec.matrix_labels(name)
        rows.append(row_names[r])
        cols.append("" if col_names is None else col_names[c])
    return pd.DataFrame({
        "matrix": [cell[0] for cell in cells], "row": rows, "col": cols,
        "level": [cell[1] for cell in cells], "est_std": est, "se": se, "z": z,
        "pvalue": 2 * norm_sf(np.abs(z)),
    })
