"""Data → sufficient statistics (the only layer that touches raw data); simulation."""

from pm_mlvm.stats.simulate import load_seed_example, simulate_seed_design, simulate_twolevel
from pm_mlvm.stats.twolevel import MissingPatterns, TwoLevelStats

__all__ = ["MissingPatterns", "TwoLevelStats", "load_seed_example", "simulate_seed_design",
           "simulate_twolevel"]
