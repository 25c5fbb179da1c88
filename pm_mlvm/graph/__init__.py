"""PyTensor layer: the two-level likelihood Ops, their kernels and a reference graph."""

from pm_mlvm.graph.evaluate import (
    twolevel_loglik,
    twolevel_loglik_grad,
    twolevel_loglik_per_cluster,
)
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
    "twolevel_loglik",
    "twolevel_loglik_grad",
    "twolevel_loglik_per_cluster",
]
