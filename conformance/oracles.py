"""Float64 numpy truth for dense layers, stacks of them, and optimizer steps, with error bounds.

Every oracle answer is an :class:`Interval`: a float64 centre and a radius that bounds how far a
correct implementation computing in ``dtype`` may land from it. The radius comes from standard
floating-point error analysis, not from a hand-picked constant:

* a dot product of length ``n`` computed in any order (with or without FMA) is within
  ``gamma(n) * sum(|a_i * b_i|)`` of the exact value, ``gamma(n) = n*u / (1 - n*u)``, where ``u``
  is the unit roundoff of ``dtype`` (Higham, *Accuracy and Stability of Numerical Algorithms*, 3.1);
* an activation moves an error ``e`` on its input by at most ``lipschitz * e`` and adds its own
  rounding, budgeted at ``ACTIVATION_ULPS`` units in the last place of its output;
* at a ReLU kink closer than the input's own error the derivative may be anything in [0, 1]
  (TF, torch and JAX all pick 0 at exactly 0), so the oracle widens the interval to that range
  instead of asking the caller to avoid kinks.

``SAFETY`` doubles every radius: the analysis is worst-case already, so the factor only absorbs
second-order terms the first-order bounds drop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Libm-quality exp/tanh/sigmoid are within 1-4 ulp; 16 leaves room for fused or approximate kernels
# (XLA, oneDNN) without letting a wrong formula through.
ACTIVATION_ULPS = 16
SAFETY = 2.0

# Largest |f''| of each activation: how much an input error moves its derivative.
_SECOND_DERIVATIVE_BOUND = {"linear": 0.0, "relu": 0.0, "sigmoid": 0.1, "tanh": 0.77}
_LIPSCHITZ = {"linear": 1.0, "relu": 1.0, "sigmoid": 0.25, "tanh": 1.0}


def unit_roundoff(dtype) -> float:
    return float(np.finfo(np.dtype(dtype)).eps) / 2


def gamma(n: int, dtype) -> float:
    nu = n * unit_roundoff(dtype)
    return nu / (1 - nu)


@dataclass
class Interval:
    """``center ± radius`` elementwise, in float64."""

    center: np.ndarray
    radius: np.ndarray

    @classmethod
    def exact(cls, value):
        value = np.asarray(value, dtype=np.float64)
        return cls(value, np.zeros_like(value))

    def violations(self, actual) -> np.ndarray:
        """Boolean mask of entries of ``actual`` outside the interval (NaN counts as outside)."""
        actual = np.asarray(actual, dtype=np.float64)
        excess = np.abs(actual - self.center) - SAFETY * self.radius
        return ~(excess <= 0)


def _matmul(a: Interval, w: np.ndarray, dtype) -> Interval:
    """``a @ w`` where ``w`` holds exact values and ``a`` carries its error."""
    contracted = w.shape[0]
    center = a.center @ w
    radius = np.abs(a.radius) @ np.abs(w) + gamma(contracted, dtype) * (np.abs(a.center) @ np.abs(w))
    return Interval(center, radius)


def activation(name, z: np.ndarray) -> np.ndarray:
    """``name`` applied to float64 ``z``; softmax over the last axis."""
    if name in (None, "linear"):
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        shifted = np.exp(z - z.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    raise ValueError(f"oracle: unknown activation {name!r}")


def _activate(name, z: Interval, dtype) -> Interval:
    name = name or "linear"
    y = activation(name, z.center)
    rounding = ACTIVATION_ULPS * unit_roundoff(dtype) * np.abs(y)
    if name == "softmax":
        # d softmax_i = s_i (dz_i - sum_j s_j dz_j), so |d softmax_i| <= 2 s_i max_j |dz_j|.
        spread = 2.0 * y * z.radius.max(axis=-1, keepdims=True) if z.radius.size else 0 * y
        return Interval(y, spread + rounding)
    return Interval(y, _LIPSCHITZ[name] * z.radius + rounding)


def _activation_vjp(name, z: Interval, y: Interval, upstream: Interval, dtype) -> Interval:
    """Gradient w.r.t. the pre-activation ``z`` given the gradient ``upstream`` w.r.t. its output."""
    name = name or "linear"
    u = unit_roundoff(dtype)
    if name == "softmax":
        s, g = y.center, upstream.center
        mean = np.sum(g * s, axis=-1, keepdims=True)
        center = s * (g - mean)
        mean_radius = np.sum(np.abs(g) * y.radius + upstream.radius * (s + y.radius), axis=-1, keepdims=True)
        radius = (
            y.radius * np.abs(g - mean)
            + (s + y.radius) * (upstream.radius + mean_radius)
            + ACTIVATION_ULPS * u * s * (np.abs(g) + np.sum(np.abs(g) * s, axis=-1, keepdims=True))
        )
        return Interval(center, radius)
    if name == "relu":
        ambiguous = np.abs(z.center) <= SAFETY * z.radius
        derivative = Interval(
            np.where(ambiguous, 0.5, (z.center > 0).astype(np.float64)),
            np.where(ambiguous, 0.5, 0.0),
        )
    elif name == "linear":
        derivative = Interval.exact(np.ones_like(z.center))
    else:
        slope = y.center * (1 - y.center) if name == "sigmoid" else 1 - y.center**2
        derivative = Interval(
            slope,
            _SECOND_DERIVATIVE_BOUND[name] * z.radius + ACTIVATION_ULPS * u * np.abs(slope),
        )
    center = upstream.center * derivative.center
    radius = (
        np.abs(upstream.center) * derivative.radius
        + upstream.radius * (np.abs(derivative.center) + derivative.radius)
        + u * np.abs(center)
    )
    return Interval(center, radius)


@dataclass
class DenseParams:
    """One dense layer's exact float64 weights and activation name (``None`` is linear)."""

    kernel: np.ndarray
    bias: np.ndarray
    activation: str | None = None


def _as_params(layers):
    return [
        DenseParams(np.asarray(p.kernel, np.float64), np.asarray(p.bias, np.float64), p.activation)
        for p in layers
    ]


def _flatten(x):
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(-1, x.shape[-1]), x.shape[:-1]


def forward(layers, x, dtype="float32") -> Interval:
    """Output of ``layers`` (a list of :class:`DenseParams`) applied in order to ``x``.

    ``x`` may have any rank >= 2; each layer contracts the last axis.
    """
    flat, leading = _flatten(x)
    value = Interval.exact(flat)
    for p in _as_params(layers):
        value = _activate(p.activation, _add_bias(_matmul(value, p.kernel, dtype), p.bias, dtype), dtype)
    return Interval(value.center.reshape(leading + (-1,)), value.radius.reshape(leading + (-1,)))


def _add_bias(z: Interval, bias, dtype) -> Interval:
    center = z.center + bias
    return Interval(center, z.radius + unit_roundoff(dtype) * np.abs(center))


@dataclass
class Gradients:
    """Oracle gradients of ``sum(model(x) * cotangent)``: inputs, then ``[kernel, bias]`` per layer."""

    inputs: Interval
    weights: list


def vjp(layers, x, cotangent, dtype="float32") -> Gradients:
    """Gradients of ``sum(f(x) * cotangent)`` through ``layers`` w.r.t. ``x`` and every weight."""
    params = _as_params(layers)
    flat, leading = _flatten(x)
    cotangent_flat = np.asarray(cotangent, np.float64).reshape(-1, params[-1].kernel.shape[1])
    inputs, pre, post = [Interval.exact(flat)], [], []
    for p in params:
        z = _add_bias(_matmul(inputs[-1], p.kernel, dtype), p.bias, dtype)
        y = _activate(p.activation, z, dtype)
        pre.append(z)
        post.append(y)
        inputs.append(y)
    upstream = Interval.exact(cotangent_flat)
    weights = []
    rows = flat.shape[0]
    for index in reversed(range(len(params))):
        p = params[index]
        g = _activation_vjp(p.activation, pre[index], post[index], upstream, dtype)
        a = inputs[index]
        grad_kernel = Interval(
            a.center.T @ g.center,
            gamma(rows, dtype) * (np.abs(a.center).T @ np.abs(g.center))
            + np.abs(a.center).T @ g.radius
            + a.radius.T @ (np.abs(g.center) + g.radius),
        )
        grad_bias = Interval(
            g.center.sum(axis=0),
            gamma(rows, dtype) * np.abs(g.center).sum(axis=0) + g.radius.sum(axis=0),
        )
        weights[:0] = [grad_kernel, grad_bias]
        upstream = _matmul(g, p.kernel.T, dtype)
    grad_inputs = Interval(upstream.center.reshape(leading + (-1,)), upstream.radius.reshape(leading + (-1,)))
    return Gradients(grad_inputs, weights)


def describe_mismatch(what, actual, expected: Interval, max_items=3) -> str:
    """A readable account of where ``actual`` leaves ``expected``: index, actual, expected, bound."""
    actual = np.asarray(actual, dtype=np.float64)
    if actual.shape != expected.center.shape:
        return f"{what}: shape {actual.shape}, expected {expected.center.shape}"
    bad = np.argwhere(expected.violations(actual))
    if not len(bad):
        return ""
    lines = [f"{what}: {len(bad)} of {actual.size} entries outside the float error bound"]
    for index in map(tuple, bad[:max_items]):
        lines.append(
            f"  at {index}: actual {actual[index]!r}, expected {expected.center[index]!r} "
            f"± {SAFETY * expected.radius[index]:.3g}"
        )
    return "\n".join(lines)


def assert_within(what, actual, expected: Interval):
    """Raise AssertionError naming ``what`` unless ``actual`` lies inside ``expected``."""
    problem = describe_mismatch(what, actual, expected)
    if problem:
        raise AssertionError(problem)
