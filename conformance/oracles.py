"""Float64 numpy truth for dense layers, stacks of them, losses and optimizer steps, with error bounds.

Every oracle answer is an :class:`Interval`: a float64 centre and a radius that bounds how far a
correct implementation computing in ``dtype`` may land from it. The radius comes from standard
floating-point error analysis, not from a hand-picked constant:

* a dot product of length ``n`` computed in any order (with or without FMA) is within
  ``gamma(n) * sum(|a_i * b_i|)`` of the exact value, ``gamma(n) = n*u / (1 - n*u)``, where ``u``
  is the unit roundoff of ``dtype`` (Higham, *Accuracy and Stability of Numerical Algorithms*, 3.1);
  any other IEEE operation is correctly rounded, within ``u * |result|``;
* an activation maps its input's interval to the exact range it takes there (each activation is
  monotone; softmax is bounded by its extreme logit differences), so saturation stays exact at any
  magnitude, and adds its own rounding, budgeted at ``ACTIVATION_ULPS`` units in the last place of
  its output plus the smallest normal number (CPUs flush subnormal results to zero);
* at a ReLU kink closer than the input's own error the derivative may be anything in [0, 1]
  (TF, torch and JAX all pick 0 at exactly 0), so the oracle widens the interval to that range
  instead of asking the caller to avoid kinks;
* the bounds above hold while nothing overflows. Where the positive terms of a dot product add up
  to more than ``dtype``'s largest value, some summation order overflows and a correct result may be
  +inf (likewise -inf for the negative terms; where both can, inf - inf makes anything possible).
  The oracle marks those entries (``Interval.pos_overflow``/``neg_overflow``) and nowhere else, so
  +-inf or NaN where every partial sum is representable is a failure. Every later operation carries
  the marks the way float arithmetic carries infinities: saturating activations absorb an overflow
  (sigmoid(+inf) = 1), sums and products pass it on with its sign, inf - inf and inf * 0 make
  anything possible.

One algebra serves every oracle: the interval operations (``i_add`` to ``i_matmul``) each bound one
float operation and mark where it may overflow, and both the layer oracles (:func:`forward`,
:func:`vjp`) and the training oracles (losses, :func:`dense_mse_epoch`, optimizer steps) are
written in them. ``SAFETY`` doubles every radius: the analysis is worst-case already, so the factor
only absorbs second-order terms the first-order bounds drop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Libm-quality exp/tanh/sigmoid are within 1-4 ulp; 16 leaves room for fused or approximate kernels
# (XLA, oneDNN) without letting a wrong formula through.
ACTIVATION_ULPS = 16
SAFETY = 2.0


def unit_roundoff(dtype) -> float:
    return float(np.finfo(np.dtype(dtype)).eps) / 2


def gamma(n: int, dtype) -> float:
    nu = n * unit_roundoff(dtype)
    return nu / (1 - nu)


def largest(dtype) -> float:
    """The largest finite value of ``dtype``: a float result beyond it is +-inf."""
    return float(np.finfo(np.dtype(dtype)).max)


def _tiny(dtype) -> float:
    return float(np.finfo(np.dtype(dtype)).tiny)


def rounding_error(n: int, magnitude, dtype):
    """Bound on the error of ``n`` roundings on terms of total ``magnitude``: ``gamma(n) * magnitude``
    plus ``n`` times the smallest normal number, because products may underflow and CPUs flush
    subnormal results to zero (TensorFlow on x86 does)."""
    return gamma(n, dtype) * magnitude + n * _tiny(dtype)



@dataclass
class Interval:
    """``center ± radius`` elementwise, in float64; an infinite radius accepts any value but NaN.

    ``pos_overflow``/``neg_overflow`` (boolean arrays, ``None`` for nowhere) mark entries where float
    arithmetic may overflow on the way to the result: there a correct result may also be +inf
    (respectively -inf), and where both are marked, anything at all (NaN included).
    """

    center: np.ndarray
    radius: np.ndarray
    pos_overflow: np.ndarray | None = None
    neg_overflow: np.ndarray | None = None

    @classmethod
    def exact(cls, value):
        value = np.asarray(value, dtype=np.float64)
        return cls(value, np.zeros_like(value))

    @property
    def overflow(self) -> tuple:
        """``(pos_overflow, neg_overflow)`` as boolean arrays of the centre's shape."""
        nowhere = np.zeros(np.shape(self.center), bool)
        return (
            nowhere if self.pos_overflow is None else np.asarray(self.pos_overflow, bool),
            nowhere if self.neg_overflow is None else np.asarray(self.neg_overflow, bool),
        )

    def map(self, rearrange) -> Interval:
        """The same values rearranged: ``rearrange`` (a transpose, reshape or index) applied alike to
        the centre, the radius and both marks."""
        return Interval(*(rearrange(v) for v in (self.center, self.radius, *self.overflow)))

    def violations(self, actual) -> np.ndarray:
        """Boolean mask of entries of ``actual`` outside the interval (NaN counts as outside)."""
        actual = np.asarray(actual, dtype=np.float64)
        with np.errstate(invalid="ignore"):  # inf - inf in a bound compares False, never raises
            inside = (self.center - SAFETY * self.radius <= actual) & (actual <= self.center + SAFETY * self.radius)
        pos, neg = self.overflow
        inside |= (pos & (actual == np.inf)) | (neg & (actual == -np.inf)) | (pos & neg)
        return ~inside


def _interval(value) -> Interval:
    """``value`` itself if it is an :class:`Interval`, else the exact interval of that array."""
    return value if isinstance(value, Interval) else Interval.exact(value)


def _concatenate(parts, axis) -> Interval:
    """The intervals ``parts`` joined along ``axis``, marks included."""
    fields = [(part.center, part.radius, *part.overflow) for part in parts]
    return Interval(*(np.concatenate(column, axis) for column in zip(*fields)))


def _marked(center, radius, pos, neg) -> Interval:
    """An Interval whose entries float64 could not bound (a non-finite centre or radius: an overflow,
    a ``0 * inf``, a divisor that may be zero) accept anything, like those where both signs can
    overflow."""
    with np.errstate(invalid="ignore"):
        lost = ~(np.isfinite(center) & np.isfinite(radius))
    anything = lost | (pos & neg)
    return Interval(np.where(anything, 0.0, center), np.where(anything, 0.0, radius), pos | anything, neg | anything)


# -- The interval algebra: one float operation at a time ------------------------------------------
#
# Each operation below returns the float64 value of its exact result as the centre, and as the
# radius the first-order propagation of its inputs' radii plus the rounding of its own float
# result: ``u * |result|`` for an elementwise operation, ``gamma(n) * sum|terms|`` for a dot product
# or sum of ``n`` terms in any order. Constants that the framework rounds to ``dtype`` (a learning
# rate, ``1 - beta_1``) enter with radius ``u * |value|``. Each also marks where its float result
# may be +-inf: where its inputs may be and float arithmetic keeps the infinity, and where the
# value itself may pass ``dtype``'s largest float. The bounds are therefore derived from the data,
# never chosen, and they stay sound across layers and training steps because each result's radius
# and marks are the next operation's inputs.
#
# No operation raises on a legitimate input: where no bound can be derived (a divisor whose
# interval reaches zero, ``0 * inf`` from an unbounded radius) the entry accepts anything.


def rounded_constant(value, dtype) -> Interval:
    """A Python constant as the framework holds it: ``value`` rounded once to ``dtype``."""
    value = np.asarray(value, dtype=np.float64)
    return Interval(value, unit_roundoff(dtype) * np.abs(value))


def _may_overflow(magnitude, operations, dtype):
    """Where float arithmetic of ``operations`` roundings on exact values of at most ``magnitude``
    may pass ``dtype``'s largest float (each rounding grows a value by at most ``u``; NaN counts
    as may)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return ~(magnitude * (1 + gamma(operations, dtype)) < largest(dtype))


def _rounded(center, radius, dtype, pos=False, neg=False, operations=1) -> Interval:
    """The float result of ``operations`` roundings of a value in ``center ± radius``: the radius
    grows by their error; it may be +inf where an input's infinity carries through (``pos``) or the
    value may pass the largest float, likewise -inf."""
    with np.errstate(invalid="ignore", over="ignore"):
        up = pos | _may_overflow(center + radius, operations, dtype)
        down = neg | _may_overflow(radius - center, operations, dtype)
        radius = radius + rounding_error(operations, np.abs(center), dtype)
    return _marked(center, radius, up, down)


def _negated(a: Interval) -> Interval:
    pos, neg = a.overflow
    return Interval(-a.center, a.radius, neg, pos)


def i_add(a: Interval, b: Interval, dtype) -> Interval:
    """``a + b`` rounded once; an infinite term passes on its sign (``inf - inf`` is anything)."""
    (a_pos, a_neg), (b_pos, b_neg) = a.overflow, b.overflow
    with np.errstate(over="ignore", invalid="ignore"):
        return _rounded(a.center + b.center, a.radius + b.radius, dtype, a_pos | b_pos, a_neg | b_neg)


def i_sub(a: Interval, b: Interval, dtype) -> Interval:
    return i_add(a, _negated(b), dtype)


def _infinite_times(a: Interval, b: Interval) -> tuple:
    """``(may be +inf, may be -inf)`` for ``a * b`` (or ``a / b``) because ``a`` may be infinite:
    the signs ``b`` may take, both where ``b`` may be zero (``inf * 0`` is NaN)."""
    pos, neg = a.overflow
    b_pos, b_neg = b.overflow
    with np.errstate(invalid="ignore"):
        b_positive = (b.center + SAFETY * b.radius >= 0) | b_pos
        b_negative = (b.center - SAFETY * b.radius <= 0) | b_neg
    return (pos & b_positive) | (neg & b_negative), (pos & b_negative) | (neg & b_positive)


def i_mul(a: Interval, b: Interval, dtype) -> Interval:
    """Elementwise ``a * b`` rounded once."""
    a_up, a_down = _infinite_times(a, b)
    b_up, b_down = _infinite_times(b, a)
    with np.errstate(over="ignore", invalid="ignore"):
        radius = np.abs(a.center) * b.radius + np.abs(b.center) * a.radius + a.radius * b.radius
        return _rounded(a.center * b.center, radius, dtype, a_up | b_up, a_down | b_down)


def i_square(a: Interval, dtype) -> Interval:
    """``a * a`` rounded once: never negative, +inf wherever ``a`` may be infinite."""
    pos, neg = a.overflow
    with np.errstate(over="ignore", invalid="ignore"):
        return _rounded(a.center**2, (2 * np.abs(a.center) + a.radius) * a.radius, dtype, pos | neg, pos & neg)


def i_div(a: Interval, b: Interval, dtype, floor=0.0) -> Interval:
    """``a / b``; anything where nothing keeps ``|b|`` away from zero, or where ``b`` may be
    infinite (``a / inf = 0`` may lie outside the finite bound).

    ``floor`` is a lower bound on ``|b|`` known from how ``b`` is computed, for example Adam's
    ``sqrt(v) + eps >= eps``: it holds for the framework's rounded value too (rounding is monotone),
    so it bounds the quotient where ``b``'s own interval reaches zero.
    """
    smallest = np.maximum(np.abs(b.center) - b.radius, floor)
    shape = np.broadcast(a.center, b.center).shape
    center = np.divide(a.center, b.center, out=np.zeros(shape), where=b.center != 0)
    with np.errstate(over="ignore", invalid="ignore"):
        spread = a.radius + np.abs(center) * b.radius  # |a'/b' - a/b| <= (|a'-a| + |a/b| |b'-b|) / |b'|
        radius = np.divide(spread, smallest, out=np.full(shape, np.inf), where=smallest > 0)
    up, down = _infinite_times(a, b)
    b_infinite = np.logical_or(*b.overflow)
    return _rounded(center, radius, dtype, up | b_infinite, down | b_infinite)


def i_sqrt(a: Interval, dtype) -> Interval:
    """``sqrt`` of a non-negative interval; the radius is the exact width of sqrt over it
    (``sqrt(+inf) = +inf``, ``sqrt(-inf)`` is NaN)."""
    pos, neg = a.overflow
    center = np.sqrt(np.maximum(a.center, 0.0))
    upper = np.sqrt(np.maximum(a.center + a.radius, 0.0)) - center
    lower = center - np.sqrt(np.maximum(a.center - a.radius, 0.0))
    return _rounded(center, np.maximum(upper, lower), dtype, pos | neg, neg)


def i_abs(a: Interval) -> Interval:
    pos, neg = a.overflow
    return Interval(np.abs(a.center), a.radius, pos | neg, pos & neg)  # |.| is exact and 1-Lipschitz


def _nonneg(v):
    return np.maximum(v, 0.0)


def i_matmul(a: Interval, b: Interval, dtype) -> Interval:
    """``a @ b`` (2D) as float arithmetic in ``dtype`` computes it in any summation order.

    The factors' radii move each product by at most ``spread``; rounding adds ``gamma(n)`` of the
    largest possible sum of magnitudes. A partial sum can overflow only if the positive (negative)
    products can add up past the largest float, so only there may the result be +inf (-inf). An
    input entry that may itself be infinite taints its whole row or column (``inf * 0`` is NaN).
    """
    n = a.center.shape[-1]
    ac, ar, bc, br = a.center, a.radius, b.center, b.radius
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.abs(ac) @ br + ar @ np.abs(bc) + ar @ br
        magnitude = (np.abs(ac) + ar) @ (np.abs(bc) + br)
        positive = _nonneg(ac) @ _nonneg(bc) + _nonneg(-ac) @ _nonneg(-bc) + spread
        negative = _nonneg(ac) @ _nonneg(-bc) + _nonneg(-ac) @ _nonneg(bc) + spread
        radius = spread + rounding_error(n, magnitude, dtype)
    a_pos, a_neg = a.overflow
    b_pos, b_neg = b.overflow
    tainted = (a_pos | a_neg).any(axis=-1)[:, None] | (b_pos | b_neg).any(axis=0)[None, :]
    return _marked(ac @ bc, radius, _may_overflow(positive, n, dtype) | tainted, _may_overflow(negative, n, dtype) | tainted)


def i_sum(a: Interval, axis, dtype) -> Interval:
    """Sum over ``axis`` (every entry for ``None``) in any order: a dot product with ones."""
    last = a.map(np.ravel) if axis is None else a.map(lambda v: np.moveaxis(v, axis, -1))
    n = last.center.shape[-1]
    total = i_matmul(last.map(lambda v: v.reshape(-1, n)), Interval.exact(np.ones((n, 1))), dtype)
    return total.map(lambda v: v.reshape(last.center.shape[:-1]))


def i_mean(a: Interval, axis, dtype) -> Interval:
    """Sum then divide by the count (the count is exact, the division rounds once)."""
    n = a.center.shape[axis] if axis is not None else a.center.size
    return i_div(i_sum(a, axis, dtype), Interval.exact(np.float64(n)), dtype)


def i_mean_all(a: Interval, dtype) -> Interval:
    """The mean of every entry, however it is grouped: one sum and one division (Keras's
    ``sum_over_batch_size`` loss) or a mean per row, then per batch, then a running total over
    batches divided by the row count (Keras's ``Mean`` metrics). Any such grouping of ``n`` terms
    makes at most ``n`` additions and two divisions on partial results no larger than the sum of
    ``|terms|``, so beyond one sum and one division it rounds once more, by at most
    ``u * mean|terms|``."""
    n = a.center.size
    mean = i_div(i_sum(a, None, dtype), Interval.exact(np.float64(n)), dtype)
    grouping = rounding_error(1, np.abs(a.center).sum() / n, dtype)
    return Interval(mean.center, mean.radius + grouping, *mean.overflow)
def activation(name, z: np.ndarray) -> np.ndarray:
    """``name`` applied to float64 ``z``, accurate to a few float64 ulps relative to the result at
    any magnitude (+-inf included); softmax over the last axis."""
    z = np.asarray(z, dtype=np.float64)
    if name in (None, "linear"):
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        # exp(-log(1 + e^-z)): no overflow, and tiny results keep their relative accuracy
        # (0.5 * (1 + tanh(z/2)) would round sigmoid(-50) = 2e-22 to 0).
        return np.exp(-np.logaddexp(0.0, -z))
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        shifted = np.exp(z - z.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    raise ValueError(f"oracle: unknown activation {name!r}")


def _derivative(name, z: np.ndarray) -> np.ndarray:
    """The exact derivative of sigmoid or tanh at float64 ``z``, without cancellation at large |z|."""
    if name == "sigmoid":
        e = np.exp(-np.abs(z))
        return e / (1 + e) ** 2
    e = np.exp(-2 * np.abs(z))
    return 4 * e / (1 + e) ** 2


def _activate(name, z: Interval, dtype) -> Interval:
    name = name or "linear"
    if name == "linear":
        return z  # the identity: no operation, no rounding
    if name == "softmax":
        return _softmax(z, dtype)
    pos, neg = z.overflow
    low, high = z.center - SAFETY * z.radius, z.center + SAFETY * z.radius
    y = activation(name, z.center)
    # An input that may overflow to +-inf gives f(+-inf): a saturating activation absorbs it
    # (sigmoid(inf) = 1), linear and relu pass it on (the mark stays).
    y_low = np.where(neg, activation(name, -np.inf), activation(name, low))
    y_high = np.where(pos, activation(name, np.inf), activation(name, high))
    keep_pos, keep_neg = pos & np.isinf(y_high), neg & np.isinf(y_low)
    y_low = np.where(keep_neg, activation(name, low), y_low)
    y_high = np.where(keep_pos, activation(name, high), y_high)
    rounding = ACTIVATION_ULPS * unit_roundoff(dtype) * np.maximum(np.abs(y_low), np.abs(y_high)) + _tiny(dtype)
    radius = np.maximum(y_high - y, y - y_low) / SAFETY + rounding
    return _marked(y, radius, keep_pos | (pos & neg), keep_neg | (pos & neg))


def _softmax(z: Interval, dtype) -> Interval:
    """Softmax over the last axis. ``s_i = 1 / sum_j exp(z_j - z_i)`` is lowest where ``z_i`` is at
    its lowest and every other logit at its highest (and the reverse), which bounds it exactly at any
    magnitude. A logit that may be infinite makes its row anything: the max shift gives inf - inf."""
    pos, neg = z.overflow
    row_unbounded = np.broadcast_to((pos | neg).any(axis=-1, keepdims=True), pos.shape)
    c, r = z.center, SAFETY * z.radius
    y = activation("softmax", c)
    own = np.eye(c.shape[-1], dtype=bool)
    with np.errstate(over="ignore"):  # exp overflow gives inf, and 1 / inf = 0 is the right bound
        lowest = 1 / np.where(own, 1.0, np.exp((c + r)[..., None, :] - (c - r)[..., :, None])).sum(axis=-1)
        highest = 1 / np.where(own, 1.0, np.exp((c - r)[..., None, :] - (c + r)[..., :, None])).sum(axis=-1)
    rounding = ACTIVATION_ULPS * unit_roundoff(dtype) * highest + _tiny(dtype)
    radius = np.maximum(highest - y, y - lowest) / SAFETY + rounding
    return _marked(y, radius, row_unbounded, row_unbounded)


def _slope(name, z: Interval, y: Interval, dtype) -> Interval:
    """activation'(z) for relu, sigmoid or tanh, as frameworks compute it, over every input and
    output the intervals allow."""
    pos, neg = z.overflow
    unbounded = pos & neg
    u = unit_roundoff(dtype)
    if name == "relu":
        low = np.where(neg, -np.inf, z.center - SAFETY * z.radius)
        high = np.where(pos, np.inf, z.center + SAFETY * z.radius)
        ambiguous = (low <= 0) & (high >= 0)
        return _marked(np.where(ambiguous, 0.5, (low > 0).astype(np.float64)), np.where(ambiguous, 0.5, 0.0), unbounded, unbounded)
    # Frameworks compute sigmoid' = y (1 - y) and tanh' = 1 - y^2 from their rounded output, so the
    # slope ranges over the output interval (clipped to the activation's range): both functions of y
    # rise to a peak (y = 1/2, y = 0) and fall after it, so the extremes are the ends or the peak.
    floor, peak = (0.0, 0.5) if name == "sigmoid" else (-1.0, 0.0)
    of_output = (lambda v: v * (1 - v)) if name == "sigmoid" else (lambda v: 1 - v * v)
    low = np.clip(y.center - SAFETY * y.radius, floor, 1.0)
    high = np.clip(y.center + SAFETY * y.radius, floor, 1.0)
    top = of_output(np.clip(peak, low, high))
    bottom = np.minimum(of_output(low), of_output(high))
    center = _derivative(name, z.center)
    rounding = ACTIVATION_ULPS * u * (top + np.maximum(np.abs(low), np.abs(high)) ** 2) + _tiny(dtype)
    radius = np.maximum(top - center, center - bottom) / SAFETY + rounding
    return _marked(center, radius, unbounded, unbounded)



def _activation_vjp(name, z: Interval, y: Interval, upstream: Interval, dtype) -> Interval:
    """Gradient w.r.t. the pre-activation ``z`` given the gradient ``upstream`` w.r.t. its output."""
    name = name or "linear"
    if name == "linear":
        return upstream  # the identity's gradient passes through without an operation
    if name != "softmax":
        return i_mul(upstream, _slope(name, z, y, dtype), dtype)
    u = unit_roundoff(dtype)
    s, g = y.center, upstream.center
    with np.errstate(over="ignore", invalid="ignore"):
        mean = np.sum(g * s, axis=-1, keepdims=True)
        center = s * (g - mean)
        mean_radius = np.sum(np.abs(g) * y.radius + upstream.radius * (s + y.radius), axis=-1, keepdims=True)
        radius = (
            y.radius * np.abs(g - mean)
            + (s + y.radius) * (upstream.radius + mean_radius)
            + ACTIVATION_ULPS * u * s * (np.abs(g) + np.sum(np.abs(g) * s, axis=-1, keepdims=True))
            + _tiny(dtype)
        )
    marks = [m.any(axis=-1, keepdims=True) for m in y.overflow + upstream.overflow]
    unbounded = np.broadcast_to(np.logical_or.reduce(marks), center.shape) | _may_overflow(np.abs(center) + radius, 1, dtype)
    return _marked(center, radius, unbounded, unbounded)


# -- Dense layers and stacks of them ---------------------------------------------------------------


@dataclass
class DenseParams:
    """One dense layer's weights and activation name (``None`` is linear). The weights are exact
    float arrays, or the :class:`Interval` weights a training oracle gives back."""

    kernel: np.ndarray | Interval
    bias: np.ndarray | Interval
    activation: str | None = None


def _as_params(layers):
    """``layers`` with every weight as an :class:`Interval`."""
    return [DenseParams(_interval(p.kernel), _interval(p.bias), p.activation) for p in layers]


def _rows(value) -> tuple:
    """``(rows, ..., width)`` as an Interval of shape ``(rows * ..., width)``, and the leading shape
    ``(rows, ...)``: a dense layer treats every position alike."""
    value = _interval(value)
    return value.map(lambda v: v.reshape(-1, v.shape[-1])), value.center.shape[:-1]


def _affine(a: Interval, p: DenseParams, dtype) -> Interval:
    """``a @ kernel + bias``. The bias enters the dot product as one more term (a column of ones
    beside ``a``), so this is one dot product of length ``input_dim + 1`` summed in some order,
    which is what frameworks do."""
    ones = Interval.exact(np.ones(a.center.shape[:-1] + (1,)))
    return i_matmul(_concatenate([a, ones], -1), _concatenate([p.kernel, p.bias.map(lambda v: v[None])], 0), dtype)


def forward(layers, x, dtype="float32") -> Interval:
    """Output of ``layers`` (a list of :class:`DenseParams`) applied in order to ``x``.

    ``x`` may have any rank >= 2; each layer contracts the last axis.
    """
    value, leading = _rows(x)
    for p in _as_params(layers):
        value = _activate(p.activation, _affine(value, p, dtype), dtype)
    return value.map(lambda v: v.reshape(leading + (-1,)))


@dataclass
class Gradients:
    """Oracle gradients of ``sum(model(x) * cotangent)``: inputs, then ``[kernel, bias]`` per layer."""

    inputs: Interval
    weights: list


def vjp(layers, x, cotangent, dtype="float32") -> Gradients:
    """Gradients of ``sum(f(x) * cotangent)`` through ``layers`` w.r.t. ``x`` and every weight.

    ``cotangent`` is an array, or an :class:`Interval` (a loss's gradient w.r.t. the output).
    """
    params = _as_params(layers)
    flat, leading = _rows(x)
    upstream, _ = _rows(cotangent)
    inputs, pre, post = [flat], [], []
    for p in params:
        pre.append(_affine(inputs[-1], p, dtype))
        post.append(_activate(p.activation, pre[-1], dtype))
        inputs.append(post[-1])
    weights = []
    for index in reversed(range(len(params))):
        g = _activation_vjp(params[index].activation, pre[index], post[index], upstream, dtype)
        weights[:0] = [i_matmul(inputs[index].map(np.transpose), g, dtype), i_sum(g, 0, dtype)]
        upstream = i_matmul(g, params[index].kernel.map(np.transpose), dtype)
    return Gradients(upstream.map(lambda v: v.reshape(leading + (-1,))), weights)


def describe_mismatch(what, actual, expected: Interval, max_items=3) -> str:
    """A readable account of where ``actual`` leaves ``expected``: index, actual, expected, bound."""
    actual = np.asarray(actual, dtype=np.float64)
    if actual.shape != expected.center.shape:
        return f"{what}: shape {actual.shape}, expected {expected.center.shape}"
    outside = expected.violations(actual)
    bad = np.argwhere(outside)
    if not len(bad):
        return ""
    nonfinite = int(np.sum(outside & ~np.isfinite(actual)))
    lines = [
        f"{what}: {len(bad)} of {actual.size} entries outside the float error bound"
        + (f", {nonfinite} of them NaN or inf where a correct computation stays finite" if nonfinite else "")
    ]
    pos, neg = expected.overflow
    for index in (tuple(int(i) for i in row) for row in bad[:max_items]):
        also = " or +inf" if pos[index] else " or -inf" if neg[index] else ""
        lines.append(
            f"  at {index}: actual {actual[index]!r}, expected {expected.center[index]!r} "
            f"± {SAFETY * expected.radius[index]:.3g}{also}"
        )
    return "\n".join(lines)


def assert_within(what, actual, expected: Interval):
    """Raise AssertionError naming ``what`` unless ``actual`` lies inside ``expected``."""
    problem = describe_mismatch(what, actual, expected)
    if problem:
        raise AssertionError(problem)


# -- Initial weights: the distribution a Keras initializer draws from ---------------------------
#
# Transcribed from keras/src/initializers (tf_keras and the reference agree): each named
# initializer's defaults, VarianceScaling's scale, fan mode and distribution, and truncation at two
# standard deviations. TruncatedNormal's stddev is the one before truncation; VarianceScaling
# divides its target stddev by 0.8796..., the stddev of a unit normal truncated to [-2, 2], so the
# truncated draws have the target stddev.

TRUNCATION = 2.0
TRUNCATED_UNIT_STDDEV = 0.87962566103423978

VARIANCE_SCALING = {  # name: (scale, mode, distribution)
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
    "variance_scaling": (1.0, "fan_in", "truncated_normal"),
}
INITIALIZERS = ("random_normal", "random_uniform", "truncated_normal", "zeros", "ones", "constant", *VARIANCE_SCALING)


@dataclass
class Distribution:
    """The law of each entry of an initial weight: ``cdf`` for a continuous one, else ``constant``."""

    description: str
    cdf: object = None
    constant: float | None = None


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _normal_cdf(v, mean, stddev):
    return 0.5 * (1 + _erf((np.asarray(v, np.float64) - mean) / (stddev * math.sqrt(2))))


def fans(shape, input_axes=None, output_axes=None) -> tuple:
    """``(fan_in, fan_out)`` of a weight of ``shape``, as Keras's ``compute_fans``: a matrix's two
    dimensions, times the product of any leading (receptive field) dimensions."""
    shape = tuple(int(d) for d in shape)
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) < 2:
        return (shape[0], shape[0]) if shape else (1, 1)
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def initial_distribution(name, shape, **params) -> Distribution:
    """The law every entry of a weight of ``shape`` follows under initializer ``name`` (one of
    :data:`INITIALIZERS`); ``params`` are the initializer's own (``mean``, ``stddev``, ``minval``,
    ``maxval``, ``value``, ``scale``, ``mode``, ``distribution``, ``input_axes``, ``output_axes``),
    Keras's defaults where absent."""
    if name in ("zeros", "ones", "constant"):
        value = {"zeros": 0.0, "ones": 1.0}.get(name, float(params.get("value", 0.0)))
        return Distribution(f"the constant {value} ({name})", constant=value)
    if name in ("random_normal", "truncated_normal"):
        mean, stddev = float(params.get("mean", 0.0)), float(params.get("stddev", 0.05))
        truncated = name == "truncated_normal"
    elif name == "random_uniform":
        low, high = float(params.get("minval", -0.05)), float(params.get("maxval", 0.05))
        return _uniform(low, high, name)
    elif name in VARIANCE_SCALING:
        scale, mode, distribution = VARIANCE_SCALING[name]
        scale, mode = float(params.get("scale", scale)), params.get("mode", mode)
        distribution = str(params.get("distribution", distribution)).lower()
        fan_in, fan_out = fans(shape, params.get("input_axes"), params.get("output_axes"))
        scale /= max(1.0, {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode])
        if distribution == "uniform":
            limit = math.sqrt(3 * scale)
            return _uniform(-limit, limit, f"{name}, {mode} of shape {tuple(shape)}")
        mean, truncated = 0.0, distribution != "untruncated_normal"
        stddev = math.sqrt(scale) / (TRUNCATED_UNIT_STDDEV if truncated else 1.0)
    else:
        raise ValueError(f"oracle: initializer name must be one of {INITIALIZERS}, got {name!r}")
    if not truncated:
        return Distribution(f"N({mean}, {stddev:.6g}**2) ({name})", cdf=lambda v: _normal_cdf(v, mean, stddev))
    low, high = _normal_cdf(mean - TRUNCATION * stddev, mean, stddev), _normal_cdf(mean + TRUNCATION * stddev, mean, stddev)
    return Distribution(
        f"N({mean}, {stddev:.6g}**2) truncated to ±{TRUNCATION:g} stddev ({name})",
        cdf=lambda v: np.clip((_normal_cdf(v, mean, stddev) - low) / (high - low), 0.0, 1.0),
    )


def _uniform(low, high, name) -> Distribution:
    return Distribution(f"U({low:.6g}, {high:.6g}) ({name})", cdf=lambda v: np.clip((np.asarray(v, np.float64) - low) / (high - low), 0.0, 1.0))


# -- Training: losses, metrics, one epoch of fit, optimizer steps -----------------------------------
#
# A training step is a short chain of elementwise operations and reductions on top of the layer's
# forward pass and gradients, so its oracle is the same chain in the interval algebra above.


# Keras's backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON] in crossentropies.
CLIP_EPSILON = 1e-7


def loss_per_sample(name, y_true, y_pred: Interval, dtype="float32") -> Interval:
    """Loss per sample and inner position (mean or sum over the last axis) of ``y_pred`` against ``y_true``.

    For rank-2 data that is one value per row; for data of shape ``(rows, steps, ..., units)`` one
    value per ``(row, step, ...)``. ``name`` is one of ``mse``, ``mae``, ``binary_crossentropy``,
    ``categorical_crossentropy``. Crossentropies are bounded on the probability path; Keras may take
    the exact logits path instead, which lies inside this (wider) interval when probabilities stay
    away from the clip. A prediction that may be infinite or NaN makes its crossentropy terms anything.
    """
    target = Interval.exact(np.asarray(y_true, np.float64))
    if name == "mse":
        return i_mean(i_square(i_sub(y_pred, target, dtype), dtype), -1, dtype)
    if name == "mae":
        return i_mean(i_abs(i_sub(y_pred, target, dtype)), -1, dtype)
    low, high = CLIP_EPSILON, 1.0 - CLIP_EPSILON
    unknown = np.logical_or(*y_pred.overflow)
    p = Interval(np.clip(y_pred.center, low, high), y_pred.radius)
    if name == "binary_crossentropy":
        q = Interval(1.0 - p.center, p.radius + unit_roundoff(dtype) * (1.0 - p.center))
        terms = target.center * _log(p, dtype).center + (1 - target.center) * _log(q, dtype).center
        radius = np.abs(target.center) * _log(p, dtype).radius + np.abs(1 - target.center) * _log(q, dtype).radius
        return i_mean(_rounded(-terms, radius, dtype, unknown, unknown, operations=3), -1, dtype)
    if name == "categorical_crossentropy":
        logs = _log(p, dtype)
        return i_sum(_rounded(-target.center * logs.center, np.abs(target.center) * logs.radius, dtype, unknown, unknown), -1, dtype)
    raise ValueError(f"oracle: unknown loss {name!r}; expected mse, mae, binary_crossentropy or categorical_crossentropy")


def _log(p: Interval, dtype) -> Interval:
    """``log`` over a positive interval: its width is at most radius / smallest value (+ libm ulps)."""
    floor = np.maximum(p.center - p.radius, CLIP_EPSILON)
    center = np.log(p.center)
    return Interval(center, p.radius / floor + ACTIVATION_ULPS * unit_roundoff(dtype) * np.abs(center))


def batch_loss(name, y_true, y_pred: Interval, dtype="float32", sample_weight=None) -> Interval:
    """Keras's ``sum_over_batch_size`` reduction: ``sum(sample_weight * loss) / number of loss values``.

    The loss has one value per row and inner position (:func:`loss_per_sample`), so for data of
    shape ``(rows, steps, units)`` the divisor is ``rows * steps``. ``sample_weight`` has one value
    per row, or one per loss value (Keras 3 needs that form for rank > 2); a per-row weight applies
    to every inner position of its row.
    """
    per_sample = loss_per_sample(name, y_true, y_pred, dtype)
    if sample_weight is not None:
        weight = np.asarray(sample_weight, np.float64)
        weight = np.broadcast_to(weight.reshape(weight.shape + (1,) * (per_sample.center.ndim - weight.ndim)), per_sample.center.shape)
        per_sample = i_mul(per_sample, Interval.exact(weight), dtype)
    return i_mean_all(per_sample, dtype)


METRICS = ("mae", "mse", "binary_accuracy")


def metric_value(name, y_true, y_pred: Interval, dtype="float32") -> Interval:
    """What an unweighted Keras metric reports after seeing these rows, however they were batched.

    Keras metrics are running means: each batch adds its per-row values (the metric over the last
    axis, averaged over the inner positions) to a total and its row count to a count, so the result
    is the mean over every row seen. ``name`` is one of :data:`METRICS`; ``binary_accuracy`` counts
    ``y_true == (y_pred > 0.5)``, and an entry whose prediction lies within its bound of 0.5 (or may
    be infinite or NaN) may count either way.
    """
    if name in ("mae", "mse"):
        return i_mean_all(loss_per_sample(name, y_true, y_pred, dtype), dtype)
    if name == "binary_accuracy":
        hit = (np.asarray(y_true, np.float64) == (y_pred.center > 0.5)).astype(np.float64)
        either = (np.abs(y_pred.center - 0.5) <= SAFETY * y_pred.radius) | np.logical_or(*y_pred.overflow)
        entries = Interval(np.where(either, 0.5, hit), np.where(either, 0.5 / SAFETY, 0.0))
        return i_mean_all(i_mean(entries, -1, dtype), dtype)
    raise ValueError(f"oracle: unknown metric {name!r}; expected one of {METRICS}")


def mse_output_gradient(y_true, y_pred: Interval, dtype="float32") -> Interval:
    """``d batch_loss(mse) / d y_pred = 2 (y_pred - y_true) / y_pred.size``: the loss is a mean over
    ``units`` and then over ``rows * inner positions``.

    Frameworks backpropagate the factor 2 and the two means as separate scalings in some order: the
    largest intermediate is ``2 (y_pred - y_true)`` (where it may overflow), and the two divisions
    round twice more.
    """
    doubled = i_mul(i_sub(y_pred, Interval.exact(np.asarray(y_true, np.float64)), dtype), Interval.exact(2.0), dtype)
    size = y_pred.center.size
    return _rounded(doubled.center / size, doubled.radius / size, dtype, *doubled.overflow, operations=2)


@dataclass
class EpochTrace:
    """What the SGD oracle predicts for one epoch: weights after it, and per batch its size, its
    pre-update loss and its pre-update predictions."""

    kernel: Interval
    bias: Interval
    batch_losses: list
    batch_sizes: list
    dtype: str = "float32"
    batch_outputs: tuple = ()

    @property
    def epoch_loss(self) -> Interval:
        """The batch-size-weighted mean of the per-batch losses, as Keras logs it."""
        weighted = [i_mul(loss, Interval.exact(np.float64(size)), self.dtype) for loss, size in zip(self.batch_losses, self.batch_sizes)]
        total = weighted[0]
        for term in weighted[1:]:
            total = i_add(total, term, self.dtype)
        return i_div(total, Interval.exact(np.float64(sum(self.batch_sizes))), self.dtype)

    @property
    def outputs(self) -> Interval:
        """Every row's prediction in data order, each made with the weights before its batch's step
        (what the epoch's training metrics see)."""
        return _concatenate(self.batch_outputs, 0)


def batch_slices(num_samples: int, batch_size: int) -> list:
    """``ceil(N / batch_size)`` consecutive slices; the last one may be partial."""
    return [slice(start, min(start + batch_size, num_samples)) for start in range(0, num_samples, batch_size)]


def dense_mse_epoch(kernel, bias, x, y, batch_size, step, states=None, dtype="float32") -> EpochTrace:
    """One unshuffled epoch on a linear dense layer with mean-squared error.

    Each batch: the output :func:`forward` gives (over the last axis, for data of any rank >= 2),
    the loss :func:`batch_loss` before the update, the weights' gradients :func:`vjp` gives for the
    loss's gradient :func:`mse_output_gradient`, then ``step(weight, gradient, state)`` (one of the
    optimizer rules below with its hyperparameters bound). ``kernel``/``bias`` may be arrays or the
    :class:`Interval` weights of an earlier epoch; ``states`` carries the optimizer slots between
    epochs (one dict per weight, updated in place).
    """
    layer = DenseParams(_interval(kernel), _interval(bias))
    states = [{}, {}] if states is None else states
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    losses, sizes, outputs = [], [], []
    for rows in batch_slices(len(x), batch_size):
        z = forward([layer], x[rows], dtype)
        losses.append(batch_loss("mse", y[rows], z, dtype))
        sizes.append(len(x[rows]))
        outputs.append(z)
        grad_kernel, grad_bias = vjp([layer], x[rows], mse_output_gradient(y[rows], z, dtype), dtype).weights
        layer = DenseParams(step(layer.kernel, grad_kernel, states[0]), step(layer.bias, grad_bias, states[1]))
    return EpochTrace(layer.kernel, layer.bias, losses, sizes, dtype, tuple(outputs))


# Optimizer update rules, transcribed from Keras 3 (keras/src/optimizers/{sgd,rmsprop,adam}.py),
# which tf_keras and the reference share. ``state`` holds the slot intervals between steps.
#
# RMSprop and Adam divide by a root of the gradients' running mean square. With a gradient near
# zero (a weight whose inputs are all zero, a residual that vanishes) that divisor is near ``eps``
# and first-order propagation multiplies the gradient's rounding error by about ``1 / eps``. Both
# rules also bound their step whatever the gradients are (below), so the oracle caps each step's
# interval at that bound: the answer stays honest (any step the rule can take is accepted) and finite.


def _recursion_slack(step, dtype) -> float:
    """Relative error of the framework's rounded slot recursion after ``step`` steps: each step rounds
    a slot and its rounded constants a handful of times (at most 8 roundings of relative size u),
    and the errors of earlier steps decay geometrically, so ``gamma(8 * (step + 1))`` covers them."""
    return gamma(8 * (step + 1), dtype)


def _bounded_step(numerator: Interval, divisor: Interval, dtype, floor, bound) -> Interval:
    """``numerator / divisor`` for a rule whose step is at most ``bound`` in magnitude while its
    slots stay finite: the quotient's interval intersected with ``[-bound, bound]``.

    First-order propagation through a quotient with a tiny divisor grows radii far past such a
    bound, over several steps to infinity, and past the largest float (where it would mark an
    overflow that cannot happen); the intersection keeps the accepted range to what is possible.
    The step may still be infinite where the numerator may be, and anything where the divisor may
    be NaN or both may be infinite (``inf / inf``).
    """
    quotient = i_div(numerator, divisor, dtype, floor=floor)
    pos, neg = quotient.overflow
    low = np.where(neg, -bound, np.maximum(quotient.center - SAFETY * quotient.radius, -bound))
    high = np.where(pos, bound, np.minimum(quotient.center + SAFETY * quotient.radius, bound))
    overlap = low <= high  # empty only if the whole interval lies outside: then keep it unchanged
    center = np.where(overlap, (low + high) / 2, quotient.center)
    radius = np.where(overlap, (high - low) / (2 * SAFETY), quotient.radius)
    (num_pos, num_neg), (div_pos, div_neg) = numerator.overflow, divisor.overflow
    nan = (div_pos & div_neg) | ((num_pos | num_neg) & (div_pos | div_neg))
    return _marked(center, radius, num_pos | nan, num_neg | nan)


def sgd_step(weight: Interval, gradient, state: dict, learning_rate, momentum=0.0, dtype="float32") -> Interval:
    """SGD: ``m = momentum * m - lr * g; w += m``; without momentum ``w -= lr * g``."""
    g = _interval(gradient)
    lr = rounded_constant(learning_rate, dtype)
    if not momentum:
        return i_sub(weight, i_mul(g, lr, dtype), dtype)
    m = state.get("momentum", Interval.exact(np.zeros_like(weight.center)))
    m = i_sub(i_mul(m, rounded_constant(momentum, dtype), dtype), i_mul(g, lr, dtype), dtype)
    state["momentum"] = m
    return i_add(weight, m, dtype)


def rmsprop_step(weight: Interval, gradient, state: dict, learning_rate, rho=0.9, epsilon=1e-7, dtype="float32") -> Interval:
    """RMSprop (no momentum, not centred): ``v = rho v + (1 - rho) g^2; w -= lr g / sqrt(v + eps)``.

    Since ``v >= (1 - rho) g^2``, a step is never larger than ``lr / sqrt(1 - rho)``; and since
    ``v >= 0``, the divisor is at least ``sqrt(eps)``.
    """
    g = _interval(gradient)
    v = state.get("velocity", Interval.exact(np.zeros_like(weight.center)))
    v = i_add(i_mul(rounded_constant(rho, dtype), v, dtype), i_mul(rounded_constant(1 - rho, dtype), i_square(g, dtype), dtype), dtype)
    state["velocity"] = v
    denominator = i_sqrt(i_add(v, rounded_constant(epsilon, dtype), dtype), dtype)
    floor = np.sqrt(epsilon) * (1 - 2 * unit_roundoff(dtype))  # fl(sqrt(fl(v + fl(eps)))) >= this for v >= 0
    bound = learning_rate / np.sqrt(1 - rho) * (1 + _recursion_slack(1, dtype))
    increment = _bounded_step(i_mul(rounded_constant(learning_rate, dtype), g, dtype), denominator, dtype, floor, bound)
    return i_sub(weight, increment, dtype)


def adam_step(weight: Interval, gradient, state: dict, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, dtype="float32") -> Interval:
    """Adam as Keras writes it: bias correction folded into ``alpha``, ``eps`` added to ``sqrt(v)``.

    ``t = iterations + 1; alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t);``
    ``m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2); w -= m alpha / (sqrt(v) + eps)``.

    The divisor is at least ``eps``, and the step is at most ``alpha * ratio_bound`` (see
    :func:`_adam_ratio_bound`), whatever the gradients: zero and tiny gradients included.
    """
    g = _interval(gradient)
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
    floor = epsilon * (1 - unit_roundoff(dtype))  # fl(fl(sqrt(v)) + fl(eps)) >= fl(eps) for v >= 0
    bound = (alpha.center + SAFETY * alpha.radius) * _adam_ratio_bound(step, beta_1, beta_2) * (1 + _recursion_slack(step, dtype))
    increment = _bounded_step(i_mul(m, alpha, dtype), i_add(i_sqrt(v, dtype), rounded_constant(epsilon, dtype), dtype), dtype, floor, bound)
    return i_sub(weight, increment, dtype)


def _adam_ratio_bound(step, beta_1, beta_2) -> float:
    """Largest ``|m_t| / sqrt(v_t)`` Adam's slots allow after ``step`` steps, for any gradients.

    ``m_t = (1 - b1) sum_k b1^k g_{t-k}`` and ``v_t = (1 - b2) sum_k b2^k g_{t-k}^2`` (k < t), so by
    Cauchy-Schwarz ``|m_t| <= (1 - b1) / sqrt(1 - b2) * sqrt(sum_k (b1^2 / b2)^k) * sqrt(v_t)``.
    At ``t = 1`` the step ``alpha * ratio`` is exactly ``lr``; for Keras's defaults it stays below
    ``7.3 lr`` for every ``t``.
    """
    ratio = beta_1**2 / beta_2
    return (1 - beta_1) / np.sqrt(1 - beta_2) * np.sqrt(sum(ratio**k for k in range(step)))


OPTIMIZER_STEPS = {"sgd": sgd_step, "rmsprop": rmsprop_step, "adam": adam_step}
