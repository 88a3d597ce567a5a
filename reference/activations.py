"""Activation functions, looked up by name the way Keras does."""
import tensorflow as tf


def linear(x):
    """Returns `x` unchanged."""
    return x


def softmax(x):
    """Returns `exp(x) / sum(exp(x))` over the last axis."""
    return tf.nn.softmax(x, axis=-1)


relu, sigmoid, tanh = tf.nn.relu, tf.nn.sigmoid, tf.nn.tanh  # max(x, 0), 1 / (1 + e^-x), tanh
_BY_NAME = {"linear": linear, "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax}


def get(identifier):
    """Returns the activation function for a name (any case), a callable or `None` (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        if identifier.lower() not in _BY_NAME:
            raise ValueError(f"Unknown activation: activation={identifier!r}; known: {sorted(_BY_NAME)}")
        return _BY_NAME[identifier.lower()]
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name, a callable or None, got {identifier!r}")
