"""Setup shared by the compile, training, validation and errors contracts: small models with
known weights, optimizers by name, and a recorder that reads back which rows each step trained on.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from conformance import oracles
from conformance.contracts._setup import require

OPTIMIZER_CLASSES = {"sgd": "SGD", "rmsprop": "RMSprop", "adam": "Adam"}


def linear_model(impl, case, activation=None):
    """A Sequential of one dense layer (linear unless ``activation``), built for ``case.x`` (any rank),
    holding ``case``'s weights."""
    model = impl.sequential([impl.dense(case.units, activation)])
    model.build(case.input_shape)
    model.set_weights([case.kernel, case.bias])
    return model


def optimizer(impl, name, learning_rate, **hyperparameters):
    """A fresh optimizer object of ``impl`` for ``name`` (``sgd``, ``rmsprop``, ``adam``)."""
    return impl.optimizer(OPTIMIZER_CLASSES[name], learning_rate=learning_rate, **hyperparameters)


def optimizer_rule(name, learning_rate, **hyperparameters):
    """The float64 oracle of the same optimizer: ``rule(weight, gradient, state)``."""
    return partial(oracles.OPTIMIZER_STEPS[name], learning_rate=learning_rate, **hyperparameters)


def compiled_linear(impl, case, name="sgd", loss="mse", metrics=None, **hyperparameters):
    model = linear_model(impl, case)
    model.compile(optimizer=optimizer(impl, name, case.learning_rate, **hyperparameters), loss=loss, metrics=metrics)
    return model


def loss_weights(x, low=0.0, high=2.0):
    """Sample weights from ``low`` to ``high``, one per loss value of data ``x``: one per row for 2D
    data, one per (row, step, ...) position for higher ranks. Keras 3 multiplies a per-row weight
    vector into a (rows, steps) loss without expanding it (an error, or the wrong axis when
    rows == steps), while both Keras versions apply weights of the loss's own shape."""
    shape = x.shape[:-1]
    return np.linspace(low, high, int(np.prod(shape))).astype(np.float32).reshape(shape)


def fit(model, x, y, **arguments):
    """``model.fit`` without progress output (every other argument as given)."""
    return model.fit(x, y, verbose=0, **arguments)


def trace_epochs(case, epochs, name="sgd", **hyperparameters) -> list:
    """The oracle's :class:`~conformance.oracles.EpochTrace` for each of ``epochs`` unshuffled epochs."""
    rule = optimizer_rule(name, case.learning_rate, **hyperparameters)
    kernel, bias, states, traces = case.kernel, case.bias, [{}, {}], []
    for _ in range(epochs):
        trace = oracles.dense_mse_epoch(kernel, bias, case.x, case.y, case.batch_size, rule, states)
        kernel, bias = trace.kernel, trace.bias
        traces.append(trace)
    return traces


def assert_weights_match(impl, model, trace, what):
    kernel, bias = impl.weights(model)
    oracles.assert_within(f"{what}: kernel", kernel, trace.kernel)
    oracles.assert_within(f"{what}: bias", bias, trace.bias)


def history_values(history, key, expected_length):
    require(hasattr(history, "history") and isinstance(history.history, dict), f"fit returned {type(history).__name__}, not a History with a .history dict")
    require(key in history.history, f"History has no {key!r} key; keys are {sorted(history.history)}")
    values = history.history[key]
    require(len(values) == expected_length, f"History[{key!r}] has {len(values)} values, expected {expected_length}")
    return [float(v) for v in values]


def same_weights(impl, first, second) -> bool:
    """Bit-identical weights: the same float32 operations in the same order give the same bits."""
    a, b = impl.weights(first), impl.weights(second)
    return len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))


# -- Recording which rows each step trained on --------------------------------------------------
#
# Through the public API alone every framework reveals its training order like this: row i of the
# data is the one-hot vector e_i, the model is one linear unit with zero weights, the loss is MAE
# against a target far below any prediction (so every per-row gradient is exactly +1), and the
# optimizer is SGD with learning rate 2^-4 and momentum 1/2. With batch size 1, the row seen at
# step s (of S) moves its own kernel entry by -lr * (2 - 2^-(S-1-s)) in total, so the binary
# digits of each kernel entry spell out the steps at which that row was used, and the bias, which
# every step moves, spells out S. All values are dyadic with at most ~24 significant bits for
# S <= 20, so float32 holds them exactly and the decoding is exact.

RECORDER_LEARNING_RATE = 2.0**-4
RECORDER_MOMENTUM = 0.5
RECORDER_TARGET = -1000.0
RECORDER_MAX_STEPS = 20


def recorder(impl, width):
    """A compiled one-unit model over one-hot rows of ``width`` features, with zero weights."""
    model = impl.sequential([impl.dense(1)])
    model.build((None, width))
    model.set_weights([np.zeros((width, 1), np.float32), np.zeros((1,), np.float32)])
    model.compile(optimizer=optimizer(impl, "sgd", RECORDER_LEARNING_RATE, momentum=RECORDER_MOMENTUM), loss="mae")
    return model


def recorder_data(rows, width=None, first=0):
    """One-hot rows ``e_first .. e_{first+rows-1}`` in ``width`` features, and their targets."""
    x = np.eye(width or rows, dtype=np.float32)[first : first + rows]
    return x, np.full((rows, 1), RECORDER_TARGET, np.float32)


def decode_steps(impl, model) -> list:
    """Which rows each training step used, in step order: a list of lists of row indices."""
    kernel, bias = (np.asarray(w, np.float64).reshape(-1) for w in impl.weights(model))
    bias_units = -float(bias[0]) / RECORDER_LEARNING_RATE  # = 2S - 2 + 2^-(S-1) for S >= 1 steps
    steps = 0 if bias_units == 0 else int(np.floor(bias_units / 2)) + 1
    # Every contract asks for at most RECORDER_MAX_STEPS steps, so more is the implementation's doing.
    require(steps <= RECORDER_MAX_STEPS, f"the fit ran about {steps} single-row steps, more than the "
            f"{RECORDER_MAX_STEPS} any recorder contract asks for (rows x epochs)")
    used = [[] for _ in range(steps)]
    for row, value in enumerate(kernel):
        units = -value / RECORDER_LEARNING_RATE
        visits = 0 if units == 0 else int(np.floor(units / 2)) + 1
        remainder = 2 * visits - units  # = sum of 2^-(S-1-s) over the steps s that used this row
        for distance in range(steps):
            if remainder >= 2.0**-distance:
                remainder -= 2.0**-distance
                used[steps - 1 - distance].append(row)
        require(remainder == 0, f"row {row}'s weight {value!r} is not a sum of single-row steps: the fit did not "
                "apply one SGD-with-momentum update per batch of size 1")
    return used


def epochs_of(used, rows_per_epoch, epochs) -> list:
    """Split a step record into per-epoch row orders, failing if the step count is wrong."""
    require(len(used) == rows_per_epoch * epochs, f"the fit ran {len(used)} steps of batch size 1, "
            f"expected {rows_per_epoch} rows x {epochs} epochs = {rows_per_epoch * epochs}")
    multi = [i for i, rows in enumerate(used) if len(rows) != 1]
    require(not multi, f"steps {multi} used {[used[i] for i in multi]} rows, expected exactly one row each (batch_size=1)")
    order = [rows[0] for rows in used]
    return [order[e * rows_per_epoch : (e + 1) * rows_per_epoch] for e in range(epochs)]
