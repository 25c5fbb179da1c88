"""Symbolic implied moments of an MLVMSpec: parameter matrices from free values, then
(μ, Σ_W, Σ_B) through :func:`pm_mlvm.spec.mlvm.compose_moments` with a PyTensor backend."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from pm_mlvm.spec.matrices import MatrixSpec
from pm_mlvm.spec.mlvm import MLVMSpec, compose_moments

__all__ = ["PYTENSOR_BACKEND", "fill_matrix", "symbolic_moments"]


class _PytensorBackend:
    @staticmethod
    def inv(x):
        return pt.linalg.inv(x)

    @staticmethod
    def eye(n):
        return pt.eye(n)


PYTENSOR_BACKEND = _PytensorBackend()


def fill_matrix(mat: MatrixSpec, free_values):
    """Symbolic full matrix: fixed values with the free cells set to ``free_values``."""
    base = pt.constant(np.asarray(mat.fixed, dtype=float))
    if mat.n_free == 0:
        return base
    rows, cols = mat.free_cells
    out = pt.set_subtensor(base[rows, cols], free_values)
    if mat.mirrored:
        out = pt.set_subtensor(out[cols, rows], free_values)
    return out


def symbolic_moments(spec: MLVMSpec, free_values: dict) -> dict:
    """``free_values``: matrix name → symbolic vector of its free cells (column-major)."""
    mats = {name: fill_matrix(mat, free_values.get(name)) for name, mat in spec.matrices.items()}
    out = compose_moments(spec, mats, PYTENSOR_BACKEND)
    out["matrices"] = mats
    return out
