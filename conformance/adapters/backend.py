"""The backend seam: what the kit needs from a framework beyond the public Keras API.

Each of ``adapters/tensorflow.py``, ``adapters/torch.py`` and ``adapters/jax.py`` is a module that
implements :class:`Backend`; ``tests/test_adapters.py`` checks that each one does. Contracts never call
a backend directly: they go through :class:`~conformance.adapters.base.Implementation`, which owns one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import numpy as np


def data_parallel_devices(found: list[str]) -> list[str]:
    """The devices a data-parallel distribution spreads over: every GPU of ``found`` when there are two
    or more, otherwise every CPU device (a one-GPU machine still checks data parallelism, on its CPUs);
    NotApplicable when that is fewer than two (nothing to split)."""
    from conformance.registry import NotApplicable

    gpus = [d for d in found if d.startswith("GPU:")]
    chosen = gpus if len(gpus) >= 2 else [d for d in found if d.startswith("CPU:")]
    if len(chosen) < 2:
        raise NotApplicable(f"one device only ({', '.join(found) or 'none'}): data parallelism needs two or more; "
                            "KERAS_CONFORMANCE_LOGICAL_CPUS=2 (TensorFlow) or "
                            "XLA_FLAGS=--xla_force_host_platform_device_count=2 (JAX) split the CPU")
    return chosen


@runtime_checkable
class Backend(Protocol):
    """Tensors, devices, gradients and seeds of one framework."""

    name: str  # "tensorflow", "torch" or "jax"

    def devices(self) -> list[str]:
        """Visible devices as ``CPU:0``, ``CPU:1``, ``GPU:0``..."""

    def device_scope(self, device: str) -> AbstractContextManager:
        """A context in which new tensors and variables are placed on ``device``."""

    def device_of(self, value: Any) -> str:
        """The ``CPU:0``-style device of a tensor or variable."""

    def tensor(self, x: np.ndarray) -> Any:
        """A framework tensor holding ``x`` (same dtype and shape)."""

    def to_numpy(self, value: Any) -> np.ndarray:
        """A numpy copy of a tensor or variable."""

    def dtype_name(self, value: Any) -> str:
        """The dtype of a tensor or variable as a name: ``float32``..."""

    def set_random_seed(self, seed: int) -> None:
        """Seed the framework's own random generators."""

    def vjp(self, model: Any, x: np.ndarray, cotangent: np.ndarray) -> tuple:
        """Gradients of ``sum(model(x) * cotangent)`` w.r.t. ``x`` and ``model.trainable_weights``:
        ``(grad_x, [grad_w, ...])`` as numpy arrays, ``None`` for a missing gradient."""

    def compiled_call(self, layer: Any, x: np.ndarray) -> np.ndarray:
        """``layer(x)`` inside the framework's compiled function (``tf.function``, ``jax.jit``), in
        inference mode, as numpy; raises :class:`~conformance.registry.NotApplicable`, saying why, where
        there is none (not NotImplementedError, which a layer's own code may raise while being traced)."""

    def distribution(self, module: Any) -> AbstractContextManager:
        """A context, yielding its device names, in which ``module``'s models are built, called and fit
        data-parallel over :func:`data_parallel_devices`: ``tf.distribute.MirroredStrategy``,
        ``keras.distribution.DataParallel``; raises :class:`~conformance.registry.NotApplicable`, saying
        why, where the framework or ``module`` has none or fewer than two devices are visible."""

    def replica_devices(self, value: Any) -> list[str]:
        """The ``CPU:0``-style devices holding a copy of a variable (one per replica when mirrored)."""
