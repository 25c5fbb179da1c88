"""Model search: modification indices, prune and stepup (psychonetrics' semantics, §5).

* Modification index of a fixed cell: the score test of freeing it alone,
  ``MI = g² / V`` with g the gradient of logL for that cell at the current estimates and
  ``V = I_nn − I_nc I_cc⁻¹ I_cn`` (I the expected information, c the free parameters);
  EPC = g / V. Cells fixed by identification are never candidates.
* ``prune`` fixes non-significant free cells of the network matrices (``omega_*`` of ggm
  blocks, off-diagonal ``kappa_*`` of prec blocks) to zero and refits, until every remaining
  one is significant (``recursive=True``).
* ``stepup`` frees the cell with the largest MI while its LR test is significant and the
  criterion (BIC with ln J by default) does not get worse.

Refits go through the :class:`~pm_mlvm.ml.fit.Fitter` that made the result (passed in, never
imported: this module knows no fitter) and reuse the cached reference models. Score tests use
the information the fit's standard errors use (expected, or observed with missing cells).
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
from pm_mlvm._distributions import chi2_isf, chi2_sf

from pm_mlvm.errors import MLVMInputError, check_choice
from pm_mlvm.likelihood.objective import Objective
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.spec.params import SearchStep

__all__ = ["network_matrices", "modification_indices", "prune", "stepup", "adjust_pvalues",
           "embedding_index", "check_alpha", "check_matrices", "score_statistics", "ADJUST",
           "CRITERIA"]

ADJUST = ("none", "bonferroni", "holm", "fdr")
CRITERIA = ("bic", "bic_n", "aic")


def check_alpha(alpha) -> float:
    """``alpha`` as a float in (0, 1), or :class:`MLVMInputError`."""
    ok = isinstance(alpha, (int, float, np.integer, np.floating)) and not isinstance(
        alpha, (bool, np.bool_))
    if not ok or not 0 < alpha < 1:
        raise MLVMInputError(f"alpha={alpha!r} is not valid; it must be a number in (0, 1)")
    return float(alpha)


def network_matrices(spec: MLVMSpec) -> list[str]:
    """psychonetrics' default search matrices: omega of ggm blocks, kappa of prec blocks
    (each structure's network role, :meth:`MLVMSpec.network_matrices`)."""
    return spec.network_matrices()


def check_matrices(spec: MLVMSpec, matrices):
    """``matrices`` as a list of parameter-matrix names of ``spec`` (None stays None), or
    :class:`MLVMInputError` naming the unknown ones."""
    if matrices is None:
        return None
    if isinstance(matrices, str):
        matrices = [matrices]
    unknown = [m for m in matrices if m not in spec.matrices]
    if unknown:
        raise MLVMInputError(f"matrices: {unknown} are not parameter matrices of this model; "
                         f"valid: {list(spec.matrices)}")
    return list(matrices)


def _candidates(spec: MLVMSpec, matrices) -> list[tuple[str, int, int]]:
    """Fixed, non-identified cells that may be freed (:meth:`MLVMSpec.search_candidates`),
    as (matrix, row, col) positions."""
    return [spec.cell_of(param) for param in spec.search_candidates(matrices)]


def _freed(spec: MLVMSpec, cells) -> MLVMSpec:
    by_matrix = {}
    for name, r, c in cells:
        by_matrix.setdefault(name, []).append((r, c))
    for name, rc in by_matrix.items():
        spec = spec.with_matrix(spec.matrices[name].with_cells(rc, free=True))
    return spec


def embedding_index(spec: MLVMSpec, host: MLVMSpec) -> tuple[np.ndarray, np.ndarray]:
    """(index, template): ``spec``'s θ sits at ``host`` positions ``index``; ``template`` is a
    host θ holding ``spec``'s fixed values at the host's other free cells."""
    if spec.var_names != host.var_names or spec.latent_names != host.latent_names or \
            spec.types != host.types or set(spec.matrices) != set(host.matrices):
        raise ValueError("the host specification has a different structure")
    index, template = [], np.zeros(host.npar)
    for name, mat in spec.matrices.items():
        big = host.matrices[name]
        if np.any(mat.free & ~big.free):
            raise ValueError(f"{name}: a free cell of the model is fixed in the host")
        rows, cols = big.free_cells
        start = host.offsets[name].start
        for k, (r, c) in enumerate(zip(rows, cols)):
            if mat.free[r, c]:
                index.append(start + k)
            else:
                template[start + k] = mat.fixed[r, c]
    return np.asarray(index, dtype=np.int64), template


def _host_position(host: MLVMSpec, name: str, r: int, c: int) -> int:
    mat = host.matrices[name]
    rows, cols = mat.free_cells
    hit = np.flatnonzero((rows == r) & (cols == c))
    if not len(hit):
        raise ValueError(f"{name}[{r},{c}] is not free in the host model")
    return host.offsets[name].start + int(hit[0])


def _score_tests(fit, cells):
    """(MI, EPC) for each candidate cell, each tested alone against the current model."""
    if not cells:
        return np.zeros(0), np.zeros(0)
    host = _freed(fit.spec, cells)
    objective = Objective(host, fit.stats)
    index, template = embedding_index(fit.spec, host)
    theta = template.copy()
    theta[index] = fit.theta
    _, grad = objective.value_grad(theta)
    if grad is None:
        return np.full(len(cells), np.nan), np.full(len(cells), np.nan)
    info = objective.information(theta, fit.information)
    new = np.array([_host_position(host, *cell) for cell in cells])
    return score_statistics(info, grad, new, index)


def score_statistics(info, grad, new, current):
    """(MI, EPC) of each parameter in ``new``, each tested alone with the ``current`` ones
    free: MI = g_n² / V, EPC = g_n / V, V = I_nn − I_nc I_cc⁻¹ I_cn (NaN where V vanishes)."""
    i_cc = info[np.ix_(current, current)]
    i_nc = info[np.ix_(new, current)]
    try:
        solved = np.linalg.solve(i_cc, i_nc.T)
    except np.linalg.LinAlgError:
        solved = np.linalg.pinv(i_cc) @ i_nc.T
    v = np.diag(info[np.ix_(new, new)]) - np.einsum("ij,ji->i", i_nc, solved)
    g = grad[new]
    ok = v > np.sqrt(np.finfo(float).eps) * max(1.0, np.abs(np.diag(info)).max())
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, g**2 / v, np.nan), np.where(ok, g / v, np.nan)


def modification_indices(fit, matrices=None) -> pd.DataFrame:
    """Score tests of every fixed, non-identifying cell (sorted by MI, largest first)."""
    matrices = check_matrices(fit.spec, matrices)
    cells = _candidates(fit.spec, matrices)
    mi, epc = _score_tests(fit, cells)
    rows = []
    for (name, r, c), m, e in zip(cells, mi, epc):
        mat = fit.spec.matrices[name]
        pvalue = chi2_sf(m, 1) if np.isfinite(m) else np.nan
        rows.append(dict(param_id=fit.spec.param_id(name, r, c), matrix=name,
                         row=mat.row_names[r], col=mat.col_names[c], level=mat.level, mi=m,
                         pvalue=pvalue, epc=e))
    table = pd.DataFrame(rows, columns=["param_id", "matrix", "row", "col", "level", "mi",
                                       "pvalue", "epc"])
    return table.sort_values("mi", ascending=False, na_position="last").reset_index(drop=True)


def adjust_pvalues(p: np.ndarray, method: str) -> np.ndarray:
    """Bonferroni, Holm, or Benjamini-Hochberg ("fdr") adjusted p-values."""
    check_choice("adjust", method, ADJUST)
    p = np.asarray(p, dtype=float)
    m = len(p)
    if method == "none" or m == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p)
    ranked = p[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:  # fdr: Benjamini-Hochberg, min over j >= i of m p_(j) / j
        adj = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def _refit(fitter, spec, start_theta, history):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="estimates on a bound")
        return fitter.fit(spec, start=start_theta, history=history)


def _tested(fit, matrices):
    """Free off-diagonal cells of the search matrices with their Wald p-values."""
    table = fit.parameters()
    table = table[table["free"] & table["matrix"].isin(matrices) & (table["row"] != table["col"])]
    return table


def prune(fit, fitter, alpha=0.01, adjust="none", matrices=None, recursive=True):
    """Fix non-significant network cells to zero and refit (see the module docstring)."""
    alpha = check_alpha(alpha)
    check_choice("adjust", adjust, ADJUST)
    matrices = check_matrices(fit.spec, matrices) or network_matrices(fit.spec)
    if not matrices:
        warnings.warn("prune: the model has no ggm or prec blocks, so nothing is tested; pass "
                      "matrices=[...] to prune others", UserWarning, stacklevel=2)
        return fit
    history = list(fit.history)
    current = fit
    while True:
        tested = _tested(current, matrices)
        if tested.empty:
            break
        adjusted = adjust_pvalues(tested["pvalue"].fillna(1.0).to_numpy(), adjust)
        drop = tested[adjusted > alpha]
        if drop.empty:
            break
        removed = tuple(current.spec.param_ids[k] for k in drop["par"])
        spec = current.spec.with_params(removed, free=False, value=0.0)
        keep = ~np.isin(current.spec.parameter_table()["par"], drop["par"])
        history.append(SearchStep("prune", removed,
                                  pvalue=float(np.min(adjusted[adjusted > alpha])),
                                  alpha=alpha, adjust=adjust))
        current = _refit(fitter, spec, current.theta[keep], history)
        if not recursive:
            break
    return current


def stepup(fit, fitter, alpha=0.01, criterion="bic", matrices=None, max_steps=None,
           progress=False):
    """Add network cells one at a time by largest modification index (module docstring)."""
    alpha = check_alpha(alpha)
    check_choice("criterion", criterion, CRITERIA)
    if max_steps is not None and (not isinstance(max_steps, (int, np.integer))
                                  or isinstance(max_steps, bool) or max_steps < 0):
        raise MLVMInputError(f"max_steps={max_steps!r} is not valid; it must be None or an "
                             "integer >= 0")
    matrices = check_matrices(fit.spec, matrices) or network_matrices(fit.spec)
    if not matrices:
        warnings.warn("stepup: the model has no ggm or prec blocks; pass matrices=[...]",
                      UserWarning, stacklevel=2)
        return fit
    history = list(fit.history)
    current = fit
    crit_limit = chi2_isf(alpha, 1)
    steps = 0
    while max_steps is None or steps < max_steps:
        cells = _candidates(current.spec, matrices)
        if not cells:
            break
        mi, epc = _score_tests(current, cells)
        if not np.any(np.isfinite(mi)) or np.nanmax(mi) <= crit_limit:
            break
        k = int(np.nanargmax(mi))
        name, r, c = cells[k]
        spec = _freed(current.spec, [cells[k]])
        idx, _ = embedding_index(current.spec, spec)
        start = np.zeros(spec.npar)
        start[idx] = current.theta
        new_pos = np.setdiff1d(np.arange(spec.npar), idx)
        low, high = spec.bounds()
        start[new_pos] = np.clip(np.nan_to_num(epc[k]), low[new_pos] + 1e-3,
                                 high[new_pos] - 1e-3)
        candidate = _refit(fitter, spec, start, history)
        lr = 2 * (candidate.logl - current.logl)
        better = candidate.fit_measures()[criterion] <= current.fit_measures()[criterion]
        if not (chi2_sf(lr, 1) < alpha and better):
            break
        added = current.spec.param_id(name, r, c)
        history.append(SearchStep("stepup", (added,), statistic=float(mi[k]),
                                  pvalue=float(chi2_sf(lr, 1)), lr=float(lr), alpha=alpha,
                                  criterion=criterion))
        current = replace(candidate, history=tuple(history))
        steps += 1
        if progress:
            print(f"stepup {steps}: freed {added} (MI {mi[k]:.2f}, LR {lr:.2f})", flush=True)
    return current

