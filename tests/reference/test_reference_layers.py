"""Layer and SimpleDense: lazy build, shapes, weights, strict errors."""
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

import reference
from reference import layers


class CountingDense(layers.SimpleDense):
    """SimpleDense that records every shape `build` receives."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.build_shapes = []

    def build(self, input_shape):
        self.build_shapes.append(input_shape)
        super().build(input_shape)


def test_fresh_layer_is_unbuilt_and_has_no_weights():
    layer = layers.SimpleDense(3)
    assert not layer.built and layer.weights == [] and layer.trainable_weights == []


def test_first_call_builds_once_with_full_shape_as_tuple_of_ints():
    layer = CountingDense(3)
    layer(np.ones((2, 4), "float32"))
    layer(np.ones((5, 4), "float32"))
    layer(np.ones((2, 7, 4), "float32"))
    assert layer.built and layer.build_shapes == [(2, 4)]
    assert all(type(d) is int for d in layer.build_shapes[0])


def test_weights_are_kernel_then_bias_with_layer_prefixed_names():
    layer = layers.SimpleDense(3, name="probe")
    layer(tf.ones((2, 4)))
    assert [tuple(w.shape) for w in layer.weights] == [(4, 3), (3,)]
    assert [w.name for w in layer.weights] == ["probe/kernel:0", "probe/bias:0"]
    assert all(isinstance(w, tf.Variable) for w in layer.weights)
    np.testing.assert_array_equal(layer.bias.numpy(), 0.0)


def test_auto_names_are_unique_snake_case():
    first, second = layers.SimpleDense(1), layers.SimpleDense(1)
    assert first.name.startswith("simple_dense") and first.name != second.name


@pytest.mark.parametrize("shape", [(2, 4), (2, 3, 4), (2, 3, 5, 4), (0, 4)])
def test_dense_contracts_last_axis_for_any_rank(shape):
    layer = layers.Dense(3, activation="relu")
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    out = layer(x).numpy()
    kernel, bias = layer.get_weights()
    assert out.shape == shape[:-1] + (3,)
    np.testing.assert_allclose(out, np.maximum(np.tensordot(x, kernel, [[x.ndim - 1], [0]]) + bias, 0),
                               rtol=1e-5, atol=1e-6)


def test_known_answer_from_keras_dense_tests():
    layer = layers.SimpleDense(2, activation="relu")
    layer.build((None, 2))
    layer.set_weights([np.array([[1, -2], [3, -4]]), np.array([5, -6])])
    np.testing.assert_array_equal(layer(np.array([[-1.0, 2.0]])).numpy(), [[10, 0]])


@pytest.mark.parametrize("name, fn", [("linear", lambda z: z), ("relu", lambda z: np.maximum(z, 0)),
                                      ("sigmoid", lambda z: 1 / (1 + np.exp(-z))), ("tanh", np.tanh),
                                      ("softmax", lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True))])
def test_activations_by_name(name, fn):
    z = np.linspace(-3, 3, 12, dtype="float32").reshape(3, 4)
    np.testing.assert_allclose(reference.activations.get(name)(tf.constant(z)).numpy(), fn(z),
                               rtol=1e-5, atol=1e-6)


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="'swishy'"):
        layers.SimpleDense(2, activation="swishy")


@settings(max_examples=15, deadline=None)
@given(st.one_of(st.integers(max_value=0), st.floats(allow_nan=False), st.booleans(), st.text(max_size=2)))
def test_units_must_be_positive_int(units):
    with pytest.raises(ValueError, match="units must be a positive int"):
        layers.SimpleDense(units)


@pytest.mark.parametrize("x", [np.float32(1.0), np.ones(4, "float32")])
def test_rank_below_two_is_rejected_before_build(x):
    layer = layers.SimpleDense(2)
    with pytest.raises(ValueError, match="rank >= 2"):
        layer(x)
    assert not layer.built


def test_other_last_dim_after_build_raises_and_keeps_weights():
    layer = layers.SimpleDense(2)
    layer(np.ones((1, 4), "float32"))
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"last dimension 4.*\(3, 5\)"):
        layer(np.ones((3, 5), "float32"))
    for old, new in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("x", [np.ones((2, 4), "int32"), np.ones((2, 4), bool), np.array([["a", "b"]])])
def test_non_float_inputs_raise_type_error_naming_inputs(x):
    with pytest.raises(TypeError, match="inputs"):
        layers.SimpleDense(2)(x)


def test_float64_and_python_inputs_become_float32():
    layer = layers.SimpleDense(2)
    assert layer(np.ones((2, 3))).dtype == tf.float32
    assert layer([[1.0, 2.0, 3.0]]).dtype == tf.float32


def test_explicit_build_accepts_none_batch_and_second_build_raises():
    layer = CountingDense(3)
    layer.build(tf.TensorShape([None, 4]))
    assert layer.built and layer.build_shapes == [(None, 4)]
    for shape in [(None, 6), (None, 4)]:
        with pytest.raises(ValueError, match="already built"):
            layer.build(shape)
    assert [tuple(w.shape) for w in layer.weights] == [(4, 3), (3,)]


def test_compute_output_shape_does_not_build_and_rejects_rank_one():
    layer = layers.SimpleDense(3)
    assert layer.compute_output_shape((None, 2, 4)) == (None, 2, 3)
    assert not layer.built
    with pytest.raises(ValueError, match="rank >= 2"):
        layer.compute_output_shape((4,))


def test_trainable_setter_filters_trainable_weights():
    layer = layers.SimpleDense(2)
    layer(np.ones((1, 3), "float32"))
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    model = reference.Sequential([layer, layers.SimpleDense(1)])
    model(np.ones((1, 3), "float32"))
    assert len(model.trainable_weights) == 2
    model.trainable = False
    assert model.trainable_weights == [] and len(model.weights) == 4


def test_get_weights_returns_copies_and_set_weights_never_aliases():
    layer = layers.SimpleDense(2)
    layer.build((None, 3))
    kernel = np.arange(6, dtype="float32").reshape(3, 2)
    layer.set_weights([kernel, np.zeros(2)])
    kernel[:] = 99.0
    got = layer.get_weights()
    got[0][:] = -1.0
    np.testing.assert_array_equal(layer.kernel.numpy(), np.arange(6).reshape(3, 2))


def test_set_weights_checks_count_and_shapes_atomically():
    layer = layers.SimpleDense(2)
    layer.build((None, 3))
    before = layer.get_weights()
    with pytest.raises(ValueError, match="expected 2 arrays, got 1"):
        layer.set_weights([before[0]])
    with pytest.raises(ValueError, match=r"weight 1 .*\(2,\).*\(3,\)"):
        layer.set_weights([before[0] + 1, np.zeros(3)])
    np.testing.assert_array_equal(layer.get_weights()[0], before[0])


def test_random_normal_default_is_n_0_005_and_initializer_lookup():
    reference.utils.set_random_seed(1)
    sample = reference.initializers.get("RandomNormal")((400, 500)).numpy()
    assert abs(sample.mean()) < 1e-3 and abs(sample.std() - 0.05) < 1e-3
    limit = np.sqrt(6 / (300 + 200))
    glorot = reference.initializers.get("glorot_uniform")((300, 200)).numpy()
    assert glorot.max() <= limit and glorot.min() >= -limit and glorot.max() > 0.99 * limit
    np.testing.assert_array_equal(reference.initializers.Ones()((2,)).numpy(), [1, 1])
    with pytest.raises(ValueError, match="'he_magic'.*random_normal"):
        reference.initializers.get("he_magic")


def test_set_random_seed_repeats_initial_weights():
    def weights():
        reference.utils.set_random_seed(7)
        layer = layers.SimpleDense(4)
        layer.build((None, 3))
        return layer.get_weights()[0]
    np.testing.assert_array_equal(weights(), weights())


def test_add_weight_in_custom_layer_builds_lazily_like_the_book():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", trainable=False)

        def call(self, inputs):
            return inputs * self.scale

    layer = Scale()
    assert layer(np.ones((2, 3), "float32")).shape == (2, 3)
    assert layer.built and layer.trainable_weights == [] and layer.weights[0].name.endswith("variable:0")
