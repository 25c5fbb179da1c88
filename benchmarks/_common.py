"""Shared set-up of the benchmark scripts: the seed example's design and lavaan model."""

from __future__ import annotations

import numpy as np

LAM = np.zeros((6, 2))
LAM[:3, 0] = LAM[3:, 1] = [1.0, 0.8, 0.6]
SIGMA_W = LAM @ LAM.T + 0.5 * np.eye(6)
SIGMA_B = LAM @ (0.5 * np.eye(2)) @ LAM.T + 0.3 * np.eye(6)
TWO = {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]}
LAVAAN_MODEL = """level: 1
  F1 =~ y1 + a2*y2 + a3*y3
  F2 =~ y4 + a5*y5 + a6*y6
level: 2
  F1 =~ y1 + a2*y2 + a3*y3
  F2 =~ y4 + a5*y5 + a6*y6
"""
