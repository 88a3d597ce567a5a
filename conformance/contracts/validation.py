"""validation: val_ keys, val_loss computed with the end-of-epoch weights on the validation rows only,
validation that leaves training alone, validation_split, validation_freq, inference mode."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from conformance import oracles, strategies
from conformance.fixtures.training import (
    compiled_linear,
    decode_steps,
    epochs_of,
    fit,
    history_values,
    loss_weights,
    recorder,
    recorder_data,
    same_weights,
    trace_epochs,
)
from conformance.fixtures import require
from conformance.registry import MUST, contract
from conformance.strategies import fixed_regression_case, fixed_split_case


# At least 4 rows, so that every drawn split (at most 0.75) leaves a training row: a draw without one
# would have to be skipped, and ERR-VALIDATION-SPLIT-EMPTY-SIDE covers that case.
_SPLIT_ROWS_MIN = 4

# The cases these contracts exist for, pinned as explicit examples that every profile runs first: a
# validation set whose last batch is partial (3 rows in batches of 2), several epochs, and rank-3 data.
SPLIT = fixed_split_case(rows=5, batch_size=2, validation_rows=3)
SPLIT_RANK_3 = fixed_split_case(rows=4, batch_size=2, validation_rows=3, inner=(2,))


@contract(
    "VAL-KEYS-WITH-VALIDATION-DATA",
    level=MUST,
    statement="validation_data given as (x, y) or (x, y, sample_weight) adds a val_ key for the loss and for "
    "every metric, one value per epoch.",
    rationale="Early stopping and model selection read val_loss; a missing key or a sample_weight that is "
    "rejected or ignored breaks them.",
    given={"example": strategies.split_regression_cases(), "with_weights": st.booleans(), "epochs": strategies.epoch_counts},
    examples=(dict(example=SPLIT, with_weights=True, epochs=2),),
)
def check_keys_with_validation_data(impl, example, with_weights, epochs):
    """fit(metrics=['mae'], validation_data=(x_val, y_val[, w_val])); compare key sets and lengths."""
    case, x_val, y_val = example
    validation = (x_val, y_val, loss_weights(x_val, 1.0, 1.0)) if with_weights else (x_val, y_val)
    model = compiled_linear(impl, case, metrics=["mae"])
    history = fit(model, case.x, case.y, batch_size=case.batch_size, epochs=epochs, validation_data=validation)
    expected = {"loss", "mae", "val_loss", "val_mae"}
    require(set(history.history) == expected, f"validation_data of {len(validation)} arrays: History keys {sorted(history.history)}, expected {sorted(expected)}")
    for key in ("val_loss", "val_mae"):
        history_values(history, key, epochs)


@contract(
    "VAL-LOSS-AT-END-OF-EPOCH",
    level=MUST,
    statement="val_loss equals the loss on the validation data (sample weights applied) with the weights at "
    "the end of that epoch.",
    rationale="val_loss computed on training rows, before the last update, or ignoring validation sample "
    "weights still looks plausible, and model selection then picks the wrong epoch.",
    given={"example": strategies.split_regression_cases(), "epochs": st.integers(1, 2), "weighted": st.booleans()},
    per_device=True,
    examples=(dict(example=SPLIT, epochs=2, weighted=True), dict(example=SPLIT_RANK_3, epochs=1, weighted=True)),
)
def check_loss_at_end_of_epoch(impl, example, epochs, weighted):
    """Unshuffled SGD fit with validation_data; each val_loss against the oracle loss of the validation rows
    under the oracle's end-of-epoch weights."""
    case, x_val, y_val = example
    sample_weight = loss_weights(x_val) if weighted else None
    validation = (x_val, y_val, sample_weight) if weighted else (x_val, y_val)
    model = compiled_linear(impl, case)
    history = fit(model, case.x, case.y, batch_size=case.batch_size, epochs=epochs, shuffle=False, validation_data=validation)
    logged = history_values(history, "val_loss", epochs)
    for epoch, trace in enumerate(trace_epochs(case, epochs)):
        output = oracles.forward([oracles.DenseParams(trace.kernel, trace.bias)], x_val)
        oracles.assert_within(f"History['val_loss'][{epoch}]", logged[epoch], oracles.batch_loss("mse", y_val, output, sample_weight=sample_weight))


@contract(
    "VAL-DOES-NOT-CHANGE-TRAINING",
    level=MUST,
    statement="Adding validation_data changes neither the trained weights nor the optimizer's step count.",
    rationale="Validation that trains on its rows leaks the held-out set; validation that advances the optimizer "
    "(Adam's step count) changes training. Either makes validated and unvalidated runs differ.",
    given={"example": strategies.split_regression_cases(), "epochs": st.integers(1, 2)},
    examples=(dict(example=SPLIT, epochs=2),),
)
def check_does_not_change_training(impl, example, epochs):
    """Two unshuffled Adam fits from the same weights, with and without validation_data; the weights must be
    bit-identical (same operations in the same order) and optimizer.iterations equal when exposed."""
    case, x_val, y_val = example
    plain, validated = compiled_linear(impl, case, "adam"), compiled_linear(impl, case, "adam")
    fit(plain, case.x, case.y, batch_size=case.batch_size, epochs=epochs, shuffle=False)
    fit(validated, case.x, case.y, batch_size=case.batch_size, epochs=epochs, shuffle=False, validation_data=(x_val, y_val))
    require(same_weights(impl, plain, validated), "the weights after fit differ when validation_data is added")
    steps = [getattr(m.optimizer, "iterations", None) for m in (plain, validated)]
    if all(s is not None for s in steps):
        counts = [int(impl.numpy(s)) for s in steps]
        require(counts[0] == counts[1], f"optimizer.iterations is {counts[1]} with validation, {counts[0]} without")


@contract(
    "VAL-SPLIT-TAKES-LAST-ROWS",
    level=MUST,
    statement="validation_split=f is the same as passing the last N - floor(N * (1 - f)) rows as validation_data "
    "and training on the others.",
    rationale="Users order data deliberately (time series: the newest rows validate); the front rows, random "
    "rows or a different rounding leak future data into training or shrink the validation set.",
    given={"case": strategies.regression_cases(rows=st.integers(_SPLIT_ROWS_MIN, 12)), "split": strategies.validation_splits,
           "epochs": st.integers(1, 2)},
    # 7 * (1 - 0.3) = 4.9: floor keeps 4 training rows, rounding would keep 5.
    examples=(dict(case=fixed_regression_case(rows=7, batch_size=2), split=0.3, epochs=2),),
)
def check_split_takes_last_rows(impl, case, split, epochs):
    """Unshuffled SGD: fit(validation_split=f) against fit(x[:k], validation_data=x[k:]); History and weights equal."""
    keep = math.floor(len(case.x) * (1 - split))
    split_model, explicit_model = compiled_linear(impl, case), compiled_linear(impl, case)
    by_split = fit(split_model, case.x, case.y, batch_size=case.batch_size, epochs=epochs, shuffle=False, validation_split=split)
    explicit = fit(explicit_model, case.x[:keep], case.y[:keep], batch_size=case.batch_size, epochs=epochs, shuffle=False,
                   validation_data=(case.x[keep:], case.y[keep:]))
    for key in ("loss", "val_loss"):
        a, b = history_values(by_split, key, epochs), history_values(explicit, key, epochs)
        require(a == b, f"validation_split={split} on {len(case.x)} rows: History[{key!r}] {a}, but with the last "
                f"{len(case.x) - keep} rows as validation_data {b}")
    require(same_weights(impl, split_model, explicit_model), f"validation_split={split} trained different weights than training on the first {keep} rows")


@contract(
    "VAL-SPLIT-BEFORE-SHUFFLE",
    level=MUST,
    statement="With validation_split and shuffle=True, training uses exactly the first floor(N * (1 - f)) rows, "
    "each once per epoch; shuffling happens after the split.",
    rationale="Shuffling before splitting moves rows between training and validation every epoch, so the model "
    "is validated on rows it trained on.",
    given={"rows": st.integers(_SPLIT_ROWS_MIN, 8), "split": strategies.validation_splits},
    # A shuffle before the split keeps exactly rows 0..3 of 8 for training with probability 1/70.
    examples=(dict(rows=8, split=0.5),),
)
def check_split_before_shuffle(impl, rows, split):
    """Recorder (one-hot rows, batch size 1), 2 shuffled epochs with validation_split; decode the rows trained on."""
    keep = math.floor(rows * (1 - split))
    model = recorder(impl, rows)
    x, y = recorder_data(rows)
    fit(model, x, y, batch_size=1, epochs=2, shuffle=True, validation_split=split)
    for epoch, order in enumerate(epochs_of(decode_steps(impl, model), keep, 2)):
        require(sorted(order) == list(range(keep)), f"validation_split={split} on {rows} rows: epoch {epoch} trained on "
                f"rows {order}, expected each of rows 0..{keep - 1} once")


@contract(
    "VAL-DATA-WINS-OVER-SPLIT",
    level=MUST,
    statement="When validation_data and validation_split are both given, validation_data is used and all rows train.",
    rationale="Keras documents the precedence; splitting anyway silently discards training rows.",
    given={"example": strategies.split_regression_cases(), "split": strategies.validation_splits},
    examples=(dict(example=SPLIT, split=0.5),),
)
def check_data_wins_over_split(impl, example, split):
    """Unshuffled SGD: fit(validation_data, validation_split) against fit(validation_data); History and weights equal."""
    case, x_val, y_val = example
    both, only_data = compiled_linear(impl, case), compiled_linear(impl, case)
    a = fit(both, case.x, case.y, batch_size=case.batch_size, shuffle=False, validation_data=(x_val, y_val), validation_split=split)
    b = fit(only_data, case.x, case.y, batch_size=case.batch_size, shuffle=False, validation_data=(x_val, y_val))
    for key in ("loss", "val_loss"):
        require(history_values(a, key, 1) == history_values(b, key, 1), f"with validation_split={split} added, History[{key!r}] changed")
    require(same_weights(impl, both, only_data), f"with validation_split={split} added to validation_data, training used different rows")


@contract(
    "VAL-FREQ-SELECTS-EPOCHS",
    level=MUST,
    statement="validation_freq=k validates the epochs whose 1-based number is a multiple of k; a list validates "
    "the epochs (1-based) it contains; the values equal those of validating every epoch.",
    rationale="Validation is often the slow part; validating the wrong epochs, or padding val lists, misaligns "
    "val_loss with loss in every plot.",
    given={"example": strategies.split_regression_cases(), "freq": strategies.validation_freqs, "epochs": st.integers(1, 3)},
    # 1-based: freq=2 over 3 epochs validates epoch 2 only; a 0-based count validates epochs 1 and 3.
    examples=(dict(example=SPLIT, freq=2, epochs=3),),
)
def check_freq_selects_epochs(impl, example, freq, epochs):
    """Unshuffled SGD with validation_freq against the same fit with validation every epoch, filtered."""
    case, x_val, y_val = example
    every, selected = compiled_linear(impl, case), compiled_linear(impl, case)
    full = fit(every, case.x, case.y, batch_size=case.batch_size, epochs=epochs, shuffle=False, validation_data=(x_val, y_val))
    partial = fit(selected, case.x, case.y, batch_size=case.batch_size, epochs=epochs, shuffle=False,
                  validation_data=(x_val, y_val), validation_freq=freq)
    chosen = [e for e in range(1, epochs + 1) if (e in freq if isinstance(freq, list) else e % freq == 0)]
    all_values = history_values(full, "val_loss", epochs)
    expected = [all_values[e - 1] for e in chosen]
    got = [float(v) for v in partial.history.get("val_loss", [])]
    require(got == expected, f"validation_freq={freq} over {epochs} epochs: val_loss {got}, expected the values of epochs {chosen}: {expected}")


def _requires_dropout(impl, device):
    return None if impl.has_layer("Dropout") else f"{impl.name}.layers has no Dropout to observe the training flag"


@contract(
    "VAL-INFERENCE-MODE",
    level=MUST,
    statement="Validation runs in inference mode: a Dropout layer passes values through unchanged when val_loss is computed.",
    rationale="Validating in training mode reports a noisy, pessimistic val_loss and mis-drives early stopping.",
    given={"example": strategies.split_regression_cases()},
    per_device=True,
    requires=_requires_dropout,
    examples=(dict(example=SPLIT_RANK_3),),
)
def check_inference_mode(impl, example):
    """Dense + Dropout(0.5) with learning rate 0 (weights stay put): val_loss against the oracle loss without dropout."""
    case, x_val, y_val = example
    model = impl.sequential([impl.dense(case.units), impl.layer("Dropout", 0.5)])
    model.build(case.input_shape)
    model.set_weights([case.kernel, case.bias])
    model.compile(optimizer=impl.optimizer("SGD", learning_rate=0.0), loss="mse")
    history = fit(model, case.x, case.y, batch_size=case.batch_size, validation_data=(x_val, y_val))
    expected = oracles.batch_loss("mse", y_val, oracles.forward([oracles.DenseParams(case.kernel, case.bias)], x_val))
    oracles.assert_within("val_loss through Dropout(0.5)", history_values(history, "val_loss", 1)[0], expected)
