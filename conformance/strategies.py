"""Every hypothesis strategy the contracts draw from, named for what it draws.

Values are bounded and finite, and small: a counterexample shrinks towards one row, one feature,
one unit and zeros, which is what a person wants to read. Shapes stay small because the contracts
are about semantics, not throughput.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

VALUE_BOUND = 2.0  # inputs and weights in [-2, 2]: large enough to saturate sigmoid/tanh, no overflow

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
activations = st.sampled_from(ACTIVATIONS)
smooth_activations = st.sampled_from(("linear", "sigmoid", "tanh", "softmax"))
units = st.integers(1, 6)
feature_sizes = st.integers(1, 6)
batch_sizes = st.integers(1, 5)


def float_arrays(shape, dtype=np.float32, bound=VALUE_BOUND):
    """Arrays of ``shape`` with finite, normal values in [-bound, bound], exactly representable."""
    width = 64 if np.dtype(dtype) == np.float64 else 32
    elements = st.floats(-bound, bound, width=width, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return hnp.arrays(dtype, shape, elements=elements)


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

    def __repr__(self):
        parts = [f"x={_short(self.x)}", f"units={self.units}", f"activation={self.activation!r}"]
        if self.kernel is not None:
            parts += [f"kernel={_short(self.kernel)}", f"bias={_short(self.bias)}"]
        return f"DenseCase({', '.join(parts)})"


def _short(array):
    text = np.array2string(np.asarray(array), precision=8, separator=", ", threshold=64)
    return f"np.array({text}, dtype='{array.dtype}')"


@st.composite
def dense_cases(draw, min_rank=2, max_rank=4, activation=activations, with_weights=True, dtype=np.float32):
    """A :class:`DenseCase` with input of rank ``min_rank..max_rank`` and, optionally, weights."""
    shape = draw(input_shapes(min_rank, max_rank), label="input shape")
    n_units = draw(units, label="units")
    act = draw(activation, label="activation")
    x = draw(float_arrays(shape, dtype), label="x")
    kernel = bias = None
    if with_weights:
        kernel = draw(float_arrays((shape[-1], n_units), dtype, bound=1.0), label="kernel")
        bias = draw(float_arrays((n_units,), dtype, bound=1.0), label="bias")
    return DenseCase(x, n_units, act, kernel, bias)


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
def stack_cases(draw, depth=st.integers(2, 3), activation=activations, min_rank=2, max_rank=3):
    """A :class:`StackCase` of 2-3 dense layers on an input of rank 2-3."""
    shape = draw(input_shapes(min_rank, max_rank), label="input shape")
    layers, width = [], shape[-1]
    for _ in range(draw(depth, label="depth")):
        n_units = draw(units)
        layers.append(
            (
                n_units,
                draw(activation),
                draw(float_arrays((width, n_units), bound=1.0)),
                draw(float_arrays((n_units,), bound=1.0)),
            )
        )
        width = n_units
    return StackCase(draw(float_arrays(shape), label="x"), layers)


def cotangents(shape):
    """Upstream gradients ``dL/dy`` for an output of ``shape``."""
    return float_arrays(shape, bound=1.0)


# -- Training data ------------------------------------------------------------------------------
# Tiny data sets: training semantics (batching, averaging, validation) show up with a handful of
# rows, and every fit in a contract must take milliseconds, not seconds.

MAX_TRAINING_ROWS = 12
training_rows = st.integers(1, MAX_TRAINING_ROWS)
training_batch_sizes = st.integers(1, MAX_TRAINING_ROWS)
learning_rates = st.sampled_from((0.01, 0.05, 0.1))
epoch_counts = st.integers(1, 3)


@dataclass
class RegressionCase:
    """A linear dense layer's training example: data ``x``/``y``, initial ``kernel``/``bias``, and
    the fit arguments ``batch_size`` and ``learning_rate``."""

    x: np.ndarray
    y: np.ndarray
    kernel: np.ndarray
    bias: np.ndarray
    batch_size: int
    learning_rate: float

    @property
    def units(self) -> int:
        return self.kernel.shape[1]

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
def regression_cases(draw, rows=None, batch_sizes=None):
    """A :class:`RegressionCase` with 1-11 rows, 1-4 features, 1-3 units; by default the batch size
    splits the rows into several batches with a partial last one (:func:`batched_row_counts`)."""
    if rows is None and batch_sizes is None:
        n_rows, batch_size = draw(batched_row_counts())
    else:
        n_rows = draw(training_rows if rows is None else rows, label="rows")
        batch_size = draw(training_batch_sizes if batch_sizes is None else batch_sizes, label="batch_size")
    n_features = draw(st.integers(1, 4), label="features")
    n_units = draw(st.integers(1, 3), label="units")
    return RegressionCase(
        x=draw(float_arrays((n_rows, n_features)), label="x"),
        y=draw(float_arrays((n_rows, n_units)), label="y"),
        kernel=draw(float_arrays((n_features, n_units), bound=1.0), label="kernel"),
        bias=draw(float_arrays((n_units,), bound=1.0), label="bias"),
        batch_size=batch_size,
        learning_rate=draw(learning_rates, label="learning_rate"),
    )


@st.composite
def split_regression_cases(draw):
    """A training :class:`RegressionCase` and a validation set ``(x_val, y_val)`` of the same widths."""
    case = draw(regression_cases())
    n_val = draw(st.integers(1, 6), label="validation rows")
    x_val = draw(float_arrays((n_val, case.x.shape[1])), label="x_val")
    y_val = draw(float_arrays((n_val, case.units)), label="y_val")
    return case, x_val, y_val


validation_splits = st.sampled_from((0.1, 0.2, 0.25, 0.3, 0.5, 0.75))
validation_freqs = st.one_of(st.integers(1, 3), st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True))
data_seeds = st.integers(0, 2**31 - 1)
