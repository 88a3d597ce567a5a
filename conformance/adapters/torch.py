"""PyTorch operations for Keras 3 on the torch backend (``KERAS_BACKEND=torch``)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from conformance.registry import NotApplicable

name = "torch"

# Exact float32 checks on a GPU need full-precision matmuls.
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def devices() -> list[str]:
    found = ["CPU:0"]
    if torch.cuda.is_available():
        found += [f"GPU:{i}" for i in range(torch.cuda.device_count())]
    return found


def _torch_device(device: str) -> str:
    kind, index = device.split(":")
    return "cpu" if kind == "CPU" else f"cuda:{index}"


@contextlib.contextmanager
def device_scope(device):
    import keras

    with keras.device(_torch_device(device)):
        yield


def device_of(value) -> str:
    value = getattr(value, "value", value)
    device = value.device
    return "CPU:0" if device.type == "cpu" else f"GPU:{device.index or 0}"


def tensor(x):
    import keras

    return keras.ops.convert_to_tensor(x)


def to_numpy(value) -> np.ndarray:
    value = getattr(value, "value", value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def dtype_name(value) -> str:
    dtype = value.dtype
    return dtype if isinstance(dtype, str) else str(dtype).replace("torch.", "")


def set_random_seed(seed):
    torch.manual_seed(seed)


def vjp(model, x, cotangent):
    """Through autograd; ``x`` and the outputs may be nested (a spec's ``BoundCall`` takes ``(args,
    kwargs)``): a gradient for every float input, ``None`` for the others (token ids, masks)."""
    import keras

    inputs = keras.tree.map_structure(lambda leaf: tensor(leaf).detach(), x)
    leaves = keras.tree.flatten(inputs)
    for leaf in leaves:
        if leaf.is_floating_point():
            leaf.requires_grad_(True)
    weights = [w.value for w in model.trainable_weights]
    for w in weights:
        w.grad = None
    outputs = keras.tree.flatten(model(inputs))
    total = sum(torch.sum(o * torch.as_tensor(c, dtype=o.dtype, device=o.device))
                for o, c in zip(outputs, keras.tree.flatten(cotangent)))
    total.backward()
    grad_x = keras.tree.pack_sequence_as(x, [_maybe_numpy(leaf.grad) for leaf in leaves])
    return grad_x, [_maybe_numpy(w.grad) for w in weights]


def _maybe_numpy(value):
    return None if value is None else to_numpy(value)


def compiled_call(layer, x):
    raise NotApplicable("Keras 3 on torch runs layers eagerly; the kit compiles none (torch.compile is "
                        "an optional backend feature, not what fit uses by default)")


def distribution(module):
    raise NotApplicable("Keras 3 on torch has no data-parallel API: keras.distribution supports the JAX backend "
                        "only, and the kit does not launch torch.distributed processes")


def replica_devices(value) -> list[str]:
    return [device_of(value)]
