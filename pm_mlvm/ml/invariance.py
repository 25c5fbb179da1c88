"""Measurement invariance across groups: configural → metric → scalar → strict.

Each step adds equality constraints to the previous one (psychonetrics' ``equal=`` names):

=============  ==========================================================================
configural     the same pattern in every group, nothing equal
metric         + loadings ``lambda`` (both levels: Λ is shared by the levels)
scalar         + intercepts ``nu`` (the latent means ν_η are then free after group 1)
strict         + the residual (co)variance matrices of both levels
=============  ==========================================================================

The table is :func:`pm_mlvm.ml.compare.compare` of the fits (χ² difference test of each
step against the one before) with ΔCFI and ΔRMSEA added. A failed step is traced with the
equality modification indices of its fit (``fits["scalar"].modification_indices()`` rows of
``kind == "equality"``) and relaxed with ``group_free``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.ml.compare import compare
from pm_mlvm.ml.groups import GroupFitter
from pm_mlvm.spec.groups import build_group_spec
from pm_mlvm.spec.layout import BLOCKS
from pm_mlvm.spec.mlvm import MLVMSpec

__all__ = ["STEPS", "InvarianceResult", "invariance_constraints", "measurement_invariance"]

STEPS = ("configural", "metric", "scalar", "strict")


def invariance_constraints(spec: MLVMSpec, step: str) -> tuple[str, ...]:
    """The matrices equal across groups at ``step`` (cumulative)."""
    if step not in STEPS:
        raise MLVMInputError(f"step={step!r} is not valid; valid: {list(STEPS)}")
    level = STEPS.index(step)
    equal = []
    if level >= 1:
        equal.append("lambda")
    if level >= 2:
        equal.append("nu")
    if level >= 3:
        equal += [m.name for block, info in BLOCKS.items() if not info.latent
                  for m in spec.block_matrices(block).values() if m.n_free]
    return tuple(equal)


@dataclass(frozen=True)
class InvarianceResult:
    """``fits``: step → :class:`~pm_mlvm.ml.group_result.GroupResult`; ``table``: one row
    per step (npar, df, logl, AIC, BIC, χ², CFI, RMSEA; χ² difference, its df and p-value
    against the previous step; ``delta_cfi``, ``delta_rmsea``)."""

    fits: dict
    table: pd.DataFrame

    def __repr__(self) -> str:
        return "InvarianceResult\n" + self.table.to_string()


def measurement_invariance(base: MLVMSpec, labels, fitter: GroupFitter,
                           steps=STEPS) -> InvarianceResult:
    """Fit the steps (a prefix of :data:`STEPS` or any subset, in order) and compare them."""
    if isinstance(steps, str):
        steps = (steps,)
    steps = tuple(steps)
    for step in steps:
        invariance_constraints(base, step)  # validates
    if len(steps) < 2:
        raise MLVMInputError(f"steps={list(steps)!r}: give at least two steps to compare")
    steps = tuple(sorted(steps, key=STEPS.index))
    fits, previous = {}, None
    for step in steps:
        gspec = build_group_spec(base, labels, equal=invariance_constraints(base, step))
        fits[step] = fitter.fit(gspec) if previous is None else fitter.refit(previous, gspec)
        previous = fits[step]
    table = compare(*fits.values(), names=list(fits))
    table = table.loc[list(steps)]
    table["delta_cfi"] = table["cfi"].diff()
    table["delta_rmsea"] = table["rmsea_n"].diff()
    return InvarianceResult(fits, table)
