"""PyTensor layer: the two-level likelihood Ops (wrapping ``likelihood/``) and a reference graph.

Importing the package registers the Ops' Numba and JAX implementations
(:mod:`pm_mlvm.graph.backends`).
"""

from pm_mlvm.graph.ops import (
    TwoLevelClusterLogLik,
    TwoLevelGradPerCluster,
    TwoLevelLogLik,
    TwoLevelLogLikHVP,
    TwoLevelLogLikWeightedGrad,
    data_inputs,
    loglik,
    loglik_per_cluster,
)
from pm_mlvm.graph import backends  # noqa: F401  (registers the Numba / JAX implementations)

__all__ = [
    "TwoLevelClusterLogLik",
    "TwoLevelGradPerCluster",
    "TwoLevelLogLik",
    "TwoLevelLogLikHVP",
    "TwoLevelLogLikWeightedGrad",
    "data_inputs",
    "loglik",
    "loglik_per_cluster",
]
