"""The Numba value + gradient kernels behind C function pointers.

Numba links every jitted function a caller uses into the caller and optimises the whole again,
so each *new* caller pays for our kernels' machine code anew: nutpie compiles a fresh caller
(its logp ``cfunc``) on every ``compile_pymc_model``, and our kernels were most of that time.
Here the kernels are compiled once as C callbacks (``numba.cfunc``, cached on disk); a caller
holds only a call through the callback's address, which costs it nothing to optimise.

:func:`value_grad_callback` returns the jitted caller-side function of a route: arrays in,
``(per-cluster (J,), dmu (p,), dSigma_W, dSigma_B)`` out, the same contract and numbers as
:func:`pm_mlvm.likelihood.numba_kernels.complete_value_grad` /
``rows_value_grad`` (unit weights). Array arguments are made C-contiguous and passed as raw
pointers with their sizes; outputs are allocated by the caller. The callbacks are built on
first use (``functools.cache``), not at import.

Callers call the callbacks by symbol name (:func:`external`: ``llvmlite``'s process symbol
table), not by an address baked into their code, so the callers themselves can be cached on
disk: PyTensor then loads a whole graph function instead of compiling it on every nutpie call.
The symbol is registered by the function that makes the caller, so no caller exists in a
process before its symbol does.
"""

from __future__ import annotations

from functools import cache

import llvmlite.binding as llvm
import numba
import numpy as np
from numba import carray, types
from numba.extending import intrinsic

from pm_mlvm.likelihood import numba_kernels as nk

__all__ = ["value_grad_callback", "contiguous", "float_pointer", "int_pointer", "external",
           "CALLBACK_VERSION"]

_F = types.CPointer(types.float64)
_I = types.CPointer(types.int64)
_N = types.intp


def _pointer_intrinsic(dtype):
    pointer = types.CPointer(dtype)

    @intrinsic
    def to_pointer(typingctx, address):
        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(pointer))

        return pointer(address), codegen

    return to_pointer


float_pointer = _pointer_intrinsic(types.float64)
int_pointer = _pointer_intrinsic(types.int64)

_SIZES = types.void(_F, _F, _F, _I, _I, _I, _F, _F, _F, _F, _F, _N, _N, _N, _F, _F, _F, _F)
_ROWS = types.void(_F, _F, _F, _F, _I, _I, _I, _I, _I, _I, _I, _N, _N, _N, _N, _N,
                   _F, _F, _F, _F)


def _sizes(mu_, sw_, sb_, sizes_, counts_, index_, means_, covs_, scatter_, cmeans_,
           cscatter_, p, k, j, pc_, dmu_, dw_, db_):  # pragma: no cover - compiled only
    pc, dmu, dw, db = nk.complete_value_grad(
        carray(mu_, (p,)), carray(sw_, (p, p)), carray(sb_, (p, p)), carray(sizes_, (k,)),
        carray(counts_, (k,)), carray(index_, (j,)), carray(means_, (k, p)),
        carray(covs_, (k, p, p)), carray(scatter_, (p, p)), carray(cmeans_, (j, p)),
        carray(cscatter_, (j, p, p)))
    carray(pc_, (j,))[:] = pc
    carray(dmu_, (p,))[:] = dmu
    carray(dw_, (p, p))[:, :] = dw
    carray(db_, (p, p))[:, :] = db


def _rows(mu_, sw_, sb_, y_, row_pattern_, patterns_, row_cluster_, cluster_start_,
          pair_cluster_, pair_pattern_, pair_count_, p, n, n_pat, j, q,
          pc_, dmu_, dw_, db_):  # pragma: no cover - compiled only
    pc, dmu, dw, db = nk.rows_value_grad(
        np.ones(j), carray(mu_, (p,)), carray(sw_, (p, p)), carray(sb_, (p, p)),
        carray(y_, (n, p)), carray(row_pattern_, (n,)), carray(patterns_, (n_pat, p)),
        carray(row_cluster_, (n,)), carray(cluster_start_, (j,)), carray(pair_cluster_, (q,)),
        carray(pair_pattern_, (q,)), carray(pair_count_, (q,)))
    carray(pc_, (j,))[:] = pc
    carray(dmu_, (p,))[:] = dmu
    carray(dw_, (p, p))[:, :] = dw
    carray(db_, (p, p))[:, :] = db


#: part of every callback's symbol name (and so of the PyTensor cache keys of the Ops that
#: call them): bump when a callback's *signature* changes. A kernel's body may change freely:
#: callers hold the symbol, which resolves to this process's compiled kernel.
CALLBACK_VERSION = 1

_ALIVE: list = []  # the compiled callbacks whose addresses are registered


def external(symbol: str, signature, compiled) -> types.ExternalFunction:
    """Register ``compiled`` (a ``numba.cfunc``) under ``symbol`` for this process and return
    the Numba function type that calls it by that name.

    A jitted caller then holds a call to an external symbol, resolved when its machine code
    is loaded: it can be cached on disk (PyTensor caches whole graph functions) and costs no
    re-optimisation of the kernel. The symbol is registered before any caller can exist (the
    callers are made by the functions that call this one)."""
    llvm.add_symbol(symbol, compiled.address)
    _ALIVE.append(compiled)
    return types.ExternalFunction(symbol, signature)


@cache
def _callback(route: str):
    signature, body = (_SIZES, _sizes) if route == "sizes" else (_ROWS, _rows)
    compiled = numba.cfunc(signature, cache=True, nogil=True)(body)
    return external(f"pm_mlvm_value_grad_{route}_v{CALLBACK_VERSION}", signature, compiled)


@numba.njit(cache=True, nogil=True)
def contiguous(a):
    """A C-contiguous array with the values of ``a`` (``a`` itself when it is one); the
    callbacks read raw row-major buffers."""
    if a.flags.c_contiguous:
        return a
    return a.copy()


@cache
def value_grad_callback(route: str):
    """The jitted (mu, Σ_W, Σ_B, *data) → (per-cluster, dmu, dΣ_W, dΣ_B) of ``route``
    (``"sizes"`` or ``"rows"``), calling the route's C callback.

    The C-contiguous copies are made by the outer function and passed to the inner one, so
    they are alive (referenced by the caller's frame) for the whole callback: a copy held
    only by a local variable may be released by Numba right after its last use, before the
    call that reads its pointer."""
    callback = _callback(route)
    if route == "sizes":

        @numba.njit(nogil=True)
        def call(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
            p, k, j = mu.shape[0], d0.shape[0], d2.shape[0]
            pc, dmu = np.empty(j), np.empty(p)
            dw, db = np.empty((p, p)), np.empty((p, p))
            callback(float_pointer(mu.ctypes.data), float_pointer(sw.ctypes.data),
                     float_pointer(sb.ctypes.data), int_pointer(d0.ctypes.data),
                     int_pointer(d1.ctypes.data), int_pointer(d2.ctypes.data),
                     float_pointer(d3.ctypes.data), float_pointer(d4.ctypes.data),
                     float_pointer(d5.ctypes.data), float_pointer(d6.ctypes.data),
                     float_pointer(d7.ctypes.data), p, k, j,
                     float_pointer(pc.ctypes.data), float_pointer(dmu.ctypes.data),
                     float_pointer(dw.ctypes.data), float_pointer(db.ctypes.data))
            return pc, dmu, dw, db
    else:

        @numba.njit(nogil=True)
        def call(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
            p, n, n_pat, j, q = mu.shape[0], d0.shape[0], d2.shape[0], d4.shape[0], d5.shape[0]
            pc, dmu = np.empty(j), np.empty(p)
            dw, db = np.empty((p, p)), np.empty((p, p))
            callback(float_pointer(mu.ctypes.data), float_pointer(sw.ctypes.data),
                     float_pointer(sb.ctypes.data), float_pointer(d0.ctypes.data),
                     int_pointer(d1.ctypes.data), int_pointer(d2.ctypes.data),
                     int_pointer(d3.ctypes.data), int_pointer(d4.ctypes.data),
                     int_pointer(d5.ctypes.data), int_pointer(d6.ctypes.data),
                     int_pointer(d7.ctypes.data), p, n, n_pat, j, q,
                     float_pointer(pc.ctypes.data), float_pointer(dmu.ctypes.data),
                     float_pointer(dw.ctypes.data), float_pointer(db.ctypes.data))
            return pc, dmu, dw, db

    @numba.njit(nogil=True)
    def value_grad(mu, sw, sb, d0, d1, d2, d3, d4, d5, d6, d7):
        return call(contiguous(mu), contiguous(sw), contiguous(sb), contiguous(d0),
                    contiguous(d1), contiguous(d2), contiguous(d3), contiguous(d4),
                    contiguous(d5), contiguous(d6), contiguous(d7))

    return value_grad
