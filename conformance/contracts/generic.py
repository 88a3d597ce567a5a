"""Contracts that hold for any Keras-style layer: building, weights, calls, configs, gradients, training.

Each contract builds the layer from the implementation's :class:`~conformance.specs.LayerSpec`
(``impl.new_layer()``) and feeds it the spec's inputs (``impl.spec.examples()``), drawn through
``st.data()`` so that a failure shrinks to, and prints, the smallest input that shows it.
Calls without a ``training`` argument run in inference mode, as ``layer(x)`` does outside ``fit``.
A Dense-like implementation runs them too, on its spec ``Class(units=3)`` on vectors: they do the jobs
of the Dense contracts they replaced (``registry.ALIASES``).
"""

from __future__ import annotations

import copy as copy_module
import inspect

import numpy as np
from hypothesis import assume, strategies as st
from hypothesis.extra import numpy as hnp

from conformance import specs, strategies, structures
from conformance.fixtures import require
from conformance.fixtures.layers import aligned_copy, build_log_entry, count_builds, declared_shapes, shape_arguments
from conformance.registry import MUST, SHOULD, NotApplicable, contract
from conformance.specs import MAX_BATCH

DATA = {"data": st.data()}


# -- shared setup ------------------------------------------------------------------------------------


def _draw_input(impl, data, batch_sizes=None):
    return data.draw(impl.spec.examples(batch_sizes, mask=impl.draws_mask), label="x")


def _output(impl, layer, x, training=None):
    """``layer(x)`` as numpy; ``training`` is passed only when given, since a layer whose ``call`` takes
    no ``training`` argument (the reference's) runs in inference mode anyway."""
    return impl.numpy(impl.apply(layer, x, training))


def _built(impl, x, **overrides):
    """A fresh layer of the spec, built by a first call on ``x``."""
    layer = impl.new_layer(**overrides)
    impl.apply(layer, x)
    return layer


def _ids(variables) -> list:
    return [id(v) for v in variables]


def _takes_training(layer) -> bool:
    try:
        return "training" in inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return False


def _same_arrays(first, second) -> bool:
    """The same dtypes and values, nan where nan."""
    return len(first) == len(second) and all(
        np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b, equal_nan=np.asarray(a).dtype.kind in "fc")
        for a, b in zip(first, second)
    )


def _values_like(array):
    """A strategy of arrays with ``array``'s shape and dtype: floats in [-2, 2], integers in 0..9, booleans."""
    dtype = np.asarray(array).dtype
    if dtype.kind == "f":
        return strategies.float_arrays(array.shape, dtype)
    if dtype.kind == "b":
        return hnp.arrays(dtype, array.shape, elements=st.booleans())
    return hnp.arrays(dtype, array.shape, elements=st.integers(0, 9))


def _as_float64(value):
    """``value`` (an array or a structure of them) with its float arrays widened to float64."""
    return structures.map_leaves(lambda leaf: np.asarray(leaf).astype(np.float64) if structures.is_float(leaf) else np.asarray(leaf), value)


def _float_inputs(x) -> list:
    """The float arrays of ``x`` (an array or a spec's CallArgs) in flatten order: what gradients are taken of."""
    return [leaf for leaf in structures.flatten(x) if structures.is_float(leaf)]


def _with_float_inputs(x, values):
    """``x`` with its float arrays replaced by ``values``, in order."""
    values = iter(values)
    return structures.map_leaves(lambda leaf: next(values) if structures.is_float(leaf) else leaf, x)


def _model_output(impl, model, x):
    """The output of a model of :func:`_model_of` on ``x``, as numpy."""
    return impl.numpy(model(impl.tensor(impl.model_input(x))))


def _model_of(impl, layer, x):
    """A model holding only ``layer``: a Sequential for one input, a functional model for a spec's CallArgs."""
    return impl.model_on(layer, x) if isinstance(x, structures.CallArgs) else impl.sequential([layer])


def _layers_of(model) -> list:
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def _float64_twin(impl, layer, x):
    """``(twin, x64)``: a float64 layer of the spec holding ``layer``'s weights widened exactly, built by a
    call on ``x64`` (``x`` widened when it is float); NotApplicable, with the reason, when the layer or
    the framework cannot compute in float64."""
    reason = _float64_unavailable(impl)
    if reason:
        raise NotApplicable(reason)
    x64 = _as_float64(x)
    try:
        twin = _built(impl, x64, dtype="float64")
    except (TypeError, ValueError) as error:  # Hashing(output_mode="int") raises ValueError
        raise NotApplicable(f"{impl.spec.label} does not accept dtype='float64' ({type(error).__name__}: {error})") from None
    narrow = [name for name in map(impl.dtype_name, twin.weights) if "float" in name and name != "float64"]
    if narrow:
        raise NotApplicable(f"{impl.spec.label}(dtype='float64') holds weights of dtype {narrow[0]}, not float64")
    twin.set_weights([_as_float64(w) for w in layer.get_weights()])
    return twin, x64


def _output64(impl, twin, x64, compiled=False):
    """The float64 twin's output; NotApplicable when it is not float64 (then it is no reference)."""
    output = impl.compiled_call(twin, x64) if compiled else _output(impl, twin, x64)
    narrow = [leaf.dtype for leaf in structures.flatten(output) if leaf.dtype != np.float64]
    if narrow:
        raise NotApplicable(f"{impl.spec.label}(dtype='float64') returns {narrow[0]} outputs, not float64")
    return output


def _float64_unavailable(impl):
    """Why float64 results of ``impl`` are not float64-accurate (``None`` when they are): a float64
    ``Dense(1)`` must give 1.1 * 1.0 as the float64 1.1, not the float32 1.1 widened (Keras 3's torch
    matmul does the latter). Without a ``Dense`` the framework's float64 is taken at its word."""
    if not impl.has_layer("Dense"):
        return None
    probe = impl.layer("Dense", 1, dtype="float64")
    probe.build((1, 1))
    probe.set_weights([np.array([[1.1]]), np.array([0.0])])
    output = impl.numpy(probe(impl.tensor(np.array([[1.0]]))))
    if output.dtype != np.float64 or float(output[0, 0]) != 1.1:
        return "a float64 layer computes at float32 precision (a float64 Dense gives 1.1 * 1.0 != 1.1)"
    if not impl.float64_tanh_stays_float64():
        return "the framework computes parts of float64 layers in float32 (tanh of float64 returns float32)"
    return None


def _float32_allowance(pairs):
    """How far two float32 computations of the same exact value may lie apart, from ``pairs`` of
    (float32 result, float64 result of the same computation path).

    Per entry, |a - b| <= |a - t| + |b - t| for the exact value t; float64 stands in for t (its own error
    is ~2^-29 of float32's), so twice the largest float32 error seen on either path bounds every entry.
    One float32 ulp of the largest output covers float64's own error. A bug that makes the paths
    disagree shows in their float64 results, which this allowance never absorbs.
    """
    pairs = [(structures.vector(a), structures.vector(b)) for a, b in pairs]  # every output of the layer at once
    worst = max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in pairs)
    return 2 * worst + float(np.spacing(np.float32(_magnitude(*(b for _, b in pairs)))))


# A float64 twin that computes in float32 inside (keras-hub's LlamaLayerNorm casts its input to float32 whatever
# its dtype) carries float32's own rounding, so its results bound nothing. A gap beyond the twin's allowance but
# within this many float32 ulps of the largest output is then rounding or a bug, and the kit cannot tell which:
# not applicable, with the reason. A bug the contracts exist for (a batch statistic, Python state in a traced
# call, a half-precision fallback) moves outputs by far more, and fails as before.
FLOAT32_INSIDE_ULPS = 64


def _computes_in_float32(impl, twin, x64) -> bool:
    """Whether the float64 ``twin`` computes in float32 inside: fed ``x64`` moved off the float32 grid, a float64
    computation gives outputs that are not float32 values, one cast back from float32 gives nothing else.
    Undecided (False) without float inputs or with integer-valued outputs."""
    if not _float_inputs(x64):
        return False
    moved = structures.map_leaves(lambda leaf: leaf * (1 + 1e-9) + 1e-13 if structures.is_float(leaf) else leaf, x64)
    values = structures.vector(_output(impl, twin, moved))
    return bool(np.any(values != np.round(values)) and np.array_equal(values.astype(np.float32).astype(np.float64), values))


def _require_within(impl, twin, x64, gap, allowance, magnitude, message):
    """``gap`` within ``allowance``, else AssertionError(``message``); NotApplicable instead when the gap is within
    FLOAT32_INSIDE_ULPS float32 ulps of ``magnitude`` and the twin computes in float32 inside."""
    if gap <= allowance:
        return
    ulps = gap / float(np.spacing(np.float32(magnitude)))
    if ulps <= FLOAT32_INSIDE_ULPS and _computes_in_float32(impl, twin, x64):
        raise NotApplicable(f"{impl.spec.label}(dtype='float64') computes in float32 inside, so it is no float64 "
                            f"reference, and a gap of {ulps:.3g} float32 ulps cannot be told from rounding: {message}")
    raise AssertionError(message)


def _magnitude(*outputs) -> float:
    """The largest absolute value of the outputs (each an array or a structure of them); 0 for none."""
    return max((float(np.max(np.abs(structures.vector(output)), initial=0.0)) for output in outputs), default=0.0)


def _unless_spec_says_not(flag):
    """A ``requires`` that makes a contract n/a when the layer spec sets ``flag`` (a bool field) to False."""

    def requires(impl, device):
        return None if getattr(impl.spec, flag) else f"the layer spec of {impl.spec.label} declares {flag}=False"

    return requires


def _unless_set_up(impl, device):
    """A ``requires``: n/a for a spec with a setup hook, which builds the layer (an ``adapt``) before any
    contract sees it, so there is no unbuilt layer to build or inspect."""
    return None if impl.spec.setup is None else f"the layer spec of {impl.spec.label} has a setup hook ({impl.spec.setup}) that builds the layer"


def _targets(x, seed):
    """Regression targets in [-1, 1] for a Dense(1) head, one per row of ``x``."""
    return np.random.default_rng(seed).uniform(-1, 1, (structures.batch_size(x), 1)).astype(np.float32)


def _model_on(impl, layer, x):
    """A compiled Sequential of ``layer``, a flattening Reshape when its output on ``x`` has rank > 2, and
    Dense(1), built for ``x``'s shape (a functional model of a spec's inputs, the head on the first output). Reshape to the known width rather than Flatten: tf_keras infers
    an Embedding's symbolic output length as None, and a Dense after Flatten cannot be built from that."""
    outputs = structures.flatten(_output(impl, impl.new_layer(), x))
    if len(outputs) != 1 and not isinstance(x, structures.CallArgs):
        raise NotApplicable(f"{impl.spec.label} returns {len(outputs)} outputs: a Sequential cannot carry them to a Dense(1) "
                            "head (a spec with `inputs` gets a functional model, the head on its first output)")
    output_shape = outputs[0].shape
    head = []
    if len(output_shape) > 2:
        if not impl.has_layer("Reshape"):
            raise NotApplicable(f"{impl.name} has no Reshape layer to flatten {impl.spec.label}'s rank-{len(output_shape)} output before Dense(1)")
        head.append(impl.layer("Reshape", (int(np.prod(output_shape[1:])),)))
    head.append(impl.layer("Dense", 1))
    if isinstance(x, structures.CallArgs):
        model = impl.model_on(layer, x, head)
    else:
        model = impl.sequential([layer] + head)
        model.build((None,) + x.shape[1:])
    # SGD with a large step: a weight that should stay fixed and does not moves visibly.
    model.compile(optimizer=impl.optimizer("SGD", learning_rate=0.1), loss="mse")
    return model


# -- building ----------------------------------------------------------------------------------------


@contract(
    "GENERIC-EXPLICIT-BUILD",
    level=MUST,
    statement="layer.build((None,) + input_shape) marks the layer built and creates the same weight shapes as a "
    "first call; with equal weights both layers give the same output.",
    rationale="Models are built from shapes (Sequential.build, Input) as often as from data; the two paths must "
    "agree, or a layer behaves differently depending on how it was first used. Every other generic contract "
    "builds layers, so this is their root.",
    given=DATA,
    rests_on=(),
    requires=_unless_set_up,
)
def check_generic_explicit_build(impl, data):
    """Build one layer with build((None,) + x.shape[1:]) and one by calling it on x; compare `built`, the
    weight shapes, and (after copying the weights) the two outputs bit for bit unless the spec declares
    the layer non-deterministic."""
    x = _draw_input(impl, data)
    explicit = impl.new_layer()
    args, kwargs = shape_arguments(explicit, x)
    explicit.build(*args, **kwargs)
    require(explicit.built is True, f"built is {explicit.built!r} after build(*{args}, **{kwargs}), expected True")
    lazy = _built(impl, x)
    explicit_shapes = [tuple(w.shape) for w in explicit.weights]
    lazy_shapes = [tuple(w.shape) for w in lazy.weights]
    require(explicit_shapes == lazy_shapes, f"build() made weights of shapes {explicit_shapes}, a first call made {lazy_shapes}")
    if not impl.spec.deterministic:
        return  # its outputs differ from call to call anyway
    explicit.set_weights(lazy.get_weights())
    a, b = _output(impl, explicit, x), _output(impl, lazy, x)
    require(structures.same(a, b, equal_nan=True),
            f"an explicitly built and a lazily built layer with equal weights give different outputs: {a} vs {b}")


@contract(
    "GENERIC-UNBUILT-AT-INIT",
    level=SHOULD,
    statement="A freshly constructed layer holds no weights, and is not built unless it has no weights to create.",
    rationale="Lazy building is what lets a layer be declared before its input size is known; a layer that "
    "creates weights in __init__ cannot adapt to its input. Keras 3 marks stateless layers (Dropout) built "
    "at construction, which is harmless only if their first call indeed creates nothing. A SHOULD: Keras's "
    "subclassing guide allows weights created in __init__ when their shape does not depend on the input.",
    given=DATA,
    rests_on=(),
    requires=_unless_set_up,
)
def check_generic_unbuilt_at_init(impl, data):
    """Construct the layer and read `built`, `weights` and `trainable_weights`; when `built` is already
    True, call it on a drawn input and require that it still holds no weights."""
    layer = impl.new_layer()
    require(len(layer.weights) == 0, f"{len(layer.weights)} weights right after construction, expected none")
    require(len(layer.trainable_weights) == 0, "trainable_weights is not empty right after construction")
    if layer.built:
        x = _draw_input(impl, data)
        impl.apply(layer, x)
        require(len(layer.weights) == 0, f"built is True right after construction, yet the first call created "
                f"{len(layer.weights)} weights (shapes {[tuple(w.shape) for w in layer.weights]})")


@contract(
    "GENERIC-BUILD-ONCE",
    level=MUST,
    statement="The first call builds the layer exactly once, with the full input shape; later calls with other "
    "batch sizes never rebuild and keep the same weight objects.",
    rationale="Rebuilding on a later call silently re-initialises trained weights; building from the wrong "
    "shape gives weights of the wrong size.",
    given={**DATA, "later": st.lists(st.integers(1, MAX_BATCH + 2), min_size=1, max_size=3)},
)
def check_generic_build_once(impl, data, later):
    """Call a layer whose build is wrapped to count on x, then on inputs of the same shape with the later
    batch sizes; the build log must be exactly [x.shape] (none for a layer built at construction) and
    the weight objects must stay the same."""
    x = _draw_input(impl, data)
    log = []
    layer = count_builds(impl.new_layer(), log)
    built_at_init = layer.built
    impl.apply(layer, x)
    require(layer.built is True, "built is not True after the first call")
    expected = [] if built_at_init else [build_log_entry(*shape_arguments(layer, x, batch="actual"))]
    shape = structures.shapes(x) if isinstance(x, structures.CallArgs) else x.shape
    require(log == expected, f"build calls after the first call on shape {shape}: {log}, expected {expected}")
    weights = list(layer.weights)
    for batch in later:
        rows = structures.resized(x, batch)  # x's rows repeated: the values do not matter here
        impl.apply(layer, rows)
        require(log == expected, f"calling with batch size {batch} after building rebuilt the layer: build calls {log}")
        require(_ids(layer.weights) == _ids(weights), f"calling with batch size {batch} replaced the layer's weight objects")


@contract(
    "GENERIC-NO-WEIGHTS-IN-CALL",
    level=MUST,
    statement="Calls after the first create no weights, in inference or training mode.",
    rationale="A layer that adds a weight in call() grows with every call: the optimizer never sees the new "
    "weights, checkpoints stop matching, and a tf.function trace creates variables it cannot keep.",
    given={**DATA, "calls": st.integers(1, 3)},
)
def check_generic_no_weights_in_call(impl, data, calls):
    """Call the layer on x, then `calls` more times (alternating training=False and True when its call
    takes `training`); `weights` must keep the same objects after every call."""
    x = _draw_input(impl, data)
    layer = _built(impl, x)
    weights = _ids(layer.weights)
    modes = [False, True] if _takes_training(layer) else [None]
    for number in range(calls):
        training = modes[number % len(modes)]
        _output(impl, layer, x, training=training)
        require(_ids(layer.weights) == weights, f"call {number + 2} (training={training}) changed the weights: "
                f"{len(weights)} before, {len(layer.weights)} after")


@contract(
    "GENERIC-WEIGHTS-PARTITION",
    level=MUST,
    statement="weights is exactly trainable_weights followed by non_trainable_weights (the same objects, none "
    "twice), in the same order on every call.",
    rationale="get_weights/set_weights, checkpoints and optimizers index weights by position; a weight listed "
    "twice is updated twice, one missing from weights is never saved, and an order that changes between "
    "calls loads weights into the wrong variables.",
    given=DATA,
)
def check_generic_weights_partition(impl, data):
    """Compare the ids of weights with those of trainable_weights + non_trainable_weights after the first
    call, and again after a second call."""
    x = _draw_input(impl, data)
    layer = _built(impl, x)
    first = _ids(layer.weights)
    for when in ("after the first call", "after a second call"):
        if when != "after the first call":
            impl.apply(layer, x)
        weights = _ids(layer.weights)
        parts = _ids(layer.trainable_weights) + _ids(layer.non_trainable_weights)
        require(len(set(weights)) == len(weights), f"{when}, weights lists a variable twice")
        require(weights == parts, f"{when}, weights ({len(weights)}) is not trainable_weights "
                f"({len(layer.trainable_weights)}) + non_trainable_weights ({len(layer.non_trainable_weights)}) in order")
        require(weights == first, f"{when}, the order of weights changed")


@contract(
    "GENERIC-SET-GET-WEIGHTS",
    level=MUST,
    statement="set_weights then get_weights returns exactly the values set, and later changes to the caller's "
    "arrays do not reach the layer.",
    rationale="Copying weights between models and loading checkpoints rely on an exact round trip; aliasing "
    "the caller's arrays lets an unrelated edit change a model.",
    given=DATA,
)
def check_generic_set_get_weights(impl, data):
    """Build on x, draw new values of every weight's shape and dtype, set them, read them back exactly, then
    add 1 to the arrays that were set (64-byte-aligned copies, the buffers a framework that shares memory
    shares) and read again."""
    x = _draw_input(impl, data)
    layer = _built(impl, x)
    values = [data.draw(_values_like(w), label=f"weight {i}") for i, w in enumerate(layer.get_weights())]
    given = [aligned_copy(v) for v in values]
    layer.set_weights(given)
    require(_same_arrays(layer.get_weights(), values), "get_weights differs from the arrays passed to set_weights")
    for array in given:
        array += array.dtype.type(1)
    require(_same_arrays(layer.get_weights(), values), "changing the arrays passed to set_weights changed the layer's weights")


@contract(
    "GENERIC-INPUTS-UNCHANGED",
    level=MUST,
    statement="Calling the layer, on a numpy array or on a tensor made from one, never changes that array.",
    rationale="Users reuse their data after a call; a layer that writes into its input (an in-place "
    "normalisation, a buffer shared with the framework) corrupts the dataset silently.",
    given=DATA,
)
def check_generic_inputs_unchanged(impl, data):
    """Call the layer on x itself and on impl.tensor(x) (in training mode too when its call takes
    `training`), then compare x with a copy taken before, bit for bit."""
    x = _draw_input(impl, data)
    before = structures.copied(x)
    layer = impl.new_layer()
    if isinstance(x, structures.CallArgs):
        layer(*x.args, **x.kwargs, **impl.spec.call_kwargs)
    else:
        layer(x)
    require(structures.same(x, before, equal_nan=True), "calling the layer on a numpy array changed the array")
    for training in [None, True] if _takes_training(layer) else [None]:
        _output(impl, layer, x, training=training)
        require(structures.same(x, before, equal_nan=True), f"calling the layer (training={training}) changed the array its input tensor was made from")


@contract(
    "GENERIC-DETERMINISTIC-INFERENCE",
    level=MUST,
    statement="The same input twice in inference mode gives bit-identical outputs.",
    rationale="predict() and evaluate() must be repeatable; a layer that stays random at inference (dropout "
    "left on) makes every metric noisy and every saved prediction irreproducible.",
    given=DATA,
    requires=_unless_spec_says_not("deterministic"),
)
def check_generic_deterministic_inference(impl, data):
    """Call the built layer twice on x with training=False (no argument when its call takes none) and
    compare the outputs bit for bit."""
    x = _draw_input(impl, data)
    layer = _built(impl, x)
    training = False if _takes_training(layer) else None
    first, second = _output(impl, layer, x, training), _output(impl, layer, x, training)
    require(structures.same(first, second, equal_nan=True), f"two inference calls on the same input differ: {first} vs {second}")


def _shape_list(shape):
    """A declared shape as a tuple of ints and None (TensorShape, list or tuple)."""
    as_list = getattr(shape, "as_list", None)
    return tuple(as_list() if as_list else shape)


@contract(
    "GENERIC-OUTPUT-SHAPE",
    level=MUST,
    statement="compute_output_shape((None,) + input_shape) agrees with the shape of the eager output, with None "
    "for the batch axis.",
    rationale="Functional models and Sequential.summary() build from compute_output_shape without running the "
    "layer; a declared shape that differs from the real one breaks the next layer's build.",
    given=DATA,
)
def check_generic_output_shape(impl, data):
    """Compare compute_output_shape((None,) + x.shape[1:]) with (None,) + layer(x).shape[1:]; NotApplicable when
    the layer has no compute_output_shape or it raises NotImplementedError."""
    x = _draw_input(impl, data)
    layer = impl.new_layer()
    output = _output(impl, layer, x)
    if not hasattr(layer, "compute_output_shape"):
        raise NotApplicable(f"{impl.spec.label} has no compute_output_shape")
    args, kwargs = shape_arguments(layer, x, target=layer.compute_output_shape)
    kwargs.update(_accepted(layer.compute_output_shape, impl.spec.call_kwargs))
    try:
        declared = layer.compute_output_shape(*args, **kwargs)
    except NotImplementedError as error:
        raise NotApplicable(f"{impl.spec.label}.compute_output_shape raises NotImplementedError ({error})") from None
    declared = _shape_list(declared) if not structures.is_structure(output) else declared_shapes(declared)
    expected = (None,) + output.shape[1:] if not structures.is_structure(output) else [(None,) + s[1:] for s in structures.shapes(output)]
    arguments = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    require(declared == expected, f"compute_output_shape({arguments}) = {declared}, the output has shape "
            f"{structures.shapes(output)}, expected {expected}")


def _accepted(function, call_kwargs) -> dict:
    """The constant call arguments of the spec that ``function`` takes by name (ReversibleEmbedding's
    ``compute_output_shape(input_shape, reverse=False)`` follows its call's ``reverse``)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}
    return {name: value for name, value in call_kwargs.items() if name in parameters}


def _same_config(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_config(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_config(p, q) for p, q in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


@contract(
    "GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER",
    level=MUST,  # a rebuilt layer that computes something else corrupts saved models without any error
    statement="When from_config(get_config()) succeeds, the rebuilt layer has the same config and, holding the same "
    "weights, gives bit-identical outputs; when a .keras save and load_model succeed, the loaded layer has the same "
    "class, config and weights and the model gives bit-identical outputs.",
    rationale="Saving, loading and cloning models (keras.models.clone_model, model.save, load_model) rebuild every "
    "layer from its config; an argument the config forgets comes back as its default (tanh becomes linear), and "
    "state kept outside the weights comes back different, both silently. A layer that cannot be rebuilt at all "
    "fails loudly instead: GENERIC-CONFIG-SERIALIZABLE reports that.",
    given=DATA,
)
def check_generic_config_round_trip_same_layer(impl, data):
    """Build on x and rebuild with from_config(get_config()): compare the configs, copy the weights and compare the
    outputs on x bit for bit. Call Sequential([layer]) on x, save it to a temporary .keras file and load it with
    saving.load_model (every layer class given as a custom object): compare the layer's class, config and
    get_weights, and the outputs, bit for bit. Outputs are compared only when the spec declares the layer
    deterministic. A rebuild or a save/load that raises is left to GENERIC-CONFIG-SERIALIZABLE; NotApplicable
    when neither could run."""
    x = _draw_input(impl, data)
    unavailable = [_rebuilt_from_config_agrees(impl, x), _loaded_model_agrees(impl, x)]
    if all(unavailable):
        raise NotApplicable("; ".join(unavailable))


def _has_no_config(impl):
    """Why the layer cannot even be asked for its config (``None`` when it has get_config and from_config)."""
    if not hasattr(impl.layer_class, "from_config") or not hasattr(impl.layer_class, "get_config"):
        return f"{impl.spec.label} has no get_config/from_config"
    return None


def _config_to_consume(layer, config):
    """A copy of ``config`` for from_config, which may change the dict it gets (Keras's wrappers pop keys from
    it): a deep copy, or a second ``get_config()`` where the config holds something that cannot be copied (on
    OpenVINO, LayerNormalization's axis is a TrackedList whose tracker holds OpenVINO outputs). Copying is the
    kit's own step, so it must not fail the layer."""
    try:
        return copy_module.deepcopy(config)
    except Exception:
        return layer.get_config()


def _rebuilt_from_config_agrees(impl, x):
    """Checks the layer rebuilt from its config; gives why it could not be rebuilt (``None`` when it was)."""
    if _has_no_config(impl):
        return _has_no_config(impl)
    layer = _built(impl, x)
    try:
        config = layer.get_config()
        copy = type(layer).from_config(_config_to_consume(layer, config))
    except Exception as error:  # a capability, reported by GENERIC-CONFIG-SERIALIZABLE
        return f"from_config(get_config()) raised {type(error).__name__} (GENERIC-CONFIG-SERIALIZABLE reports it)"
    require(_same_config(copy.get_config(), config), f"from_config(get_config()) has config {copy.get_config()}, expected {config}")
    impl.apply(copy, x)
    copy.set_weights(layer.get_weights())
    if impl.spec.deterministic:
        a, b = _output(impl, layer, x), _output(impl, copy, x)
        require(structures.same(a, b, equal_nan=True),
                f"the layer rebuilt from its config, holding the same weights, gives {b}, the original {a}")
    return None


def _loaded_model_agrees(impl, x):
    """Checks a model of the layer (a Sequential, or a functional model of a spec's inputs) saved to .keras and
    loaded back; gives why it could not be saved and loaded (``None`` when it was)."""
    layer = impl.new_layer()
    model = _model_of(impl, layer, x)
    before = _model_output(impl, model, x)
    try:
        loaded = impl.save_and_load(model)
    except NotApplicable as reason:
        return str(reason)
    except Exception as error:  # a capability, reported by GENERIC-CONFIG-SERIALIZABLE
        return f"saving and loading a model holding it raised {type(error).__name__} (GENERIC-CONFIG-SERIALIZABLE reports it)"
    require(len(_layers_of(loaded)) == 1, f"the loaded model has {len(_layers_of(loaded))} layers, the saved one 1")
    copy = _layers_of(loaded)[0]
    require(type(copy) is type(layer), f"the loaded layer is a {type(copy).__name__}, the saved one a {type(layer).__name__}")
    require(_same_config(copy.get_config(), layer.get_config()),
            f"the loaded layer has config {copy.get_config()}, the saved one {layer.get_config()}")
    require(_same_arrays(copy.get_weights(), layer.get_weights()),
            f"the loaded layer's weights {copy.get_weights()} differ from the saved ones {layer.get_weights()}")
    if impl.spec.deterministic:
        after = _model_output(impl, loaded, x)
        require(structures.same(after, before, equal_nan=True), f"the loaded model gives {after}, the saved one {before}")
    return None


@contract(
    "GENERIC-CONFIG-SERIALIZABLE",
    level=SHOULD,  # serialization is a capability: a layer without it still computes and trains
    statement="The layer can be rebuilt from its config (from_config(get_config()) raises nothing) and, where the "
    "framework has a .keras format, a model holding it can be saved and loaded back.",
    rationale="Saving, loading and cloning models need every layer to be rebuildable from its config; a layer "
    "whose __init__ takes no **kwargs (the book's SimpleDense) or whose config misses a required argument "
    "cannot be saved. That fails loudly, so it is a missing capability, not a silent error.",
    given=DATA,
)
def check_generic_config_serializable(impl, data):
    """Build on x, call type(layer).from_config(get_config()); save Sequential([layer]) to a temporary .keras
    file and load it with saving.load_model (every layer class given as a custom object); either raising fails.
    NotApplicable without get_config/from_config."""
    if _has_no_config(impl):
        raise NotApplicable(_has_no_config(impl))
    x = _draw_input(impl, data)
    layer = _built(impl, x)
    try:
        type(layer).from_config(_config_to_consume(layer, layer.get_config()))
    except Exception as error:
        raise AssertionError(f"the layer cannot be rebuilt from its config: from_config(get_config()) raised "
                             f"{type(error).__name__}: {error}") from None
    model = _model_of(impl, impl.new_layer(), x)
    _model_output(impl, model, x)
    try:
        impl.save_and_load(model)
    except NotApplicable:
        return  # no .keras format: the config round trip is all there is
    except Exception as error:
        raise AssertionError(f"a model holding the layer cannot be saved and loaded: {type(error).__name__}: {error}") from None


MIXED_POLICY = "mixed_float16"


@contract(
    "GENERIC-MIXED-PRECISION",
    # MUST: Keras's own layer harness (run_layer_test, run_mixed_precision_check=True by default) demands
    # it of every built-in layer, and all 42 layers of docs/keras-layers.toml meet it on keras, tf_keras
    # and Keras on torch.
    level=MUST,
    statement="Created and called under the mixed_float16 dtype policy, the layer returns float16 outputs (where "
    "it returns floats at all) and keeps every float weight in float32.",
    rationale="Mixed precision is how models train fast on accelerators: compute in float16, variables in float32 "
    "so that small updates are not rounded away. A layer that casts back to float32 loses the speed and hands "
    "the next layer the wrong dtype; one that stores float16 weights stops learning from small gradients.",
    given=DATA,
)
def check_generic_mixed_precision(impl, data):
    """Under impl.dtype_policy('mixed_float16') (the previous policy restored afterwards), create the layer
    and call it on x as drawn (float32 data, as users feed it, or the spec's integers); read the dtype of
    the output and of every float weight; an integer or boolean output (an argmax, a mask) is left as it
    is. NotApplicable where the framework has no global dtype policy."""
    x = _draw_input(impl, data)
    with impl.dtype_policy(MIXED_POLICY):
        layer = impl.new_layer()
        output = impl.apply(layer, x)
    narrow = {f"weight {i} ({getattr(w, 'name', '?')})": name for i, w in enumerate(layer.weights)
              if "float" in (name := impl.dtype_name(w)) and name != "float32"}
    require(not narrow, f"under {MIXED_POLICY} the layer holds float weights that are not float32: {narrow}")
    for name, leaf in zip(structures.paths(output), structures.flatten(output)):
        returned = impl.dtype_name(leaf)
        require(returned == "float16" or "float" not in returned,
                f"under {MIXED_POLICY} the layer returns outputs of dtype {returned}, expected float16"
                + (f" (its output {name})" if structures.is_structure(output) else ""))


@contract(
    "GENERIC-BATCH-INDEPENDENCE",
    level=MUST,
    statement="In inference mode each row of layer(X) equals layer(X[i:i+1]) within float32 rounding.",
    rationale="predict() splits data into batches of any size; a layer whose inference output for one row "
    "depends on the other rows (batch statistics left on, a reduction over the wrong axis) gives results "
    "that change with the batch size.",
    given=DATA,
    requires=_unless_spec_says_not("batch_independent"),
)
def check_generic_batch_independence(impl, data):
    """Compare every row of layer(X) with layer(X[i:i+1]), allowing twice the largest float32 error seen on
    either path (each path's float32 result against the same path in float64, weights widened exactly)
    plus one float32 ulp of the output; an entry nan or infinite in any result must be of one kind in both (nan,
    the same infinity). NotApplicable when the layer cannot compute in float64."""
    x = _draw_input(impl, data, batch_sizes=st.integers(2, MAX_BATCH))
    layer = _built(impl, x)
    twin, x64 = _float64_twin(impl, layer, x)
    full, full64 = _output(impl, layer, x), _output64(impl, twin, x64)
    rows = [(_output(impl, layer, structures.rows(x, i, i + 1)), _output64(impl, twin, structures.rows(x64, i, i + 1)))
            for i in range(structures.batch_size(x))]
    allowance = _float32_allowance([_finite_entries(*pair) for pair in [(full, full64)] + rows])
    for i, (row, row64) in enumerate(rows):
        in_full = structures.rows(full, i, i + 1)
        require(structures.shapes(row) == structures.shapes(in_full), f"layer(X[{i}:{i + 1}]) has output shapes "
                f"{structures.shapes(row)}, row {i} of layer(X) {structures.shapes(in_full)}")
        what = f"row {i} of layer(X) is {in_full}, layer(X[{i}:{i + 1}]) is {row}"
        a, b = _finite_entries(row, in_full, row64, structures.rows(full64, i, i + 1), what=what)
        gap = float(np.max(np.abs(a - b), initial=0.0))
        _require_within(impl, twin, x64, gap, allowance, _magnitude(full),
                        f"{what}: they differ by {gap:.3g}, more than the float32 allowance {allowance:.3g}")


@contract(
    "GENERIC-COMPILED-EQUALS-EAGER",
    level=SHOULD,
    statement="The output inside a compiled function (tf.function, jax.jit) equals the eager output within "
    "float32 rounding.",
    rationale="fit() and predict() run the layer compiled; a layer whose graph path differs from its eager path "
    "(Python-side state, a branch on a tensor value) trains a different function from the one users test.",
    given=DATA,
)
def check_generic_compiled_equals_eager(impl, data):
    """Compare impl.compiled_call(layer, x) with layer(x) in inference mode, allowing twice the largest float32
    error of either path against the same path in float64 plus one float32 ulp of the output; an entry nan or
    infinite in any result must be of one kind in both (nan, the same infinity)."""
    x = _draw_input(impl, data)
    layer = _built(impl, x)
    twin, x64 = _float64_twin(impl, layer, x)
    eager, compiled = _output(impl, layer, x), impl.compiled_call(layer, x)
    pairs = [(eager, _output64(impl, twin, x64)), (compiled, _output64(impl, twin, x64, compiled=True))]
    _require_agrees("the compiled output", compiled, eager, pairs, twin=(impl, twin, x64))


def _finite_entries(first, second, *bounds, what=None):
    """The entries of two float32 results (arrays or structures of them, flattened) that the float64 ``bounds``
    can judge: finite in both and in every bound. An entry nan or infinite in any of them (a log of a negative
    input, an overflow, weights a fit drove to infinity) is bounded by no float64 result; there, when ``what``
    is given, the two must be of one kind (both finite, both nan, the same infinity), else AssertionError."""
    a, b = structures.vector(first), structures.vector(second)
    judged = np.isfinite(a) & np.isfinite(b)
    for bound in bounds:
        judged &= np.isfinite(structures.vector(bound))
    if what is not None:
        alike = (a == b) | (np.isnan(a) & np.isnan(b)) | (np.isfinite(a) & np.isfinite(b))
        unlike = np.flatnonzero(~alike)
        if unlike.size:
            i = int(unlike[0])
            raise AssertionError(f"{what}: entry {i} of the flattened outputs is {a[i]} against {b[i]}, and where a "
                                 "value is nan or infinite both must be the same")
    return a[judged], b[judged]


def _require_agrees(what, output, eager, pairs, reference="the eager call", twin=None):
    """``output`` (``what``) has the shapes of ``eager`` (what ``reference`` gives) and is within the float32
    allowance of ``pairs`` (see :func:`_float32_allowance`) of it; ``twin``, ``(impl, twin, x64)``, when a
    small gap may be n/a for a twin that computes in float32 inside (:func:`_require_within`).
    ``pairs`` are (float32, float64) results of the same shapes as ``output``; entries nan or infinite in any
    of them are judged by kind, not by the allowance (:func:`_finite_entries`)."""
    require(structures.shapes(output) == structures.shapes(eager),
            f"{what} has shapes {structures.shapes(output)}, {reference} {structures.shapes(eager)}")
    bounds = [side for pair in pairs for side in pair]
    a, b = _finite_entries(output, eager, *bounds, what=f"{what} is {output}, {reference} gives {eager}")
    allowance = _float32_allowance([_finite_entries(*pair, *bounds) for pair in pairs])
    gap = float(np.max(np.abs(a - b), initial=0.0))
    message = f"{what} is {output}, {reference} gives {eager}: they differ by {gap:.3g}, more than the float32 allowance {allowance:.3g}"
    if twin is None:
        require(gap <= allowance, message)
    else:
        _require_within(*twin, gap, allowance, _magnitude(a, b), message)


# -- gradients and training --------------------------------------------------------------------------

FLOAT64_EPS = float(np.finfo(np.float64).eps)
# float64's unit roundoff over float32's: a computation's float64 rounding error is about this
# fraction of the same computation's float32 error, cancellations inside the layer included.
FLOAT64_OVER_FLOAT32 = 2.0**-29
# Central differences: h = cbrt(eps) * scale balances truncation O(h^2) against rounding O(eps / h).
FD_STEP = FLOAT64_EPS ** (1 / 3)
FD_DIRECTIONS = 3
# The float32 error measured at a point can be small by chance; the float64 allowance takes the largest
# seen over all evaluated points, times this margin, and a 64-ulp floor of the loss's own terms.
FD_ROUNDING_MARGIN = 16
FD_FLOOR_ULPS = 64
# Kinks (a ReLU at 0, a tie in a max) sit exactly where shrinking goes, and there the derivative does not
# exist: the tape's choice of subgradient is right and no finite difference can confirm it. The gradient is
# therefore checked at the drawn input moved by a random 2^-10 of its scale, which misses them almost surely.
FD_JITTER = 2.0**-10


def _input_ranges(impl) -> list:
    """The declared ``(low, high)`` of each float input of the spec, in flatten order (a drawn mask is no float)."""
    if impl.spec.inputs is None:
        return [impl.spec.input_range]
    return [leaf.range for leaf in structures.flatten(specs.as_call(impl.spec.inputs)) if leaf.dtype in specs.FLOAT_DTYPES]


def _jittered(x, input_range, seed):
    """``x`` moved by up to ``FD_JITTER * max(1, |x|)`` per entry, kept inside the spec's input range."""
    rng = np.random.default_rng(seed)
    moved = x + FD_JITTER * np.maximum(1.0, np.abs(x)) * rng.uniform(-1.0, 1.0, x.shape)
    return np.clip(moved, *input_range)


def _directional_derivatives(loss, parameters, direction, step):
    """Central differences of ``loss`` along ``direction`` with steps h, 2h and 4h, and the one-sided
    differences ``(right, left)`` at h and at 2h (for points where the layer has a kink)."""
    def at(t):
        return loss([p + t * d for p, d in zip(parameters, direction)])

    centre = at(0.0)
    central, one_sided = [], []
    for h in (step, 2 * step, 4 * step):
        plus, minus = at(h), at(-h)
        central.append((plus - minus) / (2 * h))
        one_sided.append(((plus - centre) / h, (centre - minus) / h))
    return central, one_sided[:2]


def _at_a_kink(one_sided, tolerance) -> bool:
    """Whether the layer has a kink here along the direction (max pooling at a tie, ReLU or PReLU at 0).

    The gap between the right and left slopes at step h is ``J + L'' h + O(h^3)``: ``J``, the jump in
    slope, is zero where the layer is smooth. ``2 gap(h) - gap(2h)`` removes the curvature term and
    leaves ``J`` (up to ``O(h^3)``, far below the truncation estimate); a kink is a ``J`` above
    ``tolerance`` (rounding and truncation of the slopes)."""
    (right, left), (right2, left2) = one_sided
    return abs(2 * (right - left) - (right2 - left2)) > tolerance


def _near_a_kink(central, rounding) -> bool:
    """Whether a kink lies within the steps, not at the point itself: smooth central differences differ
    by ``O(h^2)``, so ``D(2h) - D(4h)`` is about 4 times ``D(h) - D(2h)``; a kink inside the step makes
    them shrink like ``1/h`` instead (a ratio near 2), or leaves one of them at zero."""
    first, second = central[0] - central[1], central[1] - central[2]
    if max(abs(first), abs(second)) <= 4 * rounding:
        return False  # no truncation visible above rounding
    return first == 0 or not 3 <= second / first <= 5


def _zero_where_constant(loss, parameters, index, name, step, rng):
    """Zeros for a gradient that came back ``None``, when the loss is exactly constant along parameter
    ``index`` (an output that depends on the input's shape only, as a position embedding's does): then
    "no gradient" and the finite differences agree. Fails when a step of h or 4h along that parameter
    alone moves the loss at all: something the output depends on gets no gradient."""
    parameter = parameters[index]
    direction = [np.zeros_like(p) for p in parameters]
    direction[index] = rng.standard_normal(parameter.shape) / np.sqrt(max(parameter.size, 1))
    centre = loss(parameters)
    for h in (step, -step, 4 * step, -4 * step):
        moved = loss([p + h * d for p, d in zip(parameters, direction)])
        require(moved == centre, f"no gradient reaches {name} (it came back as None), yet moving {name} by {h:.2g} along a "
                f"random direction changes sum(output * g) from {centre!r} to {moved!r}")
    return np.zeros_like(parameter)


@contract(
    "GENERIC-GRAD-FINITE-DIFFERENCE",
    level=MUST,
    statement="In float64, the gradient of sum(output * g) with respect to the float input and every trainable "
    "weight agrees with central finite differences of the layer's own forward pass; a missing (None) gradient "
    "agrees only where the output does not depend on that input or weight at all.",
    rationale="fit() is only as right as the backward pass; a custom gradient, a fused kernel or a stop_gradient "
    "in the wrong place trains the wrong function without any error.",
    given={**DATA, "direction_seed": st.integers(0, 2**16)},
)
def check_generic_grad_finite_difference(impl, data, direction_seed):
    """For 3 random unit directions v over (x if float, trainable weights), compare <tape gradient, v> with
    the central difference D(h) of L = sum(layer(x) * g) in float64, h = cbrt(eps) * max(1, |p|). Allowed:
    the truncation estimate max(|D(h) - D(2h)|, |D(2h) - D(4h)| / 4) (Richardson: ~3x D(h)'s own), plus the
    rounding of the losses over 2h, measured: 16 * 2^-29 times the largest |L32 - L64| of the float32 layer
    at the same points (floor: 64 ulps of sum |output * g|), plus 64 ulps of sum |gradient * v| for the tape.
    The float input is first moved by a random 2^-10 of its scale, off the kinks shrinking goes to; a
    direction along which the differences still show a kink decides nothing. A None gradient counts as zeros
    when steps of +-h and +-4h along that parameter alone leave L bit for bit unchanged, and fails otherwise.
    NotApplicable when the layer cannot compute in float64."""
    x32 = _draw_input(impl, data)
    layer32 = _built(impl, x32)
    layer, x = _float64_twin(impl, layer32, x32)
    x = _with_float_inputs(x, [_jittered(value, low_high, direction_seed + i)
                               for i, (value, low_high) in enumerate(zip(_float_inputs(x), _input_ranges(impl)))])
    output = _output64(impl, layer, x)
    cotangent = structures.map_leaves(
        lambda leaf: data.draw(strategies.cotangents(leaf.shape).map(_as_float64), label="cotangent"), output)
    grad_x, grad_weights = impl.vjp(layer, x, cotangent)
    trainable = _ids(layer.trainable_weights)
    values = layer.get_weights()
    positions = [i for i, w in enumerate(layer.weights) if id(w) in trainable]
    inputs = _float_inputs(x)
    floats = [structures.is_float(leaf) for leaf in structures.flatten(x)]
    input_names = (["the input"] if not isinstance(x, structures.CallArgs)
                   else [f"input {name}" for name, is_float in zip(structures.paths(x), floats) if is_float])
    parameters = inputs + [values[i] for i in positions]
    names = input_names + [f"trainable weight {n} (weights[{i}])" for n, i in enumerate(positions)]
    gradients = [g for g, is_float in zip(structures.flatten(grad_x), floats) if is_float] + list(grad_weights)
    for name, gradient, parameter in zip(names, gradients, parameters):
        require(gradient is None or np.shape(gradient) == parameter.shape,
                f"the gradient of {name} has shape {np.shape(gradient)}, expected {parameter.shape}")
    if not parameters:
        raise NotApplicable(f"{impl.spec.label} has integer inputs and no trainable weights: nothing to differentiate")
    narrow = [np.asarray(w).dtype for w in layer32.get_weights()]
    rounding_errors = []

    def loss(point):
        """L in float64 at ``point``; records a float64 rounding estimate from L in float32 there."""
        at_inputs, weights = _with_float_inputs(x, point[:len(inputs)]), point[len(inputs):]
        full = list(values)
        for i, value in zip(positions, weights):
            full[i] = value
        layer.set_weights(full)
        layer32.set_weights([w.astype(dtype) for w, dtype in zip(full, narrow)])
        terms = structures.vector(_output(impl, layer, at_inputs)) * structures.vector(cotangent)
        total = float(np.sum(terms))
        narrowed = _with_float_inputs(at_inputs, [v.astype(w.dtype) for v, w in zip(_float_inputs(at_inputs), _float_inputs(x32))])
        total32 = float(np.sum(structures.vector(_output(impl, layer32, narrowed)) * structures.vector(cotangent)))
        rounding_errors.append(max(FD_ROUNDING_MARGIN * FLOAT64_OVER_FLOAT32 * abs(total32 - total),
                                   FD_FLOOR_ULPS * FLOAT64_EPS * float(np.sum(np.abs(terms)))))
        return total

    step = FD_STEP * max(1.0, max(float(np.max(np.abs(p), initial=0.0)) for p in parameters))
    rng = np.random.default_rng(direction_seed)
    gradients = [_zero_where_constant(loss, parameters, index, names[index], step, rng) if gradient is None else gradient
                 for index, gradient in enumerate(gradients)]
    for _ in range(FD_DIRECTIONS):
        direction = [rng.standard_normal(p.shape) for p in parameters]
        norm = np.sqrt(sum(float(np.sum(d * d)) for d in direction))
        direction = [d / norm for d in direction]
        (numeric, double, quadruple), one_sided = _directional_derivatives(loss, parameters, direction, step)
        analytic = sum(float(np.sum(g * d)) for g, d in zip(gradients, direction))
        truncation = max(abs(numeric - double), abs(double - quadruple) / 4)
        loss_rounding = 2 * max(rounding_errors) / (2 * step)
        tape_rounding = FD_FLOOR_ULPS * FLOAT64_EPS * sum(float(np.sum(np.abs(g * d))) for g, d in zip(gradients, direction))
        rounding = loss_rounding + tape_rounding
        # At a kink the derivative does not exist, and each coordinate's kink (a tie in a max, a ReLU at 0)
        # may take any slope of its own subgradient, which no difference along one direction bounds: this
        # direction decides nothing. Shrinking moves towards zeros, where kinks are, so a real failure
        # still shrinks to the smooth point nearest them.
        near = _near_a_kink((numeric, double, quadruple), rounding)
        # A jump in slope as small as the slopes' rounding still moves the tape's choice off the central
        # difference, so any visible jump skips the direction: a skipped smooth direction costs power, a
        # kink taken for smooth would fail a correct layer.
        if near or _at_a_kink(one_sided, 2 * loss_rounding + truncation):
            continue
        require(abs(numeric - analytic) <= truncation + rounding,
                f"directional derivative along a random direction: finite differences {numeric!r}, tape {analytic!r} "
                f"(allowed {truncation:.2g} truncation + {rounding:.2g} rounding)")


@contract(
    "GENERIC-TRAINABLE-FALSE-FREEZES",
    level=MUST,
    statement="With trainable = False a layer has no trainable weights (non_trainable_weights holds them all), one "
    "fit epoch of a compiled Sequential containing it leaves every one of its weights unchanged, and trainable = "
    "True gives back its trainable weights.",
    rationale="Freezing is how transfer learning keeps pretrained weights; a frozen layer that still exposes "
    "trainable weights, or keeps updating its statistics, is changed by fit, and one that stays frozen after "
    "trainable = True is never fine-tuned.",
    given={**DATA, "targets_seed": st.integers(0, 2**16)},
)
def check_generic_trainable_false_freezes(impl, data, targets_seed):
    """Build on x, set trainable = False, read trainable_weights and non_trainable_weights; fit a Sequential of
    the layer (Reshape, Dense(1)) one epoch with SGD(0.1) on mse against targets in [-1, 1]; compare the
    layer's weights bit for bit; set trainable = True and compare trainable_weights with those before."""
    x = _draw_input(impl, data)
    layer = _built(impl, x)
    trainable = _ids(layer.trainable_weights)
    layer.trainable = False
    require(len(layer.trainable_weights) == 0, f"with trainable = False the layer still has {len(layer.trainable_weights)} trainable weights")
    require(sorted(_ids(layer.non_trainable_weights)) == sorted(_ids(layer.weights)), f"with trainable = False, "
            f"non_trainable_weights lists {len(layer.non_trainable_weights)} of the layer's {len(layer.weights)} weights")
    before = layer.get_weights()
    model = _model_on(impl, layer, x)
    targets = _targets(x, targets_seed)
    model.fit(impl.model_input(x), targets, epochs=1, batch_size=structures.batch_size(x), shuffle=False, verbose=0)
    after = layer.get_weights()
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if not np.array_equal(a, b)]
    require(not changed, f"one fit epoch changed weights {changed} of a layer with trainable = False")
    layer.trainable = True
    require(_ids(layer.trainable_weights) == trainable, f"trainable = True again gives {len(layer.trainable_weights)} "
            f"trainable weights, {len(trainable)} before freezing")


@contract(
    "GENERIC-FIT-STEP-FINITE-GRADIENTS",
    level=MUST,
    statement="Inside a compiled Sequential, every trainable weight of the layer gets a finite gradient, and one "
    "fit step leaves every weight finite.",
    rationale="One missing or NaN gradient stops a weight from training or turns every weight into NaN at the "
    "next optimizer step; neither raises an error.",
    given={**DATA, "targets_seed": st.integers(0, 2**16)},
)
def check_generic_fit_step_finite_gradients(impl, data, targets_seed):
    """Sequential(layer, a flattening Reshape when its output has rank > 2, Dense(1)) compiled with mse and SGD(0.1): the
    gradients impl.vjp gives the layer's trainable weights (for cotangent 1) must be present, of the weight's
    shape, and finite;
    after one fit step on targets in [-1, 1] every weight of the model must be finite."""
    x = _draw_input(impl, data)
    layer = impl.new_layer()
    model = _model_on(impl, layer, x)  # built before the gradient, which pairs gradients with model.trainable_weights
    targets = _targets(x, targets_seed)
    _, gradients = impl.vjp(model, impl.model_input(x), np.ones((structures.batch_size(x), 1), np.float32))
    by_weight = dict(zip(_ids(model.trainable_weights), gradients))
    for index, weight in enumerate(layer.trainable_weights):
        gradient = by_weight.get(id(weight))
        require(gradient is not None, f"trainable weight {index} (shape {tuple(weight.shape)}) of the layer gets no gradient in the model")
        require(np.shape(gradient) == tuple(weight.shape), f"trainable weight {index} (shape {tuple(weight.shape)}) of the layer "
                f"gets a gradient of shape {np.shape(gradient)}")
        require(np.all(np.isfinite(gradient)), f"trainable weight {index} of the layer gets a non-finite gradient: {gradient}")
    model.fit(impl.model_input(x), targets, epochs=1, batch_size=structures.batch_size(x), shuffle=False, verbose=0)
    for index, value in enumerate(model.get_weights()):
        require(np.all(np.isfinite(value)), f"after one fit step, model weight {index} is not finite: {value}")


# -- devices -----------------------------------------------------------------------------------------

REFERENCE_DEVICE = "CPU:0"


def _on_another_device(impl, device):
    """A ``requires``: n/a on CPU:0, the device the others are compared with, and for a layer the spec
    declares non-deterministic (its outputs differ between two calls on one device already)."""
    if device in (REFERENCE_DEVICE, "default"):
        return f"{REFERENCE_DEVICE} is the device the others are compared with"
    return _unless_spec_says_not("deterministic")(impl, device)


@contract(
    "GENERIC-DEVICE-PLACEMENT",
    level=MUST,
    statement="A layer created and called under a device scope keeps every weight and its output on that device.",
    rationale="Frameworks place work silently where they can (TensorFlow's soft placement); a layer that pins a "
    "weight or a step of its call to one device copies data on every call, or leaves a 'GPU' run on the CPU.",
    given=DATA,
    per_device=True,
)
def check_generic_device_placement(impl, data):
    """Under the cell's device scope, create the layer and call it on x; read the device of the output and
    of every weight."""
    x = _draw_input(impl, data)
    layer = impl.new_layer()
    output = impl.apply(layer, x)
    expected = impl.current_device()
    placed = {name: impl.device_of(leaf) for name, leaf in zip(structures.paths(output), structures.flatten(output))}
    placed.update({f"weight {i} ({getattr(w, 'name', '?')})": impl.device_of(w) for i, w in enumerate(layer.weights)})
    wrong = {what: where for what, where in placed.items() if where != expected}
    require(not wrong, f"expected the output and every weight on {expected}, found {wrong}")


@contract(
    "GENERIC-DEVICE-AGREES-WITH-CPU",
    level=MUST,
    statement="On every device, the layer's inference output equals that of the same layer with the same weights "
    "on CPU:0 within float32 rounding.",
    rationale="Each device runs its own kernels; answers that differ beyond rounding are bugs that only show when "
    "a model moves to an accelerator, after it was tested on the CPU.",
    given=DATA,
    per_device=True,
    requires=_on_another_device,
)
def check_generic_device_agrees_with_cpu(impl, data):
    """Build the layer on x on this device and a copy holding the same weights on CPU:0; allow twice the
    largest float32 error of either device's output against the same device's float64 twin (weights widened
    exactly) plus one float32 ulp of the output, as GENERIC-BATCH-INDEPENDENCE does (an entry nan or infinite in
    any result must be of one kind on both devices); NotApplicable when the layer cannot compute in float64."""
    x = _draw_input(impl, data)
    layer = _built(impl, x)
    twin, x64 = _float64_twin(impl, layer, x)
    here, here64 = _output(impl, layer, x), _output64(impl, twin, x64)
    with impl.on_device(REFERENCE_DEVICE):
        cpu_layer = _built(impl, x)
        cpu_layer.set_weights(layer.get_weights())
        cpu_twin, _ = _float64_twin(impl, cpu_layer, x)
        on_cpu, on_cpu64 = _output(impl, cpu_layer, x), _output64(impl, cpu_twin, x64)
    _require_agrees(f"the output on {impl.current_device()}", here, on_cpu, [(here, here64), (on_cpu, on_cpu64)],
                    reference=f"the output on {REFERENCE_DEVICE}")


# -- the training flag -------------------------------------------------------------------------------


def _takes_training_flag(impl, device):
    """A ``requires``: n/a for a layer whose ``call`` takes no ``training`` argument."""
    return None if _takes_training(impl.new_layer()) else f"{impl.spec.label}.call takes no training argument"


@contract(
    "GENERIC-TRAINING-REPRODUCIBLE-UNDER-SEED",
    level=MUST,
    statement="After set_random_seed(s), a fresh layer built and called with training=True gives bit-identical "
    "weights and outputs to another fresh layer built and called the same way after set_random_seed(s).",
    rationale="keras.utils.set_random_seed is how experiments are made repeatable; a layer that draws its "
    "dropout masks or noise from a generator the global seed does not reach makes every training run differ, "
    "so no result can be reproduced or bisected.",
    given={**DATA, "seed": st.integers(0, 2**16)},
    requires=_takes_training_flag,
)
def check_generic_training_reproducible_under_seed(impl, data, seed):
    """Twice: set_random_seed(seed), create the layer, call it on x with training=True; compare the weights
    after the call and the outputs bit for bit."""
    x = _draw_input(impl, data)
    runs = []
    for _ in range(2):
        impl.set_random_seed(seed)
        layer = impl.new_layer()
        runs.append((_output(impl, layer, x, training=True), layer.get_weights()))
    (first, first_weights), (second, second_weights) = runs
    require(_same_arrays(first_weights, second_weights), "two fresh layers created after the same set_random_seed hold different weights")
    require(structures.same(first, second, equal_nan=True),
            f"two training=True calls after the same set_random_seed({seed}) give {first} and {second}")


def _declares_no_randomness(impl, device):
    """A ``requires``: n/a unless the call takes ``training`` and the spec declares neither randomness in
    training nor a dependence on the rest of the batch."""
    for flag, value in (("stochastic_in_training", True), ("batch_independent", False)):
        if getattr(impl.spec, flag) is value:
            return f"the layer spec of {impl.spec.label} declares {flag}={value}"
    return _takes_training_flag(impl, device)


@contract(
    "GENERIC-NO-RANDOMNESS-SAME-IN-BOTH-MODES",
    level=MUST,
    statement="A layer whose spec declares no randomness in training, and whose training call updates none of its "
    "weights, gives bit-identical outputs with training=True and training=False.",
    rationale="fit() calls layers with training=True, predict() with training=False; a layer that silently "
    "computes something else in training (a leftover dropout scaling, a branch on the flag) trains one "
    "function and serves another. Layers that update state in training (BatchNormalization's moving "
    "statistics) differ legitimately and are recognised by that update.",
    given=DATA,
    requires=_declares_no_randomness,
)
def check_generic_no_randomness_same_in_both_modes(impl, data):
    """Build on x, call with training=False, then with training=True; NotApplicable when the training call
    changed any weight (batch statistics), else compare the two outputs bit for bit."""
    x = _draw_input(impl, data)
    layer = _built(impl, x)
    inference = _output(impl, layer, x, training=False)
    before = layer.get_weights()
    training = _output(impl, layer, x, training=True)
    if not _same_arrays(layer.get_weights(), before):
        raise NotApplicable(f"a training call of {impl.spec.label} updates its weights (batch statistics): it computes "
                            "differently in training by design")
    require(structures.same(training, inference, equal_nan=True),
            f"training=True gives {training}, training=False {inference}, though the layer declares no randomness")


# -- losses ------------------------------------------------------------------------------------------

ACTIVITY_L2 = 0.01


def _with_activity_regularizer(impl, layer):
    """``layer`` with an L2 activity regularizer when it has none and the framework has ``regularizers.L2``,
    so that a layer adding no losses of its own still runs the framework's loss bookkeeping."""
    regularizers = getattr(impl.module, "regularizers", None)
    if getattr(layer, "activity_regularizer", "absent") is None and hasattr(regularizers, "L2"):
        layer.activity_regularizer = regularizers.L2(ACTIVITY_L2)
    return layer


def _losses(impl, layer):
    return [impl.numpy(loss) for loss in getattr(layer, "losses", [])]


@contract(
    "GENERIC-LOSSES-ONCE-PER-CALL",
    level=MUST,
    statement="After two calls, layer.losses holds the second call's losses only: as many, and the same values, as "
    "a layer with the same weights called once on the second input.",
    rationale="fit() adds layer.losses to the loss of every step; a regularization loss that is not reset "
    "between calls, or is added twice, grows with every step and trains the weights towards the wrong "
    "optimum, with no error.",
    given=DATA,
)
def check_generic_losses_once_per_call(impl, data):
    """Give the layer an L2 activity regularizer (when it has none), call it on x and then on x with its rows
    reversed (x2), and read layer.losses; build a second such layer, copy the weights, call it once on x2, and
    compare the number and (when the spec declares the layer deterministic) the values of the losses bit for
    bit. NotApplicable when the layer has no losses at all."""
    first_input = _draw_input(impl, data)
    # the rows in reverse order: other rows where the batch has several (every input and mask alike)
    second_input = structures.map_leaves(lambda leaf: np.ascontiguousarray(leaf[::-1]), first_input)
    layer = _with_activity_regularizer(impl, _built(impl, first_input))
    _output(impl, layer, first_input)
    _output(impl, layer, second_input)
    after_two = _losses(impl, layer)
    once = _with_activity_regularizer(impl, _built(impl, second_input))
    once.set_weights(layer.get_weights())
    _output(impl, once, second_input)
    expected = _losses(impl, once)
    if not hasattr(layer, "losses") or not expected and not after_two:
        raise NotApplicable(f"{impl.spec.label} adds no losses, and the framework gave it no activity regularizer")
    require(len(after_two) == len(expected), f"after two calls layer.losses holds {len(after_two)} losses, one call "
            f"makes {len(expected)}: losses of earlier calls are kept (or added twice)")
    if impl.spec.deterministic:
        require(_same_arrays(after_two, expected), f"after two calls layer.losses is {after_two}, one call on the second "
                f"input gives {expected}")


# -- compiled models ---------------------------------------------------------------------------------

# A predict and fit batch size that leaves the drawn 3 or 5 rows a last batch of one row: the traced step
# then runs with another batch size than the first, and is retraced for an unknown batch dimension.
PARTIAL_BATCH_SIZE = 2
PARTIAL_BATCH_ROWS = st.sampled_from([3, 5])


def _fits_in_batches(impl, device):
    """A ``requires``: n/a where the framework's Sequential has no compile/fit/predict, and for a layer whose
    spec declares it non-deterministic or dependent on the rest of the batch (predict in batches of 2 then
    differs from one call on every row by design)."""
    if not all(hasattr(impl.module.Sequential, method) for method in ("compile", "fit", "predict")):
        return f"{impl.name}.Sequential has no compile/fit/predict"
    return _unless_spec_says_not("deterministic")(impl, device) or _unless_spec_says_not("batch_independent")(impl, device)


def _jit_modes(model_class):
    """``jit_compile`` values to compile models with: off and on where ``compile`` takes the argument, else
    only the framework's one way (``None``: the argument is not passed)."""
    try:
        takes_jit = "jit_compile" in inspect.signature(model_class.compile).parameters
    except (TypeError, ValueError):
        takes_jit = False
    return [False, True] if takes_jit else [None]


def _compiled(model, jit_compile):
    """``model`` compiled with mse and SGD(0.1) (``jit_compile`` passed when not ``None``)."""
    options = {} if jit_compile is None else {"jit_compile": jit_compile}
    model.compile(optimizer="sgd", loss="mse", **options)
    return model


def _without_raising(what, jit_compile, step):
    """``step()``; an exception it raises fails the contract, naming ``what`` was being done."""
    try:
        return step()
    except Exception as error:  # the layer's own error inside the framework's traced step
        raise AssertionError(f"{what} (jit_compile={jit_compile}) with an unknown batch dimension raised "
                             f"{type(error).__name__}: {error}") from None


def _predicted_like_eager(impl, model, layer, twin, x, x64, jit_compile):
    """Compare ``model.predict(x)`` (a model of ``layer`` with an unknown batch dimension) in batches of 2 with
    layer(x), allowing the float32 allowance of GENERIC-COMPILED-EQUALS-EAGER: the largest error of either against
    the float64 twin's eager call (the layer is batch-independent, so its rows are what predict's batches give;
    a compiled twin would judge the same to float64 rounding, at the cost of two more traced models)."""
    rows = structures.batch_size(x)
    predicted = _without_raising(f"predict in batches of {PARTIAL_BATCH_SIZE} over {rows} rows", jit_compile,
                                 lambda: _predicted(impl, model, x))
    eager = _output(impl, layer, x)
    eager64 = _output64(impl, twin, x64)
    pairs = [(eager, eager64), (predicted, eager64)]
    _require_agrees(f"predict (jit_compile={jit_compile}, batches of {PARTIAL_BATCH_SIZE}, the last partial)", predicted,
                    eager, pairs)


def _unknown_batch_model(impl, layer, x):
    """A model of ``layer`` whose batch dimension is unknown: a Sequential built for ``(None,) + x.shape[1:]``,
    or a functional model of a spec's inputs."""
    model = _model_of(impl, layer, x)
    if not isinstance(x, structures.CallArgs):
        model.build((None,) + x.shape[1:])
    return model


def _predicted(impl, model, x):
    """``model.predict`` of ``x`` in batches of ``PARTIAL_BATCH_SIZE``, as numpy."""
    return structures.map_leaves(np.asarray, model.predict(impl.model_input(x), batch_size=PARTIAL_BATCH_SIZE, verbose=0))


@contract(
    "GENERIC-COMPILED-UNKNOWN-BATCH",
    level=MUST,
    statement="Inside a compiled model built with an unknown batch dimension, predict and one fit epoch over a row "
    "count that leaves a partial last batch raise nothing, with jit_compile off and on where compile takes it, "
    "and predict agrees with the eager call within float32 rounding, before and after the fit.",
    rationale="fit() and predict() trace the layer once per batch shape and retrace it with an unknown batch "
    "dimension when the last batch is smaller; a layer that reads the static batch size (inputs.shape[0]) works "
    "eagerly and in a full-batch step, then crashes on the last batch of a real epoch.",
    given={**DATA, "rows": PARTIAL_BATCH_ROWS, "targets_seed": st.integers(0, 2**16)},
    requires=_fits_in_batches,
    # Per example and jit mode: a predict model, predicted twice, and a fitted model. Counted as one fit, the
    # thorough profile's 66 examples of an LSTM on tf_keras (9 s each, XLA included) overran the 300 s cell limit.
    fits=3,
)
def check_generic_compiled_unknown_batch(impl, data, rows, targets_seed):
    """For jit_compile False and True (only the default where compile takes no jit_compile): predict x (3 or 5
    rows) in batches of 2 with a model of the layer whose batch dimension is unknown (Sequential([layer]) built
    for (None,) + x.shape[1:], or a functional model of a spec's inputs), and compare with layer(x),
    allowing twice the largest float32 error of either path against the float64 twin's eager call (weights
    widened exactly) plus one float32 ulp; fit a model of the layer (Reshape, Dense(1)) one epoch in batches of 2
    on targets in [-1, 1], then compare predict and the eager call again (an entry nan or infinite in any result,
    as after a fit that diverged, must be of one kind in both). NotApplicable where the framework has no Model
    fit/predict, or the layer cannot compute in float64."""
    x = _draw_input(impl, data, batch_sizes=st.just(rows))
    layer = _built(impl, x)
    twin, x64 = _float64_twin(impl, layer, x)
    targets = _targets(x, targets_seed)
    for jit_compile in _jit_modes(impl.module.Sequential):
        model = _without_raising("building a model of the layer for an unknown batch dimension", jit_compile,
                                 lambda: _compiled(_unknown_batch_model(impl, layer, x), jit_compile))
        _predicted_like_eager(impl, model, layer, twin, x, x64, jit_compile)
        trained = _compiled(_model_on(impl, layer, x), jit_compile)
        _without_raising(f"one fit epoch in batches of {PARTIAL_BATCH_SIZE} over {rows} rows", jit_compile,
                         lambda: trained.fit(impl.model_input(x), targets, epochs=1, batch_size=PARTIAL_BATCH_SIZE,
                                             shuffle=False, verbose=0))
        twin.set_weights([_as_float64(w) for w in layer.get_weights()])
        _predicted_like_eager(impl, model, layer, twin, x, x64, jit_compile)  # the traced predict, new weights


# -- masks -------------------------------------------------------------------------------------------


def _first_argument(x):
    """The first argument of a call: what Keras computes an output mask from (``compute_mask(inputs, mask)``), what
    a drawn mask covers and what an RNN reads as its sequences. ``x`` itself for one array, else the first
    positional argument or the first keyword input."""
    if not isinstance(x, structures.CallArgs):
        return x
    return x.args[0] if x.args else next(value for key, value in x.kwargs.items() if key != "mask")


def _with_first_argument(x, value, **kwargs):
    """``x`` with its first argument replaced by ``value`` and ``kwargs`` added to (or replacing) its keyword
    arrays (``mask``, ``initial_state``); a CallArgs even for one array when ``kwargs`` are given."""
    if not isinstance(x, structures.CallArgs):
        return structures.CallArgs((value,), kwargs) if kwargs else value
    if x.args:
        return structures.CallArgs((value,) + tuple(x.args[1:]), {**x.kwargs, **kwargs})
    first = next(key for key in x.kwargs if key != "mask")
    return structures.CallArgs((), {**x.kwargs, first: value, **kwargs})


def _drawn_mask(x):
    """The mask the kit drew for ``x`` (shaped as its first argument, a boolean (batch, steps) array per
    input), or ``None``."""
    return x.kwargs.get("mask") if isinstance(x, structures.CallArgs) else None


def _attached_masks(impl, output) -> list:
    """The mask attached to each output tensor, in flatten order: ``_keras_mask``, which Keras sets after the call and
    the next layer reads as its mask; numpy booleans, ``None`` where there is none."""
    masks = [getattr(leaf, "_keras_mask", None) for leaf in structures.flatten(output)]
    return [None if mask is None else impl.numpy(mask).astype(bool) for mask in masks]


def _fits(mask, leaf) -> bool:
    """Whether ``mask`` covers ``leaf``'s leading axes (batch, steps...), as a mask of that output must."""
    return np.shape(mask) == np.shape(leaf)[:np.ndim(mask)]


def _at_kept_positions(output, masks) -> list:
    """Each leaf of ``output`` at the positions its mask keeps: all of it where it carries no mask (nothing
    downstream then skips any position) or one that does not fit it."""
    return [np.asarray(leaf)[mask] if mask is not None and _fits(mask, leaf) else np.ravel(leaf)
            for leaf, mask in zip(structures.flatten(output), masks)]


def _require_same_within_rounding(impl, layer, x, compare, what, reference):
    """``compare(layer, widen)`` gives ``(output, expected)``, numpy, from calls of ``layer`` on inputs passed through
    ``widen``; they must be bit-identical or, failing that, of the same shapes and within the float32 allowance of
    the float64 twin making the same calls (:func:`_float32_allowance`): NotApplicable, only then, when the layer
    cannot compute in float64."""
    output, expected = compare(layer, lambda values: values)
    if structures.same(output, expected, equal_nan=True):
        return
    require(structures.shapes(output) == structures.shapes(expected),
            f"{what} has shapes {structures.shapes(output)}, {reference} {structures.shapes(expected)}")
    try:
        twin, _ = _float64_twin(impl, layer, x)
    except NotApplicable as reason:
        gap = float(np.max(np.abs(structures.vector(output) - structures.vector(expected)), initial=0.0))
        raise NotApplicable(f"{what} differs from what {reference} gives by {gap:.3g}, and without a float64 twin "
                            f"rounding cannot be told from a bug: {reason}") from None
    output64, expected64 = compare(twin, _as_float64)
    narrow = [leaf.dtype for leaf in structures.flatten((output64, expected64)) if leaf.dtype != np.float64]
    if narrow:
        raise NotApplicable(f"{impl.spec.label}(dtype='float64') returns {narrow[0]} outputs, not float64")
    _require_agrees(what, output, expected, [(output, output64), (expected, expected64)], reference)


def _no_mask_drawn(impl):
    """Why the kit draws no mask for the layer (``None`` when it does)."""
    if impl.draws_mask:
        return None
    if not impl.dense_like and impl.spec.inputs is None:
        return f"the kit draws no mask for {impl.spec.label}: masks are drawn for specs with `inputs` only"
    if not impl.spec.masks:
        return f"the kit draws no mask for {impl.spec.label}: its spec sets masks = false"
    return f"the kit draws no mask for {impl.spec.label}: its call takes no mask argument"


def _takes_or_makes_masks(impl, device):
    """A ``requires``: n/a for a layer the kit draws no mask for that keeps the framework's own compute_mask, so makes
    no mask of its own inputs."""
    reason = _no_mask_drawn(impl)
    if reason is None:
        return None
    base = getattr(getattr(impl.module.layers, "Layer", None), "compute_mask", None)
    own = getattr(type(impl.new_layer()), "compute_mask", None)
    if own is None or own is base:
        return f"{reason}, and it keeps the framework's compute_mask: no mask to compare"
    return None


@contract(
    "GENERIC-MASK-PROPAGATED-AS-COMPUTED",
    level=MUST,
    statement="The mask attached to each output of a call (the one the next layer receives) is the one "
    "compute_mask(inputs, mask) gives for the same inputs and mask (none where it gives None, or where the layer "
    "does not support masking), and each attached mask fits its output: its shape is the output's leading "
    "(batch, steps) axes.",
    rationale="Functional models and saved models take a layer's output mask from compute_mask, eager calls from "
    "the mask attached to the output; a layer whose call attaches another mask (a sublayer's, left on its output) "
    "or keeps the input's mask after changing the number of steps masks the wrong steps downstream, in one of "
    "the two paths or both, and an RNN or attention layer after it silently reads padding.",
    given=DATA,
    requires=_takes_or_makes_masks,
)
def check_generic_mask_propagated_as_computed(impl, data):
    """Build on x (with its drawn mask, where the kit draws one), call the layer, read the mask attached to every
    output (_keras_mask) and compare it bit for bit with layer.compute_mask(first argument, drawn mask or None),
    None when supports_masking is False, paired with the outputs in flatten order as Keras pairs them (a single
    mask goes to the first output); every
    attached mask must have the shape of its output's leading axes. NotApplicable when no mask is drawn and the
    layer neither computes nor attaches one (Embedding without mask_zero)."""
    x = _draw_input(impl, data)
    layer = _built(impl, x)
    output = impl.apply(layer, x)
    attached = _attached_masks(impl, output)
    mask = _drawn_mask(x)
    computed = [None]
    if getattr(layer, "supports_masking", True):  # Keras never asks a layer that does not support masking
        computed = layer.compute_mask(impl.tensor(_first_argument(x)), None if mask is None else impl.tensor(mask))
        computed = [None if m is None else impl.numpy(m).astype(bool) for m in structures.flatten(computed)]
    computed = (computed + [None] * len(attached))[:len(attached)]
    if mask is None and all(m is None for m in attached + computed):
        raise NotApplicable(f"{impl.spec.label} is given no mask (the kit draws none for it) and neither computes nor "
                            "attaches one for its inputs")
    outputs = structures.flatten(output)
    names = structures.paths(output)
    for name, leaf, got, expected in zip(names, outputs, attached, computed):
        require((got is None) == (expected is None), f"{name}: the call attaches "
                f"{'no mask' if got is None else f'the mask {got.tolist()}'}, compute_mask gives "
                f"{'None' if expected is None else expected.tolist()}")
        if got is not None:
            require(np.array_equal(got, expected), f"{name}: the call attaches the mask {got.tolist()}, compute_mask "
                    f"gives {expected.tolist()}")
            require(_fits(got, leaf), f"{name}: the mask attached to it has shape {got.shape}, which does not fit the "
                    f"output of shape {tuple(np.shape(leaf))} (expected its leading axes)")


def _draws_masks(impl, device):
    """A ``requires``: n/a for a layer the kit draws no mask for."""
    return _no_mask_drawn(impl)


def _redrawn_where_masked(impl, data, first, mask):
    """``first`` (the masked argument) with new values at every masked-out step, drawn in its spec's dtype and range."""
    declared = structures.flatten(_first_argument(specs.as_call(impl.spec.inputs)))
    leaves = iter(zip(structures.flatten(mask), declared, range(len(declared))))

    def redraw(array):
        kept, leaf, index = next(leaves)
        fresh = specs.Leaf(array.shape[1:], leaf.dtype, leaf.range).array(data.draw, len(array), f"input {index} at masked-out steps")
        return np.where(kept.reshape(kept.shape + (1,) * (array.ndim - kept.ndim)), array, fresh)

    return structures.map_leaves(redraw, first)


@contract(
    "GENERIC-MASKED-POSITIONS-IGNORED",
    level=MUST,
    statement="Changing the input values at masked-out steps changes no output at a kept position (an output that "
    "carries a mask is compared where that mask keeps it, any other output everywhere), within float32 rounding, "
    "and leaves the masks attached to the outputs as they were.",
    rationale="A mask marks padding; a layer that lets padded values into kept outputs (a mean over time that "
    "ignores the mask, a mask applied to its outputs instead of its inputs) computes something else for a "
    "sequence depending on how much padding its batch needed, so predictions change with the batching and fit "
    "learns from padding, without any error.",
    given=DATA,
    requires=_draws_masks,
)
def check_generic_masked_positions_ignored(impl, data):
    """Draw x with its mask, then x' equal to x but with new values (from the spec's dtype and range) at every
    masked-out step of the masked argument; call the built layer on both, compare the attached masks (bit for
    bit) and every output at the positions its attached mask keeps (all of an output without one): bit for bit,
    or else within twice the largest float32 error of either call against the float64 twin (weights widened
    exactly) plus one float32 ulp. NotApplicable when the drawn input has no time axis (no mask drawn), or when
    the outputs differ and the layer cannot compute in float64."""
    x = _draw_input(impl, data)
    mask = _drawn_mask(x)
    if mask is None:
        raise NotApplicable(f"the kit draws a mask for {impl.spec.label} only when every input of its first argument "
                            "has a time axis (rank 3 or more)")
    moved = _with_first_argument(x, _redrawn_where_masked(impl, data, _first_argument(x), mask))
    layer = _built(impl, x)

    def compare(target, widen):
        original, changed = impl.apply(target, widen(x)), impl.apply(target, widen(moved))
        masks, changed_masks = _attached_masks(impl, original), _attached_masks(impl, changed)
        for name, before, after in zip(structures.paths(original), masks, changed_masks):
            require((before is None and after is None) or (before is not None and after is not None and np.array_equal(before, after)),
                    f"{name}: changing the input at masked-out steps changed the mask attached to it from "
                    f"{None if before is None else before.tolist()} to {None if after is None else after.tolist()}")
        return _at_kept_positions(impl.numpy(changed), masks), _at_kept_positions(impl.numpy(original), masks)

    _require_same_within_rounding(impl, layer, x, compare, "the output at kept positions after new values at masked-out "
                                  "steps", "the drawn input")


# -- recurrent state ---------------------------------------------------------------------------------


def _first_argument_leaves(spec) -> list:
    """The declared input leaves of the spec's first argument (one :class:`~conformance.specs.Leaf` per array)."""
    if spec.inputs is None:
        return [specs.Leaf(shape) for shape in spec.input_shapes]
    return structures.flatten(_first_argument(specs.as_call(spec.inputs)))


def _returns_state(impl, device):
    """A ``requires``: n/a for a layer that returns no state (``return_state`` is not True), whose call takes no
    ``initial_state``, or whose sequences have one step only (nothing to split)."""
    layer = impl.new_layer()
    if getattr(layer, "return_state", None) is not True:
        return f"{impl.spec.label} returns no state (its return_state is not True)"
    try:
        takes = "initial_state" in inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        takes = False
    if not takes:
        return f"{impl.spec.label}.call takes no initial_state argument"
    if all(len(leaf.shape) < 2 or leaf.shape[0] == 1 for leaf in _first_argument_leaves(impl.spec)):
        return f"the layer spec of {impl.spec.label} gives sequences of one step (or none): they cannot be split in two"
    return None


def _steps(x, start, stop):
    """``x`` with its sequences (every array of its first argument) and its drawn mask cut to steps ``start:stop``."""
    cut = structures.map_leaves(lambda leaf: leaf[:, start:stop], _first_argument(x))
    mask = _drawn_mask(x)
    if mask is None:
        return _with_first_argument(x, cut)
    return _with_first_argument(x, cut, mask=structures.map_leaves(lambda leaf: leaf[:, start:stop], mask))


def _continued(head, tail, whole):
    """The outputs of two runs, the second started from the first's states, as one run's: the first output's
    steps joined when it is a sequence (as long as the head's half, the whole's longer), else the tail's; the
    tail's states."""
    head_output, tail_outputs = structures.flatten(head)[0], structures.flatten(tail)
    whole_output = structures.flatten(whole)[0]
    is_sequence = np.ndim(head_output) >= 3 and np.shape(whole_output)[1] != np.shape(head_output)[1]
    output = np.concatenate([head_output, tail_outputs[0]], axis=1) if is_sequence else tail_outputs[0]
    return [output] + tail_outputs[1:], is_sequence


@contract(
    "GENERIC-RNN-STATE-CONTINUES",
    level=MUST,
    statement="For a layer that returns its final state, running a sequence in two halves, the second started from "
    "the states the first returned (initial_state), gives the states and outputs of running it whole, within "
    "float32 rounding (with a mask: the outputs at kept steps, the last output where the second half keeps a step).",
    rationale="Returned states are how long sequences are processed in chunks (truncated backpropagation, streaming "
    "inference) and how encoders hand their state to decoders; a layer that ignores initial_state or returns the "
    "state of the wrong step gives a different answer for every chunk after the first, without any error.",
    given=DATA,
    requires=_returns_state,
)
def check_generic_rnn_state_continues(impl, data):
    """Draw x with T >= 2 steps and a split 1 <= k < T; call the built layer on x whole, on its first k steps, and on
    the rest with initial_state set to the states the first part returned (every output after the first); join
    the two parts' first outputs along the steps when it is a sequence (else take the second's) and compare it and
    the second part's states with the whole run's: bit for bit, or else within twice the largest float32 error of
    either way against the float64 twin run the same ways plus one float32 ulp. With a drawn mask the first output
    is compared at kept steps only (Keras carries the last output, or zeros, over masked steps, and a second part
    starts that from zeros), and, when it is not a sequence, only for rows whose second part keeps a step."""
    x = _draw_input(impl, data)
    steps = np.shape(structures.flatten(_first_argument(x))[0])[1]
    assume(steps >= 2)  # a variable number of steps drawn as 1 cannot be split
    split = data.draw(st.integers(1, steps - 1), label="split")
    layer = _built(impl, x)
    mask = _drawn_mask(x)
    mask = None if mask is None else structures.flatten(mask)[0]  # Keras's RNN masks its steps with the first

    def compare(target, widen):
        whole = impl.numpy(impl.apply(target, widen(x)))
        head = impl.numpy(impl.apply(target, widen(_steps(x, 0, split))))
        states = structures.flatten(head)[1:]
        require(states, f"{impl.spec.label} returns no state besides its output, though its return_state is True")
        rest = _steps(x, split, steps)
        tail = impl.numpy(impl.apply(target, widen(_with_first_argument(rest, _first_argument(rest), initial_state=states))))
        continued, is_sequence = _continued(head, tail, whole)
        whole = structures.flatten(whole)
        if mask is not None:  # only kept steps are defined: masked steps carry the last output over, or zeros
            kept = mask if is_sequence else mask[:, split:].any(axis=1)
            continued[0], whole[0] = continued[0][kept], whole[0][kept]
        return continued, whole

    _require_same_within_rounding(impl, layer, x, compare, f"the run of steps 0:{split} then {split}:{steps} (started from "
                                  "the returned states)", "the whole sequence")
