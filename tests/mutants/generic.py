"""Custom Keras 3 layers (TensorFlow backend) of kinds other than Dense, for the generic contracts.

Mutants: each is a layer written the way layer authors write them (``keras.layers.Layer`` with
build/call/get_config on ``keras.ops``) with exactly one bug of a kind that ships in real code.
``targets`` names the generic contract that must kill it; ``symptom`` is a fragment of the failure
message a user would read, so a test notices when a mutant is killed for another reason.

Correct layers (``Correct*``): the same kinds written without the bug; every MUST generic contract
must pass on them.

``SPECS`` maps every class to the :class:`~conformance.specs.LayerSpec` it is tested with:
``adapters.load("keras", spec=SPECS[cls])``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from conformance.specs import LayerSpec

# --- correct layers ----------------------------------------------------------------------------


class CorrectConv1D(keras.layers.Layer):
    """1D convolution with stride 1: (batch, steps, channels) -> (batch, steps', filters);
    steps' = steps - kernel_size + 1 for 'valid' padding, steps for 'same'."""

    def __init__(self, filters, kernel_size, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.padding = padding

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(self.kernel_size, input_shape[-1], self.filters))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, inputs):
        return ops.conv(inputs, self.kernel, padding=self.padding) + self.bias

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        if self.padding == "valid" and steps is not None:
            steps = steps - self.kernel_size + 1
        return (input_shape[0], steps, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size, "padding": self.padding}


class CorrectLayerNorm(keras.layers.Layer):
    """Layer normalization over the last axis with a learned scale (gamma) and offset (beta)."""

    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(input_shape[-1],), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(input_shape[-1],), initializer="zeros")

    def call(self, inputs):
        mean = ops.mean(inputs, axis=-1, keepdims=True)
        variance = ops.var(inputs, axis=-1, keepdims=True)
        return (inputs - mean) * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


class CorrectEmbedding(keras.layers.Layer):
    """Embedding lookup: integer ids (batch, steps) -> vectors (batch, steps, output_dim)."""

    def __init__(self, input_dim, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim

    def build(self, input_shape):
        self.embeddings = self.add_weight(name="embeddings", shape=(self.input_dim, self.output_dim), initializer="uniform")

    def call(self, inputs):
        return ops.take(self.embeddings, ops.cast(inputs, "int32"), axis=0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim}


class CorrectGLU(keras.layers.Layer):
    """Gated linear unit: (x W + b) * sigmoid(x V + c), from (..., features) to (..., units)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], 2 * self.units))
        self.bias = self.add_weight(name="bias", shape=(2 * self.units,), initializer="zeros")

    def call(self, inputs):
        value, gate = ops.split(ops.matmul(inputs, self.kernel) + self.bias, 2, axis=-1)
        return value * ops.sigmoid(gate)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class CorrectResidualBlock(keras.layers.Layer):
    """x + Dense(tanh(Dense(x))): a residual block whose two sublayers are built in build()."""

    def __init__(self, hidden_units, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = hidden_units
        self.hidden = keras.layers.Dense(hidden_units, activation="tanh", dtype=self.dtype_policy)
        self.projection = None  # its size is the input's, known in build

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.projection = keras.layers.Dense(input_shape[-1], dtype=self.dtype_policy)
        self.projection.build((*input_shape[:-1], self.hidden_units))

    def call(self, inputs):
        return inputs + self.projection(self.hidden(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units}


class CorrectAttentionPooling(keras.layers.Layer):
    """Attention pooling over steps: (batch, steps, channels) -> (batch, channels), weights softmax(x w) over steps."""

    def build(self, input_shape):
        self.score_kernel = self.add_weight(name="score_kernel", shape=(input_shape[-1], 1))

    def call(self, inputs):
        scores = ops.softmax(ops.matmul(inputs, self.score_kernel), axis=1)
        return ops.sum(scores * inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


class CorrectStandardize(keras.layers.Layer):
    """(x - mean) / sqrt(variance + epsilon) * scale: mean and variance are non-trainable buffers
    (set from data with ``adapt``), scale is learned."""

    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        features = (input_shape[-1],)
        self.mean = self.add_weight(name="mean", shape=features, initializer="zeros", trainable=False)
        self.variance = self.add_weight(name="variance", shape=features, initializer="ones", trainable=False)
        self.scale = self.add_weight(name="scale", shape=features, initializer="ones")

    def adapt(self, data):
        self.mean.assign(ops.mean(data, axis=0))
        self.variance.assign(ops.var(data, axis=0))

    def call(self, inputs):
        return (inputs - self.mean) * ops.rsqrt(self.variance + self.epsilon) * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


class CorrectPositionalEmbedding(keras.layers.Layer):
    """Adds a learned position vector to each step: (batch, steps, features), steps <= max_length."""

    def __init__(self, max_length, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def build(self, input_shape):
        self.positions = self.add_weight(name="positions", shape=(self.max_length, input_shape[-1]))

    def call(self, inputs):
        return inputs + self.positions[: ops.shape(inputs)[1]]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}


# --- mutants -----------------------------------------------------------------------------------


class EmbeddingBuiltInInit(CorrectEmbedding):
    """Builds its embedding table in __init__ ("input_dim is known, why wait?"): it holds weights before
    it has seen any input."""

    targets = "GENERIC-UNBUILT-AT-INIT"
    symptom = "right after construction"

    def __init__(self, input_dim, output_dim, **kwargs):
        super().__init__(input_dim, output_dim, **kwargs)
        self.embeddings = self.add_weight(name="embeddings", shape=(input_dim, output_dim), initializer="uniform")

    def build(self, input_shape):
        pass  # the table already exists


class SinusoidalEncodingRebuildsOnShape(keras.layers.Layer):
    """Recomputes its sinusoid table by calling build() whenever the input shape differs from the one it
    was built for: meant for a new sequence length, but the comparison includes the batch size."""

    targets = "GENERIC-BUILD-ONCE"
    symptom = "rebuilt the layer"

    def build(self, input_shape):
        self.built_for = tuple(input_shape)
        steps, features = input_shape[1], input_shape[-1]
        angles = np.arange(steps)[:, None] / 10000 ** (np.arange(features)[None, :] / features)
        self.table = ops.convert_to_tensor(np.where(np.arange(features) % 2 == 0, np.sin(angles), np.cos(angles)), self.compute_dtype)

    def call(self, inputs):
        if tuple(inputs.shape) != self.built_for:
            self.build(inputs.shape)
        return inputs + self.table

    def compute_output_shape(self, input_shape):
        return input_shape


class ResidualBlockBuildsInCall(keras.layers.Layer):
    """Declares its sublayers but leaves them to build themselves on the first call, so build() makes
    only the gate: a model built from shapes has one weight until it first sees data."""

    targets = "GENERIC-EXPLICIT-BUILD"
    symptom = "build() made weights of shapes"

    def __init__(self, hidden_units, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = hidden_units
        self.hidden = keras.layers.Dense(hidden_units, activation="tanh")
        self.projection = None

    def build(self, input_shape):
        self.projection = keras.layers.Dense(input_shape[-1])
        self.gate = self.add_weight(name="gate", shape=(), initializer="ones")

    def call(self, inputs):
        return inputs + self.gate * self.projection(self.hidden(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units}


class StandardizeStatisticsInTraining(keras.layers.Layer):
    """Creates its moving mean and variance the first time it runs in training mode, "since inference
    never needs them before": a call after the first adds weights (Keras 3 refuses with a ValueError)."""

    targets = "GENERIC-NO-WEIGHTS-IN-CALL"
    symptom = "You cannot add new elements of state"

    def __init__(self, momentum=0.9, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs, training=None):
        if training and not hasattr(self, "moving_mean"):
            features = (inputs.shape[-1],)
            self.moving_mean = self.add_weight(name="moving_mean", shape=features, initializer="zeros", trainable=False)
            self.moving_variance = self.add_weight(name="moving_variance", shape=features, initializer="ones", trainable=False)
        if training:
            mean, variance = ops.mean(inputs, axis=0), ops.var(inputs, axis=0)
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
            self.moving_variance.assign(self.momentum * self.moving_variance + (1 - self.momentum) * variance)
        elif hasattr(self, "moving_mean"):
            mean, variance = self.moving_mean, self.moving_variance
        else:
            mean, variance = 0.0, 1.0
        return (inputs - mean) * ops.rsqrt(variance + self.epsilon) * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


class AttentionPoolingBatchBuffer(keras.layers.Layer):
    """Keeps the last attention scores in a buffer for inspection, shaped from input_shape[0] (the
    batch size): building from a shape whose batch is None fails, and so does any other batch size."""

    targets = "GENERIC-EXPLICIT-BUILD"
    symptom = "must be fully-defined"

    def build(self, input_shape):
        self.score_kernel = self.add_weight(name="score_kernel", shape=(input_shape[-1], 1))
        self.last_scores = self.add_weight(
            name="last_scores", shape=(input_shape[0], input_shape[1], 1), initializer="zeros", trainable=False
        )

    def call(self, inputs):
        scores = ops.softmax(ops.matmul(inputs, self.score_kernel), axis=1)
        self.last_scores.assign(scores)
        return ops.sum(scores * inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


class LayerNormConfigMissesEpsilon(CorrectLayerNorm):
    """get_config forgets epsilon: a layer restored from its config normalizes with the default 1e-3."""

    targets = "GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER"
    symptom = "rebuilt from its config"

    def get_config(self):
        return keras.layers.Layer.get_config(self)


class PositionalEmbeddingConfigMissesMaxLength(CorrectPositionalEmbedding):
    """get_config forgets the required max_length: from_config(get_config()) raises TypeError."""

    targets = "GENERIC-CONFIG-SERIALIZABLE"
    symptom = "max_length"

    def get_config(self):
        return keras.layers.Layer.get_config(self)


class LayerNormOverBatch(CorrectLayerNorm):
    """Normalizes over axis 0 (the batch) instead of the features: each row's output depends on the
    other rows of the batch."""

    targets = "GENERIC-BATCH-INDEPENDENCE"
    symptom = "of layer(X) is"

    def call(self, inputs):
        mean = ops.mean(inputs, axis=0, keepdims=True)
        variance = ops.var(inputs, axis=0, keepdims=True)
        return (inputs - mean) * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta


class AttentionPoolingSoftmaxOverBatch(CorrectAttentionPooling):
    """Takes the attention softmax over axis 0 (the batch) instead of axis 1 (the steps)."""

    targets = "GENERIC-BATCH-INDEPENDENCE"
    symptom = "of layer(X) is"

    def call(self, inputs):
        scores = ops.softmax(ops.matmul(inputs, self.score_kernel), axis=0)
        return ops.sum(scores * inputs, axis=1)


class LayerNormSetWeightsSwapped(CorrectLayerNorm):
    """Overrides set_weights to load (beta, gamma) while get_weights gives (gamma, beta): a saved and
    reloaded layer has its scale and offset exchanged."""

    targets = "GENERIC-SET-GET-WEIGHTS"
    symptom = "get_weights differs from the arrays passed to set_weights"

    def set_weights(self, weights):
        beta, gamma = weights  # the order of the paper's equation, not of build()
        self.beta.assign(beta)
        self.gamma.assign(gamma)


class GaussianNoiseIgnoresTraining(keras.layers.Layer):
    """Takes a ``training`` argument but never reads it: inference calls add fresh unseeded noise too."""

    targets = "GENERIC-DETERMINISTIC-INFERENCE"
    symptom = "two inference calls on the same input differ"

    def __init__(self, stddev=0.1, **kwargs):
        super().__init__(**kwargs)
        self.stddev = stddev

    def call(self, inputs, training=None):
        return inputs + keras.random.normal(ops.shape(inputs), stddev=self.stddev, dtype=inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


class StandardizeUpdatesAtInference(keras.layers.Layer):
    """Updates its running mean on every call, training or not: calling it twice on the same input at
    inference gives two different outputs."""

    targets = "GENERIC-DETERMINISTIC-INFERENCE"
    symptom = "two inference calls on the same input differ"

    def __init__(self, momentum=0.5, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def build(self, input_shape):
        self.moving_mean = self.add_weight(name="moving_mean", shape=(input_shape[-1],), initializer="zeros", trainable=False)

    def call(self, inputs, training=None):
        batch_mean = ops.mean(inputs, axis=tuple(range(len(inputs.shape) - 1)))
        self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * batch_mean)
        return inputs - self.moving_mean

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


class Conv1DOutputShapeIgnoresPadding(CorrectConv1D):
    """compute_output_shape keeps the number of steps, as for 'same' padding, while call convolves
    with 'valid' padding and returns kernel_size - 1 fewer steps."""

    targets = "GENERIC-OUTPUT-SHAPE"
    symptom = "compute_output_shape(("

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.filters)


class EmbeddingOutputShapeDropsSteps(CorrectEmbedding):
    """compute_output_shape gives (batch, output_dim), forgetting that each of the steps gets a vector."""

    targets = "GENERIC-OUTPUT-SHAPE"
    symptom = "compute_output_shape(("

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)


class RMSNormStopGradient(keras.layers.Layer):
    """Wraps the root-mean-square in stop_gradient "for stability": the gradient with respect to the
    input misses the term through the normalizer."""

    targets = "GENERIC-GRAD-FINITE-DIFFERENCE"
    symptom = "finite difference"

    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        rms = ops.sqrt(ops.mean(ops.square(inputs), axis=-1, keepdims=True) + self.epsilon)
        return inputs / ops.stop_gradient(rms) * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


class GLUHandWrittenGradient(CorrectGLU):
    """A hand-written gradient for the sigmoid gate (to save memory) that drops the value factor:
    d/dgate of value * sigmoid(gate) is written as sigmoid'(gate) instead of value * sigmoid'(gate)."""

    targets = "GENERIC-GRAD-FINITE-DIFFERENCE"
    symptom = "finite difference"

    def call(self, inputs):
        value, gate = ops.split(ops.matmul(inputs, self.kernel) + self.bias, 2, axis=-1)
        return _gated(value, gate)


@ops.custom_gradient
def _gated(value, gate):
    """value * sigmoid(gate) with GLUHandWrittenGradient's broken backward pass."""
    sigmoid = ops.sigmoid(gate)

    def backward(*upstream, **_):
        (upstream,) = upstream
        return upstream * sigmoid, upstream * sigmoid * (1 - sigmoid)  # missing "* value" in the second

    return value * sigmoid, backward


class ScaleForcesTrainable(keras.layers.Layer):
    """Reports its scale among trainable_weights always (a property override meant to "make sure the
    optimizer sees it"), so trainable=False does not freeze it."""

    targets = "GENERIC-TRAINABLE-FALSE-FREEZES"
    symptom = "trainable"

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    @property
    def trainable_weights(self):
        return [self.scale]

    def call(self, inputs):
        return inputs * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape


class StandardizeTrainableOverride(CorrectStandardize):
    """Overrides trainable_weights to add its mean and variance buffers "so fine-tuning adapts the
    statistics too": the buffers are then both trainable and non-trainable weights."""

    targets = "GENERIC-WEIGHTS-PARTITION"
    symptom = "is not trainable_weights"

    @property
    def trainable_weights(self):
        return [self.scale, self.mean, self.variance] if self.trainable else []


class ClipInPlaceOnHost(keras.layers.Layer):
    """Clips numpy inputs on the host, in place ("saves a copy of the batch"), before the usual call:
    the caller's array comes back clipped."""

    targets = "GENERIC-INPUTS-UNCHANGED"
    symptom = "changed the array"

    def __init__(self, limit=1.0, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, np.ndarray):
            np.clip(inputs, -self.limit, self.limit, out=inputs)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs):
        return ops.clip(inputs, -self.limit, self.limit)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "limit": self.limit}


class Conv1DFakeQuantNoStraightThrough(CorrectConv1D):
    """Fake-quantizes its kernel to int8 steps by casting through an integer type, without a straight-through
    estimator: the cast has no gradient, so the kernel never trains."""

    targets = "GENERIC-FIT-STEP-FINITE-GRADIENTS"
    symptom = "gets no gradient"

    def call(self, inputs):
        levels = ops.cast(ops.clip(self.kernel, -1, 1) * 127, "int8")  # int8 steps of the range [-1, 1]
        quantized = ops.cast(levels, self.compute_dtype) / 127
        return ops.conv(inputs, quantized, padding=self.padding) + self.bias


class StandardizeUpdatesWhenFrozen(keras.layers.Layer):
    """Updates its moving statistics whenever training=True, even with trainable = False (Keras's own
    BatchNormalization runs in inference mode when frozen): fine-tuning a frozen model still moves them."""

    targets = "GENERIC-TRAINABLE-FALSE-FREEZES"
    symptom = "one fit epoch changed weights"

    def __init__(self, momentum=0.5, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        features = (input_shape[-1],)
        self.moving_mean = self.add_weight(name="moving_mean", shape=features, initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=features, initializer="ones", trainable=False)

    def call(self, inputs, training=None):
        if training:
            mean, variance = ops.mean(inputs, axis=0), ops.var(inputs, axis=0)
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
            self.moving_variance.assign(self.momentum * self.moving_variance + (1 - self.momentum) * variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return (inputs - mean) * ops.rsqrt(variance + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


class SinusoidalEncodingPythonCounter(keras.layers.Layer):
    """Fades a sinusoidal position encoding in over the first ten calls with a Python counter: eager
    calls see the counter move, a compiled function freezes it at the value it had when traced."""

    targets = "GENERIC-COMPILED-EQUALS-EAGER"
    symptom = "compiled output"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = 0

    def call(self, inputs):
        self.calls += 1  # a warm-up schedule: positions fade in over the first calls
        steps, features = inputs.shape[1], inputs.shape[-1]
        positions = np.arange(steps)[:, None] / 10000 ** (np.arange(features)[None, :] / features)
        table = np.where(np.arange(features) % 2 == 0, np.sin(positions), np.cos(positions))
        return inputs + ops.cast(table * min(1.0, self.calls / 10), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


class CenteringWithNumpyMean(keras.layers.Layer):
    """Subtracts each row's mean computed with np.mean, which reads the eager tensor's values: it works
    in a notebook and raises inside the compiled function fit() and predict() run."""

    targets = "GENERIC-COMPILED-EQUALS-EAGER"
    symptom = "Cannot convert a symbolic"

    def build(self, input_shape):
        self.offset = self.add_weight(name="offset", shape=(input_shape[-1],), initializer="zeros")

    def call(self, inputs):
        return inputs - np.mean(inputs, axis=-1, keepdims=True) + self.offset

    def compute_output_shape(self, input_shape):
        return input_shape


class RandomFeaturesNotWeights(keras.layers.Layer):
    """Random Fourier features cos(x W + b) whose W and b are drawn with numpy in build() and kept as plain
    arrays, not weights: they are never saved, so a layer rebuilt from its config (or a loaded model) draws
    fresh ones and computes another function."""

    targets = "GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER"
    symptom = "holding the same weights, gives"

    def __init__(self, features, **kwargs):
        super().__init__(**kwargs)
        self.features = features

    def build(self, input_shape):
        rng = np.random.default_rng()
        self.projection = rng.standard_normal((input_shape[-1], self.features)).astype("float32")
        self.phase = rng.uniform(0, 2 * np.pi, self.features).astype("float32")

    def call(self, inputs):
        return ops.cos(ops.matmul(inputs, ops.cast(self.projection, inputs.dtype)) + ops.cast(self.phase, inputs.dtype))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.features)

    def get_config(self):
        return {**super().get_config(), "features": self.features}


class RMSNormCastsToFloat32(keras.layers.Layer):
    """RMS normalization that casts its input to float32 for a stable mean of squares and never casts back:
    under mixed_float16 it returns float32, and the next layers run in float32."""

    targets = "GENERIC-MIXED-PRECISION"
    symptom = "returns outputs of dtype float32, expected float16"

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        values = ops.cast(inputs, "float32")
        return values * ops.rsqrt(ops.mean(values * values, axis=-1, keepdims=True) + 1e-6) * ops.cast(self.scale, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape


class PositionTablePinnedToHost(keras.layers.Layer):
    """Adds a learned position table that it always creates on CPU:0 (to spare accelerator memory): on any
    other device the table stays behind and is copied over at every call."""

    targets = "GENERIC-DEVICE-PLACEMENT"
    symptom = "expected the output and every weight on CPU:1"

    def build(self, input_shape):
        with keras.device("CPU:0"):
            self.table = self.add_weight(name="table", shape=tuple(input_shape[1:]), initializer="random_normal")

    def call(self, inputs):
        return inputs + self.table

    def compute_output_shape(self, input_shape):
        return input_shape


class ScaleHalfPrecisionFallback(keras.layers.Layer):
    """A per-feature scale and shift with a fast path for CPU:0 and a fallback kernel for every other device
    that computes in float16: the same model gives other answers once it moves."""

    targets = "GENERIC-DEVICE-AGREES-WITH-CPU"
    symptom = "more than the float32 allowance"

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="random_normal")
        self.shift = self.add_weight(name="shift", shape=(input_shape[-1],), initializer="random_normal")

    def call(self, inputs):
        if inputs.device.endswith("CPU:0"):
            return inputs * self.scale + self.shift
        half = ops.cast(inputs, "float16") * ops.cast(self.scale, "float16") + ops.cast(self.shift, "float16")
        return ops.cast(half, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


class CorrectPositionTable(keras.layers.Layer):
    """A learned position table broadcast over the batch: (batch, steps, features) -> the table's first
    steps rows, for every row. The output depends on the input's shape only, so no gradient reaches the
    input (it comes back as None) and the finite differences are exactly zero: they agree."""

    def __init__(self, max_length, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def build(self, input_shape):
        self.positions = self.add_weight(name="positions", shape=(self.max_length, input_shape[-1]))

    def call(self, inputs):
        shape = ops.shape(inputs)
        return ops.broadcast_to(self.positions[: shape[1]], shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}


class ScaleClipsOnHost(keras.layers.Layer):
    """Clips outliers with numpy on the host before a learned scale ("numpy's clip is simpler"): eagerly it
    computes the right values, but the round trip through numpy cuts the tape, so no gradient reaches the
    input although the output depends on it."""

    targets = "GENERIC-GRAD-FINITE-DIFFERENCE"
    symptom = "came back as None), yet moving the input"

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        clipped = np.clip(ops.convert_to_numpy(inputs), -10.0, 10.0)
        return ops.convert_to_tensor(clipped, dtype=self.compute_dtype) * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape


class ProjectionConfigMissesActivation(keras.layers.Layer):
    """A dense projection whose get_config lists units but forgets activation: from_config and load_model
    silently rebuild it linear instead of tanh, a saved model that computes something else."""

    targets = "GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER"
    symptom = "rebuilt from its config"

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units))

    def call(self, inputs):
        return self.activation(ops.matmul(inputs, self.kernel))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class FlattenStepsStaticBatch(keras.layers.Layer):
    """Scales each channel and flattens (batch, steps, channels) to (batch, steps * channels), reshaping with
    the static batch size inputs.shape[0]: right eagerly and in a full-batch step, but a compiled predict or
    fit retraces for the partial last batch with an unknown batch dimension, and the reshape fails there."""

    targets = "GENERIC-COMPILED-UNKNOWN-BATCH"
    symptom = "with an unknown batch dimension raised"

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return ops.reshape(inputs * self.scale, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] * input_shape[2])


class GaussianNoiseOwnGenerator(keras.layers.Layer):
    """Draws its training noise from a numpy Generator it creates when built (np.random.default_rng(), seeded
    from the operating system "for better randomness"): keras.utils.set_random_seed never reaches it, so no
    training run can be repeated."""

    targets = "GENERIC-TRAINING-REPRODUCIBLE-UNDER-SEED"
    symptom = "after the same set_random_seed"

    def __init__(self, stddev=0.1, **kwargs):
        super().__init__(**kwargs)
        self.stddev = stddev

    def build(self, input_shape):
        self.generator = np.random.default_rng()

    def call(self, inputs, training=None):
        if not training:
            return inputs
        noise = self.generator.normal(0.0, self.stddev, tuple(inputs.shape))
        return inputs + ops.convert_to_tensor(noise, dtype=inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


class ResidualBlockLeftoverDropoutScale(CorrectResidualBlock):
    """Its dropout was removed, but the inverted-dropout rescaling by 1 / (1 - 0.1) in training mode stayed:
    fit trains a block whose residual branch is 11% larger than the one predict serves."""

    targets = "GENERIC-NO-RANDOMNESS-SAME-IN-BOTH-MODES"
    symptom = "though the layer declares no randomness"

    def call(self, inputs, training=None):
        residual = self.projection(self.hidden(inputs))
        if training:
            residual = residual / (1 - 0.1)
        return inputs + residual


class GLUGatePenaltyAccumulates(CorrectGLU):
    """Adds a sparsity penalty on the gate to a Python list of its own that its losses property reports,
    appending on every call and never clearing it: layer.losses grows with every call, and fit adds every
    earlier step's penalty again."""

    targets = "GENERIC-LOSSES-ONCE-PER-CALL"
    symptom = "losses of earlier calls are kept"

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.penalties = []

    def call(self, inputs):
        value, gate = ops.split(ops.matmul(inputs, self.kernel) + self.bias, 2, axis=-1)
        self.penalties.append(0.01 * ops.mean(ops.abs(gate)))
        return value * ops.sigmoid(gate)

    @property
    def losses(self):
        return super().losses + list(self.penalties)



# --- masks and recurrent state -------------------------------------------------------------------------


class CorrectMaskedMeanPooling(keras.layers.Layer):
    """Mean over the kept steps: (batch, steps, features) + mask (batch, steps) -> (batch, features); the steps are
    gone, so it passes no mask on."""

    def call(self, inputs, mask=None):
        kept = ops.ones_like(inputs[..., :1]) if mask is None else ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        return ops.sum(inputs * kept, axis=1) / ops.maximum(ops.sum(kept, axis=1), 1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


class CorrectMaskedCumulativeSum(keras.layers.Layer):
    """Running sum of the kept steps: (batch, steps, features) -> the same shape, the mask passed on."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = inputs * ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        return ops.cumsum(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape


class CorrectMinimalRNN(keras.layers.Layer):
    """Elman RNN h_t = tanh(x_t W + h_(t-1) U + b) over (batch, steps, features), from h_0 = initial_state[0] (zeros by
    default): the last h (batch, units), and with return_state [last h, its state h]."""

    def __init__(self, units, return_state=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.return_state = return_state

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units))
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, self.units), initializer="orthogonal")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def step(self, inputs, state):
        return ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(state, self.recurrent_kernel) + self.bias)

    def first_state(self, sequences, initial_state):
        if initial_state is not None:
            return initial_state[0]
        return ops.zeros((ops.shape(sequences)[0], self.units), dtype=sequences.dtype)

    def call(self, sequences, initial_state=None):
        state = self.first_state(sequences, initial_state)
        for step in range(sequences.shape[1]):
            state = self.step(sequences[:, step], state)
        return [state, state] if self.return_state else state

    def compute_output_shape(self, input_shape):
        shape = (input_shape[0], self.units)
        return [shape, shape] if self.return_state else shape

    def get_config(self):
        return {**super().get_config(), "units": self.units, "return_state": self.return_state}


class TokenEmbeddingInnerMask(keras.layers.Layer):
    """Declares its padding id in compute_mask (ids != pad_id) but returns its inner Embedding(mask_zero=True)'s
    output as it is: that output already carries the inner mask (id 0 is padding), which Keras keeps instead of
    asking compute_mask, so the next layer skips id 0 and reads the pad_id steps."""

    targets = "GENERIC-MASK-PROPAGATED-AS-COMPUTED"
    symptom = "the call attaches the mask"

    def __init__(self, input_dim, output_dim, pad_id=0, **kwargs):
        super().__init__(**kwargs)
        self.input_dim, self.output_dim, self.pad_id = input_dim, output_dim, pad_id
        self.embedding = keras.layers.Embedding(input_dim, output_dim, mask_zero=True, dtype=self.dtype_policy)

    def build(self, input_shape):
        self.embedding.build(input_shape)

    def call(self, inputs):
        return self.embedding(inputs)

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, self.pad_id)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim, "pad_id": self.pad_id}


class PairPoolingKeepsMask(keras.layers.Layer):
    """Averages the kept steps in pairs, halving the steps, and sets supports_masking "so the mask flows on": the
    default compute_mask hands on the input's mask, twice as long as the output, so the next layer masks the wrong
    steps (or fails on the shape)."""

    targets = "GENERIC-MASK-PROPAGATED-AS-COMPUTED"
    symptom = "which does not fit the output"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        kept = ops.ones_like(inputs[..., :1]) if mask is None else ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        steps, features = inputs.shape[1], inputs.shape[2]
        pairs = ops.reshape(inputs * kept, (-1, steps // 2, 2, features))
        counts = ops.reshape(kept, (-1, steps // 2, 2, 1))
        return ops.sum(pairs, axis=2) / ops.maximum(ops.sum(counts, axis=2), 1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] // 2, input_shape[2])


class MaskedMeanPoolingIgnoresMask(CorrectMaskedMeanPooling):
    """Takes the mask argument (so Keras hands it the mask) but averages over every step: padded steps pull the
    mean of each sequence towards whatever the padding holds."""

    targets = "GENERIC-MASKED-POSITIONS-IGNORED"
    symptom = "after new values at masked-out steps"

    def call(self, inputs, mask=None):
        return ops.mean(inputs, axis=1)


class MaskedCumulativeSumMasksOutputs(CorrectMaskedCumulativeSum):
    """Applies the mask to its outputs instead of its inputs ("zero the padded outputs"): the running sum at every
    kept step after a padded one still adds the padded values."""

    targets = "GENERIC-MASKED-POSITIONS-IGNORED"
    symptom = "after new values at masked-out steps"

    def call(self, inputs, mask=None):
        outputs = ops.cumsum(inputs, axis=1)
        return outputs if mask is None else outputs * ops.expand_dims(ops.cast(mask, outputs.dtype), -1)


class MinimalRNNIgnoresInitialState(CorrectMinimalRNN):
    """Accepts initial_state "for API compatibility" and always starts from zeros: a sequence fed in chunks forgets
    everything before each chunk."""

    targets = "GENERIC-RNN-STATE-CONTINUES"
    symptom = "started from the returned states"

    def call(self, sequences, initial_state=None):
        return super().call(sequences)


class MinimalRNNStateOneStepLate(CorrectMinimalRNN):
    """Returns as its state the h the last step started from (an off-by-one in the loop that keeps the previous
    state): a chunk continued from it replays the last step of the chunk before."""

    targets = "GENERIC-RNN-STATE-CONTINUES"
    symptom = "started from the returned states"

    def call(self, sequences, initial_state=None):
        state = previous = self.first_state(sequences, initial_state)
        for step in range(sequences.shape[1]):
            previous, state = state, self.step(sequences[:, step], state)
        return [state, previous] if self.return_state else state

def _spec(cls, input_shape, **fields):
    return LayerSpec(f"{__name__}:{cls.__name__}", input_shape=input_shape, **fields)


def _called_spec(cls, shape, **fields):
    """A spec whose one positional input is declared in ``inputs``: the kit then draws a mask where ``call`` takes one."""
    return LayerSpec(f"{__name__}:{cls.__name__}", inputs={"shape": shape}, **fields)


_EMBEDDING = {"input_dim": 10, "output_dim": 3}
_RNN = {"units": 3, "return_state": True}
_INT_IDS = {"input_dtype": "int32", "input_range": (0, 10)}

SPECS = {
    CorrectConv1D: _spec(CorrectConv1D, (6, 2), kwargs={"filters": 3, "kernel_size": 3}),
    CorrectLayerNorm: _spec(CorrectLayerNorm, (None, 3)),
    CorrectEmbedding: _spec(CorrectEmbedding, (None,), kwargs=_EMBEDDING, **_INT_IDS),
    CorrectGLU: _spec(CorrectGLU, (None, 3), kwargs={"units": 2}),
    CorrectResidualBlock: _spec(CorrectResidualBlock, (3,), kwargs={"hidden_units": 4}),
    CorrectAttentionPooling: _spec(CorrectAttentionPooling, (None, 3)),
    CorrectStandardize: _spec(CorrectStandardize, (3,)),
    CorrectPositionalEmbedding: _spec(CorrectPositionalEmbedding, (None, 3), kwargs={"max_length": 4}),
    EmbeddingBuiltInInit: _spec(EmbeddingBuiltInInit, (None,), kwargs=_EMBEDDING, **_INT_IDS),
    SinusoidalEncodingRebuildsOnShape: _spec(SinusoidalEncodingRebuildsOnShape, (5, 4)),
    ResidualBlockBuildsInCall: _spec(ResidualBlockBuildsInCall, (3,), kwargs={"hidden_units": 4}),
    StandardizeStatisticsInTraining: _spec(StandardizeStatisticsInTraining, (3,)),
    AttentionPoolingBatchBuffer: _spec(AttentionPoolingBatchBuffer, (None, 3)),
    LayerNormConfigMissesEpsilon: _spec(LayerNormConfigMissesEpsilon, (None, 3), kwargs={"epsilon": 0.5}),
    PositionalEmbeddingConfigMissesMaxLength: _spec(PositionalEmbeddingConfigMissesMaxLength, (None, 3), kwargs={"max_length": 4}),
    LayerNormOverBatch: _spec(LayerNormOverBatch, (3,)),
    AttentionPoolingSoftmaxOverBatch: _spec(AttentionPoolingSoftmaxOverBatch, (None, 3)),
    LayerNormSetWeightsSwapped: _spec(LayerNormSetWeightsSwapped, (3,)),
    GaussianNoiseIgnoresTraining: _spec(GaussianNoiseIgnoresTraining, (3,), stochastic_in_training=True),
    StandardizeUpdatesAtInference: _spec(StandardizeUpdatesAtInference, (3,)),
    Conv1DOutputShapeIgnoresPadding: _spec(Conv1DOutputShapeIgnoresPadding, (6, 2), kwargs={"filters": 3, "kernel_size": 3}),
    EmbeddingOutputShapeDropsSteps: _spec(EmbeddingOutputShapeDropsSteps, (None,), kwargs=_EMBEDDING, **_INT_IDS),
    RMSNormStopGradient: _spec(RMSNormStopGradient, (3,)),
    GLUHandWrittenGradient: _spec(GLUHandWrittenGradient, (3,), kwargs={"units": 2}),
    ScaleForcesTrainable: _spec(ScaleForcesTrainable, (3,)),
    StandardizeTrainableOverride: _spec(StandardizeTrainableOverride, (3,)),
    ClipInPlaceOnHost: _spec(ClipInPlaceOnHost, (3,)),
    Conv1DFakeQuantNoStraightThrough: _spec(Conv1DFakeQuantNoStraightThrough, (6, 2), kwargs={"filters": 3, "kernel_size": 3}),
    StandardizeUpdatesWhenFrozen: _spec(StandardizeUpdatesWhenFrozen, (3,), batch_independent=False),
    SinusoidalEncodingPythonCounter: _spec(SinusoidalEncodingPythonCounter, (None, 4)),
    CenteringWithNumpyMean: _spec(CenteringWithNumpyMean, (3,)),
    RandomFeaturesNotWeights: _spec(RandomFeaturesNotWeights, (3,), kwargs={"features": 4}),
    RMSNormCastsToFloat32: _spec(RMSNormCastsToFloat32, ((3,), (None, 3))),
    PositionTablePinnedToHost: _spec(PositionTablePinnedToHost, (None, 3)),
    ScaleHalfPrecisionFallback: _spec(ScaleHalfPrecisionFallback, ((3,), (2, 3))),
    CorrectPositionTable: _spec(CorrectPositionTable, (None, 3), kwargs={"max_length": 4}),
    ScaleClipsOnHost: _spec(ScaleClipsOnHost, (3,)),
    ProjectionConfigMissesActivation: _spec(ProjectionConfigMissesActivation, (3,), kwargs={"units": 2, "activation": "tanh"}),
    FlattenStepsStaticBatch: _spec(FlattenStepsStaticBatch, (4, 3)),
    GaussianNoiseOwnGenerator: _spec(GaussianNoiseOwnGenerator, (3,), stochastic_in_training=True),
    ResidualBlockLeftoverDropoutScale: _spec(ResidualBlockLeftoverDropoutScale, (3,), kwargs={"hidden_units": 4}),
    GLUGatePenaltyAccumulates: _spec(GLUGatePenaltyAccumulates, (None, 3), kwargs={"units": 2}),
    CorrectMaskedMeanPooling: _called_spec(CorrectMaskedMeanPooling, (None, 3)),
    CorrectMaskedCumulativeSum: _called_spec(CorrectMaskedCumulativeSum, (None, 3)),
    CorrectMinimalRNN: _called_spec(CorrectMinimalRNN, (None, 2), kwargs=_RNN),
    TokenEmbeddingInnerMask: _spec(TokenEmbeddingInnerMask, (None,), kwargs={**_EMBEDDING, "pad_id": 1}, **_INT_IDS),
    PairPoolingKeepsMask: _called_spec(PairPoolingKeepsMask, (4, 3)),
    MaskedMeanPoolingIgnoresMask: _called_spec(MaskedMeanPoolingIgnoresMask, (None, 3)),
    MaskedCumulativeSumMasksOutputs: _called_spec(MaskedCumulativeSumMasksOutputs, (None, 3)),
    MinimalRNNIgnoresInitialState: _called_spec(MinimalRNNIgnoresInitialState, (None, 2), kwargs=_RNN),
    MinimalRNNStateOneStepLate: _called_spec(MinimalRNNStateOneStepLate, (None, 2), kwargs=_RNN),
}

CORRECT = [cls for cls in SPECS if cls.__name__.startswith("Correct")]
MUTANTS = [cls for cls in SPECS if not cls.__name__.startswith("Correct")]
