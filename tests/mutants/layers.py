"""Layer-level and Sequential-level mutants on Keras 3 (TensorFlow backend).

Each mutant is the book's SimpleDense (or Keras's Dense, where the contract needs float64 or
``compute_output_shape``) broken in exactly one way. ``targets`` names the contract that must kill
it: a Dense contract, or a generic one where Dense shares the behaviour with every layer (those run on
the Dense spec, ``Class(units=3)`` on vectors); ``symptom`` is a fragment of the failure message a user would read, so a test notices when a
mutant is killed for the wrong reason (a crash in setup instead of the contract's own check).

Layer mutants are tested with ``adapters.load("keras", layer="tests.mutants.layers:<Name>")``.
Sequential mutants replace ``Sequential`` in a Keras-like module built by :func:`keras_with_sequential`.
"""

from __future__ import annotations

import types

import keras
import tensorflow as tf
from keras import ops

from examples.book.simple_dense import SimpleDense

# --- lifecycle ---------------------------------------------------------------------------------


class EagerBuild(SimpleDense):
    """Creates its weights in __init__, guessing input_dim == units, instead of on the first call."""

    targets = "GENERIC-UNBUILT-AT-INIT"
    symptom = "right after construction"

    def __init__(self, units, activation=None):
        super().__init__(units, activation)
        self.build((None, units))


class RebuildEveryCall(SimpleDense):
    """Calls build(inputs.shape) at the start of every call, replacing its weights with fresh ones."""

    targets = "GENERIC-BUILD-ONCE"
    symptom = "build calls"

    def call(self, inputs):
        self._tracker.unlock()  # Keras 3 locks a built layer's state; this mutant forces its way past
        self.build(inputs.shape)
        return super().call(inputs)


class BuildFromBatchDimension(SimpleDense):
    """Takes input_dim from input_shape[0] (the batch size) instead of input_shape[-1]."""

    targets = "LAYER-WEIGHT-LAYOUT"
    symptom = "weight shapes"

    def build(self, input_shape):
        super().build(input_shape[:1])


class TransposedKernel(SimpleDense):
    """Stores the kernel as (units, input_dim) and transposes it in call: right outputs, wrong layout."""

    targets = "LAYER-WEIGHT-LAYOUT"
    symptom = "weight shapes"

    def build(self, input_shape):
        self.W = self.add_weight(shape=(self.units, input_shape[-1]), initializer="random_normal")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        y = tf.matmul(inputs, self.W, transpose_b=True) + self.b
        return y if self.activation is None else self.activation(y)


class AcceptsChangedLastDimension(SimpleDense):
    """Silently slices any input down to the last dimension it was built for."""

    targets = "LAYER-REJECT-CHANGED-DIM"
    symptom = "accepted an input of shape"

    def call(self, inputs):
        return super().call(inputs[..., : self.W.shape[0]])


class InitializerScaleOne(SimpleDense):
    """Declares kernel_initializer='random_normal' but draws the kernel from N(0, 1), not N(0, 0.05)."""

    targets = "LAYER-INIT-KERNEL"
    symptom = "initial kernel does not follow N(0.0, 0.05**2)"
    kernel_initializer = "random_normal"

    def build(self, input_shape):
        initializer = keras.initializers.RandomNormal(stddev=1.0)
        self.W = self.add_weight(shape=(input_shape[-1], self.units), initializer=initializer)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")


class DeclaresNormalUsesGlorot(SimpleDense):
    """Declares kernel_initializer='random_normal' but builds the kernel with glorot_uniform."""

    targets = "LAYER-INIT-KERNEL"
    symptom = "initial kernel does not follow N(0.0, 0.05**2)"
    kernel_initializer = "random_normal"

    def build(self, input_shape):
        self.W = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")


class RandomBias(SimpleDense):
    """Initialises the bias with random_normal instead of zeros."""

    targets = "LAYER-INIT-BIAS-ZEROS"
    symptom = "expected zeros"

    def build(self, input_shape):
        self.W = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal")


# --- shapes ------------------------------------------------------------------------------------


class BiasOnlyOn2D(SimpleDense):
    """Adds the bias only for 2D inputs; 3D and 4D inputs get x @ W alone."""

    targets = "DENSE-RANK-RESHAPE-EQUIVALENCE"
    symptom = "outside the float error bound"

    def call(self, inputs):
        y = tf.matmul(inputs, self.W)
        if len(inputs.shape) == 2:
            y = y + self.b
        return y if self.activation is None else self.activation(y)


class FlattensLeadingAxes(SimpleDense):
    """Reshapes every output to (batch, -1), merging the time axis of a 3D input into the features."""

    targets = "DENSE-SHAPE-3D"
    symptom = "expected"

    def call(self, inputs):
        return ops.reshape(super().call(inputs), (ops.shape(inputs)[0], -1))


class AcceptsVectors(SimpleDense):
    """Treats a rank-1 input as a batch of one row instead of rejecting it."""

    targets = "DENSE-REJECT-LOW-RANK"
    symptom = "accepted an input of rank 1"

    def call(self, inputs):
        return super().call(inputs[None] if len(inputs.shape) == 1 else inputs)

    def build(self, input_shape):
        super().build(tuple(input_shape) if len(input_shape) > 1 else (1,) + tuple(input_shape))


class ComputeOutputShapeKeepsLastDim(keras.layers.Dense):
    """compute_output_shape returns the input shape unchanged (forgets to replace the last axis by units)."""

    targets = "DENSE-COMPUTE-OUTPUT-SHAPE"
    symptom = "compute_output_shape: shape"

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


# --- numerics ----------------------------------------------------------------------------------


class BiasAddedTwice(SimpleDense):
    """Adds the bias twice: x @ W + 2b."""

    targets = "DENSE-FORWARD-LINEAR"
    symptom = "outside the float error bound"

    def call(self, inputs):
        return super().call(inputs) + self.b


class ActivationBeforeBias(SimpleDense):
    """Applies the activation before adding the bias: activation(x @ W) + b."""

    targets = "DENSE-FORWARD-SIGMOID"
    symptom = "outside the float error bound"

    def call(self, inputs):
        y = tf.matmul(inputs, self.W)
        return (y if self.activation is None else self.activation(y)) + self.b


class SoftmaxOverBatch(SimpleDense):
    """Takes softmax over axis 0 (the batch) instead of the last axis."""

    targets = "DENSE-FORWARD-SOFTMAX"
    symptom = "outside the float error bound"

    def call(self, inputs):
        y = tf.matmul(inputs, self.W) + self.b
        if self.activation is keras.activations.softmax:
            return keras.activations.softmax(y, axis=0)
        return y if self.activation is None else self.activation(y)


class ActivationInFloat16(SimpleDense):
    """Computes the activation in float16 and casts back: float32 in, float16 precision out."""

    targets = "DENSE-FORWARD-TANH"
    symptom = "outside the float error bound"

    def call(self, inputs):
        y = ops.cast(tf.matmul(inputs, self.W) + self.b, "float16")
        return ops.cast(y if self.activation is None else self.activation(y), "float32")


class SubtractsBatchMean(SimpleDense):
    """Centres the output over the batch (y - mean(y, axis=0)): each row depends on the others."""

    targets = "DENSE-BATCH-INDEPENDENCE"
    symptom = "outside the float error bound"

    def call(self, inputs):
        y = super().call(inputs)
        return y - ops.mean(y, axis=0, keepdims=True)


class OutputFloat64(SimpleDense):
    """Casts its output to float64."""

    targets = "DENSE-OUTPUT-DTYPE"
    symptom = "expected float32"

    def call(self, inputs):
        return ops.cast(super().call(inputs), "float64")


# --- large magnitudes: shortcuts that are right for small inputs only ----------------------------


class _ActivationShortcut(SimpleDense):
    """SimpleDense whose activation ``shortcut`` replaces the framework's one of the same name."""

    replaces = None

    def call(self, inputs):
        y = tf.matmul(inputs, self.W) + self.b
        if self.activation is getattr(keras.activations, self.replaces):
            return self.shortcut(y)
        return y if self.activation is None else self.activation(y)


class SigmoidAsExpRatio(_ActivationShortcut):
    """sigmoid(z) = exp(z) / (1 + exp(z)): inf / inf = NaN once z > 88.7."""

    targets = "DENSE-SATURATION"
    symptom = "NaN or inf"
    replaces = "sigmoid"

    def shortcut(self, z):
        return ops.exp(z) / (1 + ops.exp(z))


class SoftmaxWithoutMaxShift(_ActivationShortcut):
    """softmax(z) = exp(z) / sum(exp(z)) without subtracting the row maximum: NaN once a logit > 88.7."""

    targets = "DENSE-SATURATION"
    symptom = "NaN or inf"
    replaces = "softmax"

    def shortcut(self, z):
        return ops.exp(z) / ops.sum(ops.exp(z), axis=-1, keepdims=True)


class TanhViaExp(_ActivationShortcut):
    """tanh(z) = (exp(2z) - 1) / (exp(2z) + 1): inf / inf = NaN once z > 44.4."""

    targets = "DENSE-SATURATION"
    symptom = "NaN or inf"
    replaces = "tanh"

    def shortcut(self, z):
        return (ops.exp(2 * z) - 1) / (ops.exp(2 * z) + 1)


class PreActivationClipped(SimpleDense):
    """Clips the pre-activation to [-1e4, 1e4] "to avoid overflow": linear and relu stop growing there."""

    targets = "DENSE-SATURATION"
    symptom = "outside the float error bound"

    def call(self, inputs):
        y = ops.clip(tf.matmul(inputs, self.W) + self.b, -1e4, 1e4)
        return y if self.activation is None else self.activation(y)


class PreActivationThroughFloat16(SimpleDense):
    """Rounds the pre-activation through float16 (a mixed-precision slip): inf beyond 65504."""

    targets = "DENSE-SATURATION"
    symptom = "NaN or inf"

    def call(self, inputs):
        y = ops.cast(ops.cast(tf.matmul(inputs, self.W) + self.b, "float16"), "float32")
        return y if self.activation is None else self.activation(y)


class SigmoidGradientViaExp(SimpleDense):
    """Custom sigmoid gradient exp(-z) / (1 + exp(-z))^2: inf / inf = NaN once z < -88.7, where the
    true gradient is a finite 0."""

    targets = "GRAD-SATURATION"
    symptom = "NaN or inf"

    def call(self, inputs):
        y = tf.matmul(inputs, self.W) + self.b
        if self.activation is not keras.activations.sigmoid:
            return y if self.activation is None else self.activation(y)

        @tf.custom_gradient
        def sigmoid(z):
            e = tf.exp(-z)
            return tf.sigmoid(z), lambda upstream: upstream * e / (1 + e) ** 2

        return sigmoid(y)


# --- gradients ---------------------------------------------------------------------------------


def _without_activation_derivative(activation, z):
    """``activation(z)`` whose backward pass forgets activation'(z) (a straight-through estimator)."""
    if activation is None:
        return z

    @tf.custom_gradient
    def activate(z):
        return activation(z), lambda upstream: upstream

    return activate(z)


class BiasGradientStopped(SimpleDense):
    """Adds stop_gradient(b): the bias never receives a gradient."""

    targets = "GRAD-BIAS"
    symptom = "no gradient reaches the bias"

    def call(self, inputs):
        y = tf.matmul(inputs, self.W) + ops.stop_gradient(self.b)
        return y if self.activation is None else self.activation(y)


class KernelGradientAveraged(SimpleDense):
    """Divides the kernel gradient by the number of rows (a mean where the sum belongs)."""

    targets = "GRAD-KERNEL"
    symptom = "gradient w.r.t. kernel"

    def call(self, inputs):
        rows = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), inputs.dtype)

        @tf.custom_gradient
        def kernel(w):
            return tf.identity(w), lambda upstream: upstream / rows

        y = tf.matmul(inputs, kernel(tf.identity(self.W))) + self.b
        return y if self.activation is None else self.activation(y)


class ActivationDerivativeDropped(SimpleDense):
    """Custom gradient that passes the upstream gradient through the activation unchanged."""

    targets = "GRAD-INPUT"
    symptom = "gradient w.r.t. input"

    def call(self, inputs):
        return _without_activation_derivative(self.activation, tf.matmul(inputs, self.W) + self.b)


class DenseActivationDerivativeDropped(keras.layers.Dense):
    """Keras's Dense, tanh unless told otherwise, with the straight-through activation gradient;
    float64-capable, so finite differences of its own forward pass expose it (the generic contracts
    build it as the Dense spec does, Class(units=3), hence the default activation)."""

    targets = "GENERIC-GRAD-FINITE-DIFFERENCE"
    symptom = "finite differences"

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)

    def call(self, inputs):
        return _without_activation_derivative(self.activation, ops.matmul(inputs, self.kernel) + self.bias)


class KernelReadAsConstant(SimpleDense):
    """Reads the kernel's value as a numpy constant in call, cutting the kernel off the tape."""

    targets = "GENERIC-FIT-STEP-FINITE-GRADIENTS"
    symptom = "trainable weight 0"

    def call(self, inputs):
        y = tf.matmul(inputs, tf.constant(self.W.numpy())) + self.b
        return y if self.activation is None else self.activation(y)


class FrozenStillTrainable(SimpleDense):
    """Reports its weights as trainable even when layer.trainable is False."""

    targets = "GENERIC-TRAINABLE-FALSE-FREEZES"
    symptom = "the layer still has"

    @property
    def trainable_weights(self):
        return list(self.weights)


# --- devices (the generic placement contract, on the Dense spec) ------------------------------


class WeightsPinnedToCPU0(SimpleDense):
    """Creates its weights under tf.device('/CPU:0') whatever device the caller asked for."""

    targets = "GENERIC-DEVICE-PLACEMENT"
    symptom = "every weight on CPU:1"
    device = "CPU:1"  # on CPU:0 the pinning is invisible

    def build(self, input_shape):
        with tf.device("/CPU:0"):
            super().build(input_shape)


# --- Sequential ----------------------------------------------------------------------------------


class ReversedSequential(keras.Sequential):
    """Applies its layers last to first."""

    targets = "SEQ-FORWARD-COMPOSITION"
    symptom = ""  # a reversed stack usually fails inside the framework on mismatched widths

    def call(self, inputs, training=None, mask=None):
        for layer in reversed(self.layers):
            inputs = layer(inputs)
        return inputs


class SkipsLastLayerSequential(keras.Sequential):
    """Applies every layer but the last."""

    targets = "SEQ-FORWARD-COMPOSITION"
    symptom = "Sequential output"

    def call(self, inputs, training=None, mask=None):
        for layer in self.layers[:-1]:
            inputs = layer(inputs)
        return inputs


class KernelsFirstSequential(keras.Sequential):
    """Lists weights as all kernels, then all biases (set_weights still goes layer by layer)."""

    targets = "SEQ-WEIGHTS-IN-LAYER-ORDER"
    symptom = "not the layers' weights in layer order"

    @property
    def weights(self):
        in_layer_order = [w for layer in self.layers for w in layer.weights]
        return in_layer_order[0::2] + in_layer_order[1::2]

    def set_weights(self, weights):
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(weights[:count])
            weights = weights[count:]


class AddPrependsSequential(keras.Sequential):
    """add() puts the new layer first instead of last."""

    targets = "SEQ-LAYERS-IN-ORDER"
    symptom = "not the given list in order"

    def add(self, layer, rebuild=True):
        super().add(layer, rebuild=rebuild)
        self._layers.insert(0, self._layers.pop())


class BuildSkipsLayersSequential(keras.Sequential):
    """build(shape) marks the model built without building its layers."""

    targets = "SEQ-UNBUILT-UNTIL-USED"
    symptom = "are not built after the model's build"

    def build(self, input_shape=None):
        self.built = True


class GradientCutBetweenLayersSequential(keras.Sequential):
    """Stops the gradient between consecutive layers: only the last layer's weights can train."""

    targets = "SEQ-GRAD-CHAIN-RULE"
    symptom = "no gradient reaches"

    def call(self, inputs, training=None, mask=None):
        for layer in self.layers:
            inputs = layer(ops.stop_gradient(inputs) if layer is not self.layers[0] else inputs)
        return inputs


LAYER_MUTANTS = [
    EagerBuild,
    RebuildEveryCall,
    BuildFromBatchDimension,
    TransposedKernel,
    AcceptsChangedLastDimension,
    InitializerScaleOne,
    DeclaresNormalUsesGlorot,
    RandomBias,
    BiasOnlyOn2D,
    FlattensLeadingAxes,
    AcceptsVectors,
    ComputeOutputShapeKeepsLastDim,
    BiasAddedTwice,
    ActivationBeforeBias,
    SoftmaxOverBatch,
    ActivationInFloat16,
    SubtractsBatchMean,
    OutputFloat64,
    SigmoidAsExpRatio,
    SoftmaxWithoutMaxShift,
    TanhViaExp,
    PreActivationClipped,
    PreActivationThroughFloat16,
    SigmoidGradientViaExp,
    BiasGradientStopped,
    KernelGradientAveraged,
    ActivationDerivativeDropped,
    DenseActivationDerivativeDropped,
    KernelReadAsConstant,
    FrozenStillTrainable,
    WeightsPinnedToCPU0,
]

SEQUENTIAL_MUTANTS = [
    ReversedSequential,
    SkipsLastLayerSequential,
    KernelsFirstSequential,
    AddPrependsSequential,
    BuildSkipsLayersSequential,
    GradientCutBetweenLayersSequential,
]


def keras_with_sequential(sequential_class):
    """Keras 3 with ``Sequential`` replaced by ``sequential_class``: a Keras-like module to load with
    ``conformance.adapters.Implementation``."""
    module = types.ModuleType(f"{__name__}.keras_with_{sequential_class.__name__}")
    for name in ("layers", "activations", "optimizers", "losses", "metrics", "utils", "backend"):
        setattr(module, name, getattr(keras, name))
    module.Sequential = sequential_class
    module.__version__ = keras.__version__
    return module
