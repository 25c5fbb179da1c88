"""The moment map θ → (μ, Σ_W, Σ_B) as straight-line code, with its reverse-mode derivative.

:func:`pm_mlvm.spec.mlvm.compose_moments` is run once on recording placeholders (a
:class:`_Traced` per free parameter matrix, a backend whose ``inv``/``eye`` record too). What
does not depend on θ is folded to constants on the way (fixed matrices, zero blocks, identity
matrices), so the tape holds only the operations a given model needs: for the seed model two
products per level. The tape is then written out as the source of two plain functions:

* ``forward(theta) -> (mu, sigma_within, sigma_between)``
* ``vjp(theta, g_mu, g_w, g_b) -> g_theta``, the vector-Jacobian product (the forward pass,
  then adjoints in reverse order: ``d(AB)`` gives ``G Bᵀ`` and ``Aᵀ G``, ``d(A⁻¹)`` gives
  ``-A⁻ᵀ G A⁻ᵀ``, sums and transposes pass G on, a column index scatters it back).

The source calls a dozen named operations (:data:`OPERATIONS`: products, transposes,
inverses, sums, columns), bound to NumPy here (the Op's ``perform`` on PyMC's default
backend) and to Numba loops in :mod:`pm_mlvm.graph.numba_program` (nutpie): the *same* text
for both, one small function instead of a graph of dozens of PyTensor nodes, which is what
Numba spends its compile time on. The JAX backend does not use it (JAX differentiates
``compose_moments`` itself). θ and the fixed values are written into the source as literals
(``v[2, 0] = theta[5]``, from :func:`pm_mlvm.spec.moments.cell_map`; the reverse pass sums
mirrored cells), so the text is the whole program: no global arrays, which Numba could not
cache. Tests hold the values and the derivative equal to
:class:`~pm_mlvm.spec.moments.MomentMap` and to finite differences for every structure.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from pm_mlvm.spec.mlvm import MLVMSpec, compose_moments
from pm_mlvm.spec.moments import cell_map
from pm_mlvm.spec.structures import MatrixBackend

__all__ = ["MomentProgram", "moment_program", "OPERATIONS", "NUMPY_OPERATIONS"]

_OUTPUTS = ("mu", "sigma_within", "sigma_between")


class _Tape:
    """Instructions ``(op, args, shape, extra)``; an index names each value."""

    def __init__(self):
        self.instructions: list[tuple] = []
        self.constants: dict[int, np.ndarray] = {}

    def push(self, op, args, shape, extra=None) -> _Traced:
        self.instructions.append((op, tuple(args), tuple(shape), extra))
        return _Traced(self, len(self.instructions) - 1, shape)

    def constant(self, value) -> _Traced:
        value = np.array(value, dtype=float)
        node = self.push("const", (), value.shape)
        self.constants[node.index] = value
        return node

    def value(self, node):
        """The constant value of ``node``, or None when it depends on θ."""
        return self.constants.get(node.index)


class _Traced:
    """A matrix (or vector) on the tape; supports what ``compose_moments`` uses."""

    __array_priority__ = 1000  # ndarray @ traced dispatches here

    def __init__(self, tape: _Tape, index: int, shape):
        self.tape, self.index, self.shape = tape, index, tuple(shape)

    @property
    def ndim(self):
        return len(self.shape)

    def _lift(self, other) -> _Traced:
        return other if isinstance(other, _Traced) else self.tape.constant(other)

    def _apply(self, op, args, shape, fold, extra=None) -> _Traced:
        values = [self.tape.value(a) for a in args]
        if all(v is not None for v in values):  # nothing here depends on θ: fold
            return self.tape.constant(fold(*values))
        return self.tape.push(op, [a.index for a in args], shape, extra)

    @property
    def T(self):  # noqa: N802 - mirrors ndarray.T
        return self._apply("T", [self], self.shape[::-1], lambda a: a.T)

    def __getitem__(self, index):
        if (not isinstance(index, tuple) or len(index) != 2 or index[0] != slice(None)
                or not isinstance(index[1], int) or self.ndim != 2):
            raise TypeError(f"the moment program indexes columns only (x[:, j]); got {index!r}")
        col = index[1]
        return self._apply("col", [self], (self.shape[0],), lambda a: a[:, col], extra=col)

    def __add__(self, other):
        other = self._lift(other)
        if self.shape != other.shape:
            raise ValueError(f"shapes {self.shape} and {other.shape} do not add")
        if _is_zero(self.tape.value(other)):
            return self
        if _is_zero(self.tape.value(self)):
            return other
        return self._apply("add", [self, other], self.shape, np.add)

    __radd__ = __add__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-self._lift(other))

    def __rsub__(self, other):
        return self._lift(other) + (-self)

    def __mul__(self, scalar):
        if isinstance(scalar, _Traced) or np.ndim(scalar) != 0:
            raise TypeError("traced matrices multiply by scalars only; use @")
        scalar = float(scalar)
        if scalar == 1.0:
            return self
        return self._apply("scale", [self], self.shape, lambda a: scalar * a, extra=scalar)

    __rmul__ = __mul__

    def __matmul__(self, other):
        other = self._lift(other)
        if self.ndim != 2 or other.ndim != 2 or self.shape[1] != other.shape[0]:
            raise ValueError(f"shapes {self.shape} and {other.shape} do not multiply")
        shape = (self.shape[0], other.shape[1])
        if _is_zero(self.tape.value(self)) or _is_zero(self.tape.value(other)):
            return self.tape.constant(np.zeros(shape))
        return self._apply("dot", [self, other], shape, np.dot)

    def __rmatmul__(self, other):
        return self._lift(other) @ self


def _is_zero(value) -> bool:
    return value is not None and not np.any(value)


def _trace_backend(tape: _Tape) -> MatrixBackend:
    """``inv`` recorded on the tape (folded when its argument is constant), ``eye`` a
    constant."""
    return MatrixBackend(lambda x: x._apply("inv", [x], x.shape, np.linalg.inv),
                         lambda n: tape.constant(np.eye(n)))


# ------------------------------------------------------------------------ operations
# The generated source calls only these, on float64 C-contiguous arrays (2-D matrices, 1-D
# vectors): NumPy here, jitted loops in pm_mlvm.graph.numba_program (same names, same
# results), so every call site in the source has one cheap, cacheable signature.
def _uncol(g, cols, j):
    out = np.zeros((g.shape[0], cols))
    out[:, j] = g
    return out


NUMPY_OPERATIONS = {
    "mm": np.dot, "tr": lambda a: np.ascontiguousarray(a.T), "inv": np.linalg.inv,
    "col": lambda a, j: np.ascontiguousarray(a[:, j]), "uncol": _uncol,
    "add": np.add, "scale": np.multiply, "copy": np.copy, "zeros": np.zeros,
    "zeros2": lambda rows, cols: np.zeros((rows, cols)),
}
#: the operation names the generated source uses
OPERATIONS = tuple(NUMPY_OPERATIONS)


# ------------------------------------------------------------------------ code writing
def _literal_lines(var: str, value: np.ndarray) -> list[str]:
    """Lines building the constant ``value`` (1-D or 2-D) from its non-zero entries."""
    if value.ndim == 1:
        lines = [f"    {var} = zeros({value.size})"]
        return lines + [f"    {var}[{i}] = {float(value[i])!r}" for i in np.flatnonzero(value)]
    lines = [f"    {var} = zeros2({value.shape[0]}, {value.shape[1]})"]
    return lines + [f"    {var}[{r}, {c}] = {float(value[r, c])!r}"
                    for r, c in zip(*np.nonzero(value))]


#: the forward expression of each recorded op ({a}, {b}: arguments, {extra}: its constant)
_FORWARD = {"T": "tr({a})", "col": "col({a}, {extra})", "add": "add({a}, {b})",
            "scale": "scale({extra!r}, {a})", "dot": "mm({a}, {b})", "inv": "inv({a})"}


def _forward_lines(tape: _Tape, name) -> list[str]:
    lines = []
    for i, (op, args, _shape, extra) in enumerate(tape.instructions):
        if op in ("const", "leaf"):
            continue  # constants and leaves are written out as literals up front
        names = [name(j) for j in args] + [None]
        expr = _FORWARD[op].format(a=names[0], b=names[1], extra=extra)
        lines.append(f"    {name(i)} = {expr}")
    return lines


def _adjoint_lines(tape: _Tape, name, outputs) -> tuple[list[str], dict]:
    """Reverse pass: lines accumulating ``g<i>`` for every θ-dependent value; returns the
    lines and the adjoint names of the leaves."""
    grads: dict[int, str] = {}
    lines: list[str] = []

    def add(target, expr):
        if target in tape.constants:
            return
        g = f"g{target}"
        if target in grads:
            lines.append(f"    {g} = add({g}, {expr})")
        else:
            lines.append(f"    {g} = {expr}")
            grads[target] = g

    for index, seed in outputs:
        add(index, seed)
    for i in range(len(tape.instructions) - 1, -1, -1):
        op, args, shape, extra = tape.instructions[i]
        if i not in grads or op in ("const", "leaf"):
            continue
        g = grads[i]
        if op == "T":
            add(args[0], f"tr({g})")
        elif op == "col":
            rows, cols = tape.instructions[args[0]][2]
            add(args[0], f"uncol({g}, {cols}, {extra})")
        elif op == "add":
            add(args[0], g)
            add(args[1], g)
        elif op == "scale":
            add(args[0], f"scale({extra!r}, {g})")
        elif op == "dot":
            left, right = args
            add(left, f"mm({g}, tr({name(right)}))")
            add(right, f"mm(tr({name(left)}), {g})")
        elif op == "inv":
            t = f"tr({name(i)})"
            add(args[0], f"scale(-1.0, mm(mm({t}, {g}), {t}))")
        else:  # pragma: no cover
            raise AssertionError(op)
    return lines, grads


class MomentProgram:
    """θ → (μ, Σ_W, Σ_B) and its vector-Jacobian product as generated source (see the module
    docstring). ``forward`` and ``vjp`` are the NumPy functions; :meth:`build` makes them from
    the same ``source`` with other operations (Numba's). Equal programs have equal ``key`` (a
    hash of the source, which holds every constant); pickles by spec."""

    def __init__(self, spec: MLVMSpec):
        self.spec = spec
        self.npar = spec.npar
        self.n_vars = spec.n_vars
        a, b, layout = cell_map(spec)
        cell_index, par_index = np.nonzero(a)
        tape = _Tape()
        mats, leaf_slices = {}, {}
        for mname, (start, shape) in layout.items():
            size = shape[0] * shape[1]
            if spec.matrices[mname].n_free == 0:
                mats[mname] = tape.constant(b[start : start + size].reshape(shape))
            else:
                mats[mname] = tape.push("leaf", (), shape, mname)
                leaf_slices[mats[mname].index] = (start, start + size, shape)
        out = compose_moments(spec, mats, _trace_backend(tape))
        outputs = [out[k] if isinstance(out[k], _Traced) else tape.constant(out[k])
                   for k in _OUTPUTS]
        self._tape = tape
        used = set()

        def name(i):
            if i in tape.constants:
                used.add(i)
                return f"c{i}"
            return f"v{i}"

        body = _forward_lines(tape, name)
        results = [f"copy({name(o.index)})" if o.index in tape.constants else name(o.index)
                   for o in outputs]
        seeds = [(o.index, g) for o, g in zip(outputs, ("g_mu", "g_w", "g_b"))]
        adjoint, grads = _adjoint_lines(tape, name, seeds)
        # θ and the constants are written into the code as literals: no global arrays, so
        # the text is the whole program (Numba can cache it, nothing to pass around)
        pairs = {}  # leaf index -> [(row, col, parameter)]
        for cell, par in zip(cell_index, par_index):
            for i, (s, e, shape) in leaf_slices.items():
                if s <= cell < e:
                    pairs.setdefault(i, []).append((*divmod(int(cell) - s, shape[1]),
                                                    int(par)))
        read = []
        for i, (s, e, shape) in leaf_slices.items():
            free = {(r, c) for r, c, _ in pairs.get(i, [])}
            fixed = b[s:e].reshape(shape)
            read.append(f"    v{i} = zeros2({shape[0]}, {shape[1]})")
            read += [f"    v{i}[{r}, {c}] = {float(fixed[r, c])!r}"
                     for r, c in zip(*np.nonzero(fixed)) if (r, c) not in free]
            read += [f"    v{i}[{r}, {c}] = theta[{par}]" for r, c, par in pairs.get(i, [])]
        for i in sorted(used):
            read += _literal_lines(f"c{i}", tape.constants[i])
        body = read + body
        forward = ["def forward(theta):", *body, f"    return {', '.join(results)}", ""]
        scatter = [f"    g_theta = zeros({self.npar})"]
        for i, cells in pairs.items():
            if i in grads:
                scatter += [f"    g_theta[{par}] += {grads[i]}[{r}, {c}]" for r, c, par in cells]
        scatter.append("    return g_theta")
        vjp = ["def vjp(theta, g_mu, g_w, g_b):", *body, *adjoint, *scatter, ""]
        self.source = "\n".join(forward + vjp)
        self.key = hashlib.sha256(self.source.encode()).hexdigest()
        self.forward, self.vjp = self.build(NUMPY_OPERATIONS)

    def build(self, operations: dict):
        """(forward, vjp) from the source with ``operations`` (:data:`OPERATIONS` names to
        functions: NumPy here, jitted twins for Numba)."""
        missing = set(OPERATIONS) - set(operations)
        if missing:
            raise ValueError(f"operations missing: {sorted(missing)}")
        scope = dict(operations)
        exec(compile(self.source, f"<moment program {self.key[:12]}>", "exec"), scope)
        return scope["forward"], scope["vjp"]

    @property
    def n_operations(self) -> int:
        """Operations the forward pass performs (constants and leaves excluded)."""
        return sum(op not in ("const", "leaf") for op, *_ in self._tape.instructions)

    def __eq__(self, other):
        return isinstance(other, MomentProgram) and other.key == self.key

    def __hash__(self):
        return hash(self.key)

    def __reduce__(self):
        return moment_program, (self.spec,)

    def __repr__(self):
        return f"MomentProgram(npar={self.npar}, ops={self.n_operations}, key={self.key[:12]})"


def moment_program(spec: MLVMSpec) -> MomentProgram:
    """The (cached) program of ``spec``."""
    return _cached(spec.structure_key(), spec)


@lru_cache(maxsize=64)
def _cached(_key, spec):
    return MomentProgram(spec)
