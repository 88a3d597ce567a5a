"""Implementation: one Keras-like framework (and optionally a user's layer class) seen through the
public Keras API, plus the few backend operations the public API does not cover (gradients,
devices, conversion to numpy).

Contracts talk to an implementation only through this class. Backend operations live in
``adapters/tensorflow.py``, ``adapters/torch.py`` and ``adapters/jax.py``; none of them is imported
until an implementation that needs it is loaded.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import random
import sys
import tempfile

import numpy as np

from conformance import structures
from conformance.registry import NotApplicable
from conformance.specs import LayerSpec
from conformance.structures import CallArgs


# (module, backend) whose own Sequential and Dense are reused across examples (Implementation.reused_model):
# tests/test_model_reuse.py shows that both fit bit for bit like fresh models. Not the reference: its shuffle
# draws from TensorFlow's eager op seeds, which building a model advances, so a reused recorder sees another row
# order after set_random_seed than a fresh one; and its test step traced for sample weights of two ranks fails on
# the next evaluate (losses.weights_for, unknown rank).
REUSES_MODELS = {("keras", "tensorflow"), ("tf_keras", "tensorflow")}

# What an implementation may lack, each probed by a tiny call the first time a contract needs it
# (Implementation.capabilities): Keras 3 on NumPy and on OpenVINO runs layers but does not train.
CAPABILITIES = ("training", "gradients", "compilation", "devices", "float64")


def class_name(layer_class) -> str:
    """A readable name for a layer class or any other callable (a functools.partial has no __name__)."""
    name = getattr(layer_class, "__name__", None)
    if name is None and hasattr(layer_class, "func"):  # functools.partial
        return f"partial({class_name(layer_class.func)})"
    return name or type(layer_class).__name__


class Implementation:
    """A Keras-like module under test.

    Args:
        name: what the user called it (``reference``, ``keras``, ``mypkg.mykeras``...).
        module: the Keras-like module: ``layers``, ``Sequential``, ``optimizers``, ``losses``,
            ``metrics`` and ``activations`` attributes with Keras's signatures.
        backend: a :class:`~conformance.adapters.backend.Backend` (``adapters/<backend>.py``).
        layer_class: the Dense-like layer class under test; ``layers.Dense`` or
            ``layers.SimpleDense`` of ``module`` when not given.
        layer_name: how the user named ``layer_class`` (for reports and reproduction snippets).
        spec: a :class:`~conformance.specs.LayerSpec` for a layer that is not Dense-like (constructed
            from the spec's kwargs, fed the spec's inputs); ``layer_class`` is then the spec's class.
            Without one the layer is Dense-like and its spec is ``Class(units=3)`` on vectors.
    """

    def __init__(self, name, module, backend, layer_class=None, layer_name=None, spec=None):
        self.name = name
        self.module = module
        self.backend = backend
        self.dense_like = spec is None
        own_layer = layer_class is None
        if layer_class is None:
            layer_class = self._own_dense()
            if layer_class is None:
                raise ValueError(f"implementation {name!r}: module.layers has neither Dense nor SimpleDense")
            layer_name = f"{module.__name__}.layers.{layer_class.__name__}"
        self.layer_class = layer_class
        self.layer_name = layer_name or f"{getattr(layer_class, '__module__', '?')}:{class_name(layer_class)}"
        self.spec = spec if spec is not None else LayerSpec(layer_class, kwargs={"units": 3}, name=class_name(layer_class))
        self._float64 = None
        self._lacking = {}  # capability -> why the implementation lacks it (None: it has it), once probed
        self._device_stack = []
        self._distribution_stack = []
        self.models = ModelPool()
        # Only where a reused model is known to compute exactly what a fresh one does
        # (tests/test_model_reuse.py): the framework's own Sequential and Dense. A user's layer may keep
        # state that set_weights does not reset, a mutant's Sequential or optimizer state outside its variables.
        self.reuse_models = (own_layer and sys.modules.get(module.__name__) is module
                             and (module.__name__, backend.name) in REUSES_MODELS)

    # -- identity ---------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return str(getattr(self.module, "__version__", "unknown"))

    @property
    def label(self) -> str:
        """``name`` plus the layer under test when it is not the framework's own Dense."""
        if not self.dense_like:
            return f"{self.name}+{self.spec.label}"
        own = self.layer_name.startswith(f"{self.module.__name__}.layers.")
        return self.name if own else f"{self.name}+{class_name(self.layer_class)}"

    def describe(self) -> dict:
        return {
            "name": self.name,
            "module": self.module.__name__,
            "version": self.version,
            "backend": self.backend.name,
            "layer": self.layer_name,
        }

    def check_constructible(self) -> None:
        """Raise ValueError, naming the layer, unless it can be constructed the way the contracts
        construct it (``Class(units, activation=None)``, or from its spec), so a layer that needs other
        arguments is one clear usage error instead of the same TypeError in every cell."""
        if not self.dense_like:
            try:
                layer = self.new_layer()
            except ValueError:
                raise  # a setup hook that cannot be imported
            except Exception as error:
                raise ValueError(f"layer spec {self.spec.label!r}: {class_name(self.layer_class)}(**{self.spec.kwargs!r}) "
                                 f"raised {type(error).__name__}: {error}") from None
            problem = self.spec.signature_problem(layer.call, self.draws_mask)
            if problem:
                raise ValueError(f"layer spec {self.spec.label!r}: {problem}")
            return
        try:
            self.dense(2)
        except Exception as error:
            raise ValueError(
                f"layer={self.layer_name!r}: {class_name(self.layer_class)}(2, activation=None) raised "
                f"{type(error).__name__}: {error}; the Dense contracts construct the layer as "
                "Class(units, activation=...), so every other argument needs a default"
            ) from None

    # -- building blocks through the public API -------------------------------------------------
    def activation(self, name):
        """The framework's activation callable for ``name``; ``None`` for ``None``.

        Callables, not strings, because the book's SimpleDense applies ``self.activation(y)``.
        """
        if name is None:
            return None
        return getattr(self.module.activations, name)

    def new_layer(self, **overrides):
        """A fresh, unbuilt layer under test from its spec's kwargs (``overrides`` replace some), given to
        the spec's setup hook (an ``adapt``) when it has one.

        A kwarg written as ``{"class_name": "LSTM", "config": {"units": 2}}`` becomes a fresh
        ``layers.LSTM(units=2)`` of the framework: how a spec gives a wrapper its inner layer.
        """
        kwargs = {name: self._materialize(value) for name, value in {**self.spec.kwargs, **overrides}.items()}
        layer = self.layer_class(**kwargs)
        setup = self.spec.setup_hook()
        if setup is not None:
            setup(layer, self.spec.setup_data())
        return layer

    @property
    def draws_mask(self) -> bool:
        """Whether the contracts draw a ``mask`` for the layer: its spec has ``inputs`` and allows masks,
        and its ``call`` takes ``mask``."""
        if self.dense_like or self.spec.inputs is None or not self.spec.masks:
            return False
        try:
            return "mask" in inspect.signature(self.layer_class.call).parameters
        except (TypeError, ValueError, AttributeError):
            return False

    def apply(self, layer, x, training=None):
        """``layer`` called on ``x`` (an array, or the :class:`~conformance.structures.CallArgs` of a spec
        with ``inputs``) made tensors, with the spec's constant call arguments; ``training`` is passed
        only when given. The framework's output (a tensor or a structure of them)."""
        extra = dict(self.spec.call_kwargs) if not self.dense_like else {}
        if training is not None:
            extra["training"] = training
        if isinstance(x, CallArgs):
            return layer(*self.tensor(x.args), **self.tensor(x.kwargs), **extra)
        return layer(self.tensor(x), **extra)

    def _bound(self, layer, x):
        """``(callable, inputs)`` that the backends call as ``callable(inputs)``: ``layer`` and ``x`` as they
        are for one array, else a call of ``layer`` on the nested ``(args, kwargs)`` pair of ``x``."""
        if not isinstance(x, CallArgs):
            return layer, x
        return BoundCall(layer, self.spec.call_kwargs), (tuple(x.args), dict(x.kwargs))

    def model_on(self, layer, x, head=()):
        """A functional model ``Model(inputs, head(layer(inputs)))`` taking :meth:`model_input` of ``x``
        (one ``Input`` per array of a spec with ``inputs``, named for it), ``head`` layers applied to
        the layer's output (its first, in flatten order, when it has several); NotApplicable where the framework has no functional ``Model`` and ``Input``."""
        if not (hasattr(self.module, "Model") and hasattr(self.module, "Input")):
            raise NotApplicable(f"{self.name} has no functional Model and Input for a layer of several inputs")
        names = iter(structures.paths(x))
        symbolic = structures.map_leaves(
            lambda leaf: self.module.Input(shape=leaf.shape[1:], dtype=str(leaf.dtype),
                                           name=next(names).replace("[", "_").replace("]", "").replace(".", "_").replace(" ", "_")), x)
        call = symbolic if isinstance(symbolic, CallArgs) else CallArgs((symbolic,), {})
        outputs = layer(*call.args, **call.kwargs, **self.spec.call_kwargs)  # symbolic tensors: no conversion
        if head and structures.is_structure(outputs):
            outputs = structures.flatten(outputs)[0]  # a layer with several outputs (an RNN's states) is fit through its first
        for next_layer in head:
            outputs = next_layer(outputs)
        return self.module.Model(self.model_input(symbolic), outputs)

    @staticmethod
    def model_input(x):
        """What a model of :meth:`model_on` is called and fit on: the one positional argument's
        structure, or the dict of keyword arrays (a drawn ``mask`` among them)."""
        if not isinstance(x, CallArgs):
            return x
        return x.kwargs if not x.args else (x.args[0] if not x.kwargs else (x.args[0], x.kwargs))

    def _materialize(self, value):
        if isinstance(value, dict) and set(value) == {"class_name", "config"}:
            return self.layer(value["class_name"], **value["config"])
        return value

    def dense(self, units, activation=None, **kwargs):
        """A fresh, unbuilt layer of the class under test."""
        return self.layer_class(units, activation=self.activation(activation), **kwargs)

    def dense64(self, units, activation=None):
        """A float64 layer, or NotApplicable when the layer class has no ``dtype`` argument."""
        if not self.supports_float64():
            raise NotApplicable(f"{self.layer_name} does not accept dtype='float64'")
        return self.dense(units, activation, dtype="float64")

    def supports_float64(self) -> bool:
        if self._float64 is None:
            try:
                signature = inspect.signature(self.layer_class)
                accepts = "dtype" in signature.parameters or any(
                    p.kind is p.VAR_KEYWORD for p in signature.parameters.values()
                )
                layer = self.layer_class(1, dtype="float64") if accepts else None
                self._float64 = layer is not None and self.weight_dtype_of(layer, (1, 2)) == "float64"
            except Exception:
                self._float64 = False
        return self._float64

    def float64_computes_in_float64(self) -> bool:
        """Whether a float64 layer of the framework really computes in float64 (see :meth:`_probe_float64`)."""
        return self._probe_float64() is None

    def float64_tanh_stays_float64(self) -> bool:
        """Whether ``activations.tanh`` of a float64 tensor is float64: Keras 3 on JAX computes it (and
        parts of LayerNormalization) in float32 even with x64 on, so its float64 layers are no float64 oracle."""
        activations = getattr(self.module, "activations", None)
        if not hasattr(activations, "tanh"):
            return True  # nothing to probe: the framework's float64 is taken at its word
        return self.numpy(activations.tanh(self.tensor(np.array([0.5])))).dtype == np.float64

    def weight_dtype_of(self, layer, input_shape):
        layer.build(input_shape)
        return self.backend.dtype_name(layer.weights[0])

    def sequential(self, layers):
        return self.module.Sequential(layers)

    def has_layer(self, class_name) -> bool:
        """Whether the framework's ``layers`` has ``class_name`` (``Dropout``...)."""
        return hasattr(self.module.layers, class_name)

    def layer(self, class_name, *args, **kwargs):
        """A fresh ``layers.<class_name>(*args, **kwargs)`` of the framework (not the layer under test)."""
        return getattr(self.module.layers, class_name)(*args, **kwargs)

    def optimizer(self, class_name, **kwargs):
        """A fresh ``optimizers.<class_name>(**kwargs)``: ``SGD``, ``RMSprop``, ``Adam``...; NotApplicable
        where the implementation does not train (an optimizer object is only ever made to train)."""
        self.require("training")
        return getattr(self.module.optimizers, class_name)(**kwargs)

    def loss(self, class_name, **kwargs):
        """A fresh ``losses.<class_name>(**kwargs)``."""
        return getattr(self.module.losses, class_name)(**kwargs)

    def metric(self, class_name, **kwargs):
        """A fresh ``metrics.<class_name>(**kwargs)``."""
        return getattr(self.module.metrics, class_name)(**kwargs)

    def set_random_seed(self, seed):
        utils = getattr(self.module, "utils", None)
        if utils is not None and hasattr(utils, "set_random_seed"):
            utils.set_random_seed(seed)
        self.backend.set_random_seed(seed)

    def seed_example(self, seed):
        """Seed what an example's random draws start from, cheaply: Python's ``random`` and numpy's global
        generator, where Keras 3's initializers and seed generators (dropout; any backend) and tf_keras's
        initializers take their seeds. Not TensorFlow's global seed (:meth:`set_random_seed`): setting it clears
        TensorFlow's kernel caches, and every later fit of a reused model costs 60% more; random ops that only
        TensorFlow seeds (the reference's ``random_normal``, tf_keras's dropout) go on as the process leaves them."""
        random.seed(seed)
        np.random.seed(seed)

    def reused_model(self, key, make, weights, learning_rate=None):
        """``make()``, a compiled model holding ``weights``, or one that an earlier example made for the
        same ``key`` given ``weights``, its optimizer's variables as ``make`` left them (``learning_rate``
        then assigned, when given) and its metrics reset. Its train, test and predict functions are then
        already traced, which is most of what a fit of a small model costs, and it computes exactly what
        a fresh one would (tests/test_model_reuse.py).

        ``key`` must name every argument of ``make`` but the weights and the learning rate (a variable,
        read by the traced functions): shapes, optimizer and its other hyperparameters (baked into the
        traces), loss, metrics. The devices in scope are added here."""
        if not (self.reuse_models and self.models.in_example):
            return make()

        def reset(model, optimizer_state):
            model.set_weights(weights)
            for variable, value in zip(model.optimizer.variables, optimizer_state, strict=True):
                variable.assign(value)
            if learning_rate is not None:
                model.optimizer.learning_rate = learning_rate
            model.reset_metrics()
            model.stop_training = False

        return self.models.take((key, tuple(self._device_stack), tuple(self._distribution_stack)),
                                lambda: self._made_for_reuse(make()), reset)

    def _made_for_reuse(self, model):
        """``(model, its optimizer's initial variable values)``, building the optimizer (as fit would)."""
        model.optimizer.build(model.trainable_weights)
        return model, [self.numpy(v) for v in model.optimizer.variables]

    # -- values ---------------------------------------------------------------------------
    def tensor(self, x):
        """A framework tensor holding the numpy array ``x`` (a structure of them for a structure)."""
        return structures.map_leaves(self.backend.tensor, x)

    def numpy(self, value) -> np.ndarray:
        """``value`` as numpy: an array, or the structure of arrays of a layer with several outputs."""
        return structures.map_leaves(self.backend.to_numpy, value)

    def dtype_name(self, value) -> str:
        """The dtype of a tensor or variable as a name: ``float32``..."""
        return self.backend.dtype_name(value)

    def weights(self, layer) -> list[np.ndarray]:
        """Current weight values, as float64-free numpy copies in the layer's order."""
        return [np.array(w, copy=True) for w in layer.get_weights()]

    def call(self, layer, x):
        """``layer(x)`` on a framework tensor made from ``x``; returns (output tensor, numpy)."""
        output = layer(self.backend.tensor(x))
        return output, self.numpy(output)

    def vjp(self, model, x, cotangent):
        """Gradients of ``sum(model(x) * cotangent)`` w.r.t. ``x`` and ``model.trainable_weights``.

        Returns ``(grad_x, [grad_w ...])`` as numpy arrays; a missing gradient is ``None``. For a spec's
        :class:`~conformance.structures.CallArgs` ``x``, ``grad_x`` is the ``(args, kwargs)`` pair of its
        gradients, ``None`` for a non-float array; ``cotangent`` has the structure of the outputs.
        """
        self.require("gradients")
        bound, inputs = self._bound(model, x)
        return self.backend.vjp(bound, inputs, cotangent)

    def compiled_call(self, layer, x) -> np.ndarray:
        """``layer(x)`` inside the framework's compiled function (``tf.function``, ``jax.jit``), as numpy;
        NotApplicable, with the reason, where it compiles nothing."""
        self.require("compilation")
        return self.backend.compiled_call(*self._bound(layer, x))

    def save_and_load(self, model):
        """``model`` saved with ``model.save`` to a temporary ``.keras`` file and loaded back with
        ``saving.load_model``, every layer class of the model given as a custom object (so unregistered
        user layers load); NotApplicable where the framework has no ``saving.load_model``."""
        load_model = getattr(getattr(self.module, "saving", None), "load_model", None)
        if load_model is None:
            raise NotApplicable(f"{self.name} has no saving.load_model: it has no .keras format")
        custom_objects = {type(layer).__name__: type(layer) for layer in model.layers}
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            return load_model(path, custom_objects=custom_objects)

    @contextlib.contextmanager
    def dtype_policy(self, name):
        """Run the body under the global dtype policy ``name`` (``mixed_float16``...), restoring the previous
        policy afterwards whatever happens; NotApplicable where the framework has no
        ``mixed_precision.set_global_policy``."""
        mixed_precision = getattr(self.module, "mixed_precision", None)
        if not hasattr(mixed_precision, "set_global_policy"):
            raise NotApplicable(f"{self.name} has no mixed_precision.set_global_policy")
        previous = mixed_precision.global_policy()
        mixed_precision.set_global_policy(name)
        try:
            yield
        finally:
            mixed_precision.set_global_policy(previous)

    # -- capabilities -----------------------------------------------------------------------
    @property
    def capabilities(self) -> dict:
        """Every capability of :data:`CAPABILITIES` mapped to why the implementation lacks it, ``None`` where
        it has it (each probed now unless a contract needed it already)."""
        return {capability: self.lacks(capability) for capability in CAPABILITIES}

    def lacks(self, capability) -> str | None:
        """Why the implementation lacks ``capability`` (``None`` when it has it), probed by a tiny call the
        first time it is asked: a framework that declares a feature unsupported lacks it; one whose probe
        fails any other way has it, and the contracts that use it report the failure."""
        if capability not in self._lacking:
            self._lacking[capability] = getattr(self, f"_probe_{capability}")()
        return self._lacking[capability]

    def require(self, capability) -> None:
        """Raise NotApplicable, with the reason, where the implementation lacks ``capability``: called at the
        one place each is used (:meth:`optimizer`, :meth:`vjp`, :meth:`compiled_call`)."""
        reason = self.lacks(capability)
        if reason:
            raise NotApplicable(reason)

    def _own_dense(self):
        """The framework's own Dense-like class (``layers.Dense`` or ``layers.SimpleDense``), ``None`` without one:
        what the probes build, so that they ask about the framework, not about the layer under test."""
        layers = self.module.layers
        return getattr(layers, "Dense", None) or getattr(layers, "SimpleDense", None)

    def _probe_training(self):
        """A one-unit Sequential fit for one epoch on two rows: lacking where fit raises NotImplementedError
        (Keras 3's NumPy and OpenVINO backends) or the Sequential has no compile/fit."""
        if not all(hasattr(self.module.Sequential, method) for method in ("compile", "fit")):
            return f"{self.name}.Sequential has no compile/fit: it does not train"
        rows = np.ones((2, 1), np.float32)
        try:
            model = self.module.Sequential([self._own_dense()(1)])
            model.compile(optimizer="sgd", loss="mse")
            model.fit(rows, rows, epochs=1, verbose=0)
        except NotImplementedError as error:
            return f"the {self.backend.name} backend does not train (model.fit raised NotImplementedError: {error})"
        except Exception:
            return None
        return None

    def _probe_gradients(self):
        """The backend's gradient of a built one-unit layer: lacking where the backend has no differentiation."""
        return self._declined(lambda layer, x: self.backend.vjp(layer, x, np.ones((1, 1), np.float32)))

    def _probe_compilation(self):
        """A built one-unit layer called in the backend's compiled function: lacking where it has none."""
        return self._declined(self.backend.compiled_call)

    def _declined(self, operation):
        """The reason the backend gives (NotApplicable) for not running ``operation(layer, x)`` on a built
        one-unit layer, ``None`` when it runs it or fails another way."""
        x = np.ones((1, 1), np.float32)
        try:
            layer = self._own_dense()(1)
            layer(self.backend.tensor(x))
            operation(layer, x)
        except NotApplicable as reason:
            return str(reason)
        except Exception:
            return None
        return None

    def _probe_devices(self):
        """The backend's visible devices: lacking where there is one only. Not required anywhere of its own:
        the runner skips a device the backend does not see, and a distribution needs two CPUs or two GPUs
        (:func:`~conformance.adapters.backend.data_parallel_devices`), which is more than two devices."""
        found = self.backend.devices()
        if len(found) >= 2:
            return None
        return f"the {self.backend.name} backend sees one device only ({', '.join(found) or 'none'})"

    def _probe_float64(self):
        """A float64 ``Dense(1)`` of the framework must give 1.1 * 1.0 as the float64 1.1, not the float32 1.1
        widened (Keras 3's torch matmul does the latter), and ``activations.tanh`` must keep float64 (see
        :meth:`float64_tanh_stays_float64`). Not cached: the tests swap a module's parts between two asks."""
        try:
            layer = self._own_dense()(1, dtype="float64")
            layer.build((1, 1))
            layer.set_weights([np.array([[1.1]]), np.array([0.0])])
            _, output = self.call(layer, np.array([[1.0]]))
        except Exception as error:
            return f"a float64 Dense(1) of {self.name} cannot be built and called: {type(error).__name__}: {error}"
        if output.dtype != np.float64:
            return f"a float64 layer of {self.name} returns {output.dtype} outputs"
        if float(output[0, 0]) != 1.1:
            return f"a float64 layer of {self.name} computes at float32 precision (a float64 Dense gives 1.1 * 1.0 != 1.1)"
        if not self.float64_tanh_stays_float64():
            return f"{self.name} computes parts of float64 layers in float32 (tanh of float64 returns float32)"
        return None

    # -- devices ----------------------------------------------------------------------------
    def devices(self) -> list[str]:
        """Visible devices as ``CPU:0``, ``CPU:1``, ``GPU:0``..."""
        return self.backend.devices()

    @contextlib.contextmanager
    def on_device(self, device):
        """Run the body with ``device`` as the default device (``None``: the framework's default).

        Every example runs inside one (the runner, the reproduction snippets), so the outermost one
        is also where the example's models go back to :attr:`models` (:meth:`ModelPool.example`)."""
        with self.models.example():
            if device is None:
                yield
                return
            self._device_stack.append(device)
            try:
                with self.backend.device_scope(device):
                    yield
            finally:
                self._device_stack.pop()

    def current_device(self) -> str:
        return self._device_stack[-1] if self._device_stack else "CPU:0"

    def device_of(self, value) -> str:
        return self.backend.device_of(value)

    # -- distribution -----------------------------------------------------------------------
    @contextlib.contextmanager
    def distribution(self):
        """A context manager, entered as ``with impl.distribution() as devices:``, in which models are
        built, called and fit data-parallel over ``devices`` (every GPU, or every CPU device when there
        are fewer than two GPUs); the backend raises NotApplicable, saying why, where the framework has
        no such API or there are fewer than two devices."""
        with self.backend.distribution(self.module) as devices:
            self._distribution_stack.append(tuple(devices))
            try:
                yield devices
            finally:
                self._distribution_stack.pop()

    def replica_devices(self, variable) -> list[str]:
        """The devices that hold a copy of ``variable``: one for a plain variable, one per replica for
        a variable mirrored by a distribution."""
        return self.backend.replica_devices(variable)


class BoundCall:
    """A layer called as ``bound((args, kwargs))``, the one-input form the backends call, with constant
    keyword arguments; its ``trainable_weights`` are the layer's."""

    def __init__(self, layer, call_kwargs):
        self.layer = layer
        self.call_kwargs = dict(call_kwargs)

    @property
    def trainable_weights(self):
        return self.layer.trainable_weights

    def __call__(self, inputs):
        args, kwargs = inputs
        return self.layer(*args, **kwargs, **self.call_kwargs)


class ModelPool:
    """Models kept from one example to the next, by key (see :meth:`Implementation.reused_model`).

    A model taken during an example stays that example's until the example ends, so two models of
    one example are never the same object; then it is free for a later example. A model whose example
    raised, or that :meth:`discard` names, is never handed out again: a call that raised may have left
    it half-way. Outside an example nothing is kept.
    """

    _discarded = set()  # ids of models that a running example took and must not give back
    # Free models kept at most: every contract at the default profile reuses almost as often with 128 as with
    # no limit (165 of 368 models, 162 with 128), and a thorough run's memory and garbage collections stay
    # bounded (each kept model holds its traced graphs: thousands of Python objects).
    capacity = 128

    def __init__(self):
        self._free = []  # (key, (model, state)), least recently given back first
        self._taken = []  # (key, (model, state)) of the running example
        self._depth = 0
        self.made = self.reused = 0

    @property
    def in_example(self) -> bool:
        return self._depth > 0

    @contextlib.contextmanager
    def example(self):
        """The body is one example (nested calls are part of the outermost one)."""
        self._depth += 1
        raised = False
        try:
            yield
        except BaseException:
            raised = True
            raise
        finally:
            self._depth -= 1
            if self._depth == 0:
                for key, entry in self._taken:
                    if not raised and id(entry[0]) not in ModelPool._discarded:
                        self._free.append((key, entry))
                    ModelPool._discarded.discard(id(entry[0]))
                self._taken.clear()
                del self._free[:max(0, len(self._free) - self.capacity)]  # the least recently used go

    def take(self, key, make, reset):
        """A model for ``key`` in the running example: a free one after ``reset(model, state)``, or the
        model of ``make()``'s ``(model, state)``."""
        found = [i for i, (free_key, _) in enumerate(self._free) if free_key == key]
        if found:
            _, entry = self._free.pop(found[-1])
            reset(*entry)
            self.reused += 1
        else:
            entry = make()
            self.made += 1
        self._taken.append((key, entry))
        return entry[0]

    @classmethod
    def discard(cls, model) -> None:
        """Never hand ``model`` out again (whichever pool it came from)."""
        cls._discarded.add(id(model))
