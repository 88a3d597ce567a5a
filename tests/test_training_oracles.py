"""The training oracles (oracles.py, from "Training: losses, metrics" on, written in the interval
algebra the layer oracles share) are sound, also where float32 overflows, tight enough to bite,
never raise on legitimate inputs, and follow Keras 3 on data of rank 3 and 4.

Soundness is checked against a float32 NumPy transcription of what Keras computes, step by step."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conformance import oracles, strategies
from conformance.fixtures.training import trace_epochs
from conformance.contracts.training import ZERO_GRADIENT
from conformance.oracles import Interval

F32 = np.float32


def _keras_fit_float32(case, epochs, name="sgd", momentum=0.0):
    """Unshuffled fit of a linear dense layer with mse, in float32, as Keras 3 writes each operation.
    Returns the weights after every epoch and each epoch's logged loss."""
    kernel, bias = case.kernel.astype(F32), case.bias.astype(F32)
    slots = [{"m": np.zeros_like(w), "v": np.zeros_like(w)} for w in (kernel, bias)]
    lr, iterations, results = F32(case.learning_rate), 0, []
    for _ in range(epochs):
        total, count = F32(0), F32(0)
        for rows in oracles.batch_slices(len(case.x), case.batch_size):
            x, y = case.x[rows], case.y[rows]
            z = (x @ kernel + bias).astype(F32)
            loss = F32(np.sum(np.mean(np.square(z - y), axis=-1), dtype=F32) / F32(z[..., 0].size))
            total, count = F32(total + loss * F32(len(x))), F32(count + F32(len(x)))
            upstream = (F32(2) * (z - y) / F32(z.size)).astype(F32)
            gradients = [(x.reshape(-1, x.shape[-1]).T @ upstream.reshape(-1, upstream.shape[-1])).astype(F32),
                         upstream.reshape(-1, upstream.shape[-1]).sum(axis=0, dtype=F32)]
            iterations += 1
            updated = []
            for weight, g, slot in zip((kernel, bias), gradients, slots):
                if name == "sgd" and not momentum:
                    weight = weight - lr * g
                elif name == "sgd":
                    slot["m"] = F32(momentum) * slot["m"] - lr * g
                    weight = weight + slot["m"]
                elif name == "rmsprop":
                    slot["v"] = F32(0.9) * slot["v"] + F32(1 - 0.9) * np.square(g)
                    weight = weight - lr * g / np.sqrt(slot["v"] + F32(1e-7))
                else:  # adam
                    alpha = lr * np.sqrt(F32(1) - F32(0.999) ** iterations) / (F32(1) - F32(0.9) ** iterations)
                    slot["m"] = slot["m"] + (g - slot["m"]) * F32(1 - 0.9)
                    slot["v"] = slot["v"] + (np.square(g) - slot["v"]) * F32(1 - 0.999)
                    weight = weight - slot["m"] * alpha / (np.sqrt(slot["v"]) + F32(1e-7))
                updated.append(weight.astype(F32))
            kernel, bias = updated
        results.append((kernel, bias, total / count))
    return results


def _assert_inside(trace, simulated):
    kernel, bias, loss = simulated
    assert not trace.kernel.violations(kernel).any(), (trace.kernel, kernel)
    assert not trace.bias.violations(bias).any(), (trace.bias, bias)
    assert not trace.epoch_loss.violations(loss).any(), (trace.epoch_loss, loss)


def test_zero_gradient_adam_step_keeps_the_weight_with_a_finite_bound():
    state = {}
    weight = Interval.exact(np.array([0.5, -1.0]))
    after = oracles.adam_step(weight, np.zeros(2), state, learning_rate=0.01)
    assert np.all(np.isfinite(after.radius)) and np.all(after.radius < 1e-6)
    assert not after.violations(np.array([0.5, -1.0], F32)).any()


def test_the_adam_case_that_divided_by_an_interval_containing_zero_is_bounded_and_sound():
    """Seed 3 of the thorough profile: the bias gradient is exactly zero, and rounding-error radii made
    the divisor sqrt(v) + eps look as if it could be zero; it is at least eps."""
    traces = trace_epochs(ZERO_GRADIENT, 2, "adam")
    for trace, simulated in zip(traces, _keras_fit_float32(ZERO_GRADIENT, 2, "adam")):
        assert np.isfinite(trace.bias.radius).all() and np.isfinite(trace.kernel.radius).all()
        _assert_inside(trace, simulated)
    # Adam never steps further than about lr per step: the bound stays within that, not unbounded.
    assert oracles.SAFETY * traces[-1].bias.radius.max() <= 2 * 2 * ZERO_GRADIENT.learning_rate


def test_a_divisor_interval_reaching_zero_gives_an_unbounded_quotient_not_an_error():
    quotient = oracles.i_div(Interval.exact(np.array([1.0, 2.0])), Interval(np.array([0.0, 1e-9]), np.array([1e-8, 1e-8])), "float32")
    assert np.isfinite(quotient.center).all()
    for anything in (np.array([1e30, -5.0]), np.array([np.inf, np.nan])):
        assert not quotient.violations(anything).any()
    floored = oracles.i_div(Interval.exact(np.array([1.0])), Interval(np.array([1e-3]), np.array([1e-2])), "float32", floor=1e-3)
    assert np.isfinite(floored.radius).all()


def test_an_unbounded_radius_stays_unbounded_through_products_with_zero():
    unbounded = Interval(np.array([0.0]), np.array([np.inf]))
    product = oracles.i_mul(unbounded, Interval.exact(np.array([0.0])), "float32")
    assert not product.violations(np.array([1e30])).any() and not product.violations(np.array([np.nan])).any()
    assert not oracles.i_matmul(Interval(np.zeros((1, 1)), np.full((1, 1), np.inf)), Interval.exact(np.zeros((1, 1))), "float32").violations(np.zeros((1, 1))).any()


_OPTIMIZERS = st.sampled_from((("sgd", 0.0), ("sgd", 0.9), ("rmsprop", 0.0), ("adam", 0.0)))


@settings(max_examples=60, deadline=None)
@given(case=strategies.regression_cases(), epochs=st.integers(1, 2), optimizer=_OPTIMIZERS)
@example(case=ZERO_GRADIENT, epochs=2, optimizer=("rmsprop", 0.0))
@example(case=strategies.fixed_regression_case(rows=5, batch_size=2, inner=(3,)), epochs=2, optimizer=("adam", 0.0))
def test_epoch_oracle_contains_a_float32_keras_fit_on_data_of_any_rank(case, epochs, optimizer):
    name, momentum = optimizer
    hyperparameters = {"momentum": momentum} if momentum else {}
    traces = trace_epochs(case, epochs, name, **hyperparameters)
    for trace, simulated in zip(traces, _keras_fit_float32(case, epochs, name, momentum)):
        _assert_inside(trace, simulated)


def test_rank_3_loss_averages_over_rows_and_steps_and_rejects_dividing_by_rows_only():
    case = strategies.fixed_regression_case(rows=4, batch_size=4, inner=(3,))
    output = oracles.forward([oracles.DenseParams(case.kernel, case.bias)], case.x)
    squared = np.square(output.center - case.y).mean(axis=-1)
    loss = oracles.batch_loss("mse", case.y, output)
    assert not loss.violations(squared.mean()).any()
    assert loss.violations(squared.sum() / len(case.x)).all()  # the "divide by the batch size" bug


def test_per_row_sample_weights_apply_to_every_step_of_their_row():
    case = strategies.fixed_regression_case(rows=3, batch_size=3, inner=(2,))
    output = oracles.forward([oracles.DenseParams(case.kernel, case.bias)], case.x)
    per_row = oracles.batch_loss("mse", case.y, output, sample_weight=np.array([0.0, 1.0, 2.0]))
    per_position = oracles.batch_loss("mse", case.y, output, sample_weight=np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    assert per_row.center == pytest.approx(per_position.center, rel=1e-12)
    squared = np.square(output.center - case.y).mean(axis=-1)
    assert per_row.center == pytest.approx((squared * [[0.0], [1.0], [2.0]]).sum() / squared.size, rel=1e-12)


def test_metrics_are_means_over_every_row_and_position():
    y_true = np.array([[[0.0], [1.0]], [[1.0], [1.0]]])
    predicted = Interval(np.array([[[0.1], [0.9]], [[0.2], [0.7]]]), np.full((2, 2, 1), 1e-7))
    assert not oracles.metric_value("binary_accuracy", y_true, predicted).violations(0.75)
    assert oracles.metric_value("binary_accuracy", y_true, predicted).violations(0.5)
    assert not oracles.metric_value("mae", y_true, predicted).violations(np.mean([0.1, 0.1, 0.8, 0.3]))
    assert not oracles.metric_value("mse", y_true, predicted).violations(np.mean([0.01, 0.01, 0.64, 0.09]))


def test_accuracy_counts_a_prediction_within_its_bound_of_the_threshold_either_way():
    predicted = Interval(np.array([[0.5 + 1e-9], [0.9]]), np.array([[1e-8], [1e-8]]))
    value = oracles.metric_value("binary_accuracy", np.array([[1.0], [1.0]]), predicted)
    assert not value.violations(0.5) and not value.violations(1.0)
    assert value.violations(0.0)


def test_epoch_trace_outputs_are_the_pre_update_predictions_in_row_order():
    case = strategies.fixed_regression_case(rows=5, batch_size=2, inner=(2,))
    trace = trace_epochs(case, 1)[0]
    first_batch = oracles.forward([oracles.DenseParams(case.kernel, case.bias)], case.x[:2])
    assert trace.outputs.center.shape == case.y.shape
    np.testing.assert_allclose(trace.outputs.center[:2], first_batch.center, rtol=1e-12)
    assert not np.allclose(trace.outputs.center[2:4], oracles.forward([oracles.DenseParams(case.kernel, case.bias)], case.x[2:4]).center)


# -- Overflow: the training oracles accept +-inf exactly where float32 training can overflow --------

_SCALES = st.sampled_from((1.0,) + strategies.EXTREME_SCALES)


@st.composite
def _scaled_regression_cases(draw):
    """A regression case whose data is scaled up to float32's largest values (weights stay in [-1, 1])."""
    case = draw(strategies.regression_cases())
    x = draw(strategies.scaled_arrays(case.x.shape, draw(_SCALES, label="x scale")), label="scaled x")
    y = draw(strategies.scaled_arrays(case.y.shape, draw(_SCALES, label="y scale")), label="scaled y")
    return dataclasses.replace(case, x=x, y=y)


@settings(max_examples=80, deadline=None, database=None)
@given(case=_scaled_regression_cases(), epochs=st.integers(1, 2), optimizer=_OPTIMIZERS)
def test_epoch_oracle_contains_a_float32_keras_fit_at_every_magnitude(case, epochs, optimizer):
    name, momentum = optimizer
    traces = trace_epochs(case, epochs, name, **({"momentum": momentum} if momentum else {}))
    with np.errstate(all="ignore"):
        simulated = _keras_fit_float32(case, epochs, name, momentum)
    for trace, result in zip(traces, simulated):
        _assert_inside(trace, result)


def test_an_sgd_step_whose_gradient_overflows_must_give_inf_of_its_sign_and_then_nan():
    # z = 1.5e19 on both rows, z^2 = 2.25e38 (finite), kernel gradient 2 * z * x = 4.5e38 (+inf in
    # float32): the kernel steps to 1 - inf = -inf. The next epoch computes -inf - (-inf) = NaN.
    case = strategies.RegressionCase(x=np.full((2, 1), 1.5e19, F32), y=np.zeros((2, 1), F32), kernel=np.ones((1, 1), F32),
                                     bias=np.zeros(1, F32), batch_size=2, learning_rate=1.0)
    first, second = trace_epochs(case, 2)
    with np.errstate(all="ignore"):
        simulated = _keras_fit_float32(case, 2)
    assert simulated[0][0][0, 0] == -np.inf and np.isnan(simulated[1][0][0, 0]), "the float32 fit no longer overflows"
    _assert_inside(first, simulated[0])
    _assert_inside(second, simulated[1])
    for wrong in (np.inf, np.nan, -3e38):
        assert first.kernel.violations(np.array([[wrong]])).all(), wrong
    # The loss sums 2.25e38 over two rows before dividing: +inf, never -inf or NaN.
    assert not first.epoch_loss.violations(np.inf) and first.epoch_loss.violations(-np.inf) and first.epoch_loss.violations(np.nan)


@settings(max_examples=60, deadline=None, database=None)
@given(case=strategies.regression_cases(), optimizer=_OPTIMIZERS)
def test_ordinary_training_draws_never_overflow(case, optimizer):
    # The contracts' draws stay far from float32's limits: a mark there would accept inf or NaN
    # from a broken implementation.
    name, momentum = optimizer
    for trace in trace_epochs(case, 2, name, **({"momentum": momentum} if momentum else {})):
        for value in (trace.kernel, trace.bias, trace.epoch_loss, trace.outputs):
            assert not any(mark.any() for mark in value.overflow)


def test_an_sgd_epoch_bound_rejects_an_error_of_1e_5_of_the_weights_scale():
    case = strategies.fixed_regression_case(rows=5, batch_size=2, inner=(2,))
    trace = trace_epochs(case, 1)[0]
    for weight in (trace.kernel, trace.bias):
        assert weight.violations(weight.center + 1e-5 * np.abs(weight.center).max()).all()
    assert trace.epoch_loss.violations(trace.epoch_loss.center * (1 + 1e-5)).all()
