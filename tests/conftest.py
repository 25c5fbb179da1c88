"""Shared fixtures, hypothesis profiles and the property-test count printed at the end.

Hypothesis profiles: "ci" (default; deterministic, enough examples that the default run
executes over 2,000 generated cases across ``tests/properties``) and "slow" (10× more; used by
the ``slow``-marked twins of the property tests, or for every property test with
``--hypothesis-profile=slow``).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

CI_EXAMPLES = 150

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=CI_EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("slow", parent=settings.get_profile("ci"),
                          max_examples=10 * CI_EXAMPLES)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_PROPERTY_CASES = "hypothesis_cases"
_TOTAL = {"cases": 0, "tests": 0}


@pytest.fixture
def rng():
    """One seeded generator per test."""
    return np.random.default_rng(20261128)


@pytest.fixture(autouse=True)
def _count_property_cases(request):
    """Record how many generated cases a property test executed (works under xdist: the
    count travels to the controller in the report's user_properties)."""
    if "tests/properties/" not in request.node.nodeid.replace("\\", "/"):
        yield
        return
    from tests.properties._support import CASES

    before = CASES["n"]
    yield
    request.node.user_properties.append((_PROPERTY_CASES, CASES["n"] - before))


def pytest_runtest_logreport(report):
    if report.when != "teardown":  # the fixture records its count while tearing down
        return
    for key, value in report.user_properties:
        if key == _PROPERTY_CASES:
            _TOTAL["cases"] += value
            _TOTAL["tests"] += 1


def pytest_terminal_summary(terminalreporter, config):
    if _TOTAL["tests"]:
        profile = (config.getoption("hypothesis_profile", None)
                   or os.environ.get("HYPOTHESIS_PROFILE", "ci"))
        terminalreporter.write_line(
            f"property tests: {_TOTAL['cases']} generated cases in {_TOTAL['tests']} tests "
            f"(hypothesis profile {profile!r}; slow twins use 'slow')"
        )
