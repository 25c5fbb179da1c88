"""Our ML fits of the lavaan ``extras`` cases (tests/reference/lavaan/extras), shared by the
standardized-solution, ICC and factor-score tests. The data are read by path from the CSV each
JSON was made from."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pandas as pd

import pm_mlvm as pmv

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = ROOT / "tests" / "reference" / "lavaan" / "extras"
#: the complete-data cases: seed example, lavaan's Demo.twolevel, unbalanced with singletons
CASES = ["seed_example", "demo_twolevel", "cfa_unbalanced"]
LEVEL = {1: "within", 2: "between"}


@lru_cache(maxsize=None)
def reference(case: str) -> dict:
    return json.loads((EXTRAS / f"{case}.json").read_text())


@lru_cache(maxsize=None)
def data(case: str) -> pd.DataFrame:
    return pd.read_csv(ROOT / reference(case)["data_file"])


@lru_cache(maxsize=None)
def model(case: str):
    ref = reference(case)
    return pmv.ml_lvm(data(case), lambda_=ref["lambda"], clusters="cluster")


@lru_cache(maxsize=None)
def fit(case: str, se: str = "standard"):
    """lavaan's defaults: observed information (ML), or MLR's sandwich (``se="robust"``)."""
    return model(case).fit(information="observed", se=se)


def our_cell(ref: dict, row: dict):
    """(matrix, row, col, level) of our standardized table for a lavaan
    standardizedSolution row, or None for rows fixed at 0 in both programs (latent means,
    within intercepts)."""
    vars_, factors = ref["vars"], list(ref["lambda"])
    level = LEVEL[row["level"]]
    lhs, op, rhs = row["lhs"], row["op"], row["rhs"]
    if op == "=~":
        return ("lambda", rhs, lhs, level)
    if op == "~~":
        latent = lhs in factors
        names = factors if latent else vars_
        first, second = sorted([lhs, rhs], key=names.index)
        block = "zeta" if latent else "epsilon"
        return (f"sigma_{block}_{level}", second, first, level)     # lower triangle
    if op == "~1" and lhs in vars_ and level == "between":
        return ("nu", lhs, "", "between")
    return None
