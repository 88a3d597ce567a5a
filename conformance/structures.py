"""Nested inputs and outputs: one call's arguments and a layer's outputs as ``keras.tree``-style structures.

A layer spec with ``inputs`` draws a :class:`CallArgs`: the arrays of one call, positional (``args``) and
by keyword (``kwargs``, a drawn ``mask`` included), each a nested list, tuple or dict of arrays. A layer
may return a structure too (a tuple with its states, a dict). Every contract handles both through the
functions here, never by walking a structure itself; a plain array is a structure of one leaf, so a
one-input spec (an array) and a one-output layer go through them unchanged.

Dicts are flattened in sorted key order, lists and tuples in order, as ``keras.tree.flatten`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CallArgs:
    """The arrays of one call: ``layer(*args, **kwargs)``."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


def flatten(value) -> list:
    """The leaves of ``value`` in ``keras.tree`` order."""
    if isinstance(value, CallArgs):
        return flatten(value.args) + flatten(value.kwargs)
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in flatten(value[key])]
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in flatten(item)]
    return [value]


def map_leaves(function, value):
    """``value`` with ``function`` applied to every leaf, the structure kept (a tuple stays a tuple)."""
    if isinstance(value, CallArgs):
        return CallArgs(map_leaves(function, value.args), map_leaves(function, value.kwargs))
    if isinstance(value, dict):
        return {key: map_leaves(function, item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(map_leaves(function, item) for item in value)
    return function(value)


def paths(value, prefix="") -> list[str]:
    """A readable name for each leaf, in :func:`flatten` order: ``query``, ``inputs[1]``, ``mask``."""
    if isinstance(value, CallArgs):
        return ([f"argument {i}" + p for i, item in enumerate(value.args) for p in paths(item, "")]
                + paths(value.kwargs, prefix))
    if isinstance(value, dict):
        return [p for key in sorted(value) for p in paths(value[key], f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(value, (list, tuple)):
        return [p for i, item in enumerate(value) for p in paths(item, f"{prefix}[{i}]")]
    return [prefix or "output"]


def batch_size(value) -> int:
    """The batch size shared by every leaf of ``value``."""
    return len(flatten(value)[0])


def rows(value, start, stop):
    """Rows ``start:stop`` of every leaf: the same examples of every input (and mask)."""
    return map_leaves(lambda leaf: leaf[start:stop], value)


def resized(value, batch):
    """``value`` with ``batch`` rows, each leaf's rows repeated (the values do not matter)."""
    return map_leaves(lambda leaf: np.resize(leaf, (batch,) + leaf.shape[1:]), value)


def feature_shapes(value):
    """``value``'s structure with each leaf replaced by its shape, the batch axis as ``None``."""
    return map_leaves(lambda leaf: (None,) + tuple(np.shape(leaf)[1:]), value)


def copied(value):
    return map_leaves(lambda leaf: np.array(leaf, copy=True), value)


def same(first, second, equal_nan=False) -> bool:
    """Whether two structures hold leaves of equal shapes, dtypes and values."""
    a, b = flatten(first), flatten(second)
    return len(a) == len(b) and all(
        np.shape(p) == np.shape(q) and np.asarray(p).dtype == np.asarray(q).dtype
        and np.array_equal(p, q, equal_nan=equal_nan and np.asarray(p).dtype.kind in "fc") for p, q in zip(a, b))


def shapes(value) -> list[tuple]:
    return [tuple(np.shape(leaf)) for leaf in flatten(value)]


def vector(value) -> np.ndarray:
    """Every leaf of ``value`` raveled into one float64 vector (for a gap or an allowance over all outputs)."""
    leaves = flatten(value)
    return np.concatenate([np.ravel(np.asarray(leaf)).astype(np.float64) for leaf in leaves]) if leaves else np.zeros(0)


def is_float(leaf) -> bool:
    return np.asarray(leaf).dtype.kind == "f"


def is_structure(value) -> bool:
    """Whether ``value`` is a list, tuple or dict of leaves rather than one leaf (a layer with several outputs)."""
    return isinstance(value, (CallArgs, list, tuple, dict))
