"""Several groups: one two-level model per group, some parameters equal across groups.

psychonetrics' ``groups=`` / ``equal=`` (``reference/psychonetrics_ml_lvm.md`` §1.1, §2.3):
each group g has its own :class:`~pm_mlvm.spec.mlvm.MLVMSpec` (Λ shared by the two levels
*within* the group) and its own free parameters θ_g; a free cell may be *tied* — one
parameter for every group — or *released* in one group (its own parameter there, tied in the
others). The global parameter vector θ holds each distinct parameter once, in order of first
appearance (group 1's cells, then each later group's own cells); ``index[g]`` maps θ_g =
θ[index[g]], so the log-likelihood is Σ_g logℓ_g(θ[index[g]]) — the plain sum, never a
weighted one (lavaan 0.6.14's multigroup multilevel objective weights groups by N_g/N, which
is not the likelihood with cross-group constraints).

Identification across groups (psychonetrics):

* the latent intercepts ν_η are fixed at 0 in group 1 and free in the other groups when at
  least q intercepts ν are equal across groups (otherwise fixed at 0 everywhere);
* with ``identification="variance"``, the within latent scale is fixed in group 1 only when at
  least q loadings are equal across groups (otherwise in every group);
* with ``"loadings"``, each group keeps its marker loadings (the same cells in every group).

Everything here is data: :meth:`GroupSpec.with_tied` / :meth:`with_released` return new,
re-identified specifications.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError
from pm_mlvm.spec.layout import matrix_name
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.spec.params import ParamId
from pm_mlvm.spec.structures import STRUCTURES

__all__ = ["GroupSpec", "build_group_spec"]


@dataclass(frozen=True, eq=False)
class GroupSpec:
    """A multi-group model (immutable); see the module docstring.

    Attributes
    ----------
    labels : group labels (str), in order of first appearance in the data
    specs : one :class:`MLVMSpec` per group (same variables, latents and structures)
    tied : cells (:class:`ParamId`) that are one parameter across groups
    released : (cell, group index) pairs: the cell is its own parameter in that group
    equal : the matrices named in ``equal=`` (reporting only)
    """

    labels: tuple[str, ...]
    specs: tuple[MLVMSpec, ...]
    tied: frozenset = frozenset()
    released: frozenset = frozenset()
    equal: tuple[str, ...] = ()

    # ------------------------------------------------------------------ sizes
    @property
    def n_groups(self) -> int:
        return len(self.specs)

    @property
    def base(self) -> MLVMSpec:
        """Group 1's specification (variables, latents, structures are shared)."""
        return self.specs[0]

    @property
    def var_names(self) -> tuple[str, ...]:
        return self.base.var_names

    def is_tied(self, param: ParamId, group: int) -> bool:
        return param in self.tied and (param, group) not in self.released

    @cached_property
    def _layout(self):
        keys, index, owner = {}, [], []
        for g, spec in enumerate(self.specs):
            local = np.empty(spec.npar, dtype=np.int64)
            for k, pid in enumerate(spec.param_ids):
                key = ("tied", pid) if self.is_tied(pid, g) else ("own", g, pid)
                if key not in keys:
                    keys[key] = len(keys)
                    owner.append((g, k))
                local[k] = keys[key]
            local.setflags(write=False)
            index.append(local)
        return tuple(index), tuple(owner)

    @property
    def index(self) -> tuple[np.ndarray, ...]:
        """Per group: the global position of each of its free parameters (θ_g = θ[index[g]])."""
        return self._layout[0]

    @property
    def owners(self) -> tuple[tuple[int, int], ...]:
        """Per global parameter: (group, local position) where it first appears."""
        return self._layout[1]

    @property
    def npar(self) -> int:
        return len(self.owners)

    @property
    def n_moments(self) -> int:
        return sum(spec.n_moments for spec in self.specs)

    @property
    def df(self) -> int:
        return self.n_moments - self.npar

    def group_thetas(self, theta) -> list[np.ndarray]:
        theta = np.asarray(theta, dtype=float)
        return [theta[idx] for idx in self.index]

    def combine(self, thetas) -> np.ndarray:
        """The global θ from per-group values (a tied parameter takes its first group's)."""
        return np.array([thetas[g][k] for g, k in self.owners], dtype=float)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        per_group = [spec.bounds() for spec in self.specs]
        low = np.array([per_group[g][0][k] for g, k in self.owners])
        high = np.array([per_group[g][1][k] for g, k in self.owners])
        return low, high

    def group_position(self, group) -> int:
        """Index of a group given by label (str or anything whose str is a label) or
        position; :class:`MLVMInputError` otherwise."""
        if isinstance(group, (int, np.integer)) and not isinstance(group, bool) and \
                str(group) not in self.labels:
            if 0 <= group < self.n_groups:
                return int(group)
        if str(group) in self.labels:
            return self.labels.index(str(group))
        raise MLVMInputError(f"group={group!r} is not a group of this model; groups: "
                             f"{list(self.labels)}")

    def parameter_table(self) -> pd.DataFrame:
        """One row per (group, free cell): the single-group table with ``group`` and the
        global ``par``; a tied parameter appears once per group with the same ``par``."""
        frames = []
        for g, spec in enumerate(self.specs):
            table = spec.parameter_table().copy()
            table.insert(0, "group", self.labels[g])
            table["par"] = self.index[g][table["par"].to_numpy()]
            table["tied"] = [self.is_tied(pid, g) for pid in table["param_id"]]
            frames.append(table)
        return pd.concat(frames, ignore_index=True)

    # --------------------------------------------------------------- editing
    def with_group_spec(self, group: int, spec: MLVMSpec, identify: bool = True) -> GroupSpec:
        """A copy with one group's specification replaced (ties on cells that are no longer
        free in every group are dropped). ``identify=False`` keeps every other cell as it is
        (a score test's host model: the current model plus new parameters, nothing else)."""
        specs = list(self.specs)
        specs[group] = spec
        return self.with_specs(specs, identify)

    def with_specs(self, specs, identify: bool = True) -> GroupSpec:
        """A copy with every group's specification replaced at once (one per group)."""
        specs = tuple(specs)
        if len(specs) != self.n_groups:
            raise ValueError(f"{len(specs)} specifications for {self.n_groups} groups")
        out = replace(self, specs=specs)
        return _identify(out) if identify else out

    def cells(self, matrix: str, row=None, col=None) -> list[ParamId]:
        """The cells of ``matrix`` (all, one row, or one cell) free in every group."""
        base = self.base
        if matrix not in base.matrices:
            raise MLVMInputError(f"matrix={matrix!r} is not a parameter matrix of this model; "
                                 f"valid: {list(base.matrices)}")
        common = set(base.param_ids)
        for spec in self.specs[1:]:
            common &= set(spec.param_ids)
        wanted = None
        if row is not None and col is not None:  # one cell, either triangle
            try:
                wanted = base.param_id(*base.cell_of(ParamId(matrix, str(row), str(col))))
            except KeyError as err:
                raise MLVMInputError(f"{matrix}[{row!r}, {col!r}]: {err.args[0]}") from None
        out = [pid for pid in base.param_ids if pid.matrix == matrix and pid in common
               and (pid == wanted if wanted is not None
                    else row is None or pid.row == str(row))]
        if not out:
            where = "" if row is None else f"[{row!r}" + ("" if col is None else f", {col!r}") + "]"
            raise MLVMInputError(f"{matrix}{where} has no cell that is free in every group")
        return out

    def with_tied(self, params) -> GroupSpec:
        """Cells made equal across all groups (releases of them dropped)."""
        params = frozenset(params)
        released = frozenset(r for r in self.released if r[0] not in params)
        return _identify(replace(self, tied=self.tied | params, released=released))

    def with_released(self, params, group: int, identify: bool = True) -> GroupSpec:
        """Cells made a parameter of their own in one group (still tied in the others);
        ``identify=False`` as in :meth:`with_group_spec`."""
        not_tied = [str(p) for p in params if p not in self.tied]
        if not_tied:
            raise MLVMInputError(f"{', '.join(not_tied)} are not equal across groups; nothing "
                                 "to free (group_free frees an equality constraint)")
        released = self.released | {(p, group) for p in params}
        out = replace(self, released=frozenset(released))
        return _identify(out) if identify else out

    def structure_key(self) -> tuple:
        return (self.labels, tuple(s.structure_key() for s in self.specs),
                tuple(sorted(map(str, self.tied))), tuple(sorted((str(p), g) for p, g in
                                                                 self.released)))


# ---------------------------------------------------------------------- building
def build_group_spec(base: MLVMSpec, labels, equal=None) -> GroupSpec:
    """Every group gets ``base``; the free cells of the matrices named in ``equal`` are tied;
    then the multi-group identification of the module docstring."""
    labels = tuple(str(v) for v in labels)
    if len(labels) < 1:
        raise MLVMInputError("groups: the data hold no group")
    if len(set(labels)) != len(labels):
        raise MLVMInputError(f"groups: labels {list(labels)} are not unique as str")
    if equal is None or (isinstance(equal, str) and equal == "none"):
        equal = ()
    elif isinstance(equal, str):
        equal = (equal,)
    equal = tuple(equal)
    unknown = [m for m in equal if m not in base.matrices or m == "nu_eta"]
    if unknown:
        raise MLVMInputError(f"equal={list(equal)!r}: {unknown} are not parameter matrices of "
                             f"this model; valid: "
                             f"{[m for m in base.matrices if m != 'nu_eta']}")
    tied = frozenset(pid for pid in base.param_ids if pid.matrix in equal)
    return _identify(GroupSpec(labels, (base,) * len(labels), tied, frozenset(), equal))


def _identify(gspec: GroupSpec) -> GroupSpec:
    """Re-apply the cross-group identification (ν_η, and the within scale under
    ``identification="variance"``) after the ties changed."""
    q = gspec.base.n_latent
    specs = list(gspec.specs)
    common = set(specs[0].param_ids)
    for spec in specs[1:]:
        common &= set(spec.param_ids)
    tied = frozenset(p for p in gspec.tied if p in common)

    def n_tied(matrix, g):
        return sum(1 for p in tied if p.matrix == matrix and (p, g) not in gspec.released)

    for g in range(1, len(specs)):
        spec = specs[g]
        if spec.observed_only:
            continue
        nu_eta = spec.matrices["nu_eta"]
        free_means = n_tied("nu", g) >= q
        cells = [(k, 0) for k in range(q)]
        if free_means:
            nu_eta = nu_eta.with_cells(cells, free=True, identified=False)
        else:
            nu_eta = nu_eta.with_cells(cells, free=False, value=0.0, identified=True)
        spec = spec.with_matrix(nu_eta)
        if spec.identification == "variance":
            role = STRUCTURES[spec.types["zeta_within"]].scale_role
            mat = spec.matrices[matrix_name(role, "zeta_within")]
            diag = [(k, k) for k in range(q)]
            if n_tied("lambda", g) >= q:
                mat = mat.with_cells(diag, free=True, identified=False)
            else:
                mat = mat.with_cells(diag, free=False, value=1.0, identified=True)
            spec = spec.with_matrix(mat)
        specs[g] = spec
    return replace(gspec, specs=tuple(specs), tied=tied)
