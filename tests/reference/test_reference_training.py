"""Sequential, compile, fit, evaluate, predict: semantics and strict errors."""
import io
import contextlib

import numpy as np
import pytest
import tensorflow as tf

import reference
from reference import layers


def make_model(units=(4,), activation="tanh", output_units=1, output_activation=None, seed=0,
               input_dim=3):
    reference.utils.set_random_seed(seed)
    model = reference.Sequential([layers.Dense(u, activation=activation) for u in units]
                                 + [layers.Dense(output_units, activation=output_activation)])
    if input_dim:
        model.build((None, input_dim))
    return model


def compiled(loss="mse", optimizer=None, metrics=None, **kwargs):
    model = make_model(**kwargs)
    model.compile(optimizer=optimizer or reference.optimizers.SGD(0.1), loss=loss, metrics=metrics)
    return model


def mse(model, x, y):
    return float(np.mean((model.predict(x, verbose=0) - y) ** 2))


def test_sequential_builds_lazily_and_add_appends(regression_data):
    x, _ = regression_data
    model = reference.Sequential([layers.Dense(4)])
    model.add(layers.Dense(1))
    with pytest.raises(ValueError, match="expected 0 arrays"):
        model.set_weights([np.zeros((3, 4))])
    model.compile(optimizer="sgd", loss="mse")
    assert not model.built and model.weights == []
    assert model(x).shape == (10, 1) and model.built
    assert [tuple(w.shape) for w in model.weights] == [(3, 4), (4,), (4, 1), (1,)]


def test_build_with_none_batch_and_empty_sequential_raises():
    model = reference.Sequential([layers.Dense(2), layers.Dense(1)])
    model.build((None, 5))
    assert model.built and [tuple(w.shape) for w in model.weights][0] == (5, 2)
    with pytest.raises(ValueError, match="no layers"):
        reference.Sequential().build((None, 3))
    with pytest.raises(TypeError, match="add expects"):
        reference.Sequential().add("dense")


def test_summary_lists_layers_and_counts():
    model = make_model()
    model.build((None, 3))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 4)" in text and "Total params: 21" in text


def test_one_full_batch_sgd_fit_step_equals_manual_tape_step(regression_data):
    x, y = regression_data
    model, manual = compiled(), make_model()
    manual.set_weights(model.get_weights())
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(y - manual(x)))
    grads = tape.gradient(loss, manual.trainable_weights)
    history = model.fit(x, y, batch_size=10, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(float(loss), rel=1e-6)
    for w, w0, g in zip(model.get_weights(), manual.get_weights(), grads):
        np.testing.assert_allclose(w, w0 - 0.1 * g.numpy(), rtol=1e-6, atol=1e-7)


def test_epoch_loss_is_batch_size_weighted_mean_of_pre_update_losses(regression_data):
    x, y = regression_data
    model, probe = compiled(), make_model()
    probe.set_weights(model.get_weights())
    probe.compile(optimizer=reference.optimizers.SGD(0.1), loss="mse")
    batch_losses = []
    for start in range(0, 10, 4):
        xb, yb = x[start:start + 4], y[start:start + 4]
        batch_losses.append((len(xb), mse(probe, xb, yb)))
        probe.fit(xb, yb, batch_size=4, shuffle=False, verbose=0)
    history = model.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    expected = sum(n * l for n, l in batch_losses) / 10
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    assert history.params == {"verbose": 0, "epochs": 1, "steps": 3}
    assert history is model.history and history.epoch == [0] and history.model is model


@pytest.mark.parametrize("n, batch_size, steps", [(10, 4, 3), (10, 5, 2), (10, 32, 1), (10, None, 1),
                                                  (100, None, 4), (1, 4, 1)])
def test_steps_per_epoch_is_ceil_n_over_batch_size(n, batch_size, steps):
    model = compiled()
    x = np.ones((n, 3), "float32")
    history = model.fit(x, np.ones((n, 1), "float32"), batch_size=batch_size, verbose=0)
    assert history.params["steps"] == steps and int(model.optimizer.iterations) == steps


def test_initial_epoch_and_zero_epochs(regression_data):
    x, y = regression_data
    model = compiled()
    assert model.fit(x, y, epochs=5, initial_epoch=3, verbose=0).epoch == [3, 4]
    before = model.get_weights()
    assert model.fit(x, y, epochs=0, verbose=0).history == {}
    np.testing.assert_array_equal(before[0], model.get_weights()[0])


def test_train_step_does_not_retrace_per_batch_size(regression_data):
    x, y = regression_data
    model = compiled()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)  # batches 4, 4, 2
    model.fit(x, y, batch_size=3, epochs=1, verbose=0)  # batches 3, 3, 3, 1
    model.fit(x, y, batch_size=7, epochs=1, verbose=0)
    assert model._train_function.experimental_get_tracing_count() <= 2


def test_validation_split_takes_last_rows_before_shuffle(regression_data):
    x, y = regression_data
    model = compiled()
    history = model.fit(x, y, validation_split=0.3, batch_size=4, epochs=2, verbose=0)
    assert history.params["steps"] == 2  # 7 training rows
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x[7:], y[7:], verbose=0),
                                                            rel=1e-6)


def test_validation_data_wins_and_never_changes_training(regression_data):
    x, y = regression_data
    plain, validated = compiled(seed=3), compiled(seed=3)
    reference.utils.set_random_seed(11)
    plain.fit(x, y, batch_size=4, epochs=3, verbose=0)
    reference.utils.set_random_seed(11)
    history = validated.fit(x, y, batch_size=4, epochs=3, verbose=0, validation_split=0.5,
                            validation_data=(x[:6], y[:6]))
    assert history.params["steps"] == 3  # all 10 rows trained
    for a, b in zip(plain.get_weights(), validated.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(plain.optimizer.iterations) == int(validated.optimizer.iterations) == 9
    assert history.history["val_loss"][-1] == pytest.approx(
        validated.evaluate(x[:6], y[:6], verbose=0), rel=1e-6)


@pytest.mark.parametrize("freq, validated_epochs", [(2, 2), ([1, 3], 2), ([2], 1)])
def test_validation_freq_counts_epochs_from_one(regression_data, freq, validated_epochs):
    x, y = regression_data
    history = compiled().fit(x, y, epochs=4, verbose=0, validation_data=(x, y), validation_freq=freq)
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == validated_epochs


def test_sample_weight_divides_by_batch_size_not_weight_sum(regression_data):
    x, y = regression_data
    model = compiled()
    sw = np.array([1, 1, 1, 0, 0, 0, 2, 2, 2, 2], "float32")
    per_sample = ((model.predict(x, verbose=0) - y) ** 2).ravel()
    loss = model.evaluate(x, y, sample_weight=sw, verbose=0)
    assert loss == pytest.approx(float(np.sum(sw * per_sample) / 10), rel=1e-5)
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y, sw))
    assert "val_loss" in history.history


def test_shuffle_is_repeatable_with_seed_and_differs_from_no_shuffle(regression_data):
    x, y = regression_data

    def final_weights(shuffle):
        model = compiled(seed=5)
        reference.utils.set_random_seed(9)
        model.fit(x, y, batch_size=3, epochs=2, shuffle=shuffle, verbose=0)
        return model.get_weights()[0]

    np.testing.assert_array_equal(final_weights(True), final_weights(True))
    assert not np.array_equal(final_weights(True), final_weights(False))


def test_no_call_mutates_caller_arrays(regression_data):
    x, y = regression_data
    x_copy, y_copy = x.copy(), y.copy()
    model = compiled()
    model.fit(x, y, batch_size=3, epochs=2, verbose=0, validation_split=0.2)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)


def test_evaluate_and_predict_shapes_and_return_types(regression_data):
    x, y = regression_data
    model = compiled(metrics=["mae", reference.metrics.MeanSquaredError(name="my_mse")])
    loss, mae, my_mse = model.evaluate(x, y, batch_size=3, verbose=0)
    assert loss == pytest.approx(my_mse, rel=1e-6) and loss == pytest.approx(mse(model, x, y), rel=1e-5)
    assert set(model.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "mae", "my_mse"}
    predictions = model.predict(x, batch_size=4, verbose=0)
    assert isinstance(predictions, np.ndarray) and predictions.shape == (10, 1)
    assert isinstance(compiled().evaluate(x, y, verbose=0), float)


@pytest.mark.parametrize("y, output_units, loss, expected", [
    (np.array([[0.0], [1.0]]), 1, "mse", reference.metrics.BinaryAccuracy),
    # not binary: Keras 3 and tf_keras look at the shapes only, never at the loss
    (np.array([[0.0, 1.0], [1.0, 0.0]]), 2, "binary_crossentropy", reference.metrics.CategoricalAccuracy),
    (np.array([1, 0]), 2, "sparse_categorical_crossentropy", reference.metrics.SparseCategoricalAccuracy),
    (np.array([[1], [0]]), 2, "sparse_categorical_crossentropy", reference.metrics.SparseCategoricalAccuracy),
    (np.array([[0.0, 1.0], [1.0, 0.0]]), 2, "categorical_crossentropy", reference.metrics.CategoricalAccuracy),
])
def test_accuracy_is_resolved_from_targets_and_outputs(y, output_units, loss, expected):
    model = compiled(loss=loss, metrics=["accuracy"], output_units=output_units)
    history = model.fit(np.ones((2, 3), "float32"), y, verbose=0)
    assert type(model._metrics[0]) is expected and list(history.history) == ["loss", "accuracy"]


def test_metric_functions_values():
    y_true, y_pred = np.array([[1.0], [0.0], [1.0]]), np.array([[0.7], [0.6], [0.4]])
    metric = reference.metrics.BinaryAccuracy()
    metric.update_state(y_true, y_pred)
    assert float(metric.result()) == pytest.approx(1 / 3)
    metric.reset_state()
    assert float(metric.result()) == 0.0
    sparse = reference.metrics.SparseCategoricalAccuracy()
    sparse.update_state(np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [0.1, 0.8, 0.1]]))
    assert float(sparse.result()) == 0.5


@pytest.mark.parametrize("name", ["mse", "mean_squared_error", "MeanSquaredError", "mae",
                                  "mean_absolute_error", "binary_crossentropy",
                                  "categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_loss_names_resolve(name):
    assert isinstance(reference.losses.get(name), reference.losses.Loss)


def test_crossentropy_clips_probabilities_like_keras():
    y_true, y_pred = np.array([[1.0], [0.0]]), np.array([[0.0], [1.0]])
    low, high = np.float32(1e-7), np.float32(1) - np.float32(1e-7)  # clip bounds in float32
    expected = -(np.log(low) + np.log(np.float32(1) - high)) / 2
    assert float(reference.losses.BinaryCrossentropy()(y_true, y_pred)) == pytest.approx(expected, rel=1e-3)
    logits = np.array([[2.0, -1.0, 0.5]])
    probs = tf.nn.softmax(logits).numpy()
    from_logits = reference.losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([0]), logits)
    from_probs = reference.losses.SparseCategoricalCrossentropy()(np.array([0]), probs)
    assert float(from_logits) == pytest.approx(float(from_probs), rel=1e-5)


def test_custom_callable_loss_and_optimizer_names(regression_data):
    x, y = regression_data
    for name in ["sgd", "SGD", "RMSprop", "adam"]:
        model = make_model()
        model.compile(optimizer=name, loss=lambda t, p: tf.reduce_mean(tf.abs(t - p), axis=-1))
        assert model.fit(x, y, verbose=0).history["loss"][0] > 0
    assert reference.optimizers.get("adam").learning_rate.numpy() == pytest.approx(1e-3)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(optimizer="adamw"), ValueError, "'adamw'"),
    (dict(loss="hinge_loss"), ValueError, "'hinge_loss'"),
    (dict(metrics=["f1ish"]), ValueError, "'f1ish'"),
    (dict(metrics="accuracy"), ValueError, "metrics must be a list"),
    (dict(loss=None), ValueError, "loss=None"),
])
def test_compile_rejects_unknown_names(kwargs, error, match):
    arguments = dict(optimizer="sgd", loss="mse") | kwargs
    with pytest.raises(error, match=match):
        make_model().compile(**arguments)


def test_fit_and_evaluate_before_compile_raise(regression_data):
    x, y = regression_data
    for method in (make_model().fit, make_model().evaluate):
        with pytest.raises(ValueError, match="compile"):
            method(x, y, verbose=0)
    assert make_model().predict(x, verbose=0).shape == (10, 1)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(y=np.ones((7, 1), "float32")), ValueError, "same number of samples"),
    (dict(x=np.ones((0, 3), "float32"), y=np.ones((0, 1), "float32")), ValueError, "empty"),
    (dict(x=np.ones((10, 3), "int64")), TypeError, "x must be floating point"),
    (dict(x=np.array([["a"] * 3] * 10)), TypeError, "x must be numeric"),
    (dict(y=np.array(["a"] * 10)), TypeError, "y must be numeric"),
    (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    (dict(batch_size=2.0), TypeError, "batch_size must be an int"),
    (dict(batch_size=True), TypeError, "batch_size must be an int"),
    (dict(epochs=-1), ValueError, "epochs must be >= 0"),
    (dict(validation_split=1.0), ValueError, "validation_split must be in"),
    (dict(validation_split=-0.5), ValueError, "validation_split must be in"),
    (dict(validation_split=0.95), ValueError, "empty training set"),
    (dict(validation_split=1e-17), ValueError, "empty validation set"),
    (dict(validation_data=np.ones((3, 3))), ValueError, "validation_data must be"),
    (dict(validation_data=(np.ones((3, 3)),)), ValueError, "validation_data must be"),
    (dict(validation_freq=0), ValueError, "validation_freq must be >= 1"),
    (dict(validation_freq="2"), TypeError, "validation_freq must be an int"),
    (dict(verbose=3), ValueError, "verbose"),
])
def test_fit_rejects_bad_arguments_before_any_step(regression_data, kwargs, error, match):
    x, y = regression_data
    model = compiled()
    model.build((None, 3))
    before = model.get_weights()
    with pytest.raises(error, match=match):
        model.fit(**(dict(x=x, y=y, verbose=0) | kwargs))
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert int(model.optimizer.iterations) == 0


def test_verbose_progress_output(regression_data):
    x, y = regression_data
    model = compiled(metrics=["mae"])
    for verbose, expected_lines in [(1, 4), (2, 4), (0, 0)]:  # "Epoch i/2" and a final line per epoch
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            model.fit(x, y, batch_size=4, epochs=2, verbose=verbose)
        text = out.getvalue()
        assert text.count("\n") == expected_lines
        if verbose:
            assert "3/3" in text and "loss: " in text and "mae: " in text
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.fit(x, y, batch_size=4, epochs=2)  # verbose="auto" means 1
    assert out.getvalue().startswith("Epoch 1/2\n") and "\u2501" in out.getvalue()


def test_optimizer_state_and_manual_apply_gradients():
    variable = tf.Variable([1.0, 2.0])
    optimizer = reference.optimizers.Adam(learning_rate=0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(variable * variable)
    optimizer.apply_gradients(zip(tape.gradient(loss, [variable]), [variable]))
    # first Adam step moves every weight by lr * sign(g) (up to epsilon)
    np.testing.assert_allclose(variable.numpy(), [0.9, 1.9], rtol=1e-5)
    assert int(optimizer.iterations) == 1 and len(optimizer.variables) == 4
    with pytest.raises(ValueError, match="learning_rate"):
        reference.optimizers.SGD(learning_rate=-1.0)
