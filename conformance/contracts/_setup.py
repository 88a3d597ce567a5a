"""Setup shared by contracts: layers loaded with drawn weights, and their oracle parameters."""

from __future__ import annotations

import numpy as np

from conformance.oracles import DenseParams


def loaded_dense(impl, case, dtype="float32"):
    """A layer of the class under test, built for ``case.x`` and holding ``case``'s weights."""
    layer = impl.dense64(case.units, case.activation) if dtype == "float64" else impl.dense(case.units, case.activation)
    layer.build(tuple(case.x.shape))
    if case.kernel is not None:
        layer.set_weights([case.kernel.astype(dtype), case.bias.astype(dtype)])
    return layer


def params_of(impl, layer, activation) -> DenseParams:
    """The oracle's view of ``layer``: its actual (rounded) weights and its activation."""
    kernel, bias = impl.weights(layer)
    return DenseParams(kernel, bias, activation)


def loaded_stack(impl, case):
    """A Sequential of the class under test, built for ``case.x``, holding ``case``'s weights."""
    layers = [impl.dense(n_units, activation) for n_units, activation, _, _ in case.layers]
    model = impl.sequential(layers)
    model.build(tuple(case.x.shape))
    model.set_weights([w for _, _, kernel, bias in case.layers for w in (kernel, bias)])
    return model, [DenseParams(k, b, a) for _, a, k, b in case.layers]


def require(condition, message):
    """``assert`` that survives ``python -O``: contracts are the product, not debug aids."""
    if not condition:
        raise AssertionError(message)


def assert_same_shape(what, actual, expected):
    require(tuple(actual) == tuple(expected), f"{what}: shape {tuple(actual)}, expected {tuple(expected)}")


def kernel_and_bias(impl, layer):
    """``(kernel, bias)`` numpy values; fails clearly when the layer does not hold exactly two weights."""
    values = impl.weights(layer)
    require(len(values) == 2, f"expected weights [kernel, bias], got {len(values)} weights")
    return values


def as_float32(x):
    return np.asarray(x, dtype=np.float32)
