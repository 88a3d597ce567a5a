"""Losses with Keras's `sum_over_batch_size` reduction and crossentropy numerics.

Each per-sample function reduces the last axis: it maps `(y_true, y_pred)` of shape
`(N, ..., d)` to values of shape `(N, ...)`. A `Loss` object reduces those to
`sum(sample_weight * values) / num_values`.
"""
import tensorflow as tf

EPSILON = 1e-7  # Keras's backend.epsilon(): probabilities are clipped to [eps, 1 - eps]


def same_rank(y_true, y_pred):
    """Squeezes or expands a trailing dim of size 1 so both have the same rank (as Keras)."""
    if y_true.shape.rank == y_pred.shape.rank + 1 and y_true.shape[-1] == 1:
        y_pred, y_true = same_rank(y_pred, y_true)
    elif y_pred.shape.rank == y_true.shape.rank + 1 and y_pred.shape[-1] == 1:
        if y_true.shape.rank == 1:
            y_true = tf.expand_dims(y_true, -1)
        else:
            y_pred = tf.squeeze(y_pred, -1)
    return y_true, y_pred


def weights_for(values, sample_weight):
    """Returns `sample_weight` cast to `values`' dtype, after checking it weighs leading axes of `values`.

    `(N,)` weighs each sample, `(N, d1)` each position of a `(N, d1, ...)` value, as
    in Keras; a trailing axis of size 1 is dropped first, so `(N, d1, 1)` means `(N, d1)`.
    """
    weights = tf.cast(sample_weight, values.dtype)
    given_shape = tuple(weights.shape)
    if weights.shape.rank == values.shape.rank + 1 and weights.shape[-1] == 1:
        weights = tf.squeeze(weights, -1)
    fits = weights.shape.rank <= values.shape.rank and all(
        w in (1, v) or None in (w, v) for w, v in zip(weights.shape[1:], values.shape[1:]))
    if not fits:
        raise ValueError(f"sample_weight must have shape (batch,) or the leading axes of the per-sample values' "
                         f"shape {tuple(values.shape)} (a trailing 1 allowed); got a batch of shape {given_shape}")
    return weights


def expand_to_rank(weights, rank):
    """Returns `weights` with trailing axes of size 1 up to `rank`, so it broadcasts from the left."""
    for _ in range(rank - weights.shape.rank):
        weights = tf.expand_dims(weights, -1)
    return weights


def _logits_behind(output, op_type):
    """Returns the logits of a traced sigmoid/softmax output, else None.

    Keras computes crossentropy from the logits when it can see them in the graph,
    which avoids clipping; matching its numbers means doing the same.
    """
    if not tf.executing_eagerly() and hasattr(output, "op") and output.op.type == op_type:
        return output.op.inputs[0]
    return None


def mean_squared_error(y_true, y_pred):
    """Returns `mean(square(y_true - y_pred), axis=-1)`."""
    y_true, y_pred = same_rank(tf.cast(y_true, y_pred.dtype), y_pred)
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """Returns `mean(abs(y_true - y_pred), axis=-1)`."""
    y_true, y_pred = same_rank(tf.cast(y_true, y_pred.dtype), y_pred)
    return tf.reduce_mean(tf.abs(y_true - y_pred), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    """Returns `mean(-(t log p + (1 - t) log(1 - p)), axis=-1)`."""
    y_true, y_pred = same_rank(tf.cast(y_true, y_pred.dtype), y_pred)
    logits = y_pred if from_logits else _logits_behind(y_pred, "Sigmoid")
    if logits is not None:
        values = tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits)
    else:
        p = tf.clip_by_value(y_pred, EPSILON, 1.0 - EPSILON)
        values = -(y_true * tf.math.log(p) + (1 - y_true) * tf.math.log(1 - p))
    return tf.reduce_mean(values, axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Returns `-sum(t * log p, axis=-1)` for one-hot (or soft) targets."""
    y_true, y_pred = same_rank(tf.cast(y_true, y_pred.dtype), y_pred)
    logits = y_pred if from_logits else _logits_behind(y_pred, "Softmax")
    if logits is not None:
        return tf.nn.softmax_cross_entropy_with_logits(labels=y_true, logits=logits)
    p = tf.clip_by_value(y_pred / tf.reduce_sum(y_pred, axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)
    return -tf.reduce_sum(y_true * tf.math.log(p), axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Returns `-log p[label]` for integer class labels."""
    y_true = tf.cast(y_true, tf.int64)
    if y_true.shape.rank == y_pred.shape.rank and y_true.shape[-1] == 1:
        y_true = tf.squeeze(y_true, -1)
    logits = y_pred if from_logits else _logits_behind(y_pred, "Softmax")
    if logits is None:
        logits = tf.math.log(tf.clip_by_value(y_pred, EPSILON, 1.0 - EPSILON))
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_true, logits=logits)


class Loss:
    """Callable `loss(y_true, y_pred, sample_weight=None)` returning a scalar.

    The scalar is `sum(sample_weight * values) / num_values`, Keras's
    `sum_over_batch_size` reduction (the weights do not change the divisor); for
    targets of shape `(N, d1, ..., d)` there are `N * d1 * ...` values, and a
    `(N,)` `sample_weight` weighs all of a sample's values.
    """

    def __init__(self, fn, name, **fn_kwargs):
        self.fn, self.name, self.fn_kwargs = fn, name, fn_kwargs

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = tf.cast(y_pred, tf.float32)  # Keras losses compute in floatx
        y_true, y_pred = same_rank(tf.cast(y_true, tf.float32), y_pred)
        values = self.fn(y_true, y_pred, **self.fn_kwargs)
        if sample_weight is not None:
            values = values * expand_to_rank(weights_for(values, sample_weight), values.shape.rank)
        return tf.math.divide_no_nan(tf.reduce_sum(values), tf.cast(tf.size(values), values.dtype))


def wrapper_class(base, fn, doc):
    """Returns `base`'s subclass named after `fn` whose `__init__([from_logits, ]name=fn.__name__)` wraps `fn`."""
    if "from_logits" in fn.__code__.co_varnames:
        def __init__(self, from_logits=False, name=fn.__name__):
            base.__init__(self, fn, name, from_logits=from_logits)
    else:
        def __init__(self, name=fn.__name__):
            base.__init__(self, fn, name)
    class_name = fn.__name__.title().replace("_", "")
    return type(class_name, (base,), {"__init__": __init__, "__doc__": doc, "__module__": base.__module__})


MeanSquaredError = wrapper_class(Loss, mean_squared_error, "Mean of squared differences over the last axis.")
MeanAbsoluteError = wrapper_class(Loss, mean_absolute_error, "Mean of absolute differences over the last axis.")
BinaryCrossentropy = wrapper_class(Loss, binary_crossentropy, "Crossentropy for 0/1 targets and probabilities.")
CategoricalCrossentropy = wrapper_class(Loss, categorical_crossentropy, "Crossentropy for one-hot targets.")
SparseCategoricalCrossentropy = wrapper_class(Loss, sparse_categorical_crossentropy, "Crossentropy for int targets.")

_CLASSES = [MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy, CategoricalCrossentropy,
            SparseCategoricalCrossentropy]
_BY_NAME = {"mse": MeanSquaredError, "mae": MeanAbsoluteError,
            **{cls().name: cls for cls in _CLASSES}, **{cls.__name__: cls for cls in _CLASSES}}

def get(identifier):
    """Returns a `Loss` for a name, a `Loss` instance or a `(y_true, y_pred)` callable.

    Raises:
        ValueError: `identifier` is a name that is not a known loss.
    """
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"Unknown loss: loss={identifier!r}; known: {sorted(_BY_NAME)}")
        return _BY_NAME[identifier]()
    if isinstance(identifier, Loss):
        return identifier
    if callable(identifier):
        return Loss(identifier, getattr(identifier, "__name__", "loss"))
    raise TypeError(f"loss must be a name, a Loss or a callable, got {identifier!r}")
