"""Layer specs: how to construct a layer under test and what inputs it takes.

A Dense-like layer needs no spec (the Dense contracts build it as ``Class(units, activation=...)``).
Any other Keras-style layer is described by a :class:`LayerSpec`::

    LayerSpec("keras.layers:Conv1D", kwargs={"filters": 4, "kernel_size": 3}, input_shape=(16, 3))
    LayerSpec("keras.layers:Embedding", kwargs={"input_dim": 100, "output_dim": 8}, input_shape=(None,),
              input_dtype="int32", input_range=(0, 100))

Three equal ways in: ``--layer/--layer-kwargs/--input-shape/...`` on the command line, ``[[layer]]``
tables in a TOML file (or ``[[tool.keras-conformance.layer]]`` in a project's pyproject.toml), and this
class in Python. Every problem is a ValueError that names the spec and the field.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int32", "int64", "uint8", "bool")
MAX_VARIABLE_DIM = 4  # a None dimension is drawn from 1..4: enough to tell axes apart, small enough to be fast
MAX_BATCH = 4


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

    def __post_init__(self):
        where = f"layer spec {self.label!r}"
        if not (isinstance(self.layer, str) and ":" in self.layer) and not callable(self.layer):
            raise ValueError(f"{where}: layer must be 'module:Class' or a class, got {self.layer!r}")
        if not isinstance(self.kwargs, dict) or not all(isinstance(k, str) for k in self.kwargs):
            raise ValueError(f"{where}: kwargs must be a dict of keyword arguments, got {self.kwargs!r}")
        object.__setattr__(self, "input_shape", _shape_or_alternatives(self.input_shape, where))
        if self.input_dtype not in FLOAT_DTYPES + INT_DTYPES:
            raise ValueError(f"{where}: input_dtype must be one of {', '.join(FLOAT_DTYPES + INT_DTYPES)}, got {self.input_dtype!r}")
        low_high = tuple(self.input_range) if isinstance(self.input_range, (list, tuple)) else ()
        if len(low_high) != 2 or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in low_high) or not low_high[0] < low_high[1]:
            raise ValueError(f"{where}: input_range must be (low, high) with finite low < high, got {self.input_range!r}")
        if self.is_integer and not all(float(v).is_integer() for v in low_high):
            raise ValueError(f"{where}: input_range of {self.input_dtype} inputs must be integers, got {self.input_range!r}")
        object.__setattr__(self, "input_range", low_high)
        for flag in ("batch_independent", "deterministic", "stochastic_in_training"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{where}: {flag} must be true or false, got {getattr(self, flag)!r}")

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

    def inputs(self, batch_sizes=None):
        """A hypothesis strategy of input arrays ``(batch, *shape)``: ``shape`` one of the alternative input
        shapes, drawn uniformly, its ``None`` dims drawn once for the whole batch."""
        batch_sizes = st.integers(1, MAX_BATCH) if batch_sizes is None else batch_sizes

        @st.composite
        def draw_inputs(draw):
            batch = draw(batch_sizes, label="batch")
            declared = self.input_shapes[0]
            if len(self.input_shapes) > 1:  # one draw fewer for a single shape keeps its examples as they were
                declared = draw(st.sampled_from(self.input_shapes), label="input shape")
            shape = tuple(draw(st.integers(1, MAX_VARIABLE_DIM), label=f"dim {i + 1}") if d is None else d
                          for i, d in enumerate(declared))
            return draw(hnp.arrays(self.input_dtype, (batch, *shape), elements=self._elements()), label="x")

        return draw_inputs()

    def _elements(self):
        low, high = self.input_range
        if self.input_dtype == "bool":
            return st.booleans()
        if self.is_integer:
            return st.integers(int(low), int(high) - 1)
        width = 16 if self.input_dtype in ("float16", "bfloat16") else 64 if self.input_dtype == "float64" else 32
        return st.floats(low, high, width=width, allow_nan=False, allow_infinity=False, allow_subnormal=False)


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


def from_cli(layer, kwargs=None, input_shape=None, input_dtype=None, input_range=None) -> LayerSpec:
    """A LayerSpec from ``--layer`` and its companions (``--layer-kwargs`` JSON, ``--input-shape 16,3``, or
    alternatives separated by ``;`` as in ``--input-shape "8;4,8"``,
    ``--input-dtype``, ``--input-range 0,100``); ``None`` keeps a field's default."""
    values = {"layer": layer}
    if kwargs is not None:
        try:
            values["kwargs"] = json.loads(kwargs)
        except json.JSONDecodeError as error:
            raise ValueError(f"--layer-kwargs must be a JSON object, got {kwargs!r} ({error.msg})") from None
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
