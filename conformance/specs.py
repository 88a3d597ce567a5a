"""Layer specs: how to construct a layer under test and what inputs it takes.

A Dense-like layer needs no spec (the Dense contracts build it as ``Class(units, activation=...)``).
Any other Keras-style layer is described by a :class:`LayerSpec`::

    LayerSpec("keras.layers:Conv1D", kwargs={"filters": 4, "kernel_size": 3}, input_shape=(16, 3))
    LayerSpec("keras.layers:Embedding", kwargs={"input_dim": 100, "output_dim": 8}, input_shape=(None,),
              input_dtype="int32", input_range=(0, 100))

A layer that takes several inputs, nested inputs, constant call arguments or a mask lists them in
``inputs`` (leaves ``{"shape": ..., "dtype": ..., "range": ...}``; a dict at the top is passed by keyword,
anything else as the one positional argument, a list of tensors as Add, Concatenate and Attention take)::

    LayerSpec("keras.layers:MultiHeadAttention", kwargs={"num_heads": 2, "key_dim": 4},
              inputs={"query": {"shape": (5, 8)}, "value": {"shape": (7, 8)}}, call_kwargs={"use_causal_mask": False})
    LayerSpec("keras.layers:Concatenate", kwargs={"axis": -1}, inputs=[{"shape": (3,)}, {"shape": (5,)}])

Three equal ways in: ``--layer/--layer-kwargs/--input-shape/--inputs/--call-kwargs...`` on the command
line, ``[[layer]]`` tables in a TOML file (or ``[[tool.keras-conformance.layer]]`` in a project's
pyproject.toml), and this class in Python. Every problem is a ValueError that names the spec and the field.
"""

from __future__ import annotations

import importlib
import inspect
import json
import shlex
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.structures import CallArgs, flatten, map_leaves

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int32", "int64", "uint8", "bool")
MAX_VARIABLE_DIM = 4  # a None dimension is drawn from 1..4: enough to tell axes apart, small enough to be fast
MAX_BATCH = 4
SETUP_BATCH = 8  # rows of the data a spec's setup hook gets (what an `adapt` sees)
KIT_CALL_ARGUMENTS = ("mask", "training")  # drawn or passed by the kit, never constants of a spec


@dataclass(frozen=True)
class Leaf:
    """One input array of a spec's ``inputs``: its shape without the batch axis (``None`` marks a
    dimension drawn from 1..4, per leaf: dimensions that must agree across inputs are written as
    numbers), its dtype and the ``(low, high)`` range of its values."""

    shape: tuple
    dtype: str = "float32"
    range: tuple = (-2.0, 2.0)

    @property
    def is_integer(self) -> bool:
        return self.dtype in INT_DTYPES

    def array(self, draw, batch, label):
        """An array ``(batch, *shape)`` drawn with ``draw``, its ``None`` dims drawn first."""
        shape = tuple(draw(st.integers(1, MAX_VARIABLE_DIM), label=f"{label} dim {i + 1}") if d is None else d
                      for i, d in enumerate(self.shape))
        return draw(hnp.arrays(self.dtype, (batch, *shape), elements=_elements(self.dtype, self.range)), label=label)

    def sample(self, rng, batch):
        """A fixed array for setup hooks: ``None`` dims are 2."""
        shape = (batch,) + tuple(2 if d is None else d for d in self.shape)
        low, high = self.range
        if self.dtype == "bool":
            return rng.integers(0, 2, shape).astype(bool)
        if self.is_integer:
            return rng.integers(int(low), int(high), shape).astype(self.dtype)
        return rng.uniform(low, high, shape).astype(self.dtype)


@dataclass(frozen=True)
class LayerSpec:
    """A layer under test and the inputs it takes.

    Attributes:
        layer: ``module:Class`` (or the class itself, or any callable that returns a layer).
        kwargs: constructor keyword arguments.
        input_shape: the input's shape without the batch axis; ``None`` marks a dimension the kit may
            vary (drawn from 1..4, the same for the whole batch). A layer that takes inputs of several
            ranks lists them as alternatives, ``((8,), (4, 8), (2, 4, 8))``: each example draws one
            (TOML ``input_shape = [[8], [4, 8], [2, 4, 8]]``, CLI ``--input-shape "8;4,8;2,4,8"``).
        input_dtype: dtype of the inputs, ``float32`` by default; integer dtypes for embeddings.
        input_range: ``(low, high)`` of the input values; integers are drawn from ``low..high-1``.
        batch_independent: output row i depends only on input row i (the default; not for
            batch-statistics layers in training mode).
        deterministic: the same input gives the same output at inference (the default).
        stochastic_in_training: training-mode calls are random (dropout, noise); some contracts then
            compare in inference mode only.
        name: a label for reports; the class name by default.
        inputs: the layer's inputs when it takes more than one array (replaces ``input_shape``,
            ``input_dtype`` and ``input_range``): a leaf ``{"shape": (5, 8), "dtype": ..., "range": ...}``
            (or a :class:`Leaf`), or lists, tuples and dicts of them. A dict at the top is passed by
            keyword, one entry per argument of ``call``; anything else is the one positional argument.
            Every input shares the batch size.
        call_kwargs: constant keyword arguments of every call (``{"use_causal_mask": True}``).
        masks: draw a boolean ``mask`` (at least one kept position per row) when the layer's ``call``
            takes ``mask`` and every input of its first argument has a time axis; only for specs with
            ``inputs`` (the one-input shorthand keeps its examples as they were).
        setup: ``"module:function"`` (or a callable) called as ``setup(layer, data)`` on every new layer,
            ``data`` being fixed inputs of batch 8 (``None`` dims 2): where a layer is ``adapt``-ed.
    """

    layer: object
    kwargs: dict = field(default_factory=dict)
    input_shape: tuple = (None,)
    input_dtype: str = "float32"
    input_range: tuple = (-2.0, 2.0)
    batch_independent: bool = True
    deterministic: bool = True
    stochastic_in_training: bool = False
    name: str | None = None
    inputs: object = None
    call_kwargs: dict = field(default_factory=dict)
    masks: bool = True
    setup: object = None

    def __post_init__(self):
        where = f"layer spec {self.label!r}"
        if not (isinstance(self.layer, str) and ":" in self.layer) and not callable(self.layer):
            raise ValueError(f"{where}: layer must be 'module:Class' or a class, got {self.layer!r}")
        if not isinstance(self.kwargs, dict) or not all(isinstance(k, str) for k in self.kwargs):
            raise ValueError(f"{where}: kwargs must be a dict of keyword arguments, got {self.kwargs!r}")
        object.__setattr__(self, "input_shape", _shape_or_alternatives(self.input_shape, where))
        _check_dtype(self.input_dtype, f"{where}: input_dtype")
        object.__setattr__(self, "input_range", _checked_range(self.input_range, self.input_dtype, f"{where}: input_range"))
        for flag in ("batch_independent", "deterministic", "stochastic_in_training"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{where}: {flag} must be true or false, got {getattr(self, flag)!r}")
        if self.inputs is not None:
            shorthand = [name for name, default in (("input_shape", (None,)), ("input_dtype", "float32"),
                                                    ("input_range", (-2.0, 2.0))) if getattr(self, name) != default]
            if shorthand:
                raise ValueError(f"{where}: inputs replaces {shorthand[0]}; give one or the other")
            object.__setattr__(self, "inputs", _input_tree(self.inputs, f"{where}: inputs"))
            if isinstance(self.inputs, dict) and not self.inputs:
                raise ValueError(f"{where}: inputs must name at least one input, got {{}}")
        if not isinstance(self.call_kwargs, dict) or not all(isinstance(k, str) for k in self.call_kwargs):
            raise ValueError(f"{where}: call_kwargs must be a dict of keyword arguments, got {self.call_kwargs!r}")
        for name in KIT_CALL_ARGUMENTS:
            if name in self.call_kwargs:
                raise ValueError(f"{where}: call_kwargs must not set {name!r}: the kit draws masks and passes training itself")
        if not isinstance(self.masks, bool):
            raise ValueError(f"{where}: masks must be true or false, got {self.masks!r}")
        if self.setup is not None and not (isinstance(self.setup, str) and ":" in self.setup) and not callable(self.setup):
            raise ValueError(f"{where}: setup must be 'module:function' or a callable, got {self.setup!r}")

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if isinstance(self.layer, str):
            return self.layer.rpartition(":")[2]
        return getattr(self.layer, "__name__", type(self.layer).__name__)

    @property
    def is_integer(self) -> bool:
        return self.input_dtype in INT_DTYPES

    @property
    def input_shapes(self) -> tuple:
        """The alternative input shapes: ``(input_shape,)`` for a spec with one shape."""
        return self.input_shape if isinstance(self.input_shape[0], tuple) else (self.input_shape,)

    def examples(self, batch_sizes=None, mask=False):
        """A hypothesis strategy of inputs: arrays ``(batch, *shape)``, ``shape`` one of the alternative
        input shapes, drawn uniformly, its ``None`` dims drawn once for the whole batch; for a spec with
        ``inputs``, a :class:`~conformance.structures.CallArgs` whose every array has the same batch size,
        with a ``mask`` keyword when ``mask`` is true (the layer's ``call`` takes one) and :attr:`masks`
        allows it."""
        batch_sizes = st.integers(1, MAX_BATCH) if batch_sizes is None else batch_sizes
        if self.inputs is not None:
            return self._call_args(batch_sizes, mask and self.masks)
        if self.call_kwargs:  # constant call arguments go with a CallArgs, the one form that carries them
            return self._one_input(batch_sizes).map(lambda x: CallArgs((x,), {}))
        return self._one_input(batch_sizes)

    def _one_input(self, batch_sizes):
        """The arrays of the one-input shorthand (``input_shape``, ``input_dtype``, ``input_range``)."""

        @st.composite
        def draw_inputs(draw):
            batch = draw(batch_sizes, label="batch")
            declared = self.input_shapes[0]
            if len(self.input_shapes) > 1:  # one draw fewer for a single shape keeps its examples as they were
                declared = draw(st.sampled_from(self.input_shapes), label="input shape")
            shape = tuple(draw(st.integers(1, MAX_VARIABLE_DIM), label=f"dim {i + 1}") if d is None else d
                          for i, d in enumerate(declared))
            return draw(hnp.arrays(self.input_dtype, (batch, *shape), elements=_elements(self.input_dtype, self.input_range)), label="x")

        return draw_inputs()

    def _call_args(self, batch_sizes, mask):
        @st.composite
        def draw_call(draw):
            batch = draw(batch_sizes, label="batch")
            names = iter(_leaf_names(self.inputs))
            arrays = map_leaves(lambda leaf: leaf.array(draw, batch, next(names)), self.inputs)
            call = as_call(arrays)
            first = (call.args or list(call.kwargs.values()))[0]
            if mask and all(np.ndim(leaf) >= 3 for leaf in flatten(first)):
                call = CallArgs(call.args, {**call.kwargs, "mask": map_leaves(lambda leaf: draw(_masks(len(leaf), leaf.shape[1]), label="mask"), first)})
            return call

        return draw_call()

    def setup_data(self):
        """The fixed inputs a setup hook gets (batch 8, ``None`` dims 2, values from a seeded generator)."""
        rng = np.random.default_rng(0)
        if self.inputs is None:
            return Leaf(self.input_shapes[0], self.input_dtype, self.input_range).sample(rng, SETUP_BATCH)
        return as_call(map_leaves(lambda leaf: leaf.sample(rng, SETUP_BATCH), self.inputs))

    def setup_hook(self):
        """The setup callable (imported from ``module:function``), or ``None``."""
        if self.setup is None or callable(self.setup):
            return self.setup
        module, _, name = self.setup.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"layer spec {self.label!r}: setup {self.setup!r} cannot be imported ({error})") from None

    def command_line(self) -> str | None:
        """The ``--layer`` options that give this spec on the command line, or ``None`` when it has a field
        the command line cannot say (a class rather than ``module:Class``, a setup hook, a flag, a name)."""
        defaults = LayerSpec("m:C")
        unsaid = [f.name for f in fields(self) if f.name not in CLI_FIELDS and getattr(self, f.name) != getattr(defaults, f.name)]
        if unsaid or not isinstance(self.layer, str):
            return None
        options = [("--layer", self.layer)]
        if self.kwargs:
            options.append(("--layer-kwargs", json.dumps(self.kwargs)))
        if self.inputs is not None:
            options.append(("--inputs", json.dumps(_as_json(self.inputs))))
        else:
            if self.input_shape != defaults.input_shape:
                options.append(("--input-shape", ";".join(",".join(str(d) for d in shape) for shape in self.input_shapes)))
            if self.input_dtype != defaults.input_dtype:
                options.append(("--input-dtype", self.input_dtype))
            if self.input_range != defaults.input_range:
                options.append(("--input-range", ",".join(str(v) for v in self.input_range)))
        if self.call_kwargs:
            options.append(("--call-kwargs", json.dumps(self.call_kwargs)))
        return " ".join(f"{flag} {shlex.quote(value)}" for flag, value in options)

    def signature_problem(self, call, draws_mask=False):
        """Why ``call`` (a layer's bound ``call`` method) cannot take this spec's inputs, or ``None``:
        an input or constant it has no parameter for, or a required parameter the spec gives nothing."""
        try:
            parameters = inspect.signature(call).parameters
        except (TypeError, ValueError):
            return None  # nothing to check against
        kinds = {p.kind for p in parameters.values()}
        positional = [p.name for p in parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        signature = f"call{inspect.signature(call)}"
        if self.inputs is None or not isinstance(self.inputs, dict):
            if not positional and inspect.Parameter.VAR_POSITIONAL not in kinds:
                return f"the spec passes one positional input, and {signature} takes no positional argument"
            given = positional[:1]
        else:
            given = list(self.inputs)
        keywords = [(name, "input") for name in (given if isinstance(self.inputs, dict) else [])]
        keywords += [(name, "call_kwargs entry") for name in self.call_kwargs]
        for name, what in keywords:
            if name not in parameters and inspect.Parameter.VAR_KEYWORD not in kinds:
                return f"{what} {name!r} is not an argument of {signature}"
            if name in parameters and parameters[name].kind is inspect.Parameter.POSITIONAL_ONLY:
                return f"{what} {name!r} is a positional-only argument of {signature}"
        covered = set(given) | set(self.call_kwargs) | ({"mask"} if draws_mask else set())
        for parameter in parameters.values():
            if parameter.default is inspect.Parameter.empty and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                if parameter.name not in covered:
                    return (f"{signature} requires argument {parameter.name!r}, and the spec gives no input for it "
                            "(list the layer's inputs in `inputs`)")
        return None


CLI_FIELDS = ("layer", "kwargs", "input_shape", "input_dtype", "input_range", "inputs", "call_kwargs")


def _as_json(tree):
    """``inputs`` in the JSON form of ``--inputs`` (variable dims as null)."""
    if isinstance(tree, Leaf):
        return {"shape": list(tree.shape), "dtype": tree.dtype, "range": list(tree.range)}
    if isinstance(tree, dict):
        return {key: _as_json(item) for key, item in tree.items()}
    return [_as_json(item) for item in tree]


def as_call(arrays):
    """The call an ``inputs`` structure of arrays makes: a dict at the top by keyword, else one positional argument."""
    return CallArgs((), dict(arrays)) if isinstance(arrays, dict) else CallArgs((arrays,), {})


def _leaf_names(tree, prefix="x") -> list[str]:
    if isinstance(tree, dict):
        return [n for key, item in tree.items() for n in _leaf_names(item, key if prefix == "x" else f"{prefix}.{key}")]
    if isinstance(tree, (list, tuple)):
        return [n for i, item in enumerate(tree) for n in _leaf_names(item, f"{prefix}[{i}]")]
    return [prefix]


def _masks(batch, steps):
    """A strategy of boolean masks ``(batch, steps)`` keeping at least one position of every row."""
    kept = st.lists(st.integers(0, steps - 1), min_size=batch, max_size=batch)
    return st.tuples(hnp.arrays(bool, (batch, steps), elements=st.booleans()), kept).map(_keep)


def _keep(drawn):
    mask, kept = drawn
    mask = mask.copy()
    mask[np.arange(len(mask)), kept] = True
    return mask


def _elements(dtype, value_range):
    low, high = value_range
    if dtype == "bool":
        return st.booleans()
    if dtype in INT_DTYPES:
        return st.integers(int(low), int(high) - 1)
    width = 16 if dtype in ("float16", "bfloat16") else 64 if dtype == "float64" else 32
    return st.floats(low, high, width=width, allow_nan=False, allow_infinity=False, allow_subnormal=False)


LEAF_FIELDS = ("shape", "dtype", "range")


def _input_tree(value, where):
    """``inputs`` with every leaf a :class:`Leaf`: a dict with ``shape`` is a leaf (TOML's ``"None"`` or -1
    mark variable dims); other dicts, lists and tuples are nested structures."""
    if isinstance(value, Leaf):
        value = {"shape": value.shape, "dtype": value.dtype, "range": value.range}
    if isinstance(value, dict) and "shape" in value:
        unknown = sorted(set(value) - set(LEAF_FIELDS))
        if unknown:
            raise ValueError(f"{where}: unknown field {unknown[0]!r} of an input; fields are {', '.join(LEAF_FIELDS)}")
        shape = value["shape"]
        if isinstance(shape, (list, tuple)) and not any(isinstance(d, (list, tuple)) for d in shape):
            shape = _toml_shape(list(shape))
        if not (isinstance(shape, tuple) and all(_is_dim(d) for d in shape)):
            raise ValueError(f"{where}: shape must be a list of positive ints or None (without the batch axis), got {value['shape']!r}")
        dtype = value.get("dtype", "float32")
        _check_dtype(dtype, f"{where}: dtype")
        value_range = _checked_range(value.get("range", (-2.0, 2.0)), dtype, f"{where}: range")
        return Leaf(shape, dtype, value_range)
    if isinstance(value, dict):
        if not all(isinstance(key, str) and key.isidentifier() for key in value):
            raise ValueError(f"{where}: input names must be identifiers, got {sorted(map(str, value))}")
        return {key: _input_tree(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)) and value:
        return type(value)(_input_tree(item, f"{where}[{i}]") for i, item in enumerate(value))
    raise ValueError(f"{where}: expected an input {{shape = [...], dtype = ..., range = [low, high]}} or a non-empty "
                     f"list or table of inputs, got {value!r}")


def _check_dtype(dtype, where):
    if dtype not in FLOAT_DTYPES + INT_DTYPES:
        raise ValueError(f"{where} must be one of {', '.join(FLOAT_DTYPES + INT_DTYPES)}, got {dtype!r}")


def _checked_range(value, dtype, where) -> tuple:
    low_high = tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(low_high) != 2 or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in low_high) or not low_high[0] < low_high[1]:
        raise ValueError(f"{where} must be (low, high) with finite low < high, got {value!r}")
    if dtype in INT_DTYPES and not all(float(v).is_integer() for v in low_high):
        raise ValueError(f"{where} of {dtype} inputs must be integers, got {value!r}")
    return low_high


def _is_dim(d) -> bool:
    return d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 1)


def _shape_or_alternatives(value, where) -> tuple:
    """``value`` as a shape tuple, or as a tuple of alternative shape tuples when every entry is a list or
    tuple; a ValueError naming the spec otherwise."""
    entries = tuple(value) if isinstance(value, (list, tuple)) else ()
    if entries and all(isinstance(entry, (list, tuple)) for entry in entries):
        shapes = tuple(tuple(entry) for entry in entries)
        if all(shape and all(_is_dim(d) for d in shape) for shape in shapes):
            return shapes
    elif entries and all(_is_dim(d) for d in entries):
        return entries
    raise ValueError(f"{where}: input_shape must be a non-empty tuple of positive ints or None (the shape without "
                     f"the batch axis), or a non-empty tuple of such shapes (alternatives), got {value!r}")


SPEC_FIELDS = tuple(f.name for f in fields(LayerSpec))


def from_table(table, where) -> LayerSpec:
    """A LayerSpec from one TOML table (``where`` names it in errors: ``FILE, layer N``)."""
    if not isinstance(table, dict):
        raise ValueError(f"{where}: must be a table with at least 'layer', got {table!r}")
    unknown = sorted(set(table) - set(SPEC_FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown field {unknown[0]!r}; fields are {', '.join(SPEC_FIELDS)}")
    if "layer" not in table:
        raise ValueError(f"{where}: field 'layer' ('module:Class') is required")
    values = dict(table)
    if "input_shape" in values and isinstance(values["input_shape"], list):
        values["input_shape"] = _toml_shape(values["input_shape"])
    try:
        return LayerSpec(**values)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _toml_shape(value):
    """A TOML input_shape with ``None`` for its variable dims: TOML has no null, so ``"None"`` (or -1)
    marks them, in a shape or in each of a list of alternative shapes."""
    if all(isinstance(entry, list) for entry in value):
        return tuple(_toml_shape(entry) for entry in value)
    return tuple(None if d in ("None", "none", -1) else d for d in value)


def load_file(path) -> list[LayerSpec]:
    """The specs of a TOML file: ``[[layer]]`` tables, or ``[[tool.keras-conformance.layer]]`` in a pyproject.toml."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"layer spec file {path}: cannot read it ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"layer spec file {path}: not valid TOML: {error}") from None
    tables = data.get("tool", {}).get("keras-conformance", {}).get("layer") if path.name == "pyproject.toml" else data.get("layer")
    if not isinstance(tables, list) or not tables:
        key = "[[tool.keras-conformance.layer]]" if path.name == "pyproject.toml" else "[[layer]]"
        raise ValueError(f"layer spec file {path}: no {key} tables")
    return [from_table(table, f"{path}, layer {number}") for number, table in enumerate(tables, 1)]


def from_cli(layer, kwargs=None, input_shape=None, input_dtype=None, input_range=None, inputs=None, call_kwargs=None) -> LayerSpec:
    """A LayerSpec from ``--layer`` and its companions (``--layer-kwargs`` JSON, ``--input-shape 16,3``, or
    alternatives separated by ``;`` as in ``--input-shape "8;4,8"``,
    ``--input-dtype``, ``--input-range 0,100``, ``--inputs`` and ``--call-kwargs`` JSON of the TOML form,
    ``null`` for a variable dimension); ``None`` keeps a field's default."""
    values = {"layer": layer}
    for option, name, text in (("--layer-kwargs", "kwargs", kwargs), ("--inputs", "inputs", inputs),
                               ("--call-kwargs", "call_kwargs", call_kwargs)):
        if text is not None:
            try:
                values[name] = json.loads(text)
            except json.JSONDecodeError as error:
                what = "a JSON object or list" if name == "inputs" else "a JSON object"
                raise ValueError(f"{option} must be {what}, got {text!r} ({error.msg})") from None
    if input_shape is not None:
        # "8;4,8": alternative shapes, one per rank the layer accepts
        shapes = [_numbers(shape, "--input-shape", int, allow_none=True) for shape in str(input_shape).split(";")]
        values["input_shape"] = shapes[0] if len(shapes) == 1 else tuple(shapes)
    if input_dtype is not None:
        values["input_dtype"] = input_dtype
    if input_range is not None:
        values["input_range"] = _numbers(input_range, "--input-range", float)
    return LayerSpec(**values)


def _numbers(text, option, kind, allow_none=False) -> tuple:
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        return tuple(None if allow_none and p.lower() == "none" else kind(p) for p in parts)
    except ValueError:
        raise ValueError(f"{option} must be comma-separated numbers{' or None' if allow_none else ''}, got {text!r}") from None
