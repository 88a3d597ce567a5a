"""compile: what it accepts (strings and objects), what it names, and that it leaves building to fit."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from conformance import strategies
from conformance.fixtures.training import OPTIMIZER_CLASSES, fit, linear_model, requires_training
from conformance.fixtures import require
from conformance.registry import MUST, contract
from conformance.strategies import fixed_regression_case


LOSS_CLASSES = {"mse": "MeanSquaredError", "mae": "MeanAbsoluteError"}
METRIC_NAMES = ("mae", "mse", "accuracy", "binary_accuracy")


# Both compile contracts draw the same choices: one data set, one optimizer and one loss by name.
_OPTIMIZER_AND_LOSS = {
    "case": strategies.regression_cases(),
    "optimizer": st.sampled_from(sorted(OPTIMIZER_CLASSES)),
    "loss": st.sampled_from(sorted(LOSS_CLASSES)),
}


@contract(
    "COMPILE-ACCEPTS-STRINGS",
    level=MUST,
    statement="compile accepts the optimizer, the loss and the metrics as their string names, and fit then trains.",
    rationale="compile(optimizer='rmsprop', loss='mse', metrics=['mae']) is the book's first model; a framework "
    "that needs objects breaks every tutorial.",
    requires=requires_training,
    given=_OPTIMIZER_AND_LOSS,
    examples=(dict(case=fixed_regression_case(rows=5, batch_size=2), optimizer="rmsprop", loss="mse"),),
)
def check_accepts_strings(impl, case, optimizer, loss):
    """compile(optimizer=name, loss=name, metrics=['mae']), fit one epoch, read the History's loss and mae."""
    model = linear_model(impl, case)
    model.compile(optimizer=optimizer, loss=loss, metrics=["mae"])
    history = fit(model, case.x, case.y, batch_size=case.batch_size, epochs=1)
    for key in ("loss", "mae"):
        require(key in history.history, f"compile(optimizer={optimizer!r}, loss={loss!r}, metrics=['mae']): History has no {key!r}")
        require(np.isfinite(history.history[key][0]), f"History[{key!r}] is {history.history[key][0]!r}, not a finite number")


@contract(
    "COMPILE-ACCEPTS-OBJECTS",
    level=MUST,
    statement="compile accepts optimizer, loss and metric objects, and the model keeps the optimizer object it was given.",
    rationale="Objects are how users set a learning rate or a loss option; a copy or a default in their place "
    "silently ignores those settings.",
    given=_OPTIMIZER_AND_LOSS,
    examples=(dict(case=fixed_regression_case(rows=5, batch_size=2), optimizer="adam", loss="mae"),),
)
def check_accepts_objects(impl, case, optimizer, loss):
    """compile with optimizers.X(learning_rate), losses.Y() and metrics.MeanAbsoluteError(); fit; check
    model.optimizer is the given object and the History has loss and mean_absolute_error."""
    model = linear_model(impl, case)
    optimizer_object = impl.optimizer(OPTIMIZER_CLASSES[optimizer], learning_rate=case.learning_rate)
    loss_object = impl.loss(LOSS_CLASSES[loss])
    metric = impl.metric("MeanAbsoluteError", name="mean_absolute_error")
    model.compile(optimizer=optimizer_object, loss=loss_object, metrics=[metric])
    history = fit(model, case.x, case.y, batch_size=case.batch_size, epochs=1)
    require(model.optimizer is optimizer_object, "model.optimizer is not the optimizer object passed to compile")
    require({"loss", "mean_absolute_error"} <= set(history.history),
            f"History keys {sorted(history.history)} lack loss or mean_absolute_error")


@contract(
    "COMPILE-HISTORY-KEYS-ARE-NAMES",
    level=MUST,
    statement="The History has exactly the keys 'loss' and each metric name as given to compile (no renaming: "
    "'accuracy' stays 'accuracy').",
    rationale="Plotting code reads history['accuracy'] or history['mae'] by the name it passed; a renamed key is a "
    "KeyError at the end of a long training run.",
    requires=requires_training,
    given={"case": strategies.regression_cases(), "names": st.lists(st.sampled_from(METRIC_NAMES), min_size=1, max_size=2, unique=True)},
    # 'accuracy' is the name frameworks are tempted to rename (to 'acc' or to the resolved metric).
    examples=(dict(case=fixed_regression_case(rows=5, batch_size=2), names=["accuracy", "mae"]),),
)
def check_history_keys_are_names(impl, case, names):
    """compile(loss='mse', metrics=names), fit one epoch, compare the History's keys as a set."""
    model = linear_model(impl, case)
    model.compile(optimizer="sgd", loss="mse", metrics=list(names))
    history = fit(model, case.x, case.y, batch_size=case.batch_size, epochs=1)
    expected = {"loss", *names}
    require(set(history.history) == expected, f"metrics={names}: History keys {sorted(history.history)}, expected {sorted(expected)}")


@contract(
    "COMPILE-LEAVES-BUILD-TO-FIT",
    level=MUST,
    statement="compile creates no weights; the first fit builds the model for the feature size of x.",
    rationale="The book declares and compiles a model before it has seen data; compile must not need (or guess) "
    "the input shape, and fit must infer it.",
    requires=requires_training,
    given={"case": strategies.regression_cases()},
    examples=(dict(case=fixed_regression_case(rows=5, batch_size=2, inner=(3,))),),
)
def check_leaves_build_to_fit(impl, case):
    """Compile an unbuilt one-layer Sequential, count its weights, fit, and read the kernel and bias shapes."""
    model = impl.sequential([impl.dense(case.units)])
    model.compile(optimizer="sgd", loss="mse")
    require(not model.built, "compile() built the model")
    require(not model.layers[0].weights, f"after compile the layer holds {len(model.layers[0].weights)} weights, expected none")
    fit(model, case.x, case.y, batch_size=case.batch_size, epochs=1)
    shapes = [tuple(w.shape) for w in impl.weights(model)]
    expected = [(case.x.shape[-1], case.units), (case.units,)]
    require(model.built and shapes == expected, f"after fit the weights have shapes {shapes}, expected {expected}")
