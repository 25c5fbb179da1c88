"""The operations of the moment program (:mod:`pm_mlvm.spec.program`) for Numba.

Plain loops over float64 C-contiguous arrays, one signature each, compiled once and cached on
disk (``cache=True``): a generated program is then a short sequence of calls to known
functions, which Numba types and links quickly, rather than ``np.dot``/``np.linalg.inv`` call
sites it would specialise one by one. Same names and results as
:data:`~pm_mlvm.spec.program.NUMPY_OPERATIONS` (a test holds them equal). The inverse is
Gauss–Jordan with partial pivoting; a singular matrix gives non-finite entries (the
likelihood is then −inf), not an exception inside a sampler.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
from numba import carray, types

from pm_mlvm.likelihood.numba_callbacks import (
    CALLBACK_VERSION,
    contiguous,
    external,
    float_pointer,
)
from pm_mlvm.spec.program import OPERATIONS, MomentProgram

__all__ = ["NUMBA_OPERATIONS", "program_functions"]

_F = types.CPointer(types.float64)

_jit = numba.njit(cache=True, nogil=True)


@_jit
def mm(a, b):
    n, m = a.shape
    k = b.shape[1]
    out = np.zeros((n, k))
    for i in range(n):
        for r in range(m):
            x = a[i, r]
            if x != 0.0:
                for j in range(k):
                    out[i, j] += x * b[r, j]
    return out


@_jit
def tr(a):
    n, m = a.shape
    out = np.empty((m, n))
    for i in range(n):
        for j in range(m):
            out[j, i] = a[i, j]
    return out


@_jit
def inv(a):
    n = a.shape[0]
    work = a.copy()
    out = np.eye(n)
    for c in range(n):
        pivot = c
        for r in range(c + 1, n):
            if abs(work[r, c]) > abs(work[pivot, c]):
                pivot = r
        if pivot != c:
            for j in range(n):
                work[c, j], work[pivot, j] = work[pivot, j], work[c, j]
                out[c, j], out[pivot, j] = out[pivot, j], out[c, j]
        d = work[c, c]
        if d == 0.0:
            out[:, :] = np.nan
            return out
        for j in range(n):
            work[c, j] /= d
            out[c, j] /= d
        for r in range(n):
            if r != c:
                f = work[r, c]
                if f != 0.0:
                    for j in range(n):
                        work[r, j] -= f * work[c, j]
                        out[r, j] -= f * out[c, j]
    return out


@_jit
def col(a, j):
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        out[i] = a[i, j]
    return out


@_jit
def uncol(g, cols, j):
    out = np.zeros((g.shape[0], cols))
    for i in range(g.shape[0]):
        out[i, j] = g[i]
    return out


@_jit
def add(a, b):
    out = np.empty_like(a)
    flat_a, flat_b, flat = a.reshape(-1), b.reshape(-1), out.reshape(-1)
    for i in range(flat.shape[0]):
        flat[i] = flat_a[i] + flat_b[i]
    return out


@_jit
def scale(s, a):
    out = np.empty_like(a)
    flat_a, flat = a.reshape(-1), out.reshape(-1)
    for i in range(flat.shape[0]):
        flat[i] = s * flat_a[i]
    return out


@_jit
def copy(a):
    out = np.empty_like(a)
    flat_a, flat = a.reshape(-1), out.reshape(-1)
    for i in range(flat.shape[0]):
        flat[i] = flat_a[i]
    return out


@_jit
def zeros(n):
    return np.zeros(n)


@_jit
def zeros2(rows, cols):
    return np.zeros((rows, cols))


NUMBA_OPERATIONS = {name: globals()[name] for name in OPERATIONS}



# ------------------------------------------------------------------ compiled programs
@lru_cache(maxsize=64)
def program_functions(program: MomentProgram):
    """``(forward, vjp)`` of ``program`` for Numba callers: jitted functions (same arguments
    and results as the program's NumPy ones) that call the program compiled once per process
    as C callbacks called by symbol (:func:`~pm_mlvm.likelihood.numba_callbacks.external`),
    so that a caller compiled anew (nutpie's logp) links no program code and can be cached."""
    k, p = program.npar, program.n_vars
    forward_jit, vjp_jit = (numba.njit(f, nogil=True) for f in program.build(NUMBA_OPERATIONS))

    def forward_c(theta_, mu_, w_, b_):  # pragma: no cover - compiled only
        mu, w, b = forward_jit(carray(theta_, (k,)))
        carray(mu_, (p,))[:] = mu
        carray(w_, (p, p))[:, :] = w
        carray(b_, (p, p))[:, :] = b

    def vjp_c(theta_, g_mu_, g_w_, g_b_, out_):  # pragma: no cover - compiled only
        carray(out_, (k,))[:] = vjp_jit(carray(theta_, (k,)), carray(g_mu_, (p,)),
                                        carray(g_w_, (p, p)), carray(g_b_, (p, p)))

    forward_sig, vjp_sig = types.void(_F, _F, _F, _F), types.void(_F, _F, _F, _F, _F)
    stem = f"pm_mlvm_moments_{program.key[:24]}_v{CALLBACK_VERSION}"
    forward_cb = external(f"{stem}_forward", forward_sig,
                          numba.cfunc(forward_sig, nogil=True)(forward_c))
    vjp_cb = external(f"{stem}_vjp", vjp_sig, numba.cfunc(vjp_sig, nogil=True)(vjp_c))

    @numba.njit(nogil=True)
    def forward_call(theta):
        mu, w, b = np.empty(p), np.empty((p, p)), np.empty((p, p))
        forward_cb(float_pointer(theta.ctypes.data), float_pointer(mu.ctypes.data),
                   float_pointer(w.ctypes.data), float_pointer(b.ctypes.data))
        return mu, w, b

    @numba.njit(nogil=True)
    def forward(theta):
        return forward_call(contiguous(theta))

    @numba.njit(nogil=True)
    def vjp_call(theta, g_mu, g_w, g_b):
        out = np.empty(k)
        vjp_cb(float_pointer(theta.ctypes.data), float_pointer(g_mu.ctypes.data),
               float_pointer(g_w.ctypes.data), float_pointer(g_b.ctypes.data),
               float_pointer(out.ctypes.data))
        return out

    @numba.njit(nogil=True)
    def vjp(theta, g_mu, g_w, g_b):
        return vjp_call(contiguous(theta), contiguous(g_mu), contiguous(g_w), contiguous(g_b))

    return forward, vjp
