"""Every hypothesis strategy the contracts draw from, named for what it draws.

Values are bounded and finite. Most draws are small: a counterexample shrinks towards one row, one
feature, one unit and zeros, which is what a person wants to read. A stratum of layer inputs is
scaled up to where float32 itself overflows, because that is where shortcut implementations of an
activation part from the real one; a failure there still shrinks to the smallest scale that fails.
Shapes stay small because the contracts are about semantics, not throughput.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

VALUE_BOUND = 2.0  # inputs and weights in [-2, 2] before scaling: readable, and they saturate sigmoid/tanh

# Input scales past the points where shortcuts break: exp overflows float32 beyond 88.7 (tanh as
# (e^2z - 1)/(e^2z + 1) beyond 44.4), float16 beyond 65504, the square of 1e19 beyond float32.
# With kernels in [-1, 1], 1e36 keeps every sum of a layer's forward and backward pass representable
# (45 rows * 2e36 < 3.4e38), so any inf or NaN there is a bug; a stack multiplies its input by up
# to 6 per layer and sums 15 rows in the backward pass, so it stops at 1e33.
LARGE_SCALES = (1e2, 1e5, 1e19, 1e36)
STACK_LARGE_SCALES = (1e2, 1e5, 1e19, 1e33)
# Saturation contracts go further: 1.5e38 * [-2, 2] reaches float32's largest value (3.4e38), so
# pre-activations overflow, and the oracle says where +-inf is then the right answer.
EXTREME_SCALES = (1e2, 1e5, 1e19, 1.5e38)
SMALL = st.just(1.0)


def scales_of(large):
    """Half the draws unscaled (the small stratum, which shrinking prefers), half from ``large``."""
    return st.one_of(SMALL, st.sampled_from(large))


input_scales = scales_of(LARGE_SCALES)

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
activations = st.sampled_from(ACTIVATIONS)
units = st.integers(1, 6)
feature_sizes = st.integers(1, 6)
batch_sizes = st.integers(1, 5)


def float_arrays(shape, dtype=np.float32, bound=VALUE_BOUND):
    """Arrays of ``shape`` with finite, normal values in [-bound, bound], exactly representable."""
    width = 64 if np.dtype(dtype) == np.float64 else 32
    elements = st.floats(-bound, bound, width=width, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return hnp.arrays(dtype, shape, elements=elements)


# What a scale multiplies: 0 or a magnitude in [0.5, 2], so that the scale sets the size of the
# pre-activations (plain floats in [-2, 2] are mostly tiny, and a scaled tiny value is not large).
_scaled_elements = st.one_of(st.just(0.0), st.floats(0.5, 2.0, width=32), st.floats(-2.0, -0.5, width=32))


@st.composite
def scaled_arrays(draw, shape, scale, dtype=np.float32):
    """Arrays of ``shape``: for scale 1 (the small stratum) values in [-2, 2]; for a larger one, 0 and
    magnitudes in [0.5, 2] times ``scale``, rounded to ``dtype``."""
    if scale == 1.0:
        return draw(float_arrays(shape, dtype))
    return (draw(_magnitudes(shape), label="values before scaling") * scale).astype(dtype)


def _magnitudes(shape):
    # fill=nothing(): every entry drawn on its own, not an array mostly filled with one value (zeros).
    return hnp.arrays(np.float64, shape, elements=_scaled_elements, fill=st.nothing())


def input_shapes(min_rank=2, max_rank=4, min_batch=1):
    """Shapes ``(batch, ..., features)`` of rank ``min_rank..max_rank``."""
    return st.tuples(
        st.integers(min_batch, 5),
        hnp.array_shapes(min_dims=min_rank - 2, max_dims=max_rank - 2, min_side=1, max_side=3)
        if max_rank > 2
        else st.just(()),
        feature_sizes,
    ).map(lambda parts: (parts[0], *parts[1], parts[2]))


@dataclass
class DenseCase:
    """One drawn dense-layer example: input ``x``, ``units``, activation, and weights to load.

    ``kernel``/``bias`` are ``None`` when the contract keeps the layer's own initial weights.
    """

    x: np.ndarray
    units: int
    activation: str | None
    kernel: np.ndarray | None = None
    bias: np.ndarray | None = None

    @property
    def output_shape(self) -> tuple:
        return self.x.shape[:-1] + (self.units,)

    def astype(self, dtype) -> "DenseCase":
        """The same case with every array in ``dtype``."""
        weights = [None if w is None else w.astype(dtype) for w in (self.kernel, self.bias)]
        return DenseCase(self.x.astype(dtype), self.units, self.activation, *weights)

    def __repr__(self):
        parts = [f"x={_short(self.x)}", f"units={self.units}", f"activation={self.activation!r}"]
        if self.kernel is not None:
            parts += [f"kernel={_short(self.kernel)}", f"bias={_short(self.bias)}"]
        return f"DenseCase({', '.join(parts)})"


def _short(array):
    text = np.array2string(np.asarray(array), precision=8, separator=", ", threshold=64)
    return f"np.array({text}, dtype='{array.dtype}')"


@st.composite
def dense_cases(draw, min_rank=2, max_rank=4, activation=activations, with_weights=True, dtype=np.float32, scales=input_scales):
    """A :class:`DenseCase` with input of rank ``min_rank..max_rank`` scaled by one of ``scales``
    and, optionally, weights in [-1, 1]."""
    shape = draw(input_shapes(min_rank, max_rank), label="input shape")
    n_units = draw(units, label="units")
    act = draw(activation, label="activation")
    scale = draw(scales, label="input scale")
    x = draw(scaled_arrays(shape, scale, dtype), label="x")
    kernel = bias = None
    if with_weights:
        kernel = draw(_kernels((shape[-1], n_units), dtype, large=scale > 1), label="kernel")
        bias = draw(float_arrays((n_units,), dtype, bound=1.0), label="bias")
    return DenseCase(x, n_units, act, kernel, bias)


def _kernels(shape, dtype, large):
    """Kernels in [-1, 1]; beside a scaled input, 0 or magnitudes in [0.25, 1], so that the large
    input makes large pre-activations instead of meeting a kernel of near-zeros."""
    if not large:
        return float_arrays(shape, dtype, bound=1.0)
    return _magnitudes(shape).map(lambda values: (values / 2).astype(dtype))


@dataclass
class StackCase:
    """A drawn Sequential of dense layers: input ``x``, per-layer (units, activation, kernel, bias)."""

    x: np.ndarray
    layers: list

    def __repr__(self):
        inner = ", ".join(
            f"(units={u}, activation={a!r}, kernel={_short(k)}, bias={_short(b)})" for u, a, k, b in self.layers
        )
        return f"StackCase(x={_short(self.x)}, layers=[{inner}])"


@st.composite
def stack_cases(draw, depth=st.integers(2, 3), activation=activations, min_rank=2, max_rank=3, scales=scales_of(STACK_LARGE_SCALES)):
    """A :class:`StackCase` of 2-3 dense layers on an input of rank 2-3, scaled by one of ``scales``."""
    shape = draw(input_shapes(min_rank, max_rank), label="input shape")
    scale = draw(scales, label="input scale")
    layers, width = [], shape[-1]
    for _ in range(draw(depth, label="depth")):
        n_units = draw(units)
        layers.append(
            (
                n_units,
                draw(activation),
                draw(_kernels((width, n_units), np.float32, large=scale > 1)),
                draw(float_arrays((n_units,), bound=1.0)),
            )
        )
        width = n_units
    return StackCase(draw(scaled_arrays(shape, scale), label="x"), layers)


def cotangents(shape):
    """Upstream gradients ``dL/dy`` for an output of ``shape``."""
    return float_arrays(shape, bound=1.0)


# -- Pinned examples ----------------------------------------------------------------------------
# Every profile runs these first (``examples=`` of @contract): the cases a layer contract exists
# for, deterministic and small. Values are halves, so a failure report reads like a textbook case.


def pattern(shape, period=9, offset=4):
    """A deterministic array of halves with mixed signs: ``((7 i) mod period - offset) / 2`` over the
    flat index ``i`` (values in [-2, 2] for the defaults)."""
    size = math.prod(shape)
    return (((np.arange(size) * 7) % period - offset) / 2).reshape(shape).astype(np.float32)


def pattern_kernel(input_dim, n_units):
    """Halves in [-1, 1] that differ from their transpose, so a square kernel used transposed shows."""
    rows, cols = np.indices((input_dim, n_units))
    return (((3 * rows + 2 * cols) % 5 - 2) / 2).astype(np.float32)


def pattern_bias(n_units):
    return ((np.arange(n_units) % 3 - 1) / 2).astype(np.float32)


def example_case(shape, n_units, activation, scale=1.0) -> DenseCase:
    """A :class:`DenseCase` with input ``pattern(shape) * scale`` and the pattern kernel and bias."""
    x = (pattern(shape) * np.float32(scale)).astype(np.float32)
    return DenseCase(x, n_units, activation, pattern_kernel(shape[-1], n_units), pattern_bias(n_units))


def kink_case(activation="relu") -> DenseCase:
    """Pre-activation exactly 0 at [0, 0] (1 - 1 + 0): where ReLU's derivative may be 0 or 1."""
    return DenseCase(
        np.array([[1.0, -1.0], [2.0, 0.5]], np.float32),
        2,
        activation,
        np.array([[1.0, 0.5], [1.0, -1.0]], np.float32),
        np.array([0.0, 0.25], np.float32),
    )


def saturation_case(activation) -> DenseCase:
    """Identity kernel, zero bias: pre-activations equal x, past every threshold where a shortcut
    breaks (exp overflow at 88.7 and 44.4, float16 at 65504) up to 1e30."""
    x = np.array([[-1e30, -100.0, 0.5, 100.0, 1e30], [1e5, -1e5, 50.0, -50.0, 0.0]], np.float32)
    return DenseCase(x, 5, activation, np.eye(5, dtype=np.float32), np.zeros(5, np.float32))


def overflow_case(activation) -> DenseCase:
    """Pre-activations [6e38, 3e38 - 1e5]: the first exceeds float32's range (so +inf, or the
    activation's saturated value, is right), the second is just representable (so +inf is wrong)."""
    return DenseCase(
        np.array([[3e38, 3e38, -1e5]], np.float32),
        2,
        activation,
        np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]], np.float32),
        np.zeros(2, np.float32),
    )


def example_cotangent(output_shape):
    """An upstream gradient of halves in [-1, 1], mixed in sign, for an output of ``output_shape``."""
    return pattern(output_shape, period=5, offset=2)


def example_stack(shape, layers, scale=1.0) -> StackCase:
    """A :class:`StackCase` of ``layers`` ((units, activation) pairs) with pattern weights."""
    weighted, width = [], shape[-1]
    for n_units, act in layers:
        weighted.append((n_units, act, pattern_kernel(width, n_units), pattern_bias(n_units)))
        width = n_units
    return StackCase((pattern(shape) * np.float32(scale)).astype(np.float32), weighted)


# -- Training data ------------------------------------------------------------------------------
# Tiny data sets: training semantics (batching, averaging, validation) show up with a handful of
# rows, and every fit in a contract must take milliseconds, not seconds.

MAX_TRAINING_ROWS = 12
training_rows = st.integers(1, MAX_TRAINING_ROWS)
training_batch_sizes = st.integers(1, MAX_TRAINING_ROWS)
learning_rates = st.sampled_from((0.01, 0.05, 0.1))
epoch_counts = st.integers(1, 3)
# Data of shape (rows, features), (rows, steps, features) or (rows, steps, positions, features): a
# dense layer contracts the last axis, and the loss averages over every row and inner position, so
# a fit or evaluate that only handles 2D data fails on the others.
training_ranks = st.integers(2, 4)


def inner_shapes(rank):
    """The axes between rows and features of data of ``rank``: ``()`` for 2D, 1-3 positions per axis."""
    return st.tuples(*[st.integers(1, 3)] * (rank - 2))


@dataclass
class RegressionCase:
    """A linear dense layer's training example: data ``x``/``y`` of shape ``(rows, ..., features)`` and
    ``(rows, ..., units)``, initial ``kernel``/``bias``, and the fit arguments ``batch_size`` and
    ``learning_rate``."""

    x: np.ndarray
    y: np.ndarray
    kernel: np.ndarray
    bias: np.ndarray
    batch_size: int
    learning_rate: float

    @property
    def units(self) -> int:
        return self.kernel.shape[1]

    @property
    def input_shape(self) -> tuple:
        """The shape to build a model for: ``(None, ..., features)``."""
        return (None, *self.x.shape[1:])

    def __repr__(self):
        return (
            f"RegressionCase(x={_short(self.x)}, y={_short(self.y)}, kernel={_short(self.kernel)}, "
            f"bias={_short(self.bias)}, batch_size={self.batch_size}, learning_rate={self.learning_rate})"
        )


@st.composite
def batched_row_counts(draw):
    """``(rows, batch_size)`` with several batches and a partial last one in most draws: rows =
    batch_size * full_batches + remainder, because a batch size drawn independently of the row
    count is mostly >= rows (one batch), which hides every batching bug."""
    batch_size = draw(st.integers(1, 4), label="batch_size")
    full_batches = draw(st.integers(0, 2), label="full batches")
    remainder = draw(st.integers(0, batch_size - 1), label="rows in the partial batch")
    return max(1, batch_size * full_batches + remainder), batch_size


@st.composite
def regression_cases(draw, rows=None, batch_sizes=None, ranks=training_ranks):
    """A :class:`RegressionCase` with 1-11 rows of rank 2-4, 1-4 features, 1-3 units; by default the
    batch size splits the rows into several batches with a partial last one (:func:`batched_row_counts`)."""
    if rows is None and batch_sizes is None:
        n_rows, batch_size = draw(batched_row_counts())
    else:
        n_rows = draw(training_rows if rows is None else rows, label="rows")
        batch_size = draw(training_batch_sizes if batch_sizes is None else batch_sizes, label="batch_size")
    inner = draw(inner_shapes(draw(ranks, label="rank")), label="inner shape")
    n_features = draw(st.integers(1, 4), label="features")
    n_units = draw(st.integers(1, 3), label="units")
    return RegressionCase(
        x=draw(float_arrays((n_rows, *inner, n_features)), label="x"),
        y=draw(float_arrays((n_rows, *inner, n_units)), label="y"),
        kernel=draw(float_arrays((n_features, n_units), bound=1.0), label="kernel"),
        bias=draw(float_arrays((n_units,), bound=1.0), label="bias"),
        batch_size=batch_size,
        learning_rate=draw(learning_rates, label="learning_rate"),
    )


@st.composite
def split_regression_cases(draw):
    """A training :class:`RegressionCase` and a validation set ``(x_val, y_val)`` of the same shape but rows."""
    case = draw(regression_cases())
    n_val = draw(st.integers(1, 6), label="validation rows")
    x_val = draw(float_arrays((n_val, *case.x.shape[1:])), label="x_val")
    y_val = draw(float_arrays((n_val, *case.y.shape[1:])), label="y_val")
    return case, x_val, y_val


def _pattern(shape, offset, scale=0.25):
    """Deterministic, exactly representable values in [-1.25, 1.25] (multiples of 1/4) for fixed examples."""
    size = int(np.prod(shape))
    return (((np.arange(size) * 7 + offset) % 11 - 5) * scale).reshape(shape).astype(np.float32)


def fixed_regression_case(rows, batch_size, inner=(), features=2, units=2, learning_rate=0.1):
    """A :class:`RegressionCase` with fixed, non-degenerate data (no zero gradients, targets away
    from the predictions), for the explicit examples a contract pins in every profile."""
    return RegressionCase(
        x=_pattern((rows, *inner, features), 0),
        y=_pattern((rows, *inner, units), 3, scale=0.5),
        kernel=_pattern((features, units), 5),
        bias=_pattern((units,), 2),
        batch_size=batch_size,
        learning_rate=learning_rate,
    )


def fixed_split_case(rows, batch_size, validation_rows, inner=(), **arguments):
    """:func:`fixed_regression_case` and a fixed validation set of ``validation_rows`` rows."""
    case = fixed_regression_case(rows, batch_size, inner, **arguments)
    x_val = _pattern((validation_rows, *case.x.shape[1:]), 4)
    y_val = _pattern((validation_rows, *case.y.shape[1:]), 1, scale=0.5)
    return case, x_val, y_val


validation_splits = st.sampled_from((0.1, 0.2, 0.25, 0.3, 0.5, 0.75))
validation_freqs = st.one_of(st.integers(1, 3), st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True))
data_seeds = st.integers(0, 2**31 - 1)
