"""Cross-backend agreement: one Keras layer config, the same weights and the same inputs on several
Keras 3 backends (``keras-conformance run --impl keras --backends tensorflow,jax,torch``).

Each backend runs in its own worker pool (``KERAS_BACKEND`` is read once, when Keras is imported), and
the contracts of the ``agreement`` area run in the parent, which never imports a framework: it draws an
example, asks every backend's worker to compute on it (:func:`answer`, in the worker) and compares the
answers. A :class:`Backends` is the implementation such a session runs on.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np

from conformance import structures

# Whose float64 judges the others: a plain NumPy computation first, then the backends in this order.
JUDGES = ("numpy", "tensorflow", "jax", "torch", "openvino")


class Backends:
    """The implementation an agreement session runs on: ``spec``'s layer on each backend of ``pools``
    (``{backend: parallel.Pool}``, each pool's workers importing Keras with that backend)."""

    name = "keras"
    dense_like = False

    def __init__(self, pools: dict, spec):
        self.pools = dict(pools)
        self.spec = spec
        self.names = tuple(self.pools)
        self.layer_name = spec.layer if isinstance(spec.layer, str) else repr(spec.layer)
        self.facts = {backend: self.ask(backend, kind="describe") for backend in self.names}
        self.draws_mask = any(facts.get("draws_mask") for facts in self.facts.values())

    @property
    def label(self) -> str:
        return f"keras@{'='.join(self.names)}+{self.spec.label}"

    def describe(self) -> dict:
        version = next((f["version"] for f in self.facts.values() if "version" in f), "unknown")
        return {"name": self.name, "module": "keras", "version": version, "backend": ", ".join(self.names),
                "layer": self.layer_name}

    def devices(self) -> list[str]:
        return ["CPU:0"]

    def on_device(self, device):
        return contextlib.nullcontext()

    def ask(self, backend, **request) -> dict:
        """``backend``'s worker's answer to ``request``; a worker that dies on it answers ``raised``
        with the signal (a native crash of that backend, on this example)."""
        from conformance import parallel

        try:
            return self.pools[backend].ask({**request, "spec": self.spec})
        except parallel.WorkerDied as died:
            return {"raised": f"the {backend} worker process died: {died}"}

    def unable(self, capability) -> dict:
        """``{backend: why}`` for the backends that lack ``capability`` (``float64``, ``gradients``)."""
        return {b: facts[capability] for b, facts in self.facts.items() if facts.get(capability)}

    def judge(self):
        """The backend whose float64 judges the others: the first of :data:`JUDGES` whose float64 is
        float64-accurate; ``None`` when none is."""
        return next((b for b in JUDGES if b in self.names and not self.facts[b].get("float64")), None)


# -- the worker's side -------------------------------------------------------------------------------

_IMPLEMENTATIONS = {}


def _implementation(spec):
    from conformance import adapters

    key = repr(spec)
    if key not in _IMPLEMENTATIONS:
        _IMPLEMENTATIONS[key] = adapters.load("keras", spec=spec)
    return _IMPLEMENTATIONS[key]


def answer(request, backend=None) -> dict:
    """What this worker's Keras computes for ``request`` (a dict with ``kind`` and ``spec``), as numpy:

    - ``describe``: ``version``, ``draws_mask``, and why float64 or gradients are not available (absent when they are);
    - ``run``: a fresh layer of the spec (``dtype`` float32 or float64) built on ``x``, given ``weights``
      when sent; its ``outputs``, ``dtypes``, ``weights``, ``output_spec`` (``compute_output_shape``),
      with ``cotangent`` its ``grads`` (or ``grads_unavailable``), with ``save`` the ``.keras`` file's bytes;
    - ``load``: the ``file`` (bytes of a ``.keras`` file) loaded and called on ``x``: its ``outputs``.

    Whatever the framework raises becomes ``raised`` (``Type: message``): the parent compares it across backends.
    """
    try:
        impl = _implementation(request["spec"])
        return {"describe": _describe, "run": _run, "load": _load}[request["kind"]](impl, request)
    except Exception as error:  # the framework's own answer, for the parent to compare
        return {"raised": f"{type(error).__name__}: {str(error)[:400]}"}


def _describe(impl, request) -> dict:
    from conformance.contracts import generic
    from conformance.registry import NotApplicable

    facts = {"version": impl.version, "draws_mask": impl.draws_mask}
    facts["float64"] = generic._float64_unavailable(impl)
    try:
        impl.backend.vjp(impl.layer("Dense", 1), np.ones((1, 1), np.float32), np.ones((1, 1), np.float32))
    except NotApplicable as why:
        facts["gradients"] = str(why)
    except Exception as error:
        facts["gradients"] = f"a Dense(1) gradient raised {type(error).__name__}: {error}"
    return facts


def _run(impl, request) -> dict:
    from conformance.contracts import generic
    from conformance.registry import NotApplicable

    if request.get("seed") is not None:
        impl.set_random_seed(request["seed"])
    float64 = request.get("dtype") == "float64"
    x = generic._as_float64(request["x"]) if float64 else request["x"]
    layer = impl.new_layer(dtype="float64") if float64 else impl.new_layer()
    training = False if generic._takes_training(layer) else None
    outputs = generic._output(impl, layer, x, training)
    if request.get("weights") is not None:
        layer.set_weights([np.asarray(w).astype(np.asarray(own).dtype) for w, own in zip(request["weights"], layer.get_weights())])
        outputs = generic._output(impl, layer, x, training)
    reply = {"outputs": outputs, "dtypes": [str(np.asarray(o).dtype) for o in structures.flatten(outputs)],
             "weights": [np.asarray(w) for w in layer.get_weights()], "output_spec": _output_spec(layer, x)}
    if request.get("cotangent") is not None:
        try:
            reply["grads"] = impl.vjp(layer, x, request["cotangent"])
        except NotApplicable as why:
            reply["grads_unavailable"] = str(why)
    if request.get("save"):
        model = generic._model_of(impl, layer, x)
        generic._model_output(impl, model, x)  # a Sequential is built by its first call
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            with open(path, "rb") as saved:
                reply["file"] = saved.read()
    return reply


def _output_spec(layer, x):
    """``compute_output_shape`` on ``x``'s shapes, as plain tuples (what it raised, as text, when it raises)."""
    shapes = structures.map_leaves(lambda leaf: tuple(np.shape(leaf)), x)
    try:
        if isinstance(shapes, structures.CallArgs):
            return _plain(layer.compute_output_shape(*shapes.args, **shapes.kwargs))
        return _plain(layer.compute_output_shape(shapes))
    except Exception as error:
        return f"raised {type(error).__name__}"


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_plain(item) for item in value)
    return None if value is None else int(value)


def _load(impl, request) -> dict:
    from conformance.contracts import generic

    load_model = impl.module.saving.load_model
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        with open(path, "wb") as file:
            file.write(request["file"])
        model = load_model(path, custom_objects={impl.layer_class.__name__: impl.layer_class})
    return {"outputs": generic._model_output(impl, model, request["x"])}
