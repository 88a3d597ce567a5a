"""OpenVINO operations for Keras 3 on the OpenVINO backend (``KERAS_BACKEND=openvino``).

Keras's OpenVINO backend is inference only: its tensors are nodes of an OpenVINO graph that is
compiled and run on the CPU when a value is read (``convert_to_numpy``), it has no differentiation
and no training loop (its ``fit`` raises NotImplementedError). The gradient operation says so with
NotApplicable; whether the implementation trains is probed by
:attr:`~conformance.adapters.base.Implementation.capabilities`, not assumed here.
"""

from __future__ import annotations

import contextlib

import numpy as np

from conformance.registry import NotApplicable

name = "openvino"


def devices() -> list[str]:
    return ["CPU:0"]  # Keras's OpenVINO backend compiles every graph for "CPU" (core.get_device)


def device_scope(device):
    return contextlib.nullcontext()


def device_of(value) -> str:
    return "CPU:0"


def tensor(x):
    import keras

    return keras.ops.convert_to_tensor(x)


def to_numpy(value) -> np.ndarray:
    import keras

    return np.array(keras.ops.convert_to_numpy(value), copy=True)


def dtype_name(value) -> str:
    dtype = value.dtype
    return dtype if isinstance(dtype, str) else np.dtype(dtype).name


def set_random_seed(seed):
    """Keras's own ``set_random_seed`` seeds numpy and the OpenVINO backend; nothing more to do."""


def vjp(model, x, cotangent):
    raise NotApplicable("the openvino backend has no differentiation: Keras's OpenVINO backend computes forward passes only")


def compiled_call(layer, x):
    raise NotApplicable("the openvino backend exposes no compiled function for a layer call: Keras compiles whole "
                        "models for predict and evaluate only")


def distribution(module):
    raise NotApplicable("the openvino backend has no data-parallel API: keras.distribution supports the JAX backend only")


def replica_devices(value) -> list[str]:
    return [device_of(value)]
