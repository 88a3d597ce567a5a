"""Load an implementation by name: ``reference``, ``keras``, ``tf_keras``, a dotted module path or
``module:attribute``, optionally with a user's own layer class (``mypkg.layers:SimpleDense``)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys

from conformance import options
from conformance.adapters.base import Implementation

__all__ = ["Implementation", "check_importable", "load", "prepare_environment", "quiet_native_start", "resolve"]

BUILT_IN = {"reference": "reference", "keras": "keras", "tf_keras": "tf_keras"}
NEEDS_TENSORFLOW = ("reference", "tf_keras")  # TensorFlow is an optional extra of the kit
BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")  # Keras 3's five, one adapter each


def prepare_environment(logical_cpus=None) -> int:
    """Set what a framework reads when it is imported, and give back the number of logical CPUs
    (``logical_cpus``, else the kit's environment setting, else 2: so the cross-device contracts run
    without a GPU). JAX reads its CPU device count from XLA_FLAGS when it starts (a count the user gave
    there wins); TensorFlow's C++ start-up lines are silenced unless the user chose a log level.
    TensorFlow's own split is made by its backend's ``configure``, when :func:`load` loads it."""
    count = logical_cpus or options.environment().logical_cpus
    xla_flags = os.environ.get("XLA_FLAGS", "")
    if "--xla_force_host_platform_device_count" not in xla_flags:
        os.environ["XLA_FLAGS"] = f"{xla_flags} --xla_force_host_platform_device_count={count}".strip()
    # CUDA probing on machines without a GPU, oneDNN notices: not the implementation's behaviour
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return count


@contextlib.contextmanager
def quiet_native_start():
    """Silence file descriptor 2 while a framework starts (its import, its first look at the devices),
    when the user left TF_CPP_MIN_LOG_LEVEL to the kit: TensorFlow's absl start-up lines ("Could not
    find cuda drivers", cuInit errors, oneDNN notices) are written before its log level applies. Python
    exceptions still propagate as usual."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "3":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _importable_from_cwd():
    if os.getcwd() not in sys.path:  # like pytest and uvicorn: the user's own package is importable
        sys.path.insert(0, os.getcwd())


def _findable(module_name) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):  # a parent package that is missing or broken
        return False


def check_importable(spec: str, what: str, builtin=False) -> None:
    """Raise ValueError naming ``what`` unless ``spec``'s module can be found, without importing it
    (so a typo is reported before a framework's seconds-long import)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{what} must be a module path or 'module:attribute', got {spec!r}")
    module_name = (BUILT_IN.get(spec, spec) if builtin else spec).partition(":")[0]
    if builtin and spec in NEEDS_TENSORFLOW and not _findable("tensorflow"):
        raise ValueError(f"{what}={spec!r} needs TensorFlow, which is not installed: "
                         "pip install 'keras-conformance[tensorflow]'")
    _importable_from_cwd()
    if not _findable(module_name):
        raise ValueError(f"{what}={spec!r}: cannot import module {module_name!r} (no such module on sys.path)")


def resolve(spec: str, what: str):
    """Import ``module`` or ``module:attribute``; ``what`` names the argument in errors.

    Whatever the import raises (an ImportError, a SyntaxError, a RuntimeError in the module's own
    code, even SystemExit) becomes one ValueError that names the argument and the module.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{what} must be a module path or 'module:attribute', got {spec!r}")
    module_name, _, attribute = spec.partition(":")
    _importable_from_cwd()
    try:
        with quiet_native_start():
            target = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"{what}={spec!r}: cannot import module {module_name!r} ({error})") from None
    except (Exception, SystemExit) as error:
        where = f" ({error.filename}, line {error.lineno})" if isinstance(error, SyntaxError) else ""
        raise ValueError(
            f"{what}={spec!r}: importing module {module_name!r} raised {type(error).__name__}: {error}{where}"
        ) from None
    for part in filter(None, attribute.split(".")):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{what}={spec!r}: {module_name!r} has no attribute {attribute!r}") from None
    return target


def _backend_name(impl, module) -> str:
    """The adapter for ``module``: its Keras 3 backend, or ``tensorflow`` for a framework without a
    ``backend.backend()`` (the reference, tf_keras). ValueError, naming it, for a Keras backend the kit
    has no adapter for: driving it through another backend's adapter would report that adapter's
    errors as the implementation's."""
    backend = getattr(module, "backend", None)
    if module.__name__ == "tf_keras" or not callable(getattr(backend, "backend", None)):
        return "tensorflow"
    found = backend.backend()
    if found not in BACKENDS:
        raise ValueError(f"impl={impl!r} runs on the Keras backend {found!r}, which the kit has no adapter for; "
                         f"it has adapters for {', '.join(BACKENDS)} (set KERAS_BACKEND to one of them)")
    return found


def load(impl: str = "reference", layer: str | None = None, spec=None, logical_cpus=None) -> Implementation:
    """The :class:`Implementation` for ``impl``, testing ``layer`` (a Dense-like class) or the layer
    of ``spec`` (a :class:`~conformance.specs.LayerSpec`) inside it when given; its framework configured
    for exact checks on ``logical_cpus`` logical CPUs (see :func:`prepare_environment`).

    Raises ValueError, naming the argument, when a module cannot be imported, is not Keras-like, or the
    layer cannot be constructed the way the contracts construct it.
    """
    logical_cpus = prepare_environment(logical_cpus)
    module = resolve(BUILT_IN.get(impl, impl), "impl")
    missing = [a for a in ("layers", "Sequential") if not hasattr(module, a)]
    if missing:
        raise ValueError(f"impl={impl!r} is not Keras-like: it lacks {', '.join(missing)}")
    backend = importlib.import_module(f"conformance.adapters.{_backend_name(impl, module)}")
    if hasattr(backend, "configure"):
        with quiet_native_start():
            backend.configure(logical_cpus)
    if spec is not None:
        layer = spec.layer if isinstance(spec.layer, str) else None
        layer_class = resolve(spec.layer, f"layer spec {spec.label!r}: layer") if layer else spec.layer
    else:
        layer_class = resolve(layer, "layer") if layer else None
    if layer_class is not None and not callable(layer_class):
        raise ValueError(f"layer={layer!r} must name a layer class, got {type(layer_class).__name__}")
    implementation = Implementation(impl, module, backend, layer_class=layer_class, layer_name=layer, spec=spec)
    implementation.check_constructible()
    return implementation
