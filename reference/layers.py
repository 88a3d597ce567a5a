"""Layer (lazy build on the first call), Dense and the book's SimpleDense, on plain TensorFlow."""
import functools
import re
from collections import Counter

import numpy as np
import tensorflow as tf

from reference import activations, initializers

_name_counts = Counter()


def shape_tuple(shape, argument="input_shape"):
    """Returns `shape` (tuple, list or TensorShape) as a tuple of Python ints / None."""
    if not isinstance(shape, (tuple, list, tf.TensorShape)):
        raise TypeError(f"{argument} must be a tuple, list or TensorShape, got {shape!r}")
    return tuple(tf.TensorShape(shape).as_list())


def _marks_built(build):
    """Wraps a subclass's `build` so that it ends with `built = True`, as in Keras 3."""

    @functools.wraps(build)
    def wrapped(self, input_shape):
        outermost = not self._in_build  # a subclass's build may call its parent's
        if outermost and self.built and self._weights:
            raise ValueError(f"{self.name}: the layer is already built; build(input_shape="
                             f"{input_shape}) would create its weights a second time")
        self._in_build = True
        try:
            build(self, shape_tuple(input_shape))
        finally:
            if outermost:
                self._in_build = False
        self.built = True

    return wrapped


class Layer:
    """Base layer: owns weights and builds them lazily on the first call.

    Subclasses create weights in `build(input_shape)` with `add_weight` and compute
    outputs in `call(inputs)`. The first `layer(inputs)` runs
    `build(inputs.shape)` once, with the full input shape, then `call`.

    Args:
        name: Layer name; defaults to the snake_case class name, made unique.
        trainable: Whether the weights appear in `trainable_weights`.
        dtype: Dtype of the weights; floating inputs are cast to it.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _marks_built(cls.__dict__["build"])

    def __init__(self, name=None, trainable=True, dtype="float32"):
        if name is None:  # Keras's auto names: dense, dense_1, dense_2, ...
            prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()
            name = prefix if not _name_counts[prefix] else f"{prefix}_{_name_counts[prefix]}"
            _name_counts[prefix] += 1
        self.name, self.dtype, self.trainable = name, tf.as_dtype(dtype), trainable
        self.built, self._in_build, self._weights = False, False, []

    def __call__(self, inputs, *args, **kwargs):
        if not tf.is_tensor(inputs):
            try:
                inputs = tf.convert_to_tensor(np.asarray(inputs))
            except (TypeError, ValueError) as error:
                raise TypeError(f"{self.name}: inputs must be numeric, got {inputs!r}") from error
        if not inputs.dtype.is_floating:
            raise TypeError(f"{self.name}: inputs must be floating point, got dtype {inputs.dtype.name}; "
                            "cast them first, e.g. x.astype('float32')")
        inputs = tf.cast(inputs, self.dtype) if inputs.dtype != self.dtype else inputs
        self.check_input_shape(tuple(inputs.shape))
        if not self.built:
            self.build(tuple(inputs.shape))
            self.built = True
        return self.call(inputs, *args, **kwargs)

    def check_input_shape(self, input_shape):
        """Raises ValueError if the layer cannot take inputs of this shape."""

    def build(self, input_shape):
        """Creates the weights; `input_shape` is a tuple of ints / None."""

    def call(self, inputs):
        """Returns the layer's output for `inputs`."""
        return inputs

    def compute_output_shape(self, input_shape):
        """Returns the output shape for `input_shape`, without building."""
        raise NotImplementedError(f"{type(self).__name__} does not define compute_output_shape")

    def add_weight(self, shape=None, initializer="glorot_uniform", dtype=None, trainable=True, name=None):
        """Creates, tracks and returns a `tf.Variable` named `<layer>/<name>`."""
        if self.built and not self._in_build:
            raise ValueError(f"{self.name}: cannot add weight {name!r} to a layer that is already built; "
                             "create all weights in build(), which runs once")
        dtype = tf.as_dtype(dtype or self.dtype)
        name = name or ("variable" if not self._weights else f"variable_{len(self._weights)}")
        with tf.init_scope():  # weights are created eagerly even inside a tf.function trace
            value = initializers.get(initializer)(tuple(shape or ()), dtype=dtype)
            variable = tf.Variable(value, trainable=trainable, name=f"{self.name}/{name}")
        self._weights.append(variable)
        return variable

    @property
    def weights(self):
        """All weights, in creation order."""
        return list(self._weights)

    @property
    def trainable_weights(self):
        """The weights the optimizer updates: none while `trainable` is False."""
        return [w for w in self.weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def get_weights(self):
        """Returns copies of the weights as NumPy arrays."""
        return [np.array(w.numpy(), copy=True) for w in self.weights]

    def set_weights(self, weights):
        """Assigns NumPy arrays to the weights, after checking count and shapes (all or none)."""
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError(f"{self.name}: set_weights expected {len(self.weights)} arrays, got {len(weights)}")
        arrays = [np.array(value, dtype=w.dtype.as_numpy_dtype, copy=True) for w, value in zip(self.weights, weights)]
        for index, (variable, array) in enumerate(zip(self.weights, arrays)):
            if array.shape != tuple(variable.shape):
                raise ValueError(f"{self.name}: set_weights: weight {index} ({variable.name}) has shape "
                                 f"{tuple(variable.shape)}, got an array of shape {array.shape}")
        for variable, array in zip(self.weights, arrays):
            variable.assign(array)

    def count_params(self):
        """Returns the number of scalars in all weights."""
        return int(sum(np.prod(w.shape) for w in self.weights))


class Dense(Layer):
    """Densely connected layer: `output = activation(dot(inputs, kernel) + bias)`.

    `kernel` has shape `(input_dim, units)`, `bias` shape `(units,)`. The dot
    product contracts the last axis of the input.

    Args:
        units: Positive int, dimensionality of the output.
        activation: `None` (linear), a name (`"linear"`, `"relu"`, `"sigmoid"`,
            `"tanh"`, `"softmax"`) or a callable.
        use_bias: Whether the layer adds a bias; without one it holds `[kernel]` only.
        kernel_initializer: Initializer (name or object) of the kernel.
        bias_initializer: Initializer (name or object) of the bias.

    Input shape:
        N-D tensor with shape `(batch_size, ..., input_dim)`, N >= 2.

    Output shape:
        N-D tensor with shape `(batch_size, ..., units)`.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units < 1:
            raise ValueError(f"{type(self).__name__}: units must be a positive int, got {units!r}")
        super().__init__(**kwargs)
        self.units, self.activation, self.use_bias = int(units), activations.get(activation), bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def check_input_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"{self.name}: inputs must have rank >= 2 (batch, ..., features), got shape {input_shape}")
        if self.built and input_shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"{self.name}: expected inputs with last dimension {self.kernel.shape[0]}, "
                             f"got shape {input_shape}")

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        if input_shape[-1] is None:
            raise ValueError(f"{self.name}: the last dimension of input_shape must be known, got {input_shape}")
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer=self.kernel_initializer,
                                      name="kernel")
        self.bias = (self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name="bias")
                     if self.use_bias else None)

    def call(self, inputs):
        if inputs.shape.rank == 2:
            outputs = tf.matmul(inputs, self.kernel)
        else:
            outputs = tf.tensordot(inputs, self.kernel, [[inputs.shape.rank - 1], [0]])
        return self.activation(outputs + self.bias if self.use_bias else outputs)

    def compute_output_shape(self, input_shape):
        input_shape = shape_tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(f"{self.name}: input_shape must have rank >= 2, got {input_shape}")
        return input_shape[:-1] + (self.units,)


class SimpleDense(Dense):
    """The book's dense layer: a `Dense` whose kernel starts from `random_normal` (N(0, 0.05)).

    Args:
        units: Positive int, dimensionality of the output.
        activation: `None` (linear), a name or a callable.
    """

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(units, activation, kernel_initializer="random_normal", **kwargs)
