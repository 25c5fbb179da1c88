"""Forward-mode derivatives of matrix expressions: the NumPy backend that carries Jacobians.

A :class:`Jet` is a matrix (or vector) together with its first derivatives with respect to k
parameters (shape ``(k, *shape)``) and, on request, its second derivatives (shape
``(k, k, *shape)``). The few operations the moment algebra uses — sums, scalar products,
matrix products, transposes, indexing and the inverse — propagate them exactly:

    d(AB)      = dA B + A dB
    d²(AB)     = d²A B + dA_a dB_b + dA_b dB_a + A d²B
    d(A⁻¹)     = −A⁻¹ dA A⁻¹
    d²(A⁻¹)_ab = A⁻¹ dA_a A⁻¹ dA_b A⁻¹ + A⁻¹ dA_b A⁻¹ dA_a A⁻¹ − A⁻¹ d²A_ab A⁻¹

so :func:`pm_mlvm.spec.mlvm.compose_moments`, written once against a two-function backend
(``inv``, ``eye``), gives the exact model Jacobian ∂(μ, Σ_W, Σ_B)/∂θ and its second
derivatives without PyTensor, finite differences or a second copy of the algebra.
"""

from __future__ import annotations

import numpy as np

from pm_mlvm.spec.structures import MatrixBackend

__all__ = ["Jet", "JET_BACKEND", "value_of"]


def _swap(x):
    return None if x is None else np.swapaxes(x, -1, -2)


class Jet:
    """A value with exact first (and optionally second) derivatives; see the module docstring.

    Parameters
    ----------
    value : ndarray
    d : ndarray, shape (k, *value.shape)
    dd : ndarray, shape (s, s, *value.shape), or None when second derivatives are not tracked
    sel : int array of length s, the parameters whose second derivatives are tracked (the
        others enter linearly, so their second derivatives are known to vanish)
    """

    __array_priority__ = 1000  # ndarray @ Jet and ndarray + Jet dispatch to the Jet

    def __init__(self, value, d, dd=None, sel=None):
        self.value = value
        self.d = d
        self.dd = dd
        self.sel = sel

    @property
    def shape(self):
        return self.value.shape

    @property
    def ndim(self):
        return self.value.ndim

    @property
    def T(self):  # noqa: N802 - mirrors ndarray.T for matrices
        return Jet(_swap(self.value), _swap(self.d), _swap(self.dd), self.sel)

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        full = slice(None)
        dd = None if self.dd is None else self.dd[(full, full, *index)]
        return Jet(self.value[index], self.d[(full, *index)], dd, self.sel)

    # ----------------------------------------------------------------- linear
    def __add__(self, other):
        if isinstance(other, Jet):
            dd = None if self.dd is None or other.dd is None else self.dd + other.dd
            return Jet(self.value + other.value, self.d + other.d, dd, self.sel)
        return Jet(self.value + other, self.d, self.dd, self.sel)

    __radd__ = __add__

    def __neg__(self):
        return Jet(-self.value, -self.d, None if self.dd is None else -self.dd, self.sel)

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, scalar):
        if isinstance(scalar, Jet) or np.ndim(scalar) != 0:
            raise TypeError("a Jet multiplies by scalars only; use @ for matrix products")
        return Jet(scalar * self.value, scalar * self.d,
                   None if self.dd is None else scalar * self.dd, self.sel)

    __rmul__ = __mul__

    # ---------------------------------------------------------------- products
    def __matmul__(self, other):
        if not isinstance(other, Jet):
            other = np.asarray(other)
            return Jet(self.value @ other, self.d @ other,
                       None if self.dd is None else self.dd @ other, self.sel)
        value = self.value @ other.value
        d = self.d @ other.value + self.value @ other.d
        dd = None
        if self.dd is not None and other.dd is not None:
            sel = self.sel
            cross = np.einsum("a...ij,b...jk->ab...ik", self.d[sel], other.d[sel])
            dd = self.dd @ other.value + self.value @ other.dd + cross + np.swapaxes(cross, 0, 1)
        return Jet(value, d, dd, self.sel)

    def __rmatmul__(self, other):
        other = np.asarray(other)
        return Jet(other @ self.value, other @ self.d,
                   None if self.dd is None else other @ self.dd, self.sel)


def _inv(x):
    if not isinstance(x, Jet):
        return np.linalg.inv(x)
    v = np.linalg.inv(x.value)
    vd = v @ x.d  # A⁻¹ dA_a
    d = -(vd @ v)
    dd = None
    if x.dd is not None:
        vs = vd[x.sel]
        chain = np.einsum("aij,bjk->abik", vs, vs) @ v  # A⁻¹ dA_a A⁻¹ dA_b A⁻¹
        dd = chain + np.swapaxes(chain, 0, 1) - v @ x.dd @ v
    return Jet(v, d, dd, x.sel)


#: ``inv`` and ``eye`` for :func:`~pm_mlvm.spec.mlvm.compose_moments` on Jets
JET_BACKEND = MatrixBackend(_inv, np.eye)


def value_of(x):
    """The value of a Jet, or ``x`` itself."""
    return x.value if isinstance(x, Jet) else x
