"""A correct Keras 3 user layer passes every MUST layer contract (issue 8, item 3).

GlorotDense is written the way Keras's own guide writes a custom layer: ``add_weight(...,
initializer="glorot_uniform")`` in build, no ``kernel_initializer`` attribute, ``keras.ops.matmul``
in call (which also accepts a rank-1 input). The kit used to fail it twice: LAYER-INIT-KERNEL
assumed the book's N(0, 0.05), and rejecting a vector was a MUST.
"""

import keras
import pytest

from conformance import adapters, catalog, outcomes, registry, runner
from conformance.pipeline import Session

LAYER_AREAS = ["generic", "lifecycle", "shapes", "numerics", "gradients", "sequential"]
SEED = 20240611


class GlorotDense(keras.layers.Layer):
    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return self.activation(keras.ops.matmul(inputs, self.kernel) + self.bias)


class DeclaredGlorotDense(GlorotDense):
    """The same layer, declaring what it draws from."""

    kernel_initializer = "glorot_uniform"


class DeclaredHeNormalDense(GlorotDense):
    """Declares he_normal but draws from glorot_uniform: a broken layer."""

    kernel_initializer = "he_normal"


def _load(layer_class):
    return adapters.load("keras", layer=f"{__name__}:{layer_class.__name__}")


@pytest.fixture(scope="module")
def results():
    return Session(_load(GlorotDense), catalog.select(LAYER_AREAS), profile="quick", seed=SEED).run()


def test_passes_every_must_layer_contract(results):
    failing = [f"{r.contract_id} on {r.device}: {r.status}: {r.message}" for r in results
               if r.level == registry.MUST and r.status not in (outcomes.PASSED, outcomes.SKIPPED, outcomes.NOT_APPLICABLE)]
    assert not failing, "\n".join(failing)


def test_initializer_check_is_not_applicable_with_the_reason(results):
    (cell,) = [r for r in results if r.contract_id == "LAYER-INIT-KERNEL"]
    assert cell.status == outcomes.NOT_APPLICABLE
    assert "no kernel_initializer attribute" in cell.message


def test_accepting_a_vector_is_only_a_should_finding(results):
    (cell,) = [r for r in results if r.contract_id == "DENSE-REJECT-LOW-RANK"]
    assert (cell.level, cell.status) == (registry.SHOULD, outcomes.FAILED)


@pytest.mark.parametrize("layer_class, status", [(DeclaredGlorotDense, outcomes.PASSED), (DeclaredHeNormalDense, outcomes.FAILED)])
def test_a_declared_initializer_is_checked(layer_class, status):
    cell = runner.run_cell(catalog.get("LAYER-INIT-KERNEL"), _load(layer_class), runner.DEFAULT_DEVICE, "quick", SEED)
    assert cell.status == status, cell.message
