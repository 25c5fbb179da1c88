"""Data → sufficient statistics (the only layer that touches raw data); simulation."""

from pm_mlvm.stats.simulate import load_seed_example, simulate_seed_design, simulate_twolevel
from pm_mlvm.stats.twolevel import RowStats, SizeStats, TwoLevelStats

__all__ = ["RowStats", "SizeStats", "TwoLevelStats", "load_seed_example",
           "simulate_seed_design", "simulate_twolevel"]
