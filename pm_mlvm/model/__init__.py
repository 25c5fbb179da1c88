"""PyMC glue: the two-level likelihood as a building block of any ``pm.Model``."""

from pm_mlvm.model.distribution import TwoLevelData, TwoLevelNormal

__all__ = ["TwoLevelNormal", "TwoLevelData"]
