"""PyTensor layer: the two-level likelihood Ops (wrapping ``likelihood/``) and a reference graph."""

from pm_mlvm.graph.ops import (
    TwoLevelClusterLogLik,
    TwoLevelLogLik,
    TwoLevelLogLikWeightedGrad,
    data_inputs,
    loglik,
    loglik_per_cluster,
)

__all__ = [
    "TwoLevelClusterLogLik",
    "TwoLevelLogLik",
    "TwoLevelLogLikWeightedGrad",
    "data_inputs",
    "loglik",
    "loglik_per_cluster",
]
