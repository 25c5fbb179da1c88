"""The two-level log-likelihood as PyTensor Ops: analytic gradients, exact second derivatives.

Five Ops wrap the NumPy kernels of :mod:`pm_mlvm.likelihood` (and, through
:mod:`pm_mlvm.graph.backends`, their Numba and JAX twins):

* :class:`TwoLevelLogLik` — the total log-likelihood, fused: one ``perform`` returns the value
  and its gradient with respect to (mu, Sigma_W, Sigma_B).
* :class:`TwoLevelClusterLogLik` — the (J,) per-cluster contributions *and* the gradient of
  their sum, from one kernel pass. Its ``L_op`` reads the stored gradient when the cotangent
  is uniform (``sum(per_cluster)``, every NUTS model) and calls
  :class:`TwoLevelLogLikWeightedGrad` otherwise, so logp + dlogp costs one kernel pass.
* :class:`TwoLevelLogLikWeightedGrad` — ∇ Σ_j g_j l_j for per-cluster weights g.
* :class:`TwoLevelLogLikHVP` — the directional derivative of that gradient (closed-form
  Hessian-vector product), the ``L_op`` of every gradient output.
* :class:`TwoLevelGradPerCluster` — the per-cluster gradients ∇ l_j, the ``L_op`` of the
  weighted gradient with respect to its weights.

Contract (PyTensor's recipe, cf. ``pytensor/tensor/slinalg.py``): static output types (mu
(p,), matrices (p, p), per-cluster (J,) when the inputs' static shapes say so),
``infer_shape``, ``DisconnectedType`` for every statistics input. The VJP of a gradient
output G(X) with cotangent C is the Hessian-vector product along sym(C) (Hessian symmetry),
so ``pytensor.gradient.hessian``, ``Model.compile_d2logp`` and ``pm.find_hessian`` work.
Third derivatives are not implemented.

The statistics are *graph inputs* (constants or shared variables), never Op attributes, so
the same compiled function serves a new data set of the same structure after
``shared.set_value``. Two routes exist: ``"sizes"`` (per-size statistics) and ``"rows"``
(per-cluster Woodbury form); :func:`data_inputs` gives the inputs of the route a
:class:`~pm_mlvm.stats.TwoLevelStats` needs.

Cluster-varying means: :class:`TwoLevelLogLik`, :class:`TwoLevelClusterLogLik` and
:class:`TwoLevelLogLikWeightedGrad` also take a (J, p) mean (row j: cluster j, in the
statistics' cluster order); called with one, the Op becomes its ``cluster_mean=True`` twin
(a prop, so the Numba cache keys differ) whose mean gradient is (J, p). First derivatives are
exact on both routes; second derivatives (HVP, per-cluster gradients) are implemented for a
(p,) mean only (``grad_not_implemented`` otherwise).

Matrix gradients follow the symmetric convention: dl = tr(G dSigma) with G symmetric (the
kernels read sym(Sigma)). Failure is a value: a non-positive-definite covariance gives -inf
and a zero gradient.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_type, grad_not_implemented
from pytensor.graph.basic import Apply, Constant
from pytensor.graph.op import Op
from pytensor.ifelse import ifelse
from pytensor.tensor.basic import Alloc
from pytensor.scalar.basic import Second
from pytensor.tensor.elemwise import DimShuffle, Elemwise
from pytensor.tensor.type import TensorType

from pm_mlvm.likelihood import hessian
from pm_mlvm.likelihood.routes import ROUTES, Route, data_arrays
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = [
    "ROUTES",
    "TwoLevelLogLik",
    "TwoLevelClusterLogLik",
    "TwoLevelLogLikWeightedGrad",
    "TwoLevelLogLikHVP",
    "TwoLevelGradPerCluster",
    "data_arrays",
    "data_inputs",
    "loglik",
    "loglik_per_cluster",
]


def data_inputs(stats: TwoLevelStats, shared: bool = False):
    """Route name and the statistics as PyTensor constants (or shared variables)."""
    name, arrays = data_arrays(stats)
    fields = ROUTES[name].fields
    if shared:
        return name, tuple(
            pytensor.shared(a, name=f"stats_{f}", shape=(None,) * a.ndim)
            for f, a in zip(fields, arrays)
        )
    return name, tuple(pt.constant(a, name=f"stats_{f}") for f, a in zip(fields, arrays))


def _float(shape):
    return TensorType("float64", shape=shape)()


def _is_disconnected(var) -> bool:
    return isinstance(var.type, DisconnectedType)


def _first_known(*dims):
    for d in dims:
        if d is not None:
            return d
    return None


def _uniform_scalar(g):
    """The 0-d c when ``g`` is visibly c broadcast to a vector, None otherwise.

    Recognises what ``pytensor.grad`` makes of ``sum(x)`` (``second(x, c)``, ``Alloc``,
    ``ExpandDims`` of a 0-d tensor) and constant vectors of equal entries.
    """
    if isinstance(g, Constant):
        data = np.asarray(g.data)
        if data.size and np.all(data == data.flat[0]):
            return pt.constant(float(data.flat[0]))
        return None
    if g.ndim == 0:
        return g
    if g.type.shape == (1,) * g.ndim:  # broadcastable: one value
        return g.reshape(())
    owner = g.owner
    if owner is None:
        return None
    if isinstance(owner.op, Elemwise) and isinstance(owner.op.scalar_op, Second):
        return _uniform_scalar(owner.inputs[1])
    if isinstance(owner.op, Alloc | DimShuffle):
        return _uniform_scalar(owner.inputs[0])
    return None


class _TwoLevelOp(Op):
    """Common input handling: (*parameters, *statistics of the route)."""

    __props__ = ("route", "cluster_mean")
    #: names of the leading parameter inputs and their number of dimensions
    _params: tuple[tuple[str, int], ...] = (("mu", 1), ("sigma_within", 2), ("sigma_between", 2))
    #: whether the Op accepts a (J, p) cluster-varying mean
    _supports_cluster_mean = False

    def __init__(self, route: str, cluster_mean: bool = False):
        if route not in ROUTES:
            raise ValueError(f"route must be one of {sorted(ROUTES)}; got {route!r}")
        if cluster_mean and not self._supports_cluster_mean:
            raise NotImplementedError(f"{type(self).__name__} takes a (p,) mean only")
        self.route = route
        self.cluster_mean = bool(cluster_mean)

    def __call__(self, *args, **kwargs):
        """Apply the Op; a (J, p) ``mu`` switches to the ``cluster_mean=True`` twin."""
        if self._supports_cluster_mean and not self.cluster_mean:
            k = [name for name, _ in self._params].index("mu")
            if k < len(args) and getattr(pt.as_tensor_variable(args[k]), "ndim", 1) == 2:
                return type(self)(self.route, cluster_mean=True)(*args, **kwargs)
        return super().__call__(*args, **kwargs)

    def _twin(self, op_class):
        """``op_class`` on the same route and mean kind."""
        return op_class(self.route, cluster_mean=self.cluster_mean)

    @property
    def _route(self) -> Route:
        return ROUTES[self.route]

    @property
    def _n_params(self) -> int:
        return len(self._params)

    def _inputs(self, args):
        """Typed parameter and statistics inputs, and the static (p, J)."""
        route = self._route
        params, data = args[: self._n_params], args[self._n_params:]
        if len(data) != len(route.fields):
            raise TypeError(
                f"{type(self).__name__}({self.route!r}) takes {len(route.fields)} statistics "
                f"inputs {route.fields}; got {len(data)}"
            )
        typed = []
        for (name, nd), var in zip(self._params, params):
            var = pt.as_tensor_variable(var).astype("float64")
            if name == "mu" and self.cluster_mean:
                nd = 2
            if var.ndim != nd:
                raise TypeError(f"{name} must have {nd} dimension(s); got {var.ndim}")
            typed.append(var)
        data = [pt.as_tensor_variable(d) for d in data]
        for name, var, nd in zip(route.fields, data, route.ndims):
            if var.ndim != nd:
                raise TypeError(f"statistic {name!r} must have {nd} dimension(s); got {var.ndim}")
        named = {name: var for (name, _), var in zip(self._params, typed)}
        p = _first_known(named["mu"].type.shape[-1],
                         *(d for name in ("sigma_within", "sigma_between")
                           for d in named[name].type.shape))
        j = data[route.fields.index(route.n_clusters_field)].type.shape[0]
        if self.cluster_mean:
            j = _first_known(j, named["mu"].type.shape[0])
            if j is not None and named["mu"].type.shape[0] not in (None, j):
                raise ValueError("a cluster-varying mean must have one row per cluster: got "
                                 f"{named['mu'].type.shape[0]} rows for {j} clusters")
        return typed, data, p, j

    def _mu_type(self, p, j):
        """Type of the mean's gradient output: (p,), or (J, p) for a cluster-varying mean."""
        return _float((j, p)) if self.cluster_mean else _float((p,))

    def _n_clusters(self, data):
        return data[self._route.fields.index(self._route.n_clusters_field)].shape[0]

    def connection_pattern(self, node):
        n_out = len(node.outputs)
        n_data = len(node.inputs) - self._n_params
        return [[True] * n_out] * self._n_params + [[False] * n_out] * n_data

    def _disconnected_data(self, inputs):
        return [disconnected_type() for _ in inputs[self._n_params:]]


def _moment_shapes(input_shapes, offset=0):
    """infer_shape of (mu, Sigma_W, Sigma_B)-shaped outputs from the parameter inputs."""
    return [input_shapes[offset], input_shapes[offset + 1], input_shapes[offset + 2]]


def _hvp_along(route, weights, mu, sw, sb, c_mu, c_w, c_b, data):
    """HVP Op outputs along the cotangents (disconnected ones read as zero); for a
    cluster-varying mean, not implemented (``grad_not_implemented`` outputs, which replace
    rather than add to the first-order terms)."""
    if mu.ndim == 2:
        op = TwoLevelLogLikHVP(route)
        return [grad_not_implemented(op, k, v, "second derivatives of the two-level "
                                     "log-likelihood with a cluster-varying mean")
                for k, v in enumerate((mu, sw, sb))]
    c_mu = pt.zeros_like(mu) if _is_disconnected(c_mu) else c_mu
    c_w = pt.zeros_like(sw) if _is_disconnected(c_w) else c_w
    c_b = pt.zeros_like(sb) if _is_disconnected(c_b) else c_b
    return TwoLevelLogLikHVP(route)(weights, mu, sw, sb, c_mu, c_w, c_b, *data)


class TwoLevelLogLik(_TwoLevelOp):
    """Total two-level log-likelihood; outputs (logl, dlogl/dmu, dlogl/dSigma_W, dlogl/dSigma_B)."""

    _supports_cluster_mean = True

    def make_node(self, mu, sigma_within, sigma_between, *data):
        params, data, p, j = self._inputs((mu, sigma_within, sigma_between, *data))
        outputs = [_float(()), self._mu_type(p, j), _float((p, p)), _float((p, p))]
        return Apply(self, [*params, *data], outputs)

    def perform(self, node, inputs, output_storage):
        mu, sw, sb, *data = inputs
        logl, dmu, dw, db = self._route.total(mu, sw, sb, *data)
        output_storage[0][0] = np.asarray(logl, dtype=np.float64)
        output_storage[1][0] = np.asarray(dmu, dtype=np.float64)
        output_storage[2][0] = np.asarray(dw, dtype=np.float64)
        output_storage[3][0] = np.asarray(db, dtype=np.float64)

    def infer_shape(self, fgraph, node, input_shapes):
        return [(), *_moment_shapes(input_shapes)]

    def L_op(self, inputs, outputs, output_grads):
        mu, sw, sb, *data = inputs
        g_value, *c_grads = output_grads
        grads = [pt.zeros_like(mu), pt.zeros_like(sw), pt.zeros_like(sb)]
        if not _is_disconnected(g_value):
            grads = [g_value * out for out in outputs[1:]]
        if not all(_is_disconnected(c) for c in c_grads):
            ones = pt.ones((self._n_clusters(data),), dtype="float64")
            hvp = _hvp_along(self.route, ones, mu, sw, sb, *c_grads, data)
            grads = hvp if self.cluster_mean else [a + b for a, b in zip(grads, hvp)]
        return grads + self._disconnected_data(inputs)


class TwoLevelClusterLogLik(_TwoLevelOp):
    """Per-cluster contributions (J,) and the gradient of their sum, from one kernel pass.

    Outputs ``(per_cluster, dsum/dmu, dsum/dSigma_W, dsum/dSigma_B)``. The per-cluster
    vector's gradient under a uniform cotangent c is c times the stored gradient; any other
    cotangent goes to :class:`TwoLevelLogLikWeightedGrad` (a lazy ``ifelse`` decides at run
    time when the cotangent is not visibly uniform).
    """

    _supports_cluster_mean = True

    def make_node(self, mu, sigma_within, sigma_between, *data):
        params, data, p, j = self._inputs((mu, sigma_within, sigma_between, *data))
        outputs = [_float((j,)), self._mu_type(p, j), _float((p, p)), _float((p, p))]
        return Apply(self, [*params, *data], outputs)

    def perform(self, node, inputs, output_storage):
        mu, sw, sb, *data = inputs
        per_cluster, dmu, dw, db = self._route.value_grad(mu, sw, sb, *data)
        output_storage[0][0] = np.asarray(per_cluster, dtype=np.float64)
        output_storage[1][0] = np.asarray(dmu, dtype=np.float64)
        output_storage[2][0] = np.asarray(dw, dtype=np.float64)
        output_storage[3][0] = np.asarray(db, dtype=np.float64)

    def infer_shape(self, fgraph, node, input_shapes):
        field = self._route.fields.index(self._route.n_clusters_field)
        return [(input_shapes[3 + field][0],), *_moment_shapes(input_shapes)]

    def L_op(self, inputs, outputs, output_grads):
        mu, sw, sb, *data = inputs
        g, *c_grads = output_grads
        grads = [pt.zeros_like(mu), pt.zeros_like(sw), pt.zeros_like(sb)]
        if not _is_disconnected(g):
            c = _uniform_scalar(g)
            if c is not None:
                grads = [c * out for out in outputs[1:]]
            else:
                weighted = self._twin(TwoLevelLogLikWeightedGrad)(g, *inputs)
                uniform = pt.all(pt.eq(g, g[0]))
                grads = ifelse(uniform, [g[0] * out for out in outputs[1:]], list(weighted))
        if not all(_is_disconnected(c) for c in c_grads):
            ones = pt.ones((self._n_clusters(data),), dtype="float64")
            hvp = _hvp_along(self.route, ones, mu, sw, sb, *c_grads, data)
            grads = hvp if self.cluster_mean else [a + b for a, b in zip(grads, hvp)]
        return list(grads) + self._disconnected_data(inputs)


class TwoLevelLogLikWeightedGrad(_TwoLevelOp):
    """Gradient of Σ_j g_j l_j with respect to (mu, Sigma_W, Sigma_B)."""

    _params = (("weights", 1),) + _TwoLevelOp._params
    _supports_cluster_mean = True

    def make_node(self, weights, mu, sigma_within, sigma_between, *data):
        params, data, p, j = self._inputs((weights, mu, sigma_within, sigma_between, *data))
        outputs = [self._mu_type(p, j), _float((p, p)), _float((p, p))]
        return Apply(self, [*params, *data], outputs)

    def perform(self, node, inputs, output_storage):
        weights, mu, sw, sb, *data = inputs
        for k, value in enumerate(self._route.weighted_grad(weights, mu, sw, sb, *data)):
            output_storage[k][0] = np.asarray(value, dtype=np.float64)

    def infer_shape(self, fgraph, node, input_shapes):
        return _moment_shapes(input_shapes, offset=1)

    def L_op(self, inputs, outputs, output_grads):
        weights, mu, sw, sb, *data = inputs
        c_grads = output_grads
        if self.cluster_mean:
            return [grad_not_implemented(self, k, inputs[k], "second derivatives of the "
                                         "two-level log-likelihood with a cluster-varying mean")
                    for k in range(4)] + self._disconnected_data(inputs)
        h_mu, h_w, h_b = _hvp_along(self.route, weights, mu, sw, sb, *c_grads, data)
        g_mu, g_w, g_b = TwoLevelGradPerCluster(self.route)(mu, sw, sb, *data)
        d_weights = pt.zeros_like(weights)
        for c, g_j in zip(c_grads, (g_mu, g_w, g_b)):
            if not _is_disconnected(c):  # <C, grad l_j> per cluster
                d_weights = d_weights + pt.tensordot(g_j, c, axes=c.ndim)
        return [d_weights, h_mu, h_w, h_b] + self._disconnected_data(inputs)


class TwoLevelLogLikHVP(_TwoLevelOp):
    """Directional derivative of ∇ Σ_j g_j l_j along (v_mu, V_W, V_B) (directions symmetrised).

    Its gradient with respect to the directions is exact (the Hessian is symmetric: the VJP
    of v -> H v is H C); with respect to the weights and the moments it would be a third
    derivative, which is not implemented.
    """

    _params = (("weights", 1),) + _TwoLevelOp._params + (
        ("v_mu", 1), ("v_within", 2), ("v_between", 2))

    def make_node(self, weights, mu, sigma_within, sigma_between, v_mu, v_within, v_between,
                  *data):
        params, data, p, _ = self._inputs(
            (weights, mu, sigma_within, sigma_between, v_mu, v_within, v_between, *data))
        outputs = [_float((p,)), _float((p, p)), _float((p, p))]
        return Apply(self, [*params, *data], outputs)

    def perform(self, node, inputs, output_storage):
        weights, mu, sw, sb, v_mu, v_w, v_b, *data = inputs
        result = hessian.hvp(self.route, weights, mu, sw, sb, v_mu, v_w, v_b, *data)
        for k, value in enumerate(result):
            output_storage[k][0] = np.asarray(value, dtype=np.float64)

    def infer_shape(self, fgraph, node, input_shapes):
        return _moment_shapes(input_shapes, offset=1)

    def L_op(self, inputs, outputs, output_grads):
        weights, mu, sw, sb, v_mu, v_w, v_b, *data = inputs
        third = [grad_not_implemented(self, k, inputs[k], "third derivatives of the two-level "
                                      "log-likelihood") for k in range(4)]
        if all(_is_disconnected(c) for c in output_grads):
            dv = [pt.zeros_like(v) for v in (v_mu, v_w, v_b)]
        else:
            dv = list(_hvp_along(self.route, weights, mu, sw, sb, *output_grads, data))
        return third + dv + self._disconnected_data(inputs)


class TwoLevelGradPerCluster(_TwoLevelOp):
    """Per-cluster gradients ∇ l_j: (J, p), (J, p, p), (J, p, p)."""

    def make_node(self, mu, sigma_within, sigma_between, *data):
        params, data, p, j = self._inputs((mu, sigma_within, sigma_between, *data))
        outputs = [_float((j, p)), _float((j, p, p)), _float((j, p, p))]
        return Apply(self, [*params, *data], outputs)

    def perform(self, node, inputs, output_storage):
        mu, sw, sb, *data = inputs
        for k, value in enumerate(hessian.grad_per_cluster(self.route, mu, sw, sb, *data)):
            output_storage[k][0] = np.asarray(value, dtype=np.float64)

    def infer_shape(self, fgraph, node, input_shapes):
        field = self._route.fields.index(self._route.n_clusters_field)
        j = input_shapes[3 + field][0]
        mu, sw, sb = _moment_shapes(input_shapes)
        return [(j, *mu), (j, *sw), (j, *sb)]

    def L_op(self, inputs, outputs, output_grads):
        return [grad_not_implemented(self, k, inputs[k], "third derivatives of the two-level "
                                     "log-likelihood") for k in range(3)] + \
            self._disconnected_data(inputs)


# ---------------------------------------------------------------- symbolic wrappers
def loglik(stats_or_inputs, mu, sigma_within, sigma_between):
    """Symbolic total log-likelihood.

    ``stats_or_inputs`` is a :class:`TwoLevelStats` (its statistics become constants) or the
    ``(route, inputs)`` pair returned by :func:`data_inputs` (e.g. shared variables).
    """
    route, inputs = _as_route_inputs(stats_or_inputs)
    return TwoLevelLogLik(route)(mu, sigma_within, sigma_between, *inputs)[0]


def loglik_per_cluster(stats_or_inputs, mu, sigma_within, sigma_between):
    """Symbolic (J,) vector of per-cluster log-likelihood contributions.

    Its sum's gradient costs no second kernel pass (see :class:`TwoLevelClusterLogLik`).
    """
    route, inputs = _as_route_inputs(stats_or_inputs)
    return TwoLevelClusterLogLik(route)(mu, sigma_within, sigma_between, *inputs)[0]


def _as_route_inputs(stats_or_inputs):
    if isinstance(stats_or_inputs, TwoLevelStats):
        return data_inputs(stats_or_inputs)
    route, inputs = stats_or_inputs
    return route, inputs
