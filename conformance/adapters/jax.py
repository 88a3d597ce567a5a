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
    """Through ``stateless_call`` under ``jax.grad``; ``x`` and the outputs may be nested (a spec's
    ``BoundCall`` takes ``(args, kwargs)``): a gradient for every float input, ``None`` for the others."""
    import keras

    layer, call_kwargs = (model.layer, model.call_kwargs) if hasattr(model, "call_kwargs") else (model, None)
    inputs = keras.tree.map_structure(tensor, x)
    if not layer.built:
        model(inputs)
    trainable = [w.value for w in layer.trainable_variables]
    frozen = [w.value for w in layer.non_trainable_variables]
    leaves = keras.tree.flatten(inputs)
    floats = [i for i, leaf in enumerate(leaves) if jnp.issubdtype(leaf.dtype, jnp.floating)]
    cotangents = keras.tree.flatten(cotangent)

    def total(trainable_values, float_leaves):
        current = list(leaves)
        for index, value in zip(floats, float_leaves):
            current[index] = value
        packed = keras.tree.pack_sequence_as(inputs, current)
        if call_kwargs is None:
            outputs, _ = layer.stateless_call(trainable_values, frozen, packed)
        else:
            args, kwargs = packed
            outputs, _ = layer.stateless_call(trainable_values, frozen, *args, **kwargs, **call_kwargs)
        return sum(jnp.sum(o * jnp.asarray(c, dtype=o.dtype)) for o, c in zip(keras.tree.flatten(outputs), cotangents))

    grad_weights, grad_floats = jax.grad(total, argnums=(0, 1))(trainable, [leaves[i] for i in floats])
    grad_leaves = [None] * len(leaves)
    for index, gradient in zip(floats, grad_floats):
        grad_leaves[index] = np.asarray(gradient)
    return keras.tree.pack_sequence_as(x, grad_leaves), [np.asarray(g) for g in grad_weights]


def compiled_call(layer, x):
    """``layer(x)`` under ``jax.jit``, ``x`` and the outputs possibly nested. Outside a stateless scope the
    layer reads its variables' current values, which jit captures as constants."""
    import keras

    outputs = jax.jit(lambda inputs: layer(inputs))(keras.tree.map_structure(tensor, x))
    return keras.tree.map_structure(np.asarray, outputs)


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
