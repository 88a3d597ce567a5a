"""Layers that behave differently on one Keras backend, each in a way a real backend could: the mutants
the agreement area must kill (tests/test_agreement.py). On every other backend each computes the same
function as on the first, so only a comparison across backends can tell.

Each is run from ``tests/mutants/agreement.toml`` with ``--backends tensorflow,jax,torch``.
"""

import keras
from keras import ops


def _on(backend) -> bool:
    return keras.backend.backend() == backend


class _Mutant(keras.layers.Layer):
    """A layer with one weight per feature of the last axis, applied elementwise (exact in float64 on every
    backend, so a float64 comparison sees only what the mutant changes)."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="scale")


class PaddingOffByOneOnTorch(_Mutant):
    """A window-3 moving sum over time with 'same' zero padding; on torch the padding is placed one
    step late (two zeros before, none after), as an off-by-one in a 'same' padding computation."""

    def call(self, inputs):
        padding = [[0, 0], [2, 0], [0, 0]] if _on("torch") else [[0, 0], [1, 1], [0, 0]]
        padded = ops.pad(inputs, padding)
        steps = inputs.shape[1]
        return (padded[:, 0:steps] + padded[:, 1:steps + 1] + padded[:, 2:steps + 2]) * self.scale


class Float64DowncastOnJax(_Mutant):
    """``x * scale``; on JAX computed in float32 and cast back to the layer's dtype (a float64 layer then
    gives float32 accuracy under a float64 label)."""

    def call(self, inputs):
        if _on("jax"):
            return ops.cast(ops.cast(inputs, "float32") * ops.cast(self.scale, "float32"), self.compute_dtype)
        return inputs * self.scale


class StateResetLateOnTensorflow(_Mutant):
    """A decaying running sum over time, ``s_t = s_{t-1} / 2 + x_t``, emitting ``s_t``; on TensorFlow the
    state is emitted before it takes the step's input (an update order off by one step)."""

    def call(self, inputs):
        state = ops.zeros_like(inputs[:, 0])
        outputs = []
        for step in range(inputs.shape[1]):
            updated = state * 0.5 + inputs[:, step]
            outputs.append(state if _on("tensorflow") else updated)
            state = updated
        return ops.stack(outputs, axis=1) * self.scale


class GradientStoppedOnTorch(_Mutant):
    """``x * x * scale``, the input's gradient stopped on torch only (the outputs agree everywhere)."""

    def call(self, inputs):
        inputs = ops.stop_gradient(inputs) if _on("torch") else inputs
        return inputs * inputs * self.scale


class OutputShapeClaimOnJax(_Mutant):
    """``x * scale``; on JAX ``compute_output_shape`` claims one unit more than the layer returns."""

    def call(self, inputs):
        return inputs * self.scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + (1 if _on("jax") else 0),)


class ScaleSavedReversedOnJax(_Mutant):
    """``x * scale``; on JAX the weight is written to a saved file in reverse order (a backend-specific
    weight layout), and read back as stored on every backend."""

    def call(self, inputs):
        return inputs * self.scale

    def save_own_variables(self, store):
        scale = ops.convert_to_numpy(self.scale)
        store["0"] = scale[::-1] if _on("jax") else scale

    def load_own_variables(self, store):
        self.scale.assign(store["0"])
