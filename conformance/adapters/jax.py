"""JAX operations for Keras 3 on the JAX backend (``KERAS_BACKEND=jax``).

JAX has no tape: gradients come from ``model.stateless_call`` under ``jax.vjp``, which is how
Keras 3 itself trains on JAX.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

from conformance.adapters.backend import data_parallel_devices
from conformance.registry import NotApplicable

name = "jax"

# Exact float32 checks on a GPU need full-precision matmuls (no TF32).
jax.config.update("jax_default_matmul_precision", "highest")
# Without x64 JAX silently truncates float64 to float32 (a warning per array), so a float64 layer would
# compute in float32. Keras 3 declares float64 a supported dtype on JAX; with x64 on, its float32 paths are
# unchanged (inputs and variables keep their own dtypes), and the float64 contracts check real float64.
jax.config.update("jax_enable_x64", True)


def devices() -> list[str]:
    """Every CPU device XLA made (two by default: prepare_environment sets
    ``--xla_force_host_platform_device_count``), then every GPU."""
    found = [f"CPU:{d.id}" for d in jax.devices("cpu")]
    for kind in ("gpu",):
        try:
            found += [f"GPU:{d.id}" for d in jax.devices(kind)]
        except RuntimeError:
            pass
    return found


@contextlib.contextmanager
def device_scope(device):
    import keras

    kind, index = device.split(":")
    with keras.device(f"{kind.lower()}:{index}"):
        yield


def _device_name(device) -> str:
    return f"{'CPU' if device.platform == 'cpu' else 'GPU'}:{device.id}"


def device_of(value) -> str:
    value = getattr(value, "value", value)
    (device,) = value.devices()
    return _device_name(device)


def tensor(x):
    import keras

    return keras.ops.convert_to_tensor(x)


def to_numpy(value) -> np.ndarray:
    return np.asarray(getattr(value, "value", value))


def dtype_name(value) -> str:
    dtype = value.dtype
    return dtype if isinstance(dtype, str) else np.dtype(dtype).name


def set_random_seed(seed):
    """Keras's own ``set_random_seed`` seeds the JAX backend; nothing more to do."""


def vjp(model, x, cotangent):
    if not model.built:
        model(tensor(x))
    trainable = [w.value for w in model.trainable_variables]
    frozen = [w.value for w in model.non_trainable_variables]

    def total(trainable_values, inputs):
        outputs, _ = model.stateless_call(trainable_values, frozen, inputs)
        return jnp.sum(outputs * jnp.asarray(cotangent, dtype=outputs.dtype))

    inputs = tensor(x)
    if not jnp.issubdtype(inputs.dtype, jnp.floating):  # integer inputs (token ids) have no gradient
        grad_weights = jax.grad(total)(trainable, inputs)
        return None, [np.asarray(g) for g in grad_weights]
    grad_weights, grad_x = jax.grad(total, argnums=(0, 1))(trainable, inputs)
    return np.asarray(grad_x), [np.asarray(g) for g in grad_weights]


def compiled_call(layer, x):
    # Outside a stateless scope the layer reads its variables' current values, which jit captures as constants.
    return np.asarray(jax.jit(lambda inputs: layer(inputs))(tensor(x)))


@contextlib.contextmanager
def distribution(module):
    """``keras.distribution.DataParallel`` set globally for the body, the previous distribution restored
    afterwards."""
    api = getattr(module, "distribution", None)
    if not hasattr(api, "DataParallel"):
        raise NotApplicable(f"{module.__name__} has no distribution.DataParallel")
    chosen = data_parallel_devices(devices())
    previous = api.distribution()
    api.set_distribution(api.DataParallel(devices=[device.lower() for device in chosen]))
    try:
        yield chosen
    finally:
        api.set_distribution(previous)


def replica_devices(value) -> list[str]:
    value = getattr(value, "value", value)
    return [_device_name(d) for d in sorted(value.devices(), key=lambda d: (d.platform, d.id))]
