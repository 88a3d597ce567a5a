"""Our own tests of SimpleDense; the conformance contracts are collected next to them by the plugin
(see addopts in pyproject.toml)."""

import numpy as np

from mylayers import SimpleDense


def test_output_has_units_columns():
    layer = SimpleDense(3)
    output = np.asarray(layer(np.ones((2, 4), np.float32)))
    assert output.shape == (2, 3)
