"""Symbolic implied moments of an MLVMSpec.

All parameter matrices come from the flat parameter vector θ in one affine map,
``cells = A θ + b`` (:func:`pm_mlvm.spec.moments.cell_map`, shared with the NumPy path), then
are reshaped: a handful of graph nodes instead of a
``set_subtensor`` per matrix, which keeps compile times short. (μ, Σ_W, Σ_B) follow through
:func:`pm_mlvm.spec.mlvm.compose_moments` with a PyTensor backend.
"""

from __future__ import annotations

import pytensor.tensor as pt

from pm_mlvm.spec.mlvm import MLVMSpec, compose_moments
from pm_mlvm.spec.moments import cell_map, split_cells
from pm_mlvm.spec.structures import MatrixBackend

__all__ = ["PYTENSOR_BACKEND", "cell_map", "symbolic_matrices", "symbolic_moments"]


PYTENSOR_BACKEND = MatrixBackend(pt.linalg.inv, pt.eye)


def symbolic_matrices(spec: MLVMSpec, theta) -> dict:
    """name → symbolic full matrix, from the symbolic θ vector."""
    a, b, layout = cell_map(spec)
    cells = pt.dot(pt.constant(a), theta) + pt.constant(b) if spec.npar else pt.constant(b)
    return split_cells(cells, layout)


def symbolic_moments(spec: MLVMSpec, theta) -> dict:
    """μ, Σ_W, Σ_B, block covariances and the parameter matrices (``"matrices"``) at θ."""
    mats = symbolic_matrices(spec, theta)
    out = compose_moments(spec, mats, PYTENSOR_BACKEND)
    out["matrices"] = mats
    return out
