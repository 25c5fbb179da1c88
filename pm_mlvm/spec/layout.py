"""Where every matrix of the model sits: blocks, core matrices, moment matrices, and the one
place matrix names are formed.

The model ``y_ij = ν + Λ(η^B_j + η^W_ij) + ε^B_j + ε^W_ij`` (with E η^B_j = B_B ν_η, the
latent intercepts ν_η free only in groups after the first) has

* four covariance **blocks** (:data:`BLOCKS`): latent (ζ) and residual (ε) on each level. A
  block knows its level, whether it is latent, the ``build_spec`` argument choosing its
  structure, and so which labels its rows carry (latents or observed variables);
* the **core matrices** (:data:`CORE`): ν, ν_η, Λ, β_within, β_between, with their label
  kinds, default priors and search roles;
* the **moment matrices** (:data:`MOMENTS`): μ, Σ_W, Σ_B, Σ_W + Σ_B and the latent
  covariances of each level, reported but never parameters.

Names follow psychonetrics and are formed only by :func:`matrix_name`
(``matrix_name("omega", "zeta_between") == "omega_zeta_between"``). Nothing outside this
module and :mod:`~pm_mlvm.spec.structures` decides anything from the text of a name: code asks
the tables (``BLOCKS[block].latent``) or the specification (``spec.matrix_kinds(name)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pm_mlvm._names import LATENT_DIM, VARIABLE_DIM
from pm_mlvm.spec.prior import PriorSpec, RolePriors

__all__ = ["Block", "BLOCKS", "LEVELS", "VARIABLE", "LATENT", "CoreMatrix", "CORE", "MOMENTS",
           "matrix_name", "level_block"]

#: label kinds: rows / columns labelled by observed variables or by latents
VARIABLE = VARIABLE_DIM
LATENT = LATENT_DIM
LEVELS = ("within", "between")


def matrix_name(prefix: str, block: str) -> str:
    """The psychonetrics name of a block's (or a level's) matrix.

    Examples
    --------
    >>> matrix_name("sigma", "zeta_within")
    'sigma_zeta_within'
    >>> matrix_name("beta", "between")
    'beta_between'
    """
    return f"{prefix}_{block}"


@dataclass(frozen=True)
class Block:
    """One covariance block: its name, level, whether it is latent, and its argument."""

    name: str
    level: str
    latent: bool
    arg: str

    @property
    def labels(self) -> str:
        """Label kind of its rows and columns: :data:`LATENT` or :data:`VARIABLE`."""
        return LATENT if self.latent else VARIABLE


BLOCKS: dict[str, Block] = {b.name: b for b in (
    Block("zeta_within", "within", True, "within_latent"),
    Block("epsilon_within", "within", False, "within_residual"),
    Block("zeta_between", "between", True, "between_latent"),
    Block("epsilon_between", "between", False, "between_residual"),
)}


def level_block(level: str, latent: bool) -> str:
    """The name of the latent or residual block of a level."""
    for block in BLOCKS.values():
        if block.level == level and block.latent == latent:
            return block.name
    raise KeyError(f"no {'latent' if latent else 'residual'} block on level {level!r}")


@dataclass(frozen=True)
class CoreMatrix:
    """A matrix outside the blocks (ν, Λ, β).

    Attributes
    ----------
    name, kind, level : as in :class:`~pm_mlvm.spec.matrices.MatrixSpec`
    rows, cols : label kinds (``cols=None`` for a vector)
    priors : default priors by cell class
    searchable : may its fixed cells be freed by a search (ν: no)
    zero_diagonal : its diagonal is never a parameter (β)
    fixed_when_observed_only : structural when ``lambda_=None`` (Λ = I), never searched then
    """

    name: str
    kind: str
    rows: str
    cols: str | None
    level: str
    priors: RolePriors
    searchable: bool = True
    zero_diagonal: bool = False
    fixed_when_observed_only: bool = False


_BETA_PRIOR = RolePriors.same(PriorSpec("normal", "unit", 1.0))
CORE: dict[str, CoreMatrix] = {m.name: m for m in (
    CoreMatrix("nu", "vector", VARIABLE, None, "between",
               RolePriors.same(PriorSpec("normal", "sd", 2.0, loc="mean")), searchable=False),
    CoreMatrix("nu_eta", "vector", LATENT, None, "between",
               RolePriors.same(PriorSpec("normal", "unit", 1.0)), searchable=False),
    CoreMatrix("lambda", "full", VARIABLE, LATENT, "both",
               RolePriors.same(PriorSpec("normal", "unit", 2.0)),
               fixed_when_observed_only=True),
    *(CoreMatrix(matrix_name("beta", level), "full", LATENT, LATENT, level, _BETA_PRIOR,
                 zero_diagonal=True) for level in LEVELS),
)}

#: reported moment matrices: name → (row label kind, column label kind or None)
MOMENTS: dict[str, tuple[str, str | None]] = {
    "mu": (VARIABLE, None),
    **{matrix_name("sigma", level): (VARIABLE, VARIABLE) for level in LEVELS},
    "sigma_crosssection": (VARIABLE, VARIABLE),
    **{matrix_name("sigma_eta", level): (LATENT, LATENT) for level in LEVELS},
}
