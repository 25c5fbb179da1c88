"""θ → model matrices → implied moments (μ, Σ_W, Σ_B), with exact derivatives, in NumPy.

The one definition of the model's moments is :func:`pm_mlvm.spec.mlvm.compose_moments`; this
module evaluates it with NumPy (values) or with :mod:`~pm_mlvm.spec.jet` (values with the exact
Jacobian ∂φ/∂θ and, on request, second derivatives), and ``graph/implied.py`` evaluates the
same function with PyTensor for the ``pm.Model``. So the maximum-likelihood path (NumPy, no
compile) and the Bayesian path (PyTensor) cannot drift apart; a test holds them equal.

Every parameter matrix is an affine function of θ: ``cells = A θ + b`` (A a constant 0/1
matrix, b the fixed values; mirrored cells of symmetric matrices map to the same θ entry), see
:func:`cell_map`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from pm_mlvm.spec.jet import JET_BACKEND, Jet
from pm_mlvm.spec.mlvm import MLVMSpec, compose_moments
from pm_mlvm.spec.layout import BLOCKS, matrix_name
from pm_mlvm.spec.structures import NUMPY_BACKEND

__all__ = ["MomentMap", "MomentDerivatives", "cell_map", "split_cells"]


def cell_map(spec: MLVMSpec):
    """(A, b, layout): every matrix cell = A @ θ + b; layout = name → (start, shape)."""
    return _cell_map(spec.structure_key(), spec)


def split_cells(cells, layout: dict) -> dict:
    """name → matrix from the cell vector of :func:`cell_map` (NumPy, PyTensor or JAX: any
    array that slices and reshapes)."""
    return {name: cells[s : s + r * c].reshape((r, c)) for name, (s, (r, c)) in layout.items()}


@lru_cache(maxsize=64)
def _cell_map(_key, spec):
    layout, blocks_a, blocks_b, start = {}, [], [], 0
    for name, mat in spec.matrices.items():
        r, c = mat.shape
        a = np.zeros((r * c, spec.npar))
        rows, cols = mat.free_cells
        pars = np.arange(spec.offsets[name].start, spec.offsets[name].stop)
        a[rows * c + cols, pars] = 1.0
        if mat.mirrored:
            a[cols * c + rows, pars] = 1.0
        blocks_a.append(a)
        blocks_b.append(np.asarray(mat.fixed, dtype=float).reshape(-1))
        layout[name] = (start, (r, c))
        start += r * c
    a, b = np.vstack(blocks_a), np.concatenate(blocks_b)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b, layout


@dataclass(frozen=True)
class MomentDerivatives:
    """Moments at θ with ∂/∂θ: ``d_mu`` (k, p), ``d_w``/``d_b`` (k, p, p); second derivatives
    ``dd_mu`` (s, s, p), ``dd_w``/``dd_b`` (s, s, p, p) over the parameters ``curved`` (length
    s) when requested (else None): every other second derivative is zero."""

    mu: np.ndarray
    sigma_within: np.ndarray
    sigma_between: np.ndarray
    d_mu: np.ndarray
    d_w: np.ndarray
    d_b: np.ndarray
    dd_mu: np.ndarray | None = None
    dd_w: np.ndarray | None = None
    dd_b: np.ndarray | None = None
    curved: np.ndarray | None = None

    def chain(self, g_mu, g_w, g_b) -> np.ndarray:
        """dℓ/dθ from dℓ/dμ and the symmetric matrix gradients (dℓ = tr(G dΣ))."""
        return self.d_mu @ g_mu + np.tensordot(self.d_w, g_w, 2) + np.tensordot(self.d_b, g_b, 2)

    def curvature(self, g_mu, g_w, g_b) -> np.ndarray:
        """Σ_m g_m ∂²φ_m/∂θ∂θ': the part of the θ-Hessian from the curvature of the map."""
        if self.dd_w is None:
            raise ValueError("second derivatives were not requested (order=2)")
        k = self.d_mu.shape[0]
        out = np.zeros((k, k))
        sel = self.curved
        out[np.ix_(sel, sel)] = (self.dd_mu @ g_mu + np.tensordot(self.dd_w, g_w, 2)
                                 + np.tensordot(self.dd_b, g_b, 2))
        return out


class MomentMap:
    """The spec's map θ → (μ, Σ_W, Σ_B); stateless after construction (thread-safe)."""

    def __init__(self, spec: MLVMSpec):
        self.spec = spec
        self._a, self._b, self._layout = cell_map(spec)

    @property
    def npar(self) -> int:
        return self.spec.npar

    def matrices(self, theta) -> dict:
        """name → full NumPy matrix at θ."""
        return split_cells(self._a @ np.asarray(theta, dtype=float) + self._b, self._layout)

    def moments(self, theta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(μ, Σ_W, Σ_B) at θ."""
        out = compose_moments(self.spec, self.matrices(theta), NUMPY_BACKEND)
        return out["mu"], out["sigma_within"], out["sigma_between"]

    def implied(self, theta) -> dict:
        """Everything :func:`compose_moments` returns (blocks, latent covariances) at θ."""
        return compose_moments(self.spec, self.matrices(theta), NUMPY_BACKEND)

    def derivatives(self, theta, order: int = 1) -> MomentDerivatives:
        """Moments with their exact Jacobian (``order=1``) and second derivatives (2)."""
        theta = np.asarray(theta, dtype=float)
        k = self.npar
        values = self.matrices(theta)
        sel = self.curved if order >= 2 else None
        n_sel = 0 if sel is None else len(sel)
        jets = {}
        for name, (s, (r, c)) in self._layout.items():
            d = self._a[s : s + r * c].T.reshape(k, r, c)
            dd = np.zeros((n_sel, n_sel, r, c)) if order >= 2 else None
            jets[name] = Jet(values[name], d, dd, sel)
        out = compose_moments(self.spec, jets, JET_BACKEND)
        parts = []
        for key in ("mu", "sigma_within", "sigma_between"):
            x = out[key]
            if not isinstance(x, Jet):  # does not depend on θ
                x = Jet(np.asarray(x), np.zeros((k, *np.shape(x))),
                        np.zeros((n_sel, n_sel, *np.shape(x))) if order >= 2 else None, sel)
            parts.append(x)
        mu, sw, sb = parts
        return MomentDerivatives(mu.value, sw.value, sb.value, mu.d, sw.d, sb.d,
                                 mu.dd, sw.dd, sb.dd, sel)

    @cached_property
    def curved(self) -> np.ndarray:
        """Indices of the parameters with a non-zero second derivative of the moments: all but
        the means ν and the cells of a linear role (a ``cov`` block's sigma) that enter the
        moments additively (a residual block, or a latent block whose level has a fixed Λ and
        no regressions)."""
        spec = self.spec
        flat = {"nu"}
        for block, info in BLOCKS.items():
            additive = not info.latent or (spec.matrices["lambda"].n_free == 0 and spec.matrices[
                matrix_name("beta", info.level)].n_free == 0)
            roles = spec.structure(block).roles
            if additive and all(role.linear for role in roles):
                flat |= {matrix_name(role.prefix, block) for role in roles}
        index = [np.arange(spec.offsets[name].start, spec.offsets[name].stop)
                 for name in spec.matrices if name not in flat]
        return np.concatenate(index) if index else np.zeros(0, dtype=np.int64)
