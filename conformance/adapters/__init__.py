"""Load an implementation by name: ``reference``, ``keras``, ``tf_keras``, a dotted module path or
``module:attribute``, optionally with a user's own layer class (``mypkg.layers:SimpleDense``)."""

from __future__ import annotations

import importlib
import os
import sys

from conformance.adapters.base import Implementation

__all__ = ["Implementation", "load", "resolve"]

BUILT_IN = {"reference": "reference", "keras": "keras", "tf_keras": "tf_keras"}
BACKENDS = ("tensorflow", "jax", "torch")


def resolve(spec: str, what: str):
    """Import ``module`` or ``module:attribute``; ``what`` names the argument in errors."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{what} must be a module path or 'module:attribute', got {spec!r}")
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path:  # like pytest and uvicorn: the user's own package is importable
        sys.path.insert(0, os.getcwd())
    try:
        target = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"{what}={spec!r}: cannot import module {module_name!r} ({error})") from error
    for part in filter(None, attribute.split(".")):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{what}={spec!r}: {module_name!r} has no attribute {attribute!r}") from None
    return target


def _backend_name(module) -> str:
    backend = getattr(module, "backend", None)
    if module.__name__ != "tf_keras" and callable(getattr(backend, "backend", None)):
        found = backend.backend()
        if found in BACKENDS:
            return found
    return "tensorflow"


def load(impl: str = "reference", layer: str | None = None) -> Implementation:
    """The :class:`Implementation` for ``impl``, testing ``layer`` inside it when given."""
    module = resolve(BUILT_IN.get(impl, impl), "impl")
    missing = [a for a in ("layers", "Sequential") if not hasattr(module, a)]
    if missing:
        raise ValueError(f"impl={impl!r} is not Keras-like: it lacks {', '.join(missing)}")
    backend = importlib.import_module(f"conformance.adapters.{_backend_name(module)}")
    layer_class = resolve(layer, "layer") if layer else None
    if layer_class is not None and not callable(layer_class):
        raise ValueError(f"layer={layer!r} must name a layer class, got {type(layer_class).__name__}")
    return Implementation(impl, module, backend, layer_class=layer_class, layer_name=layer)
