"""The float64 oracle: known answers, and error bounds that are sound (float32 arithmetic lands
inside) and tight (a 1e-3 relative error lands outside)."""

import numpy as np
import pytest

from conformance import oracles
from conformance.oracles import DenseParams, Interval

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")


def test_keras_dense_known_answer():
    # keras/src/layers/core/dense_test.py: the known-answer case of Dense with relu.
    layer = DenseParams(np.array([[1.0, -2.0], [3.0, -4.0]]), np.array([5.0, -6.0]), "relu")
    expected = oracles.forward([layer], np.array([[-1.0, 2.0]]))
    np.testing.assert_array_equal(expected.center, [[10.0, 0.0]])
    oracles.assert_within("known answer", np.array([[10.0, 0.0]], np.float32), expected)


def test_linear_gradients_known_answer():
    kernel, bias = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -0.5])
    x, cotangent = np.array([[1.0, -1.0], [2.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 2.0]])
    gradients = oracles.vjp([DenseParams(kernel, bias)], x, cotangent)
    np.testing.assert_array_equal(gradients.inputs.center, cotangent @ kernel.T)
    np.testing.assert_array_equal(gradients.weights[0].center, x.T @ cotangent)
    np.testing.assert_array_equal(gradients.weights[1].center, cotangent.sum(axis=0))


SUMMATION_ORDERS = ("forward", "reverse", "blas")


def _float32_dense(x, kernel, bias, activation, order="blas"):
    """A dense layer computed entirely in float32, the dot products summed first to last, last to
    first, or however BLAS sums them (blocked, possibly with FMA)."""
    x, kernel, bias = (np.asarray(a, np.float32) for a in (x, kernel, bias))
    if order == "blas":
        z = x @ kernel
    else:
        z = np.zeros(x.shape[:-1] + (kernel.shape[1],), np.float32)
        for i in range(x.shape[-1]) if order == "forward" else range(x.shape[-1] - 1, -1, -1):
            z = z + x[..., i : i + 1] * kernel[i]
    z = z + bias
    if activation == "relu":
        return np.maximum(z, np.float32(0))
    if activation == "sigmoid":
        return (np.float32(1) / (np.float32(1) + np.exp(-z))).astype(np.float32)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "softmax":
        shifted = np.exp(z - z.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    return z


def _random_case(rng, activation, rows=7, features=9, units=5):
    x = rng.uniform(-2, 2, (rows, features)).astype(np.float32)
    kernel = rng.uniform(-1, 1, (features, units)).astype(np.float32)
    bias = rng.uniform(-1, 1, units).astype(np.float32)
    return x, kernel, bias, DenseParams(kernel, bias, activation)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_bound_contains_float32_computations(activation):
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, kernel, bias, layer = _random_case(rng, activation)
        expected = oracles.forward([layer], x)
        for order in SUMMATION_ORDERS:
            actual = _float32_dense(x, kernel, bias, activation, order)
            assert actual.dtype == np.float32
            oracles.assert_within(f"float32 {activation} dense, {order} summation", actual, expected)


@pytest.mark.parametrize("activation", ("linear", "sigmoid", "tanh"))
def test_gradient_bound_contains_float32_computations(activation):
    rng = np.random.default_rng(1)
    for _ in range(20):
        x, kernel, bias, layer = _random_case(rng, activation)
        cotangent = rng.uniform(-1, 1, (x.shape[0], kernel.shape[1])).astype(np.float32)
        expected = oracles.vjp([layer], x, cotangent)
        y = _float32_dense(x, kernel, bias, activation)
        slope = {"linear": np.float32(1), "sigmoid": y * (np.float32(1) - y), "tanh": np.float32(1) - y * y}[activation]
        upstream = (cotangent * slope).astype(np.float32)
        oracles.assert_within("float32 input gradient", upstream @ kernel.T, expected.inputs)
        oracles.assert_within("float32 kernel gradient", x.T @ upstream, expected.weights[0])
        oracles.assert_within("float32 bias gradient", upstream.sum(axis=0, dtype=np.float32), expected.weights[1])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_bound_rejects_a_relative_error_of_1e_3(activation):
    # Positive inputs and weights: no cancellation, so every entry is far from zero and a correct
    # float32 result is within ~1e-6 relative; an implementation 1e-3 off must be caught everywhere.
    rng = np.random.default_rng(2)
    x = rng.uniform(0.5, 2, (6, 8))
    layer = DenseParams(rng.uniform(0.1, 1, (8, 4)), rng.uniform(0.1, 1, 4), activation)
    expected = oracles.forward([layer], x)
    assert expected.violations(expected.center * (1 + 1e-3)).all()
    assert not expected.violations(expected.center).any()


@pytest.mark.parametrize("activation", ("linear", "relu", "sigmoid", "tanh"))
def test_gradient_bound_rejects_a_relative_error_of_1e_3(activation):
    # Pre-activations near 1, where sigmoid and tanh are far from saturation: in saturation the
    # bound is relative to a vanishing slope and, by design, no longer 1e-3 tight.
    rng = np.random.default_rng(3)
    x = rng.uniform(0.1, 0.5, (6, 8))
    layer = DenseParams(rng.uniform(0.1, 0.3, (8, 4)), rng.uniform(0.1, 0.5, 4), activation)
    gradients = oracles.vjp([layer], x, np.ones((6, 4)))
    for expected in [gradients.inputs] + gradients.weights:
        assert expected.violations(expected.center * (1 + 1e-3)).all()


def test_relu_kink_admits_either_one_sided_derivative():
    # z = 1*1 + (-1)*1 + 0 = 0 exactly: frameworks may use derivative 0 or 1 there.
    layer = DenseParams(np.array([[1.0], [1.0]]), np.array([0.0]), "relu")
    x, cotangent = np.array([[1.0, -1.0]]), np.array([[1.0]])
    gradients = oracles.vjp([layer], x, cotangent)
    oracles.assert_within("derivative 0 at the kink", np.zeros((1, 2)), gradients.inputs)
    oracles.assert_within("derivative 1 at the kink", np.ones((1, 2)), gradients.inputs)


def test_relu_away_from_kink_has_one_derivative():
    layer = DenseParams(np.array([[1.0], [1.0]]), np.array([0.0]), "relu")
    gradients = oracles.vjp([layer], np.array([[1.0, 0.5]]), np.array([[1.0]]))
    oracles.assert_within("derivative 1 for z > 0", np.ones((1, 2)), gradients.inputs)
    with pytest.raises(AssertionError):
        oracles.assert_within("derivative 0 for z > 0", np.zeros((1, 2)), gradients.inputs)


def test_stack_forward_applies_layers_in_order():
    first = DenseParams(np.array([[2.0, 0.0]]), np.array([0.0, 1.0]))
    second = DenseParams(np.array([[1.0], [1.0]]), np.array([-1.0]), "relu")
    np.testing.assert_array_equal(oracles.forward([first, second], np.array([[3.0]])).center, [[6.0]])
    np.testing.assert_array_equal(oracles.forward([first], np.array([[[3.0]], [[1.0]]])).center, [[[6.0, 1.0]], [[2.0, 1.0]]])


def test_mismatch_message_names_what_where_and_by_how_much():
    expected = Interval(np.array([[1.0, 2.0]]), np.array([[1e-6, 1e-6]]))
    with pytest.raises(AssertionError) as failure:
        oracles.assert_within("output of relu dense layer", np.array([[1.0, 2.5]]), expected)
    message = str(failure.value)
    assert "output of relu dense layer: 1 of 2 entries" in message
    assert "at (0, 1): actual" in message and "2.5" in message and "expected" in message


def test_nan_and_wrong_shape_are_mismatches():
    expected = Interval.exact(np.array([[1.0, 2.0]]))
    with pytest.raises(AssertionError, match="1 of 2 entries"):
        oracles.assert_within("nan", np.array([[1.0, np.nan]]), expected)
    with pytest.raises(AssertionError, match=r"shape \(2, 1\), expected \(1, 2\)"):
        oracles.assert_within("transposed", np.array([[1.0], [2.0]]), expected)


def test_gamma_follows_higham():
    u = oracles.unit_roundoff("float32")
    assert u == 2.0**-24
    assert oracles.gamma(10, "float32") == pytest.approx(10 * u / (1 - 10 * u), rel=1e-15)
