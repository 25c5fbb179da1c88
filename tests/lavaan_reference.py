"""Read the committed lavaan reference cases (tests/reference/lavaan) and map lavaan's
parameter rows onto pm_mlvm's (matrix, row, col)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

REF_DIR = Path(__file__).parent / "reference" / "lavaan"

LAMBDAS = {
    "cfa_balanced": {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]},
    "cfa_unbalanced": {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]},
    "sem_regression": {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]},
    "cfa_p9q3": {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"], "F3": ["y7", "y8", "y9"]},
    "cfa_onefactor_misspecified": {"F1": ["y1", "y2", "y3", "y4", "y5", "y6"]},
    "missing_mcar_balanced": {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]},
    "missing_mar_unbalanced": {"F1": ["y1", "y2", "y3"], "F2": ["y4", "y5", "y6"]},
}
EXTRA = {"sem_regression": dict(beta_within=np.array([[0, 0], [1, 0]]),
                                beta_between=np.array([[0, 0], [1, 0]]))}
COMPLETE_CASES = ["cfa_balanced", "cfa_unbalanced", "cfa_p9q3", "sem_regression",
                  "cfa_onefactor_misspecified"]
MISSING_CASES = ["missing_mcar_balanced", "missing_mar_unbalanced"]


def load_case(case: str):
    ref = json.loads((REF_DIR / f"{case}.json").read_text())
    data = pd.read_csv(REF_DIR / ref["data_file"])
    return ref, data


def lavaan_parameters(ref: dict, latents) -> pd.DataFrame:
    """lavaan's free parameters as (matrix, row, col) rows with est, se, se_expected."""
    latents = set(latents)
    rows = []
    for prm in ref["parameters"]:
        if not prm["free"]:
            continue
        level = "within" if prm["level"] == 1 else "between"
        lhs, op, rhs = prm["lhs"], prm["op"], prm["rhs"]
        if op == "=~":
            if level == "between":  # equal to the within loading by constraint
                continue
            key = ("lambda", rhs, lhs)
        elif op == "~1":
            key = ("nu", lhs, "")
        elif op == "~":
            key = (f"beta_{level}", lhs, rhs)
        elif op == "~~":
            block = "zeta" if lhs in latents else "epsilon"
            a, b = sorted([lhs, rhs], key=lambda v: _order(v))
            key = (f"sigma_{block}_{level}", b, a)
        else:
            continue
        rows.append(dict(matrix=key[0], row=key[1], col=key[2], est=prm["est"], se=prm["se"],
                         se_expected=prm["se_expected"]))
    return pd.DataFrame(rows)


def _order(name: str):
    digits = "".join(ch for ch in name if ch.isdigit())
    return (name.rstrip("0123456789"), int(digits) if digits else 0)
