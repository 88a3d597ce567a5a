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
from conformance.fixtures.training import compiled_linear, fit, linear_model
from conformance.fixtures import require
from conformance.registry import MUST, SHOULD, contract
from conformance.strategies import fixed_regression_case, fixed_split_case

AREA = "errors"

# Keras 3 raises ValueError where tf_keras raises RuntimeError (fit before compile); both are
# "this call is invalid", and the kit never matches message texts.
USAGE_ERRORS = (ValueError, TypeError, RuntimeError)


def expect_error(call, what, accepted=USAGE_ERRORS):
    """Run ``call``; it must raise one of ``accepted``. Returns the exception."""
    try:
        call()
    except accepted as error:
        return error
    except Exception as error:  # noqa: BLE001  (a wrong exception type is the finding)
        raise AssertionError(f"{what}: raised {type(error).__name__}, expected one of "
                             f"{', '.join(e.__name__ for e in accepted)}") from error
    raise AssertionError(f"{what}: no error was raised")


def _error_contract(contract_id, level, statement, rationale, given, accepted=USAGE_ERRORS, examples=()):
    """Register a negative contract whose ``make_call(impl, **drawn)`` returns (description, call)."""

    def decorate(make_call):
        def check(impl, **drawn):
            what, call = make_call(impl, **drawn)
            expect_error(call, what, accepted)

        check.__doc__ = make_call.__doc__
        check.__name__ = make_call.__name__
        contract(contract_id, area=AREA, level=level, statement=statement, rationale=rationale, given=given,
                 examples=examples)(check)
        return check

    return decorate


def _tiny_case(rows=4):
    """Fixed valid data (rows x 2 features -> 1 unit): a negative contract draws only the invalid part, so a
    failure shrinks at once instead of re-running fit on ever smaller data sets."""
    x = np.linspace(-1.0, 1.0, rows * 2, dtype=np.float32).reshape(rows, 2)
    return strategies.RegressionCase(x=x, y=x[:, :1] * 2.0, kernel=np.full((2, 1), 0.5, np.float32),
                                     bias=np.zeros(1, np.float32), batch_size=2, learning_rate=0.01)


_cases = {"case": st.builds(_tiny_case)}


@_error_contract("ERR-FIT-BEFORE-COMPILE", MUST, "fit on a model that was never compiled raises.",
                 "Without a loss and an optimizer there is nothing to train; silently doing nothing hides the missing compile.",
                 _cases)
def fit_before_compile(impl, case):
    """fit on a built, uncompiled Sequential."""
    model = linear_model(impl, case)
    return "fit before compile", lambda: fit(model, case.x, case.y)


@_error_contract("ERR-EVALUATE-BEFORE-COMPILE", MUST, "evaluate on a model that was never compiled raises.",
                 "There is no loss to report; a number returned anyway is meaningless.", _cases)
def evaluate_before_compile(impl, case):
    """evaluate on a built, uncompiled Sequential."""
    model = linear_model(impl, case)
    return "evaluate before compile", lambda: model.evaluate(case.x, case.y, verbose=0)


@_error_contract("ERR-LENGTH-MISMATCH", MUST, "fit with x and y of different lengths raises.",
                 "Truncating to the shorter array pairs inputs with the wrong targets without a word.",
                 {"case": st.builds(_tiny_case), "drop": st.integers(1, 3)}, examples=(dict(case=_tiny_case(), drop=1),))
def length_mismatch(impl, case, drop):
    """fit(x, y[:-1]) on a compiled model."""
    model = compiled_linear(impl, case)
    return f"fit with {len(case.x)} x rows and {len(case.x) - drop} y rows", lambda: fit(model, case.x, case.y[:-drop])


_UNKNOWN_NAME = st.sampled_from(("nonexistent", "sgdd", "mean_squared_errorr"))


@_error_contract("ERR-UNKNOWN-OPTIMIZER", MUST, "compile with an unknown optimizer name raises.",
                 "A typo must not fall back to a default optimizer.", {"case": st.builds(_tiny_case), "name": _UNKNOWN_NAME},
                 examples=(dict(case=_tiny_case(), name="sgdd"),))
def unknown_optimizer(impl, case, name):
    """compile(optimizer=unknown name)."""
    model = linear_model(impl, case)
    return f"compile(optimizer={name!r})", lambda: model.compile(optimizer=name, loss="mse")


@_error_contract("ERR-UNKNOWN-LOSS", MUST, "An unknown loss name raises, at compile or at the latest at the first fit.",
                 "A typo must not train on a default loss.", {"case": st.builds(_tiny_case), "name": _UNKNOWN_NAME})
def unknown_loss(impl, case, name):
    """compile(loss=unknown name) then fit (tf_keras only notices at fit)."""
    model = linear_model(impl, case)

    def call():
        model.compile(optimizer="sgd", loss=name)
        fit(model, case.x, case.y)

    return f"compile(loss={name!r}) and fit", call


@_error_contract("ERR-UNKNOWN-METRIC", MUST, "An unknown metric name raises, at compile or at the latest at the first fit.",
                 "A typo must not drop the metric the user asked for.", {"case": st.builds(_tiny_case), "name": _UNKNOWN_NAME})
def unknown_metric(impl, case, name):
    """compile(metrics=[unknown name]) then fit."""
    model = linear_model(impl, case)

    def call():
        model.compile(optimizer="sgd", loss="mse", metrics=[name])
        fit(model, case.x, case.y)

    return f"compile(metrics=[{name!r}]) and fit", call


@_error_contract("ERR-BATCH-SIZE-NEGATIVE", MUST, "fit with a negative batch_size raises.",
                 "There is no batch of negative size.", {"case": st.builds(_tiny_case), "batch_size": st.integers(-3, -1)})
def batch_size_negative(impl, case, batch_size):
    """fit(batch_size=-k)."""
    model = compiled_linear(impl, case)
    return f"fit(batch_size={batch_size})", lambda: fit(model, case.x, case.y, batch_size=batch_size)


@_error_contract("ERR-BATCH-SIZE-ZERO", SHOULD, "fit with batch_size=0 raises.",
                 "0 is not a batch size; treating it as 'default' (32) hides a computed batch size that went to zero.", _cases)
def batch_size_zero(impl, case):
    """fit(batch_size=0)."""
    model = compiled_linear(impl, case)
    return "fit(batch_size=0)", lambda: fit(model, case.x, case.y, batch_size=0)


@_error_contract("ERR-EPOCHS-NEGATIVE", SHOULD, "fit with epochs < 0 raises.",
                 "A negative epoch count is a bug in the caller; returning an empty History hides it.",
                 {"case": st.builds(_tiny_case), "epochs": st.integers(-3, -1)})
def epochs_negative(impl, case, epochs):
    """fit(epochs=-k)."""
    model = compiled_linear(impl, case)
    return f"fit(epochs={epochs})", lambda: fit(model, case.x, case.y, epochs=epochs)


@_error_contract("ERR-VALIDATION-SPLIT-OUT-OF-RANGE", SHOULD, "fit with validation_split outside [0, 1) raises.",
                 "A split of 1.5 or -0.5 is meaningless; Python's negative slicing turns it into an arbitrary split.",
                 {"case": st.builds(_tiny_case), "split": st.sampled_from((-0.5, 1.5, 2.0))},
                 examples=(dict(case=_tiny_case(), split=-0.5), dict(case=_tiny_case(), split=1.5)))
def validation_split_out_of_range(impl, case, split):
    """fit(validation_split=-0.5, 1.5 or 2.0)."""
    model = compiled_linear(impl, case)
    return f"fit(validation_split={split})", lambda: fit(model, case.x, case.y, validation_split=split)


@_error_contract("ERR-VALIDATION-SPLIT-EMPTY-SIDE", MUST, "fit with a validation_split that leaves no training rows raises.",
                 "Training on nothing and reporting an empty History looks like success.",
                 {"case": st.builds(_tiny_case, st.integers(1, 5)), "split": st.sampled_from((0.9, 0.95))})
def validation_split_empty_side(impl, case, split):
    """fit(validation_split=f) where floor(N * (1 - f)) == 0."""
    model = compiled_linear(impl, case)
    return f"fit on {len(case.x)} rows with validation_split={split}", lambda: fit(model, case.x, case.y, validation_split=split)


# A bare array is left out: tf_keras accepts a one-element array silently (its truth value is defined).
_MALFORMED = st.sampled_from(("four arrays", "mismatched lengths"))


@_error_contract("ERR-VALIDATION-DATA-MALFORMED", MUST,
                 "validation_data that is a tuple of four arrays, or x/y of different lengths, raises.",
                 "Malformed validation data must not be half-used or skipped without a word.",
                 {"example": strategies.split_regression_cases(), "form": _MALFORMED},
                 examples=tuple(dict(example=fixed_split_case(rows=4, batch_size=2, validation_rows=3), form=form)
                                for form in ("four arrays", "mismatched lengths")))
def validation_data_malformed(impl, example, form):
    """fit(validation_data=...) with (x, y, w, extra) or (x, y + one row)."""
    case, x_val, y_val = example
    model = compiled_linear(impl, case)
    malformed = {
        "four arrays": (x_val, y_val, np.ones(len(x_val), np.float32), y_val),
        "mismatched lengths": (x_val, np.concatenate([y_val, y_val[:1]])),
    }[form]
    return f"fit(validation_data={form})", lambda: fit(model, case.x, case.y, validation_data=malformed)


@_error_contract("ERR-VALIDATION-DATA-EMPTY-TUPLE", SHOULD, "fit with validation_data=() raises.",
                 "An empty tuple is a caller bug; treating it as 'no validation' drops val_loss silently.", _cases)
def validation_data_empty_tuple(impl, case):
    """fit(validation_data=())."""
    model = compiled_linear(impl, case)
    return "fit(validation_data=())", lambda: fit(model, case.x, case.y, validation_data=())


@_error_contract("ERR-EMPTY-DATA", SHOULD, "fit and evaluate on zero rows raise.",
                 "An empty data set is almost always an upstream bug (a bad filter); an empty History hides it.",
                 {"case": st.builds(_tiny_case), "method": st.sampled_from(("fit", "evaluate"))},
                 examples=(dict(case=_tiny_case(), method="fit"), dict(case=_tiny_case(), method="evaluate")))
def empty_data(impl, case, method):
    """fit or evaluate on x[:0], y[:0]."""
    model = compiled_linear(impl, case)
    if method == "fit":
        return "fit on 0 rows", lambda: fit(model, case.x[:0], case.y[:0])
    return "evaluate on 0 rows", lambda: model.evaluate(case.x[:0], case.y[:0], verbose=0)


# A changed feature size surfaces from the backend's matmul (TF's InvalidArgumentError, not a
# ValueError) in Keras 3 and tf_keras alike; any exception is accepted, silence is not.
@_error_contract("ERR-FEATURE-SIZE-CHANGED", MUST, "fit or predict with a different feature size than the model was built for raises.",
                 "Broadcasting or slicing to fit the kernel produces numbers from the wrong inputs.",
                 {"case": st.builds(_tiny_case), "extra": st.integers(1, 3), "method": st.sampled_from(("fit", "predict"))},
                 accepted=(Exception,),
                 examples=(dict(case=_tiny_case(), extra=1, method="fit"), dict(case=_tiny_case(), extra=1, method="predict")))
def feature_size_changed(impl, case, extra, method):
    """Fit once, then fit or predict on x with `extra` more columns."""
    model = compiled_linear(impl, case)
    fit(model, case.x, case.y)
    wider = np.concatenate([case.x, np.ones((len(case.x), extra), np.float32)], axis=-1)
    if method == "fit":
        return f"fit with {wider.shape[-1]} features after building for {case.x.shape[-1]}", lambda: fit(model, wider, case.y)
    return f"predict with {wider.shape[-1]} features after building for {case.x.shape[-1]}", lambda: model.predict(wider, verbose=0)


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
    area=AREA,
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
    area=AREA,
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
