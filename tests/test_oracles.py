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


# -- Large magnitudes: saturation, overflow, and bounds that stay exact there ----------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conformance import strategies  # noqa: E402

FLOAT32_MAX = float(np.finfo(np.float32).max)


def _linear_sum(x):
    """A dense layer that sums its inputs: kernel of ones, zero bias."""
    return oracles.forward([DenseParams(np.ones((len(x), 1)), np.zeros(1))], np.array([x]))


def test_a_result_beyond_float32_must_be_inf():
    expected = _linear_sum([3e38, 3e38])
    assert not expected.violations(np.array([[np.inf]])).any()
    for wrong in (FLOAT32_MAX, -np.inf, np.nan):
        assert expected.violations(np.array([[wrong]])).all(), wrong


def test_a_representable_result_must_be_finite():
    expected = _linear_sum([3e38, -1e5])
    assert not expected.violations(np.array([[np.float32(3e38)]])).any()
    assert expected.violations(np.array([[np.inf]])).all()


def test_a_partial_sum_that_may_overflow_allows_inf_of_its_sign_only():
    # 3e38 + 3e38 - 3e38 is 3e38, but summed left to right in float32 it is +inf; never -inf or NaN.
    expected = _linear_sum([3e38, 3e38, -3e38])
    for allowed in (np.float32(3e38), np.inf):
        assert not expected.violations(np.array([[allowed]])).any(), allowed
    for wrong in (-np.inf, np.nan, 1e38):
        assert expected.violations(np.array([[wrong]])).all(), wrong


def test_partial_sums_that_may_overflow_both_ways_allow_anything():
    # (3e38 + 3e38) + (-3e38 + -3e38) is inf - inf = NaN in float32.
    expected = _linear_sum([3e38, 3e38, -3e38, -3e38])
    assert not expected.violations(np.array([[np.nan]])).any()


@pytest.mark.parametrize(
    "activation, saturated",
    [("sigmoid", [0.0, 0.0, 1.0, 1.0]), ("tanh", [-1.0, -1.0, 1.0, 1.0]), ("relu", [0.0, 0.0, 100.0, 1e30])],
)
def test_saturated_outputs_are_exact_and_nan_is_rejected(activation, saturated):
    z = np.array([[-1e30, -100.0, 100.0, 1e30]], np.float32)
    expected = oracles.forward([DenseParams(np.eye(4), np.zeros(4), activation)], z)
    oracles.assert_within(f"saturated {activation}", np.array([saturated], np.float32), expected)
    assert expected.violations(np.full((1, 4), np.nan)).all()
    assert expected.violations(np.array([saturated]) * 0.999 + 0.001).any()


def test_sigmoid_keeps_relative_accuracy_far_below_zero():
    # 0.5 * (1 + tanh(z / 2)) rounds this to 0 in float64; float32 frameworks return 1.9287498e-22.
    expected = oracles.forward([DenseParams(np.eye(1), np.zeros(1), "sigmoid")], np.array([[-50.0]]))
    assert expected.center[0, 0] == pytest.approx(1.9287498479639178e-22, rel=1e-12)
    assert expected.violations(np.array([[0.0]])).all()


def test_softmax_with_huge_logits_is_one_hot_without_nan():
    logits = np.array([[1e30, 0.0, -1e30], [100.0, 99.0, 0.0]], np.float32)
    expected = oracles.forward([DenseParams(np.eye(3), np.zeros(3), "softmax")], logits)
    np.testing.assert_allclose(expected.center[0], [1.0, 0.0, 0.0])
    assert not expected.overflow[0].any()
    with np.errstate(over="ignore", invalid="ignore"):
        shortcut = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)  # no max shift: inf / inf
    assert expected.violations(shortcut).any()


def test_saturated_gradients_are_finite_and_a_nan_gradient_is_rejected():
    z = np.array([[-1e30, -100.0, 100.0, 1e30]], np.float32)
    for activation in ("sigmoid", "tanh", "softmax"):
        gradients = oracles.vjp([DenseParams(np.eye(4), np.zeros(4), activation)], z, np.ones((1, 4)))
        for expected in [gradients.inputs] + gradients.weights:
            assert not any(mark.any() for mark in expected.overflow)
            oracles.assert_within(f"zero gradient of saturated {activation}", np.zeros_like(expected.center), expected)
            assert expected.violations(np.full_like(expected.center, np.nan)).all()


def _float32_vjp(x, kernel, bias, activation, cotangent):
    """Float32 gradients computed the way TensorFlow does: the slope from the rounded output."""
    cotangent = np.asarray(cotangent, np.float32)
    with np.errstate(all="ignore"):
        y = _float32_dense(x, kernel, bias, activation)
        if activation == "softmax":
            upstream = y * (cotangent - np.sum(cotangent * y, axis=-1, keepdims=True))
        else:
            z = np.asarray(x, np.float32) @ np.asarray(kernel, np.float32) + np.asarray(bias, np.float32)
            slope = {"linear": np.float32(1), "relu": (z > 0).astype(np.float32), "sigmoid": y * (np.float32(1) - y),
                     "tanh": np.float32(1) - y * y}[activation]
            upstream = (cotangent * slope).astype(np.float32)
        return upstream @ np.asarray(kernel, np.float32).T, np.asarray(x, np.float32).T @ upstream, upstream.sum(axis=0, dtype=np.float32)


@settings(max_examples=150, deadline=None, database=None)
@given(case=strategies.dense_cases(2, 2, scales=st.sampled_from((1.0,) + strategies.EXTREME_SCALES)),
       order=st.sampled_from(SUMMATION_ORDERS), data=st.data())
def test_bounds_contain_float32_computations_at_every_magnitude(case, order, data):
    with np.errstate(all="ignore"):
        actual = _float32_dense(case.x, case.kernel, case.bias, case.activation, order)
    expected = oracles.forward([DenseParams(case.kernel, case.bias, case.activation)], case.x)
    oracles.assert_within(f"float32 {case.activation}, {order} summation", actual, expected)
    assert np.all(np.isfinite(expected.center)) and np.all(np.isfinite(expected.radius))
    cotangent = data.draw(strategies.cotangents(case.x.shape[:-1] + (case.units,)), label="cotangent")
    gradients = oracles.vjp([DenseParams(case.kernel, case.bias, case.activation)], case.x, cotangent)
    for what, value, bound in zip(("input", "kernel", "bias"), _float32_vjp(case.x, case.kernel, case.bias, case.activation, cotangent),
                                  [gradients.inputs] + gradients.weights):
        oracles.assert_within(f"float32 {case.activation} gradient w.r.t. {what}", value, bound)


def _never_overflows(params, x):
    gradients = oracles.vjp(params, x, np.ones(x.shape[:-1] + (params[-1].kernel.shape[1],)))
    for expected in [oracles.forward(params, x), gradients.inputs] + gradients.weights:
        assert not any(mark.any() for mark in expected.overflow)


# The large strata of the ordinary contracts (whose comparisons of two outputs assume finite values)
# must stay where inf or NaN is always a bug: checked at the largest scale and the largest shapes.
@settings(max_examples=60, deadline=None, database=None)
@given(case=strategies.dense_cases(4, 4, scales=st.just(max(strategies.LARGE_SCALES))))
def test_large_stratum_of_layer_draws_never_overflows(case):
    _never_overflows([DenseParams(case.kernel, case.bias, case.activation)], case.x)


@settings(max_examples=60, deadline=None, database=None)
@given(case=strategies.stack_cases(depth=st.just(3), min_rank=3, scales=st.just(max(strategies.STACK_LARGE_SCALES))))
def test_large_stratum_of_stack_draws_never_overflows(case):
    _never_overflows([DenseParams(k, b, a) for _, a, k, b in case.layers], case.x)


def test_oracle_never_raises_at_float32_extremes():
    x = np.full((3, 4), FLOAT32_MAX)
    x[1] *= -1
    layers = [DenseParams(np.ones((4, 4)), np.ones(4), "relu"), DenseParams(-np.ones((4, 2)), np.zeros(2), "softmax")]
    expected = oracles.forward(layers, x)
    gradients = oracles.vjp(layers, x, np.ones((3, 2)))
    for value in [expected, gradients.inputs] + gradients.weights:
        assert np.all(np.isfinite(value.center)) and np.all(np.isfinite(value.radius))


# -- Initial weights -----------------------------------------------------------------------------


def _ks_distance(sample, cdf):
    sample = np.sort(sample.ravel())
    n, expected = sample.size, cdf(sample)
    return max(np.max(np.arange(1, n + 1) / n - expected), np.max(expected - np.arange(n) / n))


@pytest.mark.parametrize(
    "name, params, draw",
    [
        ("glorot_uniform", {}, lambda rng, shape: rng.uniform(-np.sqrt(6 / sum(shape)), np.sqrt(6 / sum(shape)), shape)),
        ("he_uniform", {}, lambda rng, shape: rng.uniform(-np.sqrt(6 / shape[0]), np.sqrt(6 / shape[0]), shape)),
        ("random_normal", {"mean": 0.5, "stddev": 0.2}, lambda rng, shape: rng.normal(0.5, 0.2, shape)),
        ("variance_scaling", {"scale": 3.0, "mode": "fan_out", "distribution": "untruncated_normal"},
         lambda rng, shape: rng.normal(0, np.sqrt(3 / shape[1]), shape)),
        ("random_uniform", {"minval": -0.3, "maxval": 0.1}, lambda rng, shape: rng.uniform(-0.3, 0.1, shape)),
    ],
)
def test_initial_distribution_matches_samples_of_that_law(name, params, draw):
    shape = (96, 48)
    law = oracles.initial_distribution(name, shape, **params)
    assert _ks_distance(draw(np.random.default_rng(0), shape), law.cdf) < 0.03
    assert _ks_distance(draw(np.random.default_rng(0), shape) * 1.5, law.cdf) > 0.06


def test_truncated_normal_laws_stop_at_two_stddev_of_the_untruncated_normal():
    shape = (96, 48)
    stddev = np.sqrt(2 / 96) / oracles.TRUNCATED_UNIT_STDDEV  # he_normal: fan_in, then the truncation correction
    law = oracles.initial_distribution("he_normal", shape)
    np.testing.assert_allclose(law.cdf(np.array([-2 * stddev, 0.0, 2 * stddev])), [0.0, 0.5, 1.0], atol=1e-12)
    assert 0 < law.cdf(np.array([-1.9 * stddev]))[0] < 0.01


def test_fans_follow_keras_compute_fans():
    assert oracles.fans((96, 48)) == (96, 48)
    assert oracles.fans((3, 3, 4, 8)) == (36, 72)  # a convolution kernel: receptive field 9
    assert oracles.fans((5,)) == (5, 5)
    assert oracles.initial_distribution("ones", (2, 2)).constant == 1.0
    with pytest.raises(ValueError, match="initializer name must be one of"):
        oracles.initial_distribution("orthogonal", (2, 2))


# -- The interval algebra: every operation bounds its float32 result, at every magnitude -----------

MAGNITUDES = st.sampled_from((1.0,) + strategies.EXTREME_SCALES)


def _float32_operands(data, count, size=6):
    return [data.draw(strategies.scaled_arrays((size,), data.draw(MAGNITUDES, label=f"scale {i}")), label=f"operand {i}") for i in range(count)]


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_each_operation_contains_its_float32_result_at_every_magnitude(data):
    a, b = _float32_operands(data, 2)
    ia, ib = Interval.exact(a), Interval.exact(b)
    with np.errstate(all="ignore"):
        cases = [
            ("a + b", a + b, oracles.i_add(ia, ib, "float32")),
            ("a - b", a - b, oracles.i_sub(ia, ib, "float32")),
            ("a * b", a * b, oracles.i_mul(ia, ib, "float32")),
            ("a / b", a / b, oracles.i_div(ia, ib, "float32")),
            ("a * a", a * a, oracles.i_square(ia, "float32")),
            ("sqrt|a|", np.sqrt(np.abs(a)), oracles.i_sqrt(oracles.i_abs(ia), "float32")),
            ("a @ b", a[None] @ b[:, None], oracles.i_matmul(ia.map(lambda v: v[None]), ib.map(lambda v: v[:, None]), "float32")),
            ("sum a", np.sum(a, dtype=np.float32), oracles.i_sum(ia, None, "float32")),
        ]
    for what, actual, expected in cases:
        oracles.assert_within(what, actual, expected)


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data(), reverse=st.booleans())
def test_chains_of_operations_carry_overflow_as_float32_does(data, reverse):
    # Each step's input is the previous step's float32 result, which may already be +-inf or NaN:
    # the oracle must follow it through sums, products, squares, roots and quotients.
    a, b, c = _float32_operands(data, 3)
    ia, ib, ic = (Interval.exact(v) for v in (a, b, c))
    f32 = "float32"
    with np.errstate(all="ignore"):
        products = (a * b)[::-1] if reverse else a * b
        actual = [
            np.cumsum(products, dtype=np.float32)[-1],
            (a + b) * c - a,
            np.sqrt(a * a + b * b) / (np.abs(c) + np.float32(1)),
            (a - b) * (a - b) * np.float32(0.5) + c,
        ]
    expected = [
        oracles.i_sum(oracles.i_mul(ia, ib, f32), None, f32),
        oracles.i_sub(oracles.i_mul(oracles.i_add(ia, ib, f32), ic, f32), ia, f32),
        oracles.i_div(oracles.i_sqrt(oracles.i_add(oracles.i_square(ia, f32), oracles.i_square(ib, f32), f32), f32),
                      oracles.i_add(oracles.i_abs(ic), Interval.exact(1.0), f32), f32),
        oracles.i_add(oracles.i_mul(oracles.i_square(oracles.i_sub(ia, ib, f32), f32), Interval.exact(0.5), f32), ic, f32),
    ]
    for index, (value, bound) in enumerate(zip(actual, expected)):
        oracles.assert_within(f"chain {index}", value, bound)


def test_one_operation_on_exact_inputs_is_bounded_by_one_rounding():
    u, tiny = oracles.unit_roundoff("float32"), float(np.finfo(np.float32).tiny)
    a, b = Interval.exact(np.array([3.0, -7.5])), Interval.exact(np.array([1.25, 0.1]))
    for result in (oracles.i_add(a, b, "float32"), oracles.i_mul(a, b, "float32"), oracles.i_div(a, b, "float32")):
        np.testing.assert_allclose(result.radius, oracles.gamma(1, "float32") * np.abs(result.center) + tiny, rtol=1e-12)
        assert result.violations(result.center * (1 + 4 * u)).all()
    product = oracles.i_matmul(Interval.exact(np.ones((1, 4))), Interval.exact(np.full((4, 1), 0.1)), "float32")
    assert product.radius[0, 0] == pytest.approx(oracles.gamma(4, "float32") * 0.4 + 4 * tiny, rel=1e-12)


def test_a_sum_past_float32_must_be_inf_of_its_sign_and_a_representable_one_finite():
    huge = Interval.exact(np.array([3e38, -3e38]))
    over = oracles.i_add(huge, huge, "float32")
    assert not over.violations(np.array([np.inf, -np.inf])).any()
    assert over.violations(np.array([-np.inf, np.inf])).all() and over.violations(np.full(2, np.nan)).all()
    under = oracles.i_add(huge, Interval.exact(np.array([-1e38, 1e38])), "float32")
    assert under.violations(np.array([np.inf, -np.inf])).all()
    assert not under.violations(np.array([2e38, -2e38], np.float32)).any()


def test_infinities_propagate_with_their_sign_and_inf_minus_inf_or_inf_times_zero_is_anything():
    plus_inf = Interval(np.array([0.0]), np.array([0.0]), np.array([True]), np.array([False]))
    f32 = "float32"
    only_plus = [oracles.i_mul(plus_inf, Interval.exact(2.0), f32), oracles.i_add(plus_inf, Interval.exact(1.0), f32),
                 oracles.i_sqrt(plus_inf, f32), oracles.i_square(oracles.i_mul(plus_inf, Interval.exact(-1.0), f32), f32)]
    for result in only_plus:
        assert not result.violations(np.array([np.inf])).any()
        assert result.violations(np.array([-np.inf])).all() and result.violations(np.array([np.nan])).all()
    assert not oracles.i_mul(plus_inf, Interval.exact(-3.0), f32).violations(np.array([-np.inf])).any()
    for anything in (oracles.i_sub(plus_inf, plus_inf, f32), oracles.i_mul(plus_inf, Interval.exact(0.0), f32)):
        assert not anything.violations(np.array([np.nan])).any()
