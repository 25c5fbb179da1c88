"""lavaan model syntax → the arguments of :func:`pm_mlvm.ml_lvm`.

Two steps, both pure Python:

1. :func:`parse_model` reads the text into :class:`Statement` objects, one per
   (left-hand side, operator, right-hand side term), each carrying its line number, the text
   of its formula and its level block (``None`` in the one-block form). It handles comments
   (``#`` and ``!``), several formulas per line (``;``), formulas continued on the next line
   (a line ending in, or starting with, ``+`` or ``*``, or ending in an operator), ``+``
   lists on both sides and the modifiers ``2*y`` (fixed), ``NA*y`` (free), ``a*y`` and
   ``label("a")*y`` (labels) and ``start(0.5)*y`` (ignored with an ``MLVMWarning``: the
   optimum does not depend on it).
2. :func:`model_arguments` maps the statements onto the family of
   ``y_ij = ν + Λ(η^B_j + η^W_ij) + ε^B_j + ε^W_ij`` with one Λ shared by both levels:
   ``=~`` gives ``lambda_`` (factors and indicators in the user's order; the first listed
   indicator is the marker under ``identification="loadings"``), ``~`` between latents gives
   ``beta_within`` / ``beta_between``, ``~~`` between latents / between observed variables
   gives ``sigma_zeta_*`` / ``sigma_epsilon_*`` patterns (starting from lavaan's defaults:
   exogenous latents covary, residuals are uncorrelated), fixed values give ``fix=`` entries
   and ``y ~ 1`` is accepted as the (already free) intercept.

The one-block form applies every statement to both levels. In the two-level form
(``level: 1`` / ``level: 2``, or ``level: within`` / ``level: between``) both blocks must give
the same factors with the same indicators and the same first (marker) indicator, and each
loading must carry the same modifier on both levels: the same label (what lavaan users write
to make the loadings equal across levels), the same fixed value, or no label on either level
(read as the shared loading the family has; lavaan would estimate two loadings then).
Regressions and (co)variances may differ between the levels.

What does not map raises :class:`~pm_mlvm.errors.MLVMInputError` naming the line and its
text: different loadings per level, a variable on one level only, labels that equate
parameters other than one loading across levels, regressions involving observed variables,
latent means (``F ~ 1``), second-order factors, the operators ``:=``, ``==``, ``<``, ``>``,
``<~``, ``~*~``, ``|``, per-group ``c(...)`` modifiers, and covariance changes on a block
whose structure is not ``"cov"`` (a network's zeros are partial correlations, not
covariances). Reference: Rosseel (2012), lavaan's model syntax; the two-level form follows
Rosseel (2021), "Evaluating the observed log-likelihood function in two-level SEM".
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import pandas as pd

from pm_mlvm.errors import MLVMInputError, MLVMWarning

__all__ = ["Term", "Statement", "parse_model", "model_arguments", "syntax_arguments"]

LEVELS = {"1": "within", "within": "within", "2": "between", "between": "between"}
SUPPORTED_OPERATORS = ("=~", "~", "~~")
_OPERATOR = re.compile(r"~\*~|=~|~~|<~|:=|==|~|<|>|\|")
_REFUSED = {
    ":=": "defined parameters (:=) are not supported",
    "==": "equality constraints (==) are not supported",
    "<": "inequality constraints (<) are not supported",
    ">": "inequality constraints (>) are not supported",
    "<~": "formative (composite) indicators (<~) are not supported",
    "~*~": "scaling factors (~*~) are for categorical indicators, which are on the roadmap",
    "|": "thresholds (|) are for categorical indicators, which are on the roadmap",
}
_TOKEN = re.compile(r"""\s*(?:
    (?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)
  | (?P<name>[A-Za-z_.][A-Za-z0-9_.]*)
  | (?P<str>"[^"]*"|'[^']*')
  | (?P<sym>[-+*(),])
)""", re.VERBOSE)
_HEADER = re.compile(r"^(level|group|block|class)\s*:\s*(.*)$")
_CONTINUES = ("+", "*", "=~", "~", "~~", ":=", "==", "<", ">", "|", "<~")


# ------------------------------------------------------------------------------ statements
@dataclass(frozen=True)
class Term:
    """One right-hand-side element with its modifiers.

    Attributes
    ----------
    name : variable name, or ``"1"`` for an intercept
    value : fixed value (``2*y``), or ``None`` when free
    label : equality label (``a*y``), or ``None``
    free : ``True`` when ``NA*`` frees the parameter explicitly
    """

    name: str
    value: float | None = None
    label: str | None = None
    free: bool = False

    @property
    def plain(self) -> bool:
        """No modifier at all."""
        return self.value is None and self.label is None and not self.free


@dataclass(frozen=True)
class Statement:
    """One parameter of the syntax: ``lhs op rhs`` with where it came from."""

    lhs: str
    op: str
    rhs: Term
    line: int
    text: str
    level: str | None = None

    def fail(self, problem: str, valid: str = "") -> MLVMInputError:
        """The input error for this statement (line number and text first)."""
        where = f"model= line {self.line} ({self.text!r})"
        if self.level is not None:
            where += f" on level {self.level}"
        return MLVMInputError(f"{where}: {problem}" + (f"; {valid}" if valid else ""))


def _line_error(line: int, text: str, problem: str, valid: str = "") -> MLVMInputError:
    return Statement("", "", Term(""), line, text).fail(problem, valid)


def parse_model(model: str) -> tuple[Statement, ...]:
    """Parse lavaan model syntax into statements (no mapping, no data needed).

    Parameters
    ----------
    model : str
        lavaan model syntax, one block or ``level: 1`` / ``level: 2`` blocks.

    Returns
    -------
    tuple of Statement
        In the order written; ``F =~ y1 + y2`` gives two statements.

    Examples
    --------
    >>> [(s.lhs, s.op, s.rhs.name, s.line) for s in parse_model("F =~ y1 + a*y2  # two")]
    [('F', '=~', 'y1', 1), ('F', '=~', 'y2', 1)]
    """
    if not isinstance(model, str):
        raise MLVMInputError(f"model={model!r} must be a string of lavaan model syntax")
    statements = []
    level = None
    seen_levels = []
    for line, text in _formulas(model):
        header = _HEADER.match(text)
        if header:
            kind, value = header.group(1), header.group(2).strip()
            if kind != "level":
                raise _line_error(line, text, f"'{kind}:' blocks are not supported",
                                  "a model has one group; use 'level: 1' / 'level: 2' or one "
                                  "block for both levels")
            if value not in LEVELS:
                raise _line_error(line, text, f"unknown level {value!r}",
                                  "valid: 1, 2, within, between (two levels)")
            level = LEVELS[value]
            if level in seen_levels:
                raise _line_error(line, text, f"the {level} level is given twice")
            if statements and not seen_levels:
                raise _line_error(line, text, "statements before the first 'level:' line",
                                  "put every statement under 'level: 1' or 'level: 2', or "
                                  "write no 'level:' line at all (one block for both levels)")
            seen_levels.append(level)
            continue
        statements.extend(_statements(line, text, level))
    if len(seen_levels) == 1:
        raise MLVMInputError(f"model= has a 'level: {seen_levels[0]}' block only; give both "
                             "'level: 1' and 'level: 2', or no 'level:' line (one block for "
                             "both levels)")
    if not statements:
        raise MLVMInputError("model= has no statement; e.g. model='F =~ y1 + y2 + y3'")
    return tuple(statements)


def _formulas(model: str):
    """(first line number, text) of each formula: comments stripped, ``;`` split, continued
    lines joined."""
    pieces = []
    for number, raw in enumerate(model.splitlines(), start=1):
        code = re.split(r"[#!]", raw, maxsplit=1)[0]
        pieces.extend((number, part.strip()) for part in code.split(";") if part.strip())
    formulas = []
    for number, text in pieces:
        if formulas and (formulas[-1][1].endswith(_CONTINUES) or text.startswith(("+", "*"))):
            formulas[-1] = (formulas[-1][0], f"{formulas[-1][1]} {text}")
        else:
            formulas.append((number, text))
    return formulas


def _statements(line: int, text: str, level: str | None) -> list[Statement]:
    match = _OPERATOR.search(text)
    if match is None:
        raise _line_error(line, text, "no operator",
                          "each formula needs one of " + ", ".join(SUPPORTED_OPERATORS))
    op = match.group(0)
    if op in _REFUSED:
        raise _line_error(line, text, _REFUSED[op],
                          "supported operators: " + ", ".join(SUPPORTED_OPERATORS))
    left, right = text[:match.start()], text[match.end():]
    lhs_terms = _terms(left, line, text)
    rhs_terms = _terms(right, line, text)
    if not lhs_terms or not rhs_terms:
        raise _line_error(line, text, f"'{op}' needs names on both sides")
    out = []
    for term in lhs_terms:
        if not term.plain or term.name == "1":
            raise _line_error(line, text, "the left-hand side takes plain names only")
        for rhs in rhs_terms:
            if rhs.name == "1" and op != "~":
                raise _line_error(line, text, f"'1' (an intercept) only goes with '~', not "
                                              f"'{op}'")
            out.append(Statement(term.name, op, rhs, line, text, level))
    return out


def _tokens(part: str, line: int, text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    part = part.rstrip()
    while pos < len(part):
        match = _TOKEN.match(part, pos)
        if match is None or match.end() == pos:
            raise _line_error(line, text, f"cannot read {part[pos:].strip()!r}",
                              "names, numbers, '+', '*' and the modifiers NA*, label*, "
                              "start(...)* are understood")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _terms(part: str, line: int, text: str) -> list[Term]:
    """Split a side on top-level ``+`` and read each term's ``*`` modifiers."""
    tokens = _tokens(part, line, text)
    if tokens and tokens[-1] == ("sym", "+"):
        raise _line_error(line, text, "the formula ends in '+'", "add the missing term")
    groups, current, depth = [], [], 0
    for kind, value in tokens:
        depth += (value == "(") - (value == ")") if kind == "sym" else 0
        if kind == "sym" and value == "+" and depth == 0 and current:
            groups.append(current)
            current = []
        else:
            current.append((kind, value))
    if current:
        groups.append(current)
    return [_term(group, line, text) for group in groups]


def _term(tokens, line, text) -> Term:
    factors, current, depth = [], [], 0
    for kind, value in tokens:
        if kind == "sym" and value in "()":
            depth += 1 if value == "(" else -1
        if kind == "sym" and value == "*" and depth == 0:
            factors.append(current)
            current = []
        else:
            current.append((kind, value))
    factors.append(current)
    *modifiers, target = factors
    if len(target) != 1 or target[0][0] not in ("name", "num"):
        raise _line_error(line, text, "each term ends in a variable name (or 1 for an "
                                      "intercept)")
    name = target[0][1]
    if target[0][0] == "num":
        if float(name) != 1.0:
            raise _line_error(line, text, f"{name!r} is not a variable name")
        name = "1"
    value, label, free = None, None, False
    for modifier in modifiers:
        kinds = [k for k, _ in modifier]
        values = [v for _, v in modifier]
        if kinds in (["num"], ["sym", "num"]) and values[0] in ("-", "+", values[-1]):
            value = float("".join(values))
        elif kinds == ["name"] and values[0] == "NA":
            free = True
        elif kinds == ["name"]:
            label = values[0]
        elif kinds == ["str"]:
            label = values[0][1:-1]
        elif kinds and kinds[0] == "name" and len(values) > 1 and values[1] == "(":
            func = values[0]
            args = [v for k, v in modifier[2:-1] if k != "sym"]
            if func == "c":
                raise _line_error(line, text, "c(...) gives one value per group",
                                  "a model has one group: give a single value, label or NA")
            if func == "label" and len(args) == 1:
                label = args[0].strip("\"'")
            elif func == "start":
                warnings.warn(f"model= line {line} ({text!r}): start(...) is ignored (the "
                              "maximum does not depend on start values; use fit(start=...))",
                              MLVMWarning, stacklevel=4)
            else:
                raise _line_error(line, text, f"the modifier {func}(...) is not supported",
                                  "modifiers: a number (fixed), NA (free), a label, "
                                  "label('a'), start(...)")
        else:
            raise _line_error(line, text, f"cannot read the modifier {''.join(values)!r}",
                              "modifiers: a number (fixed), NA (free), a label, label('a'), "
                              "start(...)")
    if free and value is not None:
        raise _line_error(line, text, f"{name} is both fixed and free (NA)")
    return Term(name, value, label, free)


# ------------------------------------------------------------------------------ mapping
def model_arguments(model, columns, vars=None, identification="loadings", types=None) -> dict:
    """Map lavaan model syntax onto :func:`pm_mlvm.ml_lvm` arguments.

    Parameters
    ----------
    model : str or sequence of Statement
        lavaan model syntax (or :func:`parse_model`'s output).
    columns : sequence
        The data's variable columns (the cluster column excluded), or a statistics object's
        ``var_names``.
    vars : list, optional
        The user's ``vars=``; it must hold exactly the observed variables of the model.
    identification : {"loadings", "variance"}
        ``"loadings"`` fixes each factor's first listed indicator to 1 (lavaan's default);
        ``"variance"`` (lavaan's ``std.lv = TRUE``) leaves every loading free.
    types : dict, optional
        Block structure types by ``ml_lvm`` argument (``within_latent``, ...); default
        ``"cov"``. A ``~~`` that changes a block's default pattern needs ``"cov"``.

    Returns
    -------
    dict
        ``vars`` (column labels in data order), ``lambda_`` (factor → indicators),
        ``beta_within``, ``beta_between`` (labelled 0/1 DataFrames or ``None``), ``fix``
        (``{(matrix, row, col): value}``) and any ``sigma_zeta_*`` / ``sigma_epsilon_*``
        pattern that differs from the default.

    Examples
    --------
    >>> args = model_arguments("F =~ y1 + y2 + y3", ["y1", "y2", "y3"])
    >>> args["lambda_"], args["vars"]
    ({'F': ['y1', 'y2', 'y3']}, ['y1', 'y2', 'y3'])
    """
    statements = parse_model(model) if isinstance(model, str) else tuple(model)
    types = {"within_latent": "cov", "between_latent": "cov", "within_residual": "cov",
             "between_residual": "cov", **(types or {})}
    two_level = any(s.level is not None for s in statements)
    by_level = {level: [s for s in statements if s.level in (level, None)]
                for level in ("within", "between")}

    latents = _factors(statements)
    if not latents:
        raise MLVMInputError("model= has no '=~' (measurement) statement; the observed-"
                             "variable model is ml_lvm(data, lambda_=None, ...)")
    for s in statements:
        if s.op == "=~" and s.rhs.name in latents:
            raise s.fail(f"the factor {s.rhs.name!r} is an indicator of {s.lhs!r}",
                         "second-order factors are not supported; indicators are observed "
                         "variables")
    if two_level:
        _check_both_levels(by_level, latents)
    observed = _observed(statements, latents, columns, vars)
    loadings = _loadings(by_level, two_level)
    _check_labels(statements, two_level)

    fix = {}
    lambda_ = {}
    for factor, terms in loadings.items():
        lambda_[factor] = [s.rhs.name for s in terms]
        for s in terms:
            if s.rhs.value is not None:
                fix[("lambda", s.rhs.name, factor)] = s.rhs.value
    if identification == "loadings":
        _markers(loadings, observed, fix)

    out = {"vars": [columns_by_name(columns)[v] for v in observed], "lambda_": lambda_}
    names = list(loadings)
    for level in ("within", "between"):
        beta = _regressions(by_level[level], latents, names, level, fix)
        out[f"beta_{level}"] = beta
        beta_mask = (beta.to_numpy() == 1) if beta is not None else None
        _covariances(by_level[level], latents, names, observed, level, beta_mask, types, fix,
                     out)
        _intercepts(by_level[level], latents, level, two_level, fix)
    out["fix"] = fix
    return out


def columns_by_name(columns) -> dict:
    """str(label) → the column label itself (data frames may have non-string labels)."""
    return {str(c): c for c in columns}


def _factors(statements) -> list[str]:
    factors = []
    for s in statements:
        if s.op == "=~" and s.lhs not in factors:
            factors.append(s.lhs)
    return factors


def _observed(statements, latents, columns, vars) -> list[str]:
    """The model's observed variables in the data's column order."""
    available = columns_by_name(columns)
    used = []
    for s in statements:
        for name in (s.lhs, s.rhs.name):
            if name == "1" or name in latents:
                continue
            if name not in available:
                raise s.fail(f"{name!r} is neither a factor (left of '=~') nor a variable of "
                             "the data", f"variables: {list(available)}")
            if name not in used:
                used.append(name)
    ordered = [name for name in available if name in used]
    if vars is not None:
        given = [str(v) for v in vars]
        if set(given) != set(ordered):
            raise MLVMInputError(
                f"the variables {given} (vars=, or those of the statistics) must be exactly "
                f"the observed variables of model=, {ordered}; omit vars to take them from "
                "the model")
    return ordered


def _check_both_levels(by_level, latents) -> None:
    """Every variable and factor of one level appears on the other (no level-only ones)."""
    names = {}
    for level, stmts in by_level.items():
        names[level] = {n for s in stmts for n in (s.lhs, s.rhs.name) if n != "1"}
    for level, other in (("within", "between"), ("between", "within")):
        for s in by_level[level]:
            for name in (s.lhs, s.rhs.name):
                if name != "1" and name not in names[other]:
                    kind = "factor" if name in latents else "variable"
                    raise s.fail(
                        f"the {kind} {name!r} appears on the {level} level only",
                        "level-only variables and level-specific factors are not supported "
                        "(on the roadmap): Λ is shared, so each factor is measured by the same "
                        "indicators on both levels")


def _loadings(by_level, two_level) -> dict:
    """factor → loading statements (one level's; the levels are checked to agree)."""
    per_level = {}
    for level, stmts in by_level.items():
        table = {}
        for s in stmts:
            if s.op != "=~":
                continue
            terms = table.setdefault(s.lhs, [])
            if any(t.rhs.name == s.rhs.name for t in terms):
                raise s.fail(f"{s.rhs.name!r} is listed twice as an indicator of {s.lhs!r}")
            terms.append(s)
        per_level[level] = table
    within, between = per_level["within"], per_level["between"]
    if two_level:
        for level, table, other in (("within", within, between),
                                    ("between", between, within)):
            for factor, terms in table.items():
                if factor not in other:
                    raise terms[0].fail(
                        f"the factor {factor!r} is measured on the {level} level only",
                        "Λ is shared: measure each factor on both levels")
        for factor, terms in between.items():
            other = within[factor]
            first = terms[0]
            if {t.rhs.name for t in terms} != {t.rhs.name for t in other} or \
                    first.rhs.name != other[0].rhs.name:
                raise first.fail(
                    f"{factor!r} has indicators {[t.rhs.name for t in terms]} here but "
                    f"{[t.rhs.name for t in other]} on the within level (line {other[0].line})",
                    "different loadings per level are not supported: Λ is shared, so give "
                    "each factor the same indicators, with the same first (marker), on both "
                    "levels")
            by_name = {t.rhs.name: t for t in other}
            for s in terms:
                w = by_name[s.rhs.name]
                if (s.rhs.value, s.rhs.label, s.rhs.free) != (w.rhs.value, w.rhs.label,
                                                             w.rhs.free):
                    raise s.fail(
                        f"the loading of {s.rhs.name!r} on {factor!r} is written "
                        f"{_show(s.rhs)} here but {_show(w.rhs)} on the within level (line "
                        f"{w.line}): lavaan would estimate different loadings per level",
                        "Λ is shared: give it the same label on both levels (e.g. a2*y2 on "
                        "both), the same fixed value, or no label on either")
    return within


def _show(term: Term) -> str:
    if term.value is not None:
        return f"{term.value:g}*{term.name}"
    if term.label is not None:
        return f"{term.label}*{term.name}"
    return f"NA*{term.name}" if term.free else f"{term.name} (unlabelled)"


def _check_labels(statements, two_level) -> None:
    """A label may join one loading across the levels, nothing else."""
    owner = {}
    for s in statements:
        if s.rhs.label is None:
            continue
        if s.op == "=~":
            identity = ("lambda", s.lhs, s.rhs.name)
        elif s.op == "~" and s.rhs.name == "1":
            identity = ("nu", s.lhs, s.level)
        else:
            identity = (s.op, *sorted((s.lhs, s.rhs.name)), s.level)
        first = owner.setdefault(s.rhs.label, (identity, s))
        if first[0] != identity:
            raise s.fail(
                f"the label {s.rhs.label!r} equates this parameter with line {first[1].line} "
                f"({first[1].text!r})",
                "labels may only make one loading equal across the levels; other equality "
                "constraints are not supported")
        if s.op != "=~" and not two_level:
            raise s.fail(
                f"the label {s.rhs.label!r} would equate the within and the between "
                f"parameter (a one-block statement sets both levels)",
                "equality constraints other than the shared loadings are not supported; use "
                "the 'level: 1' / 'level: 2' form to name level-specific parameters")


def _markers(loadings, observed, fix) -> None:
    """Make each factor's first listed indicator its marker (lavaan's rule).

    ``build_spec`` fixes the first free loading in the variables' order and skips factors
    with a fixed non-zero loading; an explicit ``fix`` entry is added only when that rule
    would pick another indicator, so the common case gives the very spec of the matrix form.
    """
    for factor, terms in loadings.items():
        first = terms[0]
        if first.rhs.value is not None:
            continue
        has_fixed = any(t.rhs.value not in (None, 0.0) for t in terms)
        if first.rhs.free:
            if not has_fixed:
                raise first.fail(
                    f"NA* frees the marker loading of {factor!r} and no other loading of it "
                    "is fixed",
                    "use identification='variance' (lavaan's std.lv=TRUE) or fix another "
                    "loading, e.g. 1*y2")
            continue
        free_rows = [t.rhs.name for t in terms if t.rhs.value is None]
        first_in_order = min(free_rows, key=observed.index)
        if has_fixed or first_in_order != first.rhs.name:
            fix[("lambda", first.rhs.name, factor)] = 1.0


def _regressions(stmts, latents, names, level, fix):
    """q×q 0/1 DataFrame of ``~`` paths on one level (row regressed on column), or None."""
    paths = [s for s in stmts if s.op == "~" and s.rhs.name != "1"]
    if not paths:
        return None
    frame = pd.DataFrame(0, index=names, columns=names)
    for s in paths:
        if s.lhs not in latents or s.rhs.name not in latents:
            which = [n for n in (s.lhs, s.rhs.name) if n not in latents]
            raise s.fail(
                f"a regression involving the observed variable(s) {which}",
                "only regressions among factors (beta_within / beta_between) are supported; "
                "an observed variable can be made a single-indicator factor, F =~ y")
        if s.lhs == s.rhs.name:
            raise s.fail(f"{s.lhs!r} is regressed on itself")
        frame.loc[s.lhs, s.rhs.name] = 1
        if s.rhs.value is not None:
            fix[(f"beta_{level}", s.lhs, s.rhs.name)] = s.rhs.value
    return frame


def _covariances(stmts, latents, names, observed, level, beta_mask, types, fix, out) -> None:
    """``~~`` on one level: latent and residual (co)variance patterns and fixed values."""
    pairs = [s for s in stmts if s.op == "~~"]
    for block, arg, row_names, is_latent in (
            (f"zeta_{level}", f"{level}_latent", names, True),
            (f"epsilon_{level}", f"{level}_residual", observed, False)):
        mine = []
        for s in pairs:
            kinds = {s.lhs in latents, s.rhs.name in latents}
            if len(kinds) == 2:
                raise s.fail("a covariance between a factor and an observed variable",
                             "covariances are between factors or between residuals")
            if kinds == {is_latent}:
                mine.append(s)
        if not mine:
            continue
        n = len(row_names)
        default = _default_pattern(n, is_latent, beta_mask)
        pattern = default.copy()
        name = f"sigma_{block}"
        for s in mine:
            i, j = row_names.index(s.lhs), row_names.index(s.rhs.name)
            if s.rhs.value is not None:
                fix[(name, *_lower(row_names, i, j))] = s.rhs.value
            pattern.iloc[i, j] = pattern.iloc[j, i] = 1
            changed = s.rhs.value is not None or not default.iloc[i, j]
            if changed and types[arg] != "cov":
                raise s.fail(
                    f"this (co)variance changes the {block} block, whose structure is "
                    f"{arg}={types[arg]!r}",
                    f"(co)variance statements need {arg}='cov' (a network's zeros are "
                    "partial correlations); or set its pattern with the psychonetrics "
                    "matrix arguments")
        if not pattern.equals(default):
            pattern.index = pattern.columns = list(row_names)
            out[name] = pattern


def _default_pattern(n, is_latent, beta_mask) -> pd.DataFrame:
    """lavaan's free (co)variances: residuals uncorrelated; latents all covary, or with
    regressions only the exogenous ones (no incoming path)."""
    frame = pd.DataFrame(0, index=range(n), columns=range(n))
    if is_latent:
        exogenous = [True] * n if beta_mask is None else list(~beta_mask.any(axis=1))
        for i in range(n):
            for j in range(n):
                frame.iloc[i, j] = int(i == j or (exogenous[i] and exogenous[j]))
    else:
        for i in range(n):
            frame.iloc[i, i] = 1
    return frame


def _lower(names, i, j) -> tuple[str, str]:
    """(row, col) of a symmetric cell in the lower triangle."""
    return (names[i], names[j]) if i >= j else (names[j], names[i])


def _intercepts(stmts, latents, level, two_level, fix) -> None:
    for s in stmts:
        if s.op != "~" or s.rhs.name != "1":
            continue
        if s.lhs in latents:
            raise s.fail(f"a latent mean ({s.lhs} ~ 1)",
                         "latent intercepts are fixed at 0 in one group (free latent means "
                         "are on the roadmap)")
        if s.rhs.value is None and s.rhs.label is None:
            continue  # ν is free: a no-op
        if two_level and level == "within":
            raise s.fail("a fixed or labelled intercept on the within level",
                         "within-level intercepts are zero in a two-level model; the means "
                         "ν belong to level 2")
        if s.rhs.value is not None:
            fix[("nu", s.lhs)] = s.rhs.value


# ------------------------------------------------------------------------------ ml_lvm glue
def syntax_arguments(model, columns, given: dict, identification="loadings",
                     types=None) -> dict:
    """Merge the arguments of ``model=`` with the ones the user gave :func:`ml_lvm`.

    ``given`` holds ``lambda_``, ``vars``, ``beta_within``, ``beta_between``, ``fix`` and any
    matrix pattern arguments. ``lambda_`` must be ``None`` (the model is given once); an
    argument the syntax also sets must be ``None``; ``fix`` entries are merged (a cell fixed
    both ways to different values is refused). Returns the same keys, filled in.
    """
    if given.get("lambda_") is not None:
        raise MLVMInputError("give the model either as lavaan syntax (model=) or as a loading "
                             "pattern (lambda_=), not both")
    parsed = model_arguments(model, columns, vars=given.get("vars"),
                             identification=identification, types=types)
    merged = dict(given)
    for key, value in parsed.items():
        if key in ("vars", "lambda_"):
            merged[key] = value
        elif key == "fix":
            fix = dict(given.get("fix") or {})
            for cell, v in value.items():
                if cell in fix and float(fix[cell]) != float(v):
                    raise MLVMInputError(f"fix[{cell!r}]={fix[cell]!r} contradicts model=, "
                                         f"which fixes it at {v!r}")
                fix[cell] = v
            merged["fix"] = fix or None
        elif value is not None:
            if given.get(key) is not None:
                raise MLVMInputError(f"{key}= is set both by model= and as an argument; give "
                                     "it once")
            merged[key] = value
    return merged
