"""TensorFlow operations for implementations whose tensors are TF tensors: the reference,
tf_keras, and Keras 3 on the TensorFlow backend.

:func:`configure` (called by ``adapters.load``) sets TensorFlow up for exact checks.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np
import tensorflow as tf

from conformance.adapters.backend import data_parallel_devices
from conformance.registry import NotApplicable

name = "tensorflow"


def configure(logical_cpus=1):
    """Set TensorFlow up for exact checks, before it first runs an operation:

    - the CPU split into ``logical_cpus`` logical devices, so the device matrix and the cross-device
      contracts run on machines without a GPU;
    - TF32 matmuls off, so a GPU's float32 results can be held to float32 tolerances.
    """
    if logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus
            )
        except RuntimeError:
            current = tf.config.get_logical_device_configuration(cpu)
            if not current or len(current) != logical_cpus:
                warnings.warn(
                    f"logical_cpus={logical_cpus} is ignored: TensorFlow was initialised before the kit "
                    "could split the CPU; load the implementation before running TF code",
                    stacklevel=2,
                )
    tf.config.experimental.enable_tensor_float_32_execution(False)
    # Retracing notices are about the kit drawing many shapes on purpose, not about the implementation.
    tf.get_logger().setLevel("ERROR")


def devices() -> list[str]:
    found = []
    for device in tf.config.list_logical_devices():
        if device.device_type in ("CPU", "GPU"):
            found.append(device.name.split("device:")[-1])
    return found


@contextlib.contextmanager
def device_scope(device):
    with tf.device(f"/{device}"):
        yield


def device_of(value) -> str:
    """``CPU:0``-style device of a tensor or variable (Keras 3 variables hold a ``.value``)."""
    if not isinstance(value, (tf.Variable, tf.Tensor)):
        value = getattr(value, "value", value)
    placement = getattr(value, "device", "") or ""
    return placement.split("device:")[-1] if "device:" in placement else placement


def tensor(x):
    return tf.convert_to_tensor(x)


def to_numpy(value) -> np.ndarray:
    if not isinstance(value, (tf.Variable, tf.Tensor)):
        value = getattr(value, "value", value)  # a Keras 3 Variable wraps a tf.Variable
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def dtype_name(value) -> str:
    dtype = value.dtype
    return dtype if isinstance(dtype, str) else tf.as_dtype(dtype).name


def set_random_seed(seed):
    tf.random.set_seed(seed)


def vjp(model, x, cotangent):
    # x and the outputs may be nested (tf.nest structures): gradients for every float input, None for the others
    inputs = tf.nest.map_structure(tf.convert_to_tensor, x)
    leaves = tf.nest.flatten(inputs)
    floats = [leaf for leaf in leaves if leaf.dtype.is_floating]
    weights = list(model.trainable_weights)
    with tf.GradientTape() as tape:
        tape.watch(floats)
        outputs = tf.nest.flatten(model(inputs))
        total = tf.add_n([tf.reduce_sum(o * tf.cast(c, o.dtype)) for o, c in zip(outputs, tf.nest.flatten(cotangent))])
    gradients = iter(tape.gradient(total, floats + weights))
    grad_leaves = [_maybe_numpy(next(gradients)) if leaf.dtype.is_floating else None for leaf in leaves]
    grad_x = tf.nest.pack_sequence_as(x, grad_leaves)
    return grad_x, [_maybe_numpy(g) for g in gradients]


def _maybe_numpy(value):
    # convert_to_tensor densifies the tf.IndexedSlices that gathers (Embedding) get as gradients
    return None if value is None else to_numpy(tf.convert_to_tensor(value))


def compiled_call(layer, x):
    # A fresh tf.function per call: one trace, for this layer and this input shape only.
    outputs = tf.function(lambda inputs: layer(inputs))(tf.nest.map_structure(tf.convert_to_tensor, x))
    return tf.nest.map_structure(to_numpy, outputs)


@contextlib.contextmanager
def distribution(module):
    # Keras 3 (TF backend) and tf_keras models take the strategy in scope when created; a Sequential
    # without distribute_strategy (the reference) trains with a plain tape whatever the scope.
    if not hasattr(getattr(module, "Sequential", None), "distribute_strategy"):
        raise NotApplicable(f"{module.__name__}.Sequential has no distribute_strategy: its fit does not run "
                            "under tf.distribute")
    chosen = data_parallel_devices(devices())
    with _mirrored_strategy(tuple(chosen)).scope():
        yield chosen


@functools.lru_cache(maxsize=None)
def _mirrored_strategy(chosen):
    # One strategy per device set for the whole process: a second MirroredStrategy over the same
    # devices reuses collective instance keys, and its all-reduces then meet the first one's shapes.
    return tf.distribute.MirroredStrategy(devices=[f"/{device}" for device in chosen])


def replica_devices(value) -> list[str]:
    if not isinstance(value, (tf.Variable, tf.Tensor)):
        value = getattr(value, "value", value)  # a Keras 3 Variable wraps a tf.Variable
    if isinstance(value, tf.distribute.DistributedValues):
        return [device_of(replica) for replica in value.values]
    return [device_of(value)]
