"""pm_mlvm: two-level (multilevel) latent variable and network models for PyMC.

The statistics and NumPy likelihood load without PyMC; PyMC-facing names import it on first
use.
"""

from __future__ import annotations

from pm_mlvm.errors import MLVMInputError, MLVMWarning
from pm_mlvm.stats import (
    RowStats,
    SizeStats,
    TwoLevelStats,
    load_seed_example,
    simulate_seed_design,
    simulate_twolevel,
)

__version__ = "0.1.0.dev0"

_LAZY = {
    "ml_lvm": "pm_mlvm.api",
    "ml_lnm": "pm_mlvm.api",
    "ml_rnm": "pm_mlvm.api",
    "ml_lrnm": "pm_mlvm.api",
    "MLVM": "pm_mlvm.api",
    "GroupMLVM": "pm_mlvm.api",
    "compare": "pm_mlvm.ml.compare",
    "plot_network": "pm_mlvm.report.plots",
    "ppp": "pm_mlvm.bayes.checks",
    "edge_table": "pm_mlvm.bayes.checks",
    "plot_parameters": "pm_mlvm.report.plots",
    "plot_path": "pm_mlvm.report.path",
    "twolevel_loglik": "pm_mlvm.likelihood.evaluate",
    "twolevel_loglik_grad": "pm_mlvm.likelihood.evaluate",
    "twolevel_loglik_per_cluster": "pm_mlvm.likelihood.evaluate",
    "TwoLevelNormal": "pm_mlvm.model.distribution",
    "TwoLevelData": "pm_mlvm.model.distribution",
}

__all__ = ["MLVMInputError", "MLVMWarning", "RowStats", "SizeStats", "TwoLevelStats",
           "load_seed_example", "simulate_seed_design", "simulate_twolevel", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pm_mlvm' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
