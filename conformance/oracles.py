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


def rounding_error(n: int, magnitude, dtype):
    """Bound on the error of ``n`` roundings on terms of total ``magnitude``: ``gamma(n) * magnitude``
    plus ``n`` times the smallest normal number, because products may underflow and CPUs flush
    subnormal results to zero (TensorFlow on x86 does)."""
    return gamma(n, dtype) * magnitude + n * float(np.finfo(np.dtype(dtype)).tiny)


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
    radius = np.abs(a.radius) @ np.abs(w) + rounding_error(contracted, np.abs(a.center) @ np.abs(w), dtype)
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
    return Interval(center, z.radius + rounding_error(1, np.abs(center), dtype))


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
            rounding_error(rows, np.abs(a.center).T @ np.abs(g.center), dtype)
            + np.abs(a.center).T @ g.radius
            + a.radius.T @ (np.abs(g.center) + g.radius),
        )
        grad_bias = Interval(
            g.center.sum(axis=0),
            rounding_error(rows, np.abs(g.center).sum(axis=0), dtype) + g.radius.sum(axis=0),
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
    for index in (tuple(int(i) for i in row) for row in bad[:max_items]):
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


# -- Training: interval arithmetic for losses and optimizer steps --------------------------------
#
# A training step is a short chain of elementwise operations and reductions, so its oracle is the
# same chain in float64 on :class:`Interval` values. Each operation adds the rounding of its own
# float result, ``u * |result|`` (an IEEE operation is correctly rounded), plus the first-order
# propagation of its inputs' radii; reductions of length ``n`` add ``gamma(n) * sum|terms|``, which
# holds for any summation order. Constants that the framework rounds to ``dtype`` (a learning
# rate, ``1 - beta_1``) enter with radius ``u * |value|``. The bounds are therefore derived per
# step from the data, never chosen, and they stay sound across several steps because the radius of
# a weight after step ``k`` is an input radius of step ``k + 1``.


def rounded_constant(value, dtype) -> Interval:
    """A Python constant as the framework holds it: ``value`` rounded once to ``dtype``."""
    value = np.asarray(value, dtype=np.float64)
    return Interval(value, unit_roundoff(dtype) * np.abs(value))


def _rounded(center, radius, dtype, operations=1) -> Interval:
    return Interval(center, radius + rounding_error(operations, np.abs(center), dtype))


def i_add(a: Interval, b: Interval, dtype) -> Interval:
    return _rounded(a.center + b.center, a.radius + b.radius, dtype)


def i_sub(a: Interval, b: Interval, dtype) -> Interval:
    return _rounded(a.center - b.center, a.radius + b.radius, dtype)


def i_mul(a: Interval, b: Interval, dtype) -> Interval:
    center = a.center * b.center
    return _rounded(center, np.abs(a.center) * b.radius + np.abs(b.center) * a.radius + a.radius * b.radius, dtype)


def i_div(a: Interval, b: Interval, dtype) -> Interval:
    center = a.center / b.center
    floor = np.abs(b.center) - b.radius
    if np.any(floor <= 0):
        raise ValueError("oracle: divisor interval contains zero; the quotient is unbounded")
    return _rounded(center, (a.radius + np.abs(center) * b.radius) / floor, dtype)


def i_square(a: Interval, dtype) -> Interval:
    return i_mul(a, a, dtype)


def i_sqrt(a: Interval, dtype) -> Interval:
    """``sqrt`` of a non-negative interval; the radius is the exact width of sqrt over it."""
    center = np.sqrt(np.maximum(a.center, 0.0))
    upper = np.sqrt(np.maximum(a.center + a.radius, 0.0)) - center
    lower = center - np.sqrt(np.maximum(a.center - a.radius, 0.0))
    return _rounded(center, np.maximum(upper, lower), dtype)


def i_abs(a: Interval) -> Interval:
    return Interval(np.abs(a.center), a.radius)  # |.| is exact and 1-Lipschitz


def i_sum(a: Interval, axis, dtype) -> Interval:
    """Sum over ``axis`` in any order: ``gamma(n) * sum|terms|`` plus the summed radii."""
    n = a.center.shape[axis] if axis is not None else a.center.size
    return Interval(
        a.center.sum(axis=axis),
        a.radius.sum(axis=axis) + rounding_error(max(n - 1, 1), np.abs(a.center).sum(axis=axis), dtype),
    )


def i_mean(a: Interval, axis, dtype) -> Interval:
    """Sum then divide by the count (the count is exact, the division rounds once)."""
    n = a.center.shape[axis] if axis is not None else a.center.size
    total = i_sum(a, axis, dtype)
    return _rounded(total.center / n, total.radius / n, dtype)


def i_matmul(a: Interval, b: Interval, dtype) -> Interval:
    """``a @ b`` with errors in both factors (a dot product of length n: gamma(n) * |a||b|)."""
    center = a.center @ b.center
    radius = (
        np.abs(a.center) @ b.radius
        + a.radius @ np.abs(b.center)
        + a.radius @ b.radius
        + rounding_error(a.center.shape[-1], np.abs(a.center) @ np.abs(b.center), dtype)
    )
    return Interval(center, radius)


# Keras's backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON] in crossentropies.
CLIP_EPSILON = 1e-7


def loss_per_sample(name, y_true, y_pred: Interval, dtype="float32") -> Interval:
    """Per-sample loss (mean or sum over the last axis) of prediction ``y_pred`` against ``y_true``.

    ``name`` is one of ``mse``, ``mae``, ``binary_crossentropy``, ``categorical_crossentropy``.
    Crossentropies are bounded on the probability path; Keras may take the exact logits path
    instead, which lies inside this (wider) interval when probabilities stay away from the clip.
    """
    target = Interval.exact(np.asarray(y_true, np.float64))
    if name == "mse":
        return i_mean(i_square(i_sub(y_pred, target, dtype), dtype), -1, dtype)
    if name == "mae":
        return i_mean(i_abs(i_sub(y_pred, target, dtype)), -1, dtype)
    low, high = CLIP_EPSILON, 1.0 - CLIP_EPSILON
    if name == "binary_crossentropy":
        p = Interval(np.clip(y_pred.center, low, high), y_pred.radius)
        q = Interval(1.0 - p.center, p.radius + unit_roundoff(dtype) * (1.0 - p.center))
        terms = target.center * _log(p, dtype).center + (1 - target.center) * _log(q, dtype).center
        radius = np.abs(target.center) * _log(p, dtype).radius + np.abs(1 - target.center) * _log(q, dtype).radius
        return i_mean(_rounded(-terms, radius, dtype, 3), -1, dtype)
    if name == "categorical_crossentropy":
        p = Interval(np.clip(y_pred.center, low, high), y_pred.radius)
        logs = _log(p, dtype)
        return i_sum(_rounded(-target.center * logs.center, np.abs(target.center) * logs.radius, dtype), -1, dtype)
    raise ValueError(f"oracle: unknown loss {name!r}; expected mse, mae, binary_crossentropy or categorical_crossentropy")


def _log(p: Interval, dtype) -> Interval:
    """``log`` over a positive interval: its width is at most radius / smallest value (+ libm ulps)."""
    floor = np.maximum(p.center - p.radius, CLIP_EPSILON)
    center = np.log(p.center)
    return Interval(center, p.radius / floor + ACTIVATION_ULPS * unit_roundoff(dtype) * np.abs(center))


def batch_loss(name, y_true, y_pred: Interval, dtype="float32", sample_weight=None) -> Interval:
    """Keras's ``sum_over_batch_size`` reduction: ``sum(sample_weight * loss) / batch``."""
    per_sample = loss_per_sample(name, y_true, y_pred, dtype)
    if sample_weight is not None:
        per_sample = i_mul(per_sample, Interval.exact(np.asarray(sample_weight, np.float64)), dtype)
    return i_mean(per_sample, 0, dtype)


def mse_output_gradient(y_true, y_pred: Interval, dtype="float32") -> Interval:
    """``d mean_batch(mse) / d y_pred = 2 (y_pred - y_true) / (batch * units)``.

    Frameworks backpropagate the two means as separate scalings; ``gamma(3)`` covers the
    factor 2 and the two divisions in any order.
    """
    batch, units = y_pred.center.shape
    residual = i_sub(y_pred, Interval.exact(np.asarray(y_true, np.float64)), dtype)
    scale = 2.0 / (batch * units)
    return _rounded(scale * residual.center, scale * residual.radius, dtype, 3)


@dataclass
class EpochTrace:
    """What the SGD oracle predicts for one epoch: weights after it and each batch's pre-update loss."""

    kernel: Interval
    bias: Interval
    batch_losses: list
    batch_sizes: list
    dtype: str = "float32"

    @property
    def epoch_loss(self) -> Interval:
        """The batch-size-weighted mean of the per-batch losses, as Keras logs it."""
        weighted = [i_mul(loss, Interval.exact(np.float64(size)), self.dtype) for loss, size in zip(self.batch_losses, self.batch_sizes)]
        total = weighted[0]
        for term in weighted[1:]:
            total = i_add(total, term, self.dtype)
        count = float(sum(self.batch_sizes))
        return _rounded(total.center / count, total.radius / count, self.dtype)


def batch_slices(num_samples: int, batch_size: int) -> list:
    """``ceil(N / batch_size)`` consecutive slices; the last one may be partial."""
    return [slice(start, min(start + batch_size, num_samples)) for start in range(0, num_samples, batch_size)]


def dense_mse_epoch(kernel, bias, x, y, batch_size, step, states=None, dtype="float32") -> EpochTrace:
    """One unshuffled epoch on a linear dense layer with mean-squared error.

    Each batch: ``z = x_b @ kernel + bias``, the loss ``mean((z - y_b)^2)`` before the update, the
    gradients ``x_b^T dL/dz`` and ``sum_b dL/dz``, then ``step(weight, gradient, state)`` (one of
    the optimizer rules below with its hyperparameters bound). ``kernel``/``bias`` may be arrays or
    the :class:`Interval` weights of an earlier epoch; ``states`` carries the optimizer slots
    between epochs (one dict per weight, updated in place).
    """
    kernel = kernel if isinstance(kernel, Interval) else Interval.exact(kernel)
    bias = bias if isinstance(bias, Interval) else Interval.exact(bias)
    states = [{}, {}] if states is None else states
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    losses, sizes = [], []
    for rows in batch_slices(len(x), batch_size):
        z = dense_forward(kernel, bias, x[rows], dtype)
        losses.append(batch_loss("mse", y[rows], z, dtype))
        sizes.append(len(x[rows]))
        upstream = mse_output_gradient(y[rows], z, dtype)
        grad_kernel = i_matmul(Interval.exact(x[rows].T), upstream, dtype)
        grad_bias = i_sum(upstream, 0, dtype)
        kernel = step(kernel, grad_kernel, states[0])
        bias = step(bias, grad_bias, states[1])
    return EpochTrace(kernel, bias, losses, sizes, dtype)


def dense_forward(kernel: Interval, bias: Interval, x, dtype="float32") -> Interval:
    """``x @ kernel + bias`` for weights that carry an error (the output of a training oracle)."""
    return i_add(i_matmul(Interval.exact(np.asarray(x, np.float64)), kernel, dtype), bias, dtype)


# Optimizer update rules, transcribed from Keras 3 (keras/src/optimizers/{sgd,rmsprop,adam}.py),
# which tf_keras and the reference share. ``state`` holds the slot intervals between steps.


def sgd_step(weight: Interval, gradient, state: dict, learning_rate, momentum=0.0, dtype="float32") -> Interval:
    """SGD: ``m = momentum * m - lr * g; w += m``; without momentum ``w -= lr * g``."""
    g = gradient if isinstance(gradient, Interval) else Interval.exact(gradient)
    lr = rounded_constant(learning_rate, dtype)
    if not momentum:
        return i_sub(weight, i_mul(g, lr, dtype), dtype)
    m = state.get("momentum", Interval.exact(np.zeros_like(weight.center)))
    m = i_sub(i_mul(m, rounded_constant(momentum, dtype), dtype), i_mul(g, lr, dtype), dtype)
    state["momentum"] = m
    return i_add(weight, m, dtype)


def rmsprop_step(weight: Interval, gradient, state: dict, learning_rate, rho=0.9, epsilon=1e-7, dtype="float32") -> Interval:
    """RMSprop (no momentum, not centred): ``v = rho v + (1 - rho) g^2; w -= lr g / sqrt(v + eps)``."""
    g = gradient if isinstance(gradient, Interval) else Interval.exact(gradient)
    v = state.get("velocity", Interval.exact(np.zeros_like(weight.center)))
    v = i_add(i_mul(rounded_constant(rho, dtype), v, dtype), i_mul(rounded_constant(1 - rho, dtype), i_square(g, dtype), dtype), dtype)
    state["velocity"] = v
    denominator = i_sqrt(i_add(v, rounded_constant(epsilon, dtype), dtype), dtype)
    increment = i_div(i_mul(rounded_constant(learning_rate, dtype), g, dtype), denominator, dtype)
    return i_sub(weight, increment, dtype)


def adam_step(weight: Interval, gradient, state: dict, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, dtype="float32") -> Interval:
    """Adam as Keras writes it: bias correction folded into ``alpha``, ``eps`` added to ``sqrt(v)``.

    ``t = iterations + 1; alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t);``
    ``m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2); w -= m alpha / (sqrt(v) + eps)``.
    """
    g = gradient if isinstance(gradient, Interval) else Interval.exact(gradient)
    step = state.get("iterations", 0) + 1
    state["iterations"] = step
    zeros = Interval.exact(np.zeros_like(weight.center))
    m, v = state.get("momentum", zeros), state.get("velocity", zeros)
    # beta^t via pow in dtype: libm-quality, budgeted like an activation.
    powers = [
        Interval(np.float64(beta) ** step, ACTIVATION_ULPS * unit_roundoff(dtype) * np.float64(beta) ** step + step * unit_roundoff(dtype) * np.float64(beta) ** step)
        for beta in (beta_1, beta_2)
    ]
    one = Interval.exact(np.float64(1.0))
    alpha = i_div(
        i_mul(rounded_constant(learning_rate, dtype), i_sqrt(i_sub(one, powers[1], dtype), dtype), dtype),
        i_sub(one, powers[0], dtype),
        dtype,
    )
    m = i_add(m, i_mul(i_sub(g, m, dtype), rounded_constant(1 - beta_1, dtype), dtype), dtype)
    v = i_add(v, i_mul(i_sub(i_square(g, dtype), v, dtype), rounded_constant(1 - beta_2, dtype), dtype), dtype)
    state["momentum"], state["velocity"] = m, v
    increment = i_div(i_mul(m, alpha, dtype), i_add(i_sqrt(v, dtype), rounded_constant(epsilon, dtype), dtype), dtype)
    return i_sub(weight, increment, dtype)


OPTIMIZER_STEPS = {"sgd": sgd_step, "rmsprop": rmsprop_step, "adam": adam_step}
