"""One identity per parameter: :class:`ParamId`, and the typed records that use it.

A parameter is addressed by ``(matrix, row, col[, group])`` with *labels*, never positions:
``ParamId("lambda", "y2", "F1")``. The identity runs from the specification (its θ order,
:attr:`~pm_mlvm.spec.mlvm.MLVMSpec.param_ids`) through results, modification-index tables and
search histories, as lavaan's parameter table does.

Invariants

* cells of mirrored (symmetric / off-diagonal) matrices are named in their lower triangle:
  the row label is the later variable in the matrix's order (``MLVMSpec.param_id`` makes the
  canonical form, ``MLVMSpec.index_of`` accepts either triangle);
* vectors (``nu``) have ``col == ""``;
* ``group`` is ``None`` for single-group models (reserved for several groups).

:class:`SpecEdit` records one change a specification went through (``MLVMSpec.edits``);
:class:`SearchStep` records one step of a model search (prune / stepup) in terms of
:class:`ParamId`, so search histories are typed values instead of dicts.
"""

from __future__ import annotations

from dataclasses import dataclass

from pm_mlvm.errors import MLVMInputError

__all__ = ["ParamId", "SpecEdit", "SearchStep", "EDIT_ACTIONS", "SEARCH_KINDS"]

EDIT_ACTIONS = ("free", "fix")
SEARCH_KINDS = ("prune", "stepup")


@dataclass(frozen=True, order=True)
class ParamId:
    """The identity of one matrix cell: matrix name, row and column labels, group.

    Examples
    --------
    >>> ParamId("lambda", "y2", "F1")
    ParamId(matrix='lambda', row='y2', col='F1', group=None)
    >>> str(ParamId("nu", "y1", ""))
    'nu[y1]'
    """

    matrix: str
    row: str
    col: str = ""
    group: str | None = None

    def __str__(self) -> str:
        cell = self.row if self.col == "" else f"{self.row},{self.col}"
        prefix = "" if self.group is None else f"{self.group}:"
        return f"{prefix}{self.matrix}[{cell}]"


@dataclass(frozen=True)
class SpecEdit:
    """One recorded change of a specification: a cell freed, or fixed at ``value``.

    ``value`` is the fixed value for ``"fix"`` (0.0 for ``"free"``).
    """

    action: str
    param: ParamId
    value: float = 0.0

    def __post_init__(self):
        if self.action not in EDIT_ACTIONS:
            raise MLVMInputError(f"SpecEdit action={self.action!r}; valid: {EDIT_ACTIONS}")


@dataclass(frozen=True)
class SearchStep:
    """One step of a model search.

    Attributes
    ----------
    kind : ``"prune"`` (cells fixed to zero) or ``"stepup"`` (a cell freed)
    params : the cells the step changed
    statistic : the step's test statistic (largest removed p-value's z², the MI, …)
    pvalue : the p-value the decision used (after adjustment for prune)
    lr : likelihood-ratio statistic of the refit against the previous model, if computed
    alpha, adjust, criterion : the settings the step used
    """

    kind: str
    params: tuple[ParamId, ...]
    statistic: float = float("nan")
    pvalue: float = float("nan")
    lr: float = float("nan")
    alpha: float = float("nan")
    adjust: str | None = None
    criterion: str | None = None

    def __post_init__(self):
        if self.kind not in SEARCH_KINDS:
            raise MLVMInputError(f"SearchStep kind={self.kind!r}; valid: {SEARCH_KINDS}")
        object.__setattr__(self, "params", tuple(self.params))
