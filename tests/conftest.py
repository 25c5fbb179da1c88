import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest


@pytest.fixture
def rng():
    """One seeded generator per test."""
    return np.random.default_rng(20261128)
