"""Symbolic implied moments of an MLVMSpec.

All parameter matrices come from the flat parameter vector θ in one affine map,
``cells = A θ + b`` (A a constant 0/1 matrix, b the fixed values; mirrored cells of symmetric
matrices map to the same θ entry), then are reshaped: a handful of graph nodes instead of a
``set_subtensor`` per matrix, which keeps compile times short. (μ, Σ_W, Σ_B) follow through
:func:`pm_mlvm.spec.mlvm.compose_moments` with a PyTensor backend.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytensor.tensor as pt

from pm_mlvm.spec.mlvm import MLVMSpec, compose_moments

__all__ = ["PYTENSOR_BACKEND", "cell_map", "symbolic_matrices", "symbolic_moments"]


class _PytensorBackend:
    @staticmethod
    def inv(x):
        return pt.linalg.inv(x)

    @staticmethod
    def eye(n):
        return pt.eye(n)


PYTENSOR_BACKEND = _PytensorBackend()


def cell_map(spec: MLVMSpec):
    """(A, b, layout): every matrix cell = A @ θ + b; layout = name → (start, shape)."""
    return _cell_map(spec.structure_key(), spec)


@lru_cache(maxsize=64)
def _cell_map(_key, spec):
    layout, blocks_a, blocks_b, start = {}, [], [], 0
    for name, mat in spec.matrices.items():
        r, c = mat.shape
        a = np.zeros((r * c, spec.npar))
        rows, cols = mat.free_cells
        pars = np.arange(spec.offsets[name].start, spec.offsets[name].stop)
        a[rows * c + cols, pars] = 1.0
        if mat.mirrored:
            a[cols * c + rows, pars] = 1.0
        blocks_a.append(a)
        blocks_b.append(np.asarray(mat.fixed, dtype=float).reshape(-1))
        layout[name] = (start, (r, c))
        start += r * c
    return np.vstack(blocks_a), np.concatenate(blocks_b), layout


def symbolic_matrices(spec: MLVMSpec, theta) -> dict:
    """name → symbolic full matrix, from the symbolic θ vector."""
    a, b, layout = cell_map(spec)
    cells = pt.dot(pt.constant(a), theta) + pt.constant(b) if spec.npar else pt.constant(b)
    return {name: cells[s : s + shape[0] * shape[1]].reshape(shape)
            for name, (s, shape) in layout.items()}


def symbolic_moments(spec: MLVMSpec, theta) -> dict:
    """μ, Σ_W, Σ_B, block covariances and the parameter matrices (``"matrices"``) at θ."""
    mats = symbolic_matrices(spec, theta)
    out = compose_moments(spec, mats, PYTENSOR_BACKEND)
    out["matrices"] = mats
    return out
