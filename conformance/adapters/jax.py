"""JAX operations for Keras 3 on the JAX backend (``KERAS_BACKEND=jax``).

JAX has no tape: gradients come from ``model.stateless_call`` under ``jax.vjp``, which is how
Keras 3 itself trains on JAX.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

name = "jax"

# Exact float32 checks on a GPU need full-precision matmuls (no TF32).
jax.config.update("jax_default_matmul_precision", "highest")


def devices() -> list[str]:
    found = ["CPU:0"]
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


def device_of(value) -> str:
    value = getattr(value, "value", value)
    (device,) = value.devices()
    return f"{'CPU' if device.platform == 'cpu' else 'GPU'}:{device.id}"


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
