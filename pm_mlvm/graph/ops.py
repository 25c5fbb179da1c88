"""The two-level log-likelihood as PyTensor Ops with analytic gradients.

Three Ops share the kernels of :mod:`pm_mlvm.likelihood.kernels`:

* :class:`TwoLevelLogLik` — the total log-likelihood, fused: one ``perform`` returns the value
  and the gradients with respect to (mu, Sigma_W, Sigma_B); the gradient of the value is
  read from those outputs, so a compiled ``[logp, dlogp]`` evaluates the kernel once.
* :class:`TwoLevelClusterLogLik` — the (J,) vector of per-cluster contributions (for
  leave-one-cluster-out); its gradient is :class:`TwoLevelLogLikWeightedGrad`.
* :class:`TwoLevelLogLikWeightedGrad` — ∇ Σ_j g_j l_j for per-cluster weights g.

The statistics are *graph inputs* (constants or shared variables), never Op attributes, so
the same compiled function serves a new data set of the same structure after
``shared.set_value``. Two routes exist: ``"sizes"`` (per-size statistics) and ``"rows"``
(per-cluster Woodbury form); :func:`data_inputs` gives the inputs of the route a
:class:`~pm_mlvm.stats.TwoLevelStats` needs.

Failure is a value: a non-positive-definite covariance gives -inf and a zero gradient.
Second derivatives are not implemented (use the analytic information in ``pm_mlvm.ml``).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_type, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.null_type import NullType
from pytensor.graph.op import Op

from pm_mlvm.likelihood.routes import ROUTES, Route, data_arrays
from pm_mlvm.stats.twolevel import TwoLevelStats

__all__ = [
    "ROUTES",
    "TwoLevelLogLik",
    "TwoLevelClusterLogLik",
    "TwoLevelLogLikWeightedGrad",
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


class _TwoLevelOp(Op):
    """Common input handling: (mu, Sigma_W, Sigma_B, *statistics of the route)."""

    __props__ = ("route",)

    def __init__(self, route: str):
        if route not in ROUTES:
            raise ValueError(f"route must be one of {sorted(ROUTES)}; got {route!r}")
        self.route = route

    @property
    def _route(self) -> Route:
        return ROUTES[self.route]

    def _params_and_data(self, mu, sigma_within, sigma_between, data):
        route = self._route
        if len(data) != len(route.fields):
            raise TypeError(
                f"{type(self).__name__}({self.route!r}) takes {len(route.fields)} statistics "
                f"inputs {route.fields}; got {len(data)}"
            )
        mu = pt.as_tensor_variable(mu).astype("float64")
        sigma_within = pt.as_tensor_variable(sigma_within).astype("float64")
        sigma_between = pt.as_tensor_variable(sigma_between).astype("float64")
        for name, var, nd in (("mu", mu, 1), ("sigma_within", sigma_within, 2),
                              ("sigma_between", sigma_between, 2)):
            if var.ndim != nd:
                raise TypeError(f"{name} must have {nd} dimension(s); got {var.ndim}")
        data = [pt.as_tensor_variable(d) for d in data]
        for name, var, nd in zip(route.fields, data, route.ndims):
            if var.ndim != nd:
                raise TypeError(f"statistic {name!r} must have {nd} dimension(s); got {var.ndim}")
        return [mu, sigma_within, sigma_between], data

    def connection_pattern(self, node):
        n_out = len(node.outputs)
        n_data = len(node.inputs) - self._n_param_inputs
        return [[True] * n_out] * self._n_param_inputs + [[False] * n_out] * n_data

    _n_param_inputs = 3


class TwoLevelLogLik(_TwoLevelOp):
    """Total two-level log-likelihood; outputs (logl, dlogl/dmu, dlogl/dSigma_W, dlogl/dSigma_B)."""

    def make_node(self, mu, sigma_within, sigma_between, *data):
        params, data = self._params_and_data(mu, sigma_within, sigma_between, data)
        outputs = [pt.dscalar(), pt.dvector(), pt.dmatrix(), pt.dmatrix()]
        return Apply(self, [*params, *data], outputs)

    def perform(self, node, inputs, output_storage):
        mu, sw, sb, *data = inputs
        logl, dmu, dw, db = self._route.total(mu, sw, sb, *data)
        output_storage[0][0] = np.asarray(logl, dtype=np.float64)
        output_storage[1][0] = np.asarray(dmu, dtype=np.float64)
        output_storage[2][0] = np.asarray(dw, dtype=np.float64)
        output_storage[3][0] = np.asarray(db, dtype=np.float64)

    def infer_shape(self, fgraph, node, input_shapes):
        return [(), input_shapes[0], input_shapes[1], input_shapes[2]]

    def L_op(self, inputs, outputs, output_grads):
        g = output_grads[0]
        for extra in output_grads[1:]:
            if not isinstance(extra.type, DisconnectedType | NullType):
                return [
                    grad_not_implemented(self, k, inp,
                                         "second derivatives of the two-level log-likelihood")
                    for k, inp in enumerate(inputs)
                ]
        grads = [g * outputs[1], g * outputs[2], g * outputs[3]]
        return grads + [disconnected_type() for _ in inputs[3:]]


class TwoLevelClusterLogLik(_TwoLevelOp):
    """Per-cluster log-likelihood contributions, a (J,) vector whose sum is the total."""

    def make_node(self, mu, sigma_within, sigma_between, *data):
        params, data = self._params_and_data(mu, sigma_within, sigma_between, data)
        return Apply(self, [*params, *data], [pt.dvector()])

    def perform(self, node, inputs, output_storage):
        mu, sw, sb, *data = inputs
        output_storage[0][0] = np.asarray(self._route.per_cluster(mu, sw, sb, *data),
                                          dtype=np.float64)

    def infer_shape(self, fgraph, node, input_shapes):
        field = self._route.fields.index(self._route.n_clusters_field)
        return [(input_shapes[3 + field][0],)]

    def L_op(self, inputs, outputs, output_grads):
        dmu, dw, db = TwoLevelLogLikWeightedGrad(self.route)(output_grads[0], *inputs)
        return [dmu, dw, db] + [disconnected_type() for _ in inputs[3:]]


class TwoLevelLogLikWeightedGrad(_TwoLevelOp):
    """Gradient of Σ_j g_j l_j with respect to (mu, Sigma_W, Sigma_B)."""

    _n_param_inputs = 4

    def make_node(self, weights, mu, sigma_within, sigma_between, *data):
        params, data = self._params_and_data(mu, sigma_within, sigma_between, data)
        weights = pt.as_tensor_variable(weights).astype("float64")
        outputs = [pt.dvector(), pt.dmatrix(), pt.dmatrix()]
        return Apply(self, [weights, *params, *data], outputs)

    def perform(self, node, inputs, output_storage):
        weights, mu, sw, sb, *data = inputs
        for k, value in enumerate(self._route.weighted_grad(weights, mu, sw, sb, *data)):
            output_storage[k][0] = np.asarray(value, dtype=np.float64)

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[1], input_shapes[2], input_shapes[3]]

    def L_op(self, inputs, outputs, output_grads):
        return [grad_not_implemented(self, k, inp, "second derivatives of the two-level "
                                     "log-likelihood") for k, inp in enumerate(inputs)]


# ---------------------------------------------------------------- symbolic wrappers
def loglik(stats_or_inputs, mu, sigma_within, sigma_between):
    """Symbolic total log-likelihood.

    ``stats_or_inputs`` is a :class:`TwoLevelStats` (its statistics become constants) or the
    ``(route, inputs)`` pair returned by :func:`data_inputs` (e.g. shared variables).
    """
    route, inputs = _as_route_inputs(stats_or_inputs)
    return TwoLevelLogLik(route)(mu, sigma_within, sigma_between, *inputs)[0]


def loglik_per_cluster(stats_or_inputs, mu, sigma_within, sigma_between):
    """Symbolic (J,) vector of per-cluster log-likelihood contributions."""
    route, inputs = _as_route_inputs(stats_or_inputs)
    return TwoLevelClusterLogLik(route)(mu, sigma_within, sigma_between, *inputs)


def _as_route_inputs(stats_or_inputs):
    if isinstance(stats_or_inputs, TwoLevelStats):
        return data_inputs(stats_or_inputs)
    route, inputs = stats_or_inputs
    return route, inputs
