"""The implied moments as one PyTensor Op: θ → (μ, Σ_W, Σ_B), with its gradient as an Op.

:class:`ImpliedMoments` runs the spec's :class:`~pm_mlvm.spec.program.MomentProgram` (the
moment algebra written out as straight-line code); its ``L_op`` is
:class:`ImpliedMomentsVJP`, the program's reverse pass. In a model's logp + dlogp graph the
whole map from the free parameters to the likelihood's inputs is then two nodes instead of a
few dozen (dots, subtensors, reshapes and their gradients), which is what Numba — hence
nutpie — spends most of its compile time on; the C backend runs the same source as NumPy.

Second derivatives: the ``L_op`` of :class:`ImpliedMomentsVJP` is built from the symbolic
moment graph (:func:`pm_mlvm.graph.implied.symbolic_moments`): the VJP's derivative in θ and
in the cotangents is that graph's second-order derivative, exact, so Hessians of models built
on these Ops (``pytensor.gradient.hessian``, ``compile_d2logp``, ``pm.find_hessian``) work.
They compile the larger graph, as they did before.
"""

from __future__ import annotations

import pytensor
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.tensor.type import TensorType

from pm_mlvm.graph.implied import symbolic_moments
from pm_mlvm.spec.mlvm import MLVMSpec
from pm_mlvm.spec.program import MomentProgram, moment_program

__all__ = ["ImpliedMoments", "ImpliedMomentsVJP", "implied_moments", "model_moments"]


def implied_moments(spec: MLVMSpec, theta):
    """(μ, Σ_W, Σ_B) of ``spec`` at the symbolic θ, through :class:`ImpliedMoments`."""
    return ImpliedMoments(moment_program(spec))(theta)


def model_moments(spec: MLVMSpec, theta) -> dict:
    """:func:`~pm_mlvm.graph.implied.symbolic_moments` with μ, Σ_W and Σ_B from
    :class:`ImpliedMoments`: what a model's likelihood reads is the one Op; the parameter
    matrices and block covariances (reported as deterministics only) stay symbolic."""
    out = symbolic_moments(spec, theta)
    out["mu"], out["sigma_within"], out["sigma_between"] = implied_moments(spec, theta)
    return out


def _theta(program: MomentProgram, theta):
    theta = pt.as_tensor_variable(theta, dtype="float64")
    if theta.ndim != 1:
        raise ValueError(f"theta must be a vector of {program.npar} parameters; got "
                         f"{theta.ndim} dimensions")
    if theta.type.shape[0] not in (None, program.npar):
        raise ValueError(f"theta must have {program.npar} entries; got {theta.type.shape[0]}")
    return theta


def _moment_types(p):
    return [TensorType("float64", shape=(p,))(), TensorType("float64", shape=(p, p))(),
            TensorType("float64", shape=(p, p))()]


class ImpliedMoments(Op):
    """θ (k,) → μ (p,), Σ_W (p, p), Σ_B (p, p) of one specification."""

    __props__ = ("program",)

    def __init__(self, program: MomentProgram):
        self.program = program

    def make_node(self, theta):
        theta = _theta(self.program, theta)
        return Apply(self, [theta], _moment_types(self.program.n_vars))

    def perform(self, node, inputs, output_storage):
        for store, value in zip(output_storage, self.program.forward(inputs[0])):
            store[0] = value

    def infer_shape(self, fgraph, node, shapes):
        p = self.program.n_vars
        return [(p,), (p, p), (p, p)]

    def L_op(self, inputs, outputs, output_grads):
        grads = [pt.zeros_like(out) if isinstance(g.type, DisconnectedType) else g
                 for out, g in zip(outputs, output_grads)]
        return [ImpliedMomentsVJP(self.program)(inputs[0], *grads)]


class ImpliedMomentsVJP(Op):
    """(θ, ḡ_μ, Ḡ_W, Ḡ_B) → Jᵀ ḡ: the gradient of ⟨ḡ, (μ, Σ_W, Σ_B)(θ)⟩ in θ."""

    __props__ = ("program",)

    def __init__(self, program: MomentProgram):
        self.program = program

    def make_node(self, theta, g_mu, g_w, g_b):
        theta = _theta(self.program, theta)
        cotangents = [pt.as_tensor_variable(g, dtype="float64") for g in (g_mu, g_w, g_b)]
        for g, ndim in zip(cotangents, (1, 2, 2)):
            if g.ndim != ndim:
                raise ValueError(f"cotangent of {ndim} dimensions expected; got {g.ndim}")
        return Apply(self, [theta, *cotangents],
                     [TensorType("float64", shape=(self.program.npar,))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = self.program.vjp(*inputs)

    def infer_shape(self, fgraph, node, shapes):
        return [(self.program.npar,)]

    def L_op(self, inputs, outputs, output_grads):
        (v,) = output_grads
        theta, g_mu, g_w, g_b = inputs
        if isinstance(v.type, DisconnectedType):
            return [pt.zeros_like(x) for x in inputs]
        # partial derivatives: on fresh variables (the cotangents may themselves depend on
        # θ elsewhere in the graph), then put back in place of the inputs
        fresh = [x.type() for x in inputs]
        t, gm, gw, gb = fresh
        moments = symbolic_moments(self.program.spec, t)
        paired = ((moments["mu"] * gm).sum() + (moments["sigma_within"] * gw).sum()
                  + (moments["sigma_between"] * gb).sum())
        vjp = pt.grad(paired, t, disconnected_inputs="ignore")
        grads = pt.grad((vjp * v).sum(), fresh, disconnected_inputs="ignore")
        return pytensor.clone_replace(grads, dict(zip(fresh, inputs)))
