"""NumPy operations for Keras 3 on the NumPy backend (``KERAS_BACKEND=numpy``).

Keras's NumPy backend is inference only: its tensors are numpy arrays on the CPU, it has no
differentiation, no compiled function and no training loop (its ``fit`` raises NotImplementedError).
The gradient and compiled-call operations here say so with NotApplicable; whether the implementation
trains is probed by :attr:`~conformance.adapters.base.Implementation.capabilities`, not assumed here.
"""

from __future__ import annotations

import contextlib

import numpy as np

from conformance.registry import NotApplicable

name = "numpy"


def devices() -> list[str]:
    return ["CPU:0"]


def device_scope(device):
    return contextlib.nullcontext()  # every array lives in host memory


def device_of(value) -> str:
    return "CPU:0"


def tensor(x):
    import keras

    return keras.ops.convert_to_tensor(x)


def to_numpy(value) -> np.ndarray:
    # A copy: a variable's value is the very array the layer computes with.
    return np.array(getattr(value, "value", value), copy=True)


def dtype_name(value) -> str:
    dtype = value.dtype
    return dtype if isinstance(dtype, str) else np.dtype(dtype).name


def set_random_seed(seed):
    """Keras's own ``set_random_seed`` seeds numpy and the NumPy backend; nothing more to do."""


def vjp(model, x, cotangent):
    raise NotApplicable("the numpy backend has no differentiation: Keras's NumPy backend computes forward passes only")


def compiled_call(layer, x):
    raise NotApplicable("the numpy backend has no compiled function: Keras's NumPy backend runs every layer eagerly")


def distribution(module):
    raise NotApplicable("the numpy backend has no data-parallel API: keras.distribution supports the JAX backend only")


def replica_devices(value) -> list[str]:
    return [device_of(value)]
