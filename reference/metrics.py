"""Metrics: running (optionally weighted) means of per-sample values, as in Keras."""
import tensorflow as tf

from reference import losses


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Returns 1.0 where `(y_pred > threshold) == y_true`, else 0.0."""
    y_true, y_pred = losses.same_rank(tf.convert_to_tensor(y_true), tf.convert_to_tensor(y_pred))
    return tf.cast(tf.equal(y_true, tf.cast(y_pred > threshold, y_true.dtype)), tf.float32)


def categorical_accuracy(y_true, y_pred):
    """Returns 1.0 where `argmax(y_pred) == argmax(y_true)` over the last axis."""
    return tf.cast(tf.equal(tf.argmax(y_true, axis=-1), tf.argmax(y_pred, axis=-1)), tf.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """Returns 1.0 where `argmax(y_pred)` equals the integer label."""
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.cast(y_true, y_pred.dtype)
    if y_true.shape.rank == y_pred.shape.rank and y_true.shape[-1] == 1:
        y_true = tf.squeeze(y_true, -1)
    return tf.cast(tf.equal(y_true, tf.cast(tf.argmax(y_pred, axis=-1), y_pred.dtype)), tf.float32)


def accuracy(y_true, y_pred):
    """Returns 1.0 where `y_pred == y_true` exactly (for already-decoded labels)."""
    y_pred = tf.convert_to_tensor(y_pred)
    y_true, y_pred = losses.same_rank(tf.cast(y_true, y_pred.dtype), y_pred)
    return tf.cast(tf.equal(y_true, y_pred), tf.float32)


def _mean_over_axes_from(values, first_axis):
    """Returns the mean of `values` over its axes from `first_axis` on (`values` if there are none)."""
    axes = list(range(first_axis, values.shape.rank))
    return tf.reduce_mean(values, axis=axes) if axes else values


class Mean:
    """Running weighted mean: `result() = sum(w * value) / sum(w)`.

    `update_state(values, sample_weight=None)` counts each sample once, as Keras
    does: with weights of shape `(N,)` or `(N, d1, ...)` (see `losses.weights_for`),
    a sample adds the mean of its weighted values to the total and the mean of
    its weights to the count.
    """

    def __init__(self, name="mean"):
        self.name = name
        self.total = tf.Variable(0.0, trainable=False, name=f"{name}/total")
        self.count = tf.Variable(0.0, trainable=False, name=f"{name}/count")

    def update_state(self, values, sample_weight=None):
        values = tf.cast(values, tf.float32)
        if sample_weight is None:
            weights = tf.ones(tf.shape(values)[:1])
        else:
            weights = losses.weights_for(values, sample_weight)
            values = _mean_over_axes_from(values, weights.shape.rank)
            weights = tf.broadcast_to(weights, tf.shape(values))
            values, weights = values * weights, _mean_over_axes_from(weights, 1)
        self.total.assign_add(tf.reduce_sum(_mean_over_axes_from(values, 1)))
        self.count.assign_add(tf.reduce_sum(weights))

    def result(self):
        """Returns the current mean as a scalar tensor (0 before any update)."""
        return tf.math.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


class MeanMetricWrapper(Mean):
    """Running mean of `fn(y_true, y_pred)` over all samples seen."""

    def __init__(self, fn, name):
        super().__init__(name)
        self.fn = fn

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self.fn(y_true, y_pred), sample_weight)


class BinaryAccuracy(MeanMetricWrapper):
    """Fraction of predictions on the right side of `threshold` (default 0.5)."""

    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(lambda t, p: binary_accuracy(t, p, threshold), name)


Accuracy = losses.wrapper_class(MeanMetricWrapper, accuracy, "Fraction of predictions equal to the targets.")
CategoricalAccuracy = losses.wrapper_class(MeanMetricWrapper, categorical_accuracy,
                                           "Fraction of samples whose argmax matches the one-hot target.")
SparseCategoricalAccuracy = losses.wrapper_class(MeanMetricWrapper, sparse_categorical_accuracy,
                                                 "Fraction of samples whose argmax matches the integer target.")
MeanSquaredError = losses.wrapper_class(MeanMetricWrapper, losses.mean_squared_error, "Mean of squared differences.")
MeanAbsoluteError = losses.wrapper_class(MeanMetricWrapper, losses.mean_absolute_error, "Mean of absolute differences.")

_BY_NAME = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}
_BY_NAME.update({cls.__name__: cls for cls in set(_BY_NAME.values())}, Accuracy=Accuracy)
_ACCURACY = ("accuracy", "acc")  # resolved from the shapes by `get`


def check(identifier):
    """Raises unless `identifier` names a metric, is a metric object or a callable."""
    if isinstance(identifier, str):
        if identifier.lower() not in _ACCURACY and identifier not in _BY_NAME:
            raise ValueError(f"Unknown metric: metrics entry {identifier!r}; known: "
                             f"{list(_ACCURACY) + sorted(_BY_NAME)}")
    elif not (isinstance(identifier, Mean) or callable(identifier)):
        raise TypeError(f"metrics entries must be names, metric objects or callables, got {identifier!r}")


def get(identifier, y_true_shape, y_pred_shape):
    """Returns a metric object; `"accuracy"` is resolved from the shapes as Keras does.

    Binary when the output has one unit; sparse categorical when the targets
    have one dimension fewer (or a last dimension of 1 against several
    outputs); categorical otherwise. The loss plays no part, also in Keras.
    """
    check(identifier)
    if isinstance(identifier, Mean):
        return identifier
    if not isinstance(identifier, str):
        return MeanMetricWrapper(identifier, getattr(identifier, "__name__", "metric"))
    if identifier.lower() not in _ACCURACY:
        metric = _BY_NAME[identifier]()
    elif y_pred_shape[-1] == 1:
        metric = BinaryAccuracy()
    elif len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        metric = SparseCategoricalAccuracy()
    else:
        metric = CategoricalAccuracy()
    metric.name = identifier
    return metric
