"""Weight initializers: `initializer(shape, dtype)` returns a tensor of that shape.

Random ones draw from TensorFlow's global RNG, so `reference.utils.set_random_seed`
makes them repeatable.
"""
import math

import tensorflow as tf


class Initializer:
    """Base class: `initializer(shape, dtype)` returns a tensor of that shape."""

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError


class RandomNormal(Initializer):
    """Draws from N(mean, stddev**2); `seed=None` uses the global seed."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype="float32"):
        return tf.random.normal(shape, self.mean, self.stddev, dtype=dtype, seed=self.seed)


class Zeros(Initializer):
    def __call__(self, shape, dtype="float32"):
        return tf.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype="float32"):
        return tf.ones(shape, dtype=dtype)


class GlorotUniform(Initializer):
    """Draws from U(-limit, limit), `limit = sqrt(6 / (fan_in + fan_out))`; `seed=None` uses the global seed.

    Fans as Keras's `compute_fans`: `(fan_in, fan_out)` is the shape of a matrix, each
    times the product of any leading (receptive field) dimensions.
    """

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype="float32"):
        shape = tuple(shape)
        if len(shape) < 2:
            fan_in = fan_out = shape[0] if shape else 1
        else:
            receptive_field = math.prod(shape[:-2])
            fan_in, fan_out = shape[-2] * receptive_field, shape[-1] * receptive_field
        limit = math.sqrt(3.0 / max(1.0, (fan_in + fan_out) / 2))  # Keras's VarianceScaling(1, "fan_avg")
        return tf.random.uniform(shape, -limit, limit, dtype=dtype, seed=self.seed)


_BY_NAME = {"random_normal": RandomNormal, "randomnormal": RandomNormal, "zeros": Zeros, "ones": Ones,
            "glorot_uniform": GlorotUniform, "glorotuniform": GlorotUniform}


def get(identifier):
    """Returns an initializer for a name (any case), an instance or a callable."""
    if isinstance(identifier, str):
        if identifier.lower() not in _BY_NAME:
            raise ValueError(f"Unknown initializer: initializer={identifier!r}; known: "
                             "['random_normal', 'zeros', 'ones', 'glorot_uniform'] (any case)")
        return _BY_NAME[identifier.lower()]()
    if callable(identifier):
        return identifier
    raise TypeError(f"initializer must be a name or a callable, got {identifier!r}")
