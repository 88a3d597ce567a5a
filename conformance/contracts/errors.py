"""errors: bad input raises, checked by exception type only, each case on a fresh model; a failed fit
leaves the weights alone.

Levels follow what Keras 3 and tf_keras do (keras-semantics notes, sections 4-5, re-checked by running
these contracts on both): MUST where both raise, SHOULD where either is silent. The SHOULD failures
of keras and tf_keras are findings, listed in the run output.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from conformance import strategies
from conformance.fixtures.training import compiled_linear, fit, linear_model, requires_training
from conformance.fixtures import require
from conformance.registry import MUST, SHOULD, contract
from conformance.strategies import fixed_regression_case, fixed_split_case


# Keras 3 raises ValueError where tf_keras raises RuntimeError (fit before compile); both are
# "this call is invalid", and the kit never matches message texts.
USAGE_ERRORS = (ValueError, TypeError, RuntimeError)


def expect_error(call, what, accepted=USAGE_ERRORS):
    """Run ``call``; it must raise one of ``accepted`` (an AssertionError naming ``what`` otherwise)."""
    try:
        call()
    except accepted:
        return
    except Exception as error:  # noqa: BLE001  (a wrong exception type is the finding)
        raise AssertionError(f"{what}: raised {type(error).__name__}, expected one of "
                             f"{', '.join(e.__name__ for e in accepted)}") from error
    raise AssertionError(f"{what}: no error was raised")


def _tiny_case(rows=4):
    """Fixed valid data (rows x 2 features -> 1 unit): a negative contract draws only the invalid part, so a
    failure shrinks at once instead of re-running fit on ever smaller data sets."""
    x = np.linspace(-1.0, 1.0, rows * 2, dtype=np.float32).reshape(rows, 2)
    return strategies.RegressionCase(x=x, y=x[:, :1] * 2.0, kernel=np.full((2, 1), 0.5, np.float32),
                                     bias=np.zeros(1, np.float32), batch_size=2, learning_rate=0.01)


_cases = {"case": st.builds(_tiny_case)}


@contract("ERR-FIT-BEFORE-COMPILE", level=MUST, statement="fit on a model that was never compiled raises.",
          rationale="Without a loss and an optimizer there is nothing to train; silently doing nothing hides the missing compile.",
          given=_cases, requires=requires_training)
def check_fit_before_compile(impl, case):
    """fit on a built, uncompiled Sequential."""
    model = linear_model(impl, case)
    expect_error(lambda: fit(model, case.x, case.y), "fit before compile")


@contract("ERR-EVALUATE-BEFORE-COMPILE", level=MUST, statement="evaluate on a model that was never compiled raises.",
          rationale="There is no loss to report; a number returned anyway is meaningless.", given=_cases)
def check_evaluate_before_compile(impl, case):
    """evaluate on a built, uncompiled Sequential."""
    model = linear_model(impl, case)
    expect_error(lambda: model.evaluate(case.x, case.y, verbose=0), "evaluate before compile")


@contract("ERR-LENGTH-MISMATCH", level=MUST, statement="fit with x and y of different lengths raises.",
          rationale="Truncating to the shorter array pairs inputs with the wrong targets without a word.",
          given={"case": st.builds(_tiny_case), "drop": st.integers(1, 3)}, examples=(dict(case=_tiny_case(), drop=1),))
def check_length_mismatch(impl, case, drop):
    """fit(x, y[:-1]) on a compiled model."""
    model = compiled_linear(impl, case)
    expect_error(lambda: fit(model, case.x, case.y[:-drop]), f"fit with {len(case.x)} x rows and {len(case.x) - drop} y rows")


_UNKNOWN_NAME = st.sampled_from(("nonexistent", "sgdd", "mean_squared_errorr"))


@contract("ERR-UNKNOWN-OPTIMIZER", level=MUST, statement="compile with an unknown optimizer name raises.",
          rationale="A typo must not fall back to a default optimizer.", given={"case": st.builds(_tiny_case), "name": _UNKNOWN_NAME},
          examples=(dict(case=_tiny_case(), name="sgdd"),))
def check_unknown_optimizer(impl, case, name):
    """compile(optimizer=unknown name)."""
    model = linear_model(impl, case)
    expect_error(lambda: model.compile(optimizer=name, loss="mse"), f"compile(optimizer={name!r})")


@contract("ERR-UNKNOWN-LOSS", level=MUST, statement="An unknown loss name raises, at compile or at the latest at the first fit.",
          rationale="A typo must not train on a default loss.", given={"case": st.builds(_tiny_case), "name": _UNKNOWN_NAME},
          requires=requires_training)
def check_unknown_loss(impl, case, name):
    """compile(loss=unknown name) then fit (tf_keras only notices at fit)."""
    model = linear_model(impl, case)

    def compile_and_fit():
        model.compile(optimizer="sgd", loss=name)
        fit(model, case.x, case.y)

    expect_error(compile_and_fit, f"compile(loss={name!r}) and fit")


@contract("ERR-UNKNOWN-METRIC", level=MUST, statement="An unknown metric name raises, at compile or at the latest at the first fit.",
          rationale="A typo must not drop the metric the user asked for.", given={"case": st.builds(_tiny_case), "name": _UNKNOWN_NAME},
          requires=requires_training)
def check_unknown_metric(impl, case, name):
    """compile(metrics=[unknown name]) then fit."""
    model = linear_model(impl, case)

    def compile_and_fit():
        model.compile(optimizer="sgd", loss="mse", metrics=[name])
        fit(model, case.x, case.y)

    expect_error(compile_and_fit, f"compile(metrics=[{name!r}]) and fit")


@contract(
    variants=[
        dict(id="ERR-BATCH-SIZE-NEGATIVE", level=MUST, statement="fit with a negative batch_size raises.",
             rationale="There is no batch of negative size.",
             given={"case": st.builds(_tiny_case), "batch_size": st.integers(-3, -1)}),
        dict(id="ERR-BATCH-SIZE-ZERO", level=SHOULD, statement="fit with batch_size=0 raises.",
             rationale="0 is not a batch size; treating it as 'default' (32) hides a computed batch size that went to zero.",
             given=_cases, batch_size=0),
        dict(id="ERR-EPOCHS-NEGATIVE", level=SHOULD, statement="fit with epochs < 0 raises.",
             rationale="A negative epoch count is a bug in the caller; returning an empty History hides it.",
             given={"case": st.builds(_tiny_case), "epochs": st.integers(-3, -1)}),
        dict(id="ERR-VALIDATION-SPLIT-OUT-OF-RANGE", level=SHOULD, statement="fit with validation_split outside [0, 1) raises.",
             rationale="A split of 1.5 or -0.5 is meaningless; Python's negative slicing turns it into an arbitrary split.",
             given={"case": st.builds(_tiny_case), "split": st.sampled_from((-0.5, 1.5, 2.0))},
             examples=(dict(case=_tiny_case(), split=-0.5), dict(case=_tiny_case(), split=1.5))),
        dict(id="ERR-VALIDATION-DATA-EMPTY-TUPLE", level=SHOULD, statement="fit with validation_data=() raises.",
             rationale="An empty tuple is a caller bug; treating it as 'no validation' drops val_loss silently.",
             given=_cases, validation_data=()),
    ],
)
def check_fit_rejects_argument(impl, case, split=None, **argument):
    """fit on a compiled model with the one invalid argument: batch_size < 1, epochs < 0, validation_split
    outside [0, 1) (drawn as split) or validation_data=()."""
    if split is not None:  # drawn as split: the name ERR-VALIDATION-SPLIT-OUT-OF-RANGE's examples and replays use
        argument["validation_split"] = split
    model = compiled_linear(impl, case)
    written = ", ".join(f"{name}={value!r}" for name, value in argument.items())
    expect_error(lambda: fit(model, case.x, case.y, **argument), f"fit({written})")


@contract("ERR-VALIDATION-SPLIT-EMPTY-SIDE", level=MUST, statement="fit with a validation_split that leaves no training rows raises.",
          rationale="Training on nothing and reporting an empty History looks like success.",
          given={"case": st.builds(_tiny_case, st.integers(1, 5)), "split": st.sampled_from((0.9, 0.95))})
def check_validation_split_empty_side(impl, case, split):
    """fit(validation_split=f) where floor(N * (1 - f)) == 0."""
    model = compiled_linear(impl, case)
    expect_error(lambda: fit(model, case.x, case.y, validation_split=split),
                 f"fit on {len(case.x)} rows with validation_split={split}")


# A bare array is left out: tf_keras accepts a one-element array silently (its truth value is defined).
_MALFORMED = st.sampled_from(("four arrays", "mismatched lengths"))


@contract("ERR-VALIDATION-DATA-MALFORMED", level=MUST,
          statement="validation_data that is a tuple of four arrays, or x/y of different lengths, raises.",
          rationale="Malformed validation data must not be half-used or skipped without a word.",
          given={"example": strategies.split_regression_cases(), "form": _MALFORMED},
          examples=tuple(dict(example=fixed_split_case(rows=4, batch_size=2, validation_rows=3), form=form)
                         for form in ("four arrays", "mismatched lengths")))
def check_validation_data_malformed(impl, example, form):
    """fit(validation_data=...) with (x, y, w, extra) or (x, y + one row)."""
    case, x_val, y_val = example
    model = compiled_linear(impl, case)
    malformed = {
        "four arrays": (x_val, y_val, np.ones(len(x_val), np.float32), y_val),
        "mismatched lengths": (x_val, np.concatenate([y_val, y_val[:1]])),
    }[form]
    expect_error(lambda: fit(model, case.x, case.y, validation_data=malformed), f"fit(validation_data={form})")


@contract("ERR-EMPTY-DATA", level=SHOULD, statement="fit and evaluate on zero rows raise.",
          rationale="An empty data set is almost always an upstream bug (a bad filter); an empty History hides it.",
          given={"case": st.builds(_tiny_case), "method": st.sampled_from(("fit", "evaluate"))},
          examples=(dict(case=_tiny_case(), method="fit"), dict(case=_tiny_case(), method="evaluate")))
def check_empty_data(impl, case, method):
    """fit or evaluate on x[:0], y[:0]."""
    model = compiled_linear(impl, case)
    if method == "fit":
        expect_error(lambda: fit(model, case.x[:0], case.y[:0]), "fit on 0 rows")
    else:
        expect_error(lambda: model.evaluate(case.x[:0], case.y[:0], verbose=0), "evaluate on 0 rows")


# A changed feature size surfaces from the backend's matmul (TF's InvalidArgumentError, not a
# ValueError) in Keras 3 and tf_keras alike; any exception is accepted, silence is not.
@contract("ERR-FEATURE-SIZE-CHANGED", level=MUST,
          statement="fit or predict with a different feature size than the model was built for raises.",
          rationale="Broadcasting or slicing to fit the kernel produces numbers from the wrong inputs.",
          given={"case": st.builds(_tiny_case), "extra": st.integers(1, 3), "method": st.sampled_from(("fit", "predict"))},
          examples=(dict(case=_tiny_case(), extra=1, method="fit"), dict(case=_tiny_case(), extra=1, method="predict")))
def check_feature_size_changed(impl, case, extra, method):
    """Fit once, then fit or predict on x with `extra` more columns."""
    model = compiled_linear(impl, case)
    fit(model, case.x, case.y)
    wider = np.concatenate([case.x, np.ones((len(case.x), extra), np.float32)], axis=-1)
    what = f"{method} with {wider.shape[-1]} features after building for {case.x.shape[-1]}"
    if method == "fit":
        expect_error(lambda: fit(model, wider, case.y), what, (Exception,))
    else:
        expect_error(lambda: model.predict(wider, verbose=0), what, (Exception,))


def _weights_survive(impl, case, x, y, failure, **arguments):
    """On a fresh model fitted once: a fit on ``(x, y, **arguments)`` must raise and leave the weights bit-identical."""
    model = compiled_linear(impl, case)
    fit(model, case.x, case.y, batch_size=case.batch_size)
    before = impl.weights(model)
    expect_error(lambda: fit(model, x, y, batch_size=case.batch_size, **arguments), f"fit with {failure}", (Exception,))
    changed = [i for i, (a, b) in enumerate(zip(before, impl.weights(model))) if not np.array_equal(a, b)]
    require(not changed, f"fit with {failure} raised but weights {changed} changed")


@contract(
    "ERR-FAILED-FIT-KEEPS-WEIGHTS",
    level=MUST,
    statement="A fit that raises because of its training data leaves the weights as they were.",
    rationale="A half-applied update after an exception corrupts a model the user goes on to save or retry.",
    given={"case": strategies.regression_cases()},
    examples=(dict(case=fixed_regression_case(rows=5, batch_size=2, inner=(2,))),),
)
def check_failed_fit_keeps_weights(impl, case):
    """Two failing fits, each on a fresh model fitted once: x with twice the features, and y with twice the rows."""
    _weights_survive(impl, case, np.concatenate([case.x, case.x], axis=-1), case.y, "wider x")
    _weights_survive(impl, case, case.x, np.concatenate([case.y, case.y]), "an x/y length mismatch")


@contract(
    "ERR-VALIDATION-DATA-CHECKED-BEFORE-TRAINING",
    level=SHOULD,
    statement="fit rejects malformed validation_data before the first training step, leaving the weights unchanged.",
    rationale="Finding the bad validation set only after an epoch of training leaves the model half-trained by a "
    "call that failed.",
    given={"example": strategies.split_regression_cases()},
    examples=(dict(example=fixed_split_case(rows=4, batch_size=2, validation_rows=3)),),
)
def check_validation_data_checked_before_training(impl, example):
    """On a fresh model fitted once: fit with validation_data=(x_val, y_val[:0]) must raise and keep the weights."""
    case, x_val, y_val = example
    _weights_survive(impl, case, case.x, case.y, "validation_data with an empty y", validation_data=(x_val, y_val[:0]))
