"""The Keras book's chapter-3 workflow, run unchanged with `import reference as keras`."""
import numpy as np
import tensorflow as tf

import reference as keras


def test_book_chapter_3_workflow_runs_unchanged():
    keras.utils.set_random_seed(0)
    num_samples_per_class = 1000
    negative_samples = np.random.multivariate_normal(
        mean=[0, 3], cov=[[1, 0.5], [0.5, 1]], size=num_samples_per_class)
    positive_samples = np.random.multivariate_normal(
        mean=[3, 0], cov=[[1, 0.5], [0.5, 1]], size=num_samples_per_class)
    inputs = np.vstack((negative_samples, positive_samples)).astype(np.float32)
    targets = np.vstack((np.zeros((num_samples_per_class, 1), dtype="float32"),
                         np.ones((num_samples_per_class, 1), dtype="float32")))

    class SimpleDense(keras.layers.Layer):
        def __init__(self, units, activation=None):
            super().__init__()
            self.units = units
            self.activation = activation

        def build(self, input_shape):
            input_dim = input_shape[-1]
            self.W = self.add_weight(shape=(input_dim, self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            y = tf.matmul(inputs, self.W) + self.b
            if self.activation is not None:
                y = self.activation(y)
            return y

    my_dense = SimpleDense(units=32, activation=tf.nn.relu)
    input_tensor = tf.ones(shape=(2, 784))
    output_tensor = my_dense(input_tensor)
    assert output_tensor.shape == (2, 32)

    # Manual GradientTape training loop with a custom layer.
    model = SimpleDense(units=1)
    learning_rate = 0.1

    def training_step(inputs, targets):
        with tf.GradientTape() as tape:
            predictions = model(inputs)
            loss = tf.reduce_mean(tf.square(targets - predictions))
        grad_loss_wrt_W, grad_loss_wrt_b = tape.gradient(loss, [model.W, model.b])
        model.W.assign_sub(grad_loss_wrt_W * learning_rate)
        model.b.assign_sub(grad_loss_wrt_b * learning_rate)
        return loss

    losses = [float(training_step(inputs, targets)) for _ in range(40)]
    assert losses[-1] < 0.05 < losses[0]

    model = keras.Sequential([SimpleDense(32, activation="relu" and tf.nn.relu),
                              SimpleDense(64, activation=tf.nn.relu),
                              SimpleDense(32, activation=tf.nn.relu),
                              SimpleDense(10, activation=tf.nn.softmax)])
    assert model(input_tensor[:, :5]).shape == (2, 10)

    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(optimizer="rmsprop", loss="mean_squared_error", metrics=["accuracy"])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-4),
                  loss=keras.losses.MeanSquaredError(),
                  metrics=[keras.metrics.BinaryAccuracy()])

    indices_permutation = np.random.permutation(len(inputs))
    shuffled_inputs = inputs[indices_permutation]
    shuffled_targets = targets[indices_permutation]
    num_validation_samples = int(0.3 * len(inputs))
    val_inputs = shuffled_inputs[:num_validation_samples]
    val_targets = shuffled_targets[:num_validation_samples]
    training_inputs = shuffled_inputs[num_validation_samples:]
    training_targets = shuffled_targets[num_validation_samples:]
    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
                  loss=keras.losses.MeanSquaredError(),
                  metrics=[keras.metrics.BinaryAccuracy()])
    history = model.fit(training_inputs, training_targets, epochs=5, batch_size=16,
                        validation_data=(val_inputs, val_targets), verbose=0)
    assert set(history.history) == {"loss", "binary_accuracy", "val_loss", "val_binary_accuracy"}
    assert history.history["val_binary_accuracy"][-1] > 0.9

    loss_and_metrics = model.evaluate(val_inputs, val_targets, batch_size=128, verbose=0)
    assert abs(loss_and_metrics[0] - history.history["val_loss"][-1]) <= 1e-6 * loss_and_metrics[0]
    predictions = model.predict(val_inputs, batch_size=128, verbose=0)
    assert predictions.shape == (num_validation_samples, 1)
    assert np.mean((predictions[:, 0] > 0.5) == val_targets[:, 0]) > 0.9
