"""Keras 3, tf_keras, the book's SimpleDense and the reference pass every MUST layer contract; their
SHOULD findings are pinned so that a change in either the kit or a framework is noticed."""

import importlib

import pytest

from conformance import adapters, catalog, outcomes, registry, runner
from conformance.pipeline import Session
from tests.test_generic_contracts import MASKS_AND_STATE

LAYER_AREAS = ["generic", "lifecycle", "shapes", "numerics", "gradients", "sequential"]
SEED = 20240611

# (impl, layer) -> the SHOULD contracts it is known to fail. The book's SimpleDense has no
# input_spec (a wrong last dimension fails inside tf.matmul with InvalidArgumentError) and calls
# self.activation(y), so an activation given by name is a str it cannot call; its constructor takes no
# **kwargs, so Keras's default from_config cannot rebuild it (a missing capability, not a wrong layer).
IMPLEMENTATIONS = {
    "reference": (None, set()),
    "keras": (None, set()),
    "tf_keras": (None, set()),
    "book-simple-dense-on-keras": (
        "examples.book.simple_dense:SimpleDense",
        {"LAYER-REJECT-CHANGED-DIM-VALUEERROR", "DENSE-ACTIVATION-BY-NAME", "GENERIC-CONFIG-SERIALIZABLE"},
    ),
}


@pytest.fixture(scope="module", params=list(IMPLEMENTATIONS), ids=str)
def layer_results(request):
    name = request.param
    layer, known_should_failures = IMPLEMENTATIONS[name]
    impl_name = "keras" if layer else name
    if impl_name == "reference":
        try:
            importlib.import_module("reference")
        except ImportError as error:
            pytest.skip(f"the reference implementation is not importable yet: {error}")
    impl = adapters.load(impl_name, layer)
    results = Session(impl, catalog.select(LAYER_AREAS), profile="quick", seed=SEED).run()
    return name, results, known_should_failures


def _describe(results):
    return "\n".join(f"{r.contract_id} on {r.device}: {r.message}\n{r.counterexample}" for r in results)


def test_every_must_layer_contract_passes(layer_results):
    name, results, _ = layer_results
    failing = [r for r in results if outcomes.fails_run(r)]
    assert not failing, f"{name} fails MUST contracts:\n{_describe(failing)}"


def test_should_findings_are_exactly_the_known_ones(layer_results):
    name, results, known_should_failures = layer_results
    failing = {r.contract_id for r in results if r.level == registry.SHOULD and r.status == outcomes.FAILED}
    assert failing == known_should_failures, (
        f"{name}: SHOULD failures changed; newly failing {sorted(failing - known_should_failures)}, "
        f"no longer failing {sorted(known_should_failures - failing)}"
    )


def test_no_cell_crashes_or_goes_missing(layer_results):
    name, results, _ = layer_results
    expected_cells = {(c.id, d) for c, d in runner.cells(catalog.select(LAYER_AREAS), runner.device_matrix(adapters.load("keras")))}
    assert {(r.contract_id, r.device) for r in results} == expected_cells
    unexplained = [r.contract_id for r in results if r.status in (outcomes.NOT_APPLICABLE, outcomes.SKIPPED) and not r.message]
    assert not unexplained, f"{name}: cells not run without a reason: {unexplained}"


# The generic contracts that may be n/a on each Dense (on CPU:1, and off the per-device ones). Of the frameworks' own,
# only the reference lacks get_config, the .keras format, dtype policies and a losses list; the training-flag contracts need a
# call that takes `training` (Dense's does not); none of these one-input Dense layers is drawn a mask, makes one or
# returns its state. Keras on TensorFlow computes float64 and compiles with tf.function, so nothing else is n/a.
TRAINING_FLAG = {"GENERIC-TRAINING-REPRODUCIBLE-UNDER-SEED", "GENERIC-NO-RANDOMNESS-SAME-IN-BOTH-MODES"}
MAY_NOT_APPLY = {
    "reference": TRAINING_FLAG | MASKS_AND_STATE | {"GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER", "GENERIC-CONFIG-SERIALIZABLE",
                                                    "GENERIC-MIXED-PRECISION", "GENERIC-LOSSES-ONCE-PER-CALL"},
    "keras": TRAINING_FLAG | MASKS_AND_STATE,
    "tf_keras": TRAINING_FLAG | MASKS_AND_STATE,
    # The book's SimpleDense takes no dtype (so it has no float64 twin to judge by), no **kwargs (so from_config
    # fails, a SHOULD finding above) and has no compute_output_shape.
    "book-simple-dense-on-keras": TRAINING_FLAG | MASKS_AND_STATE | {
        "GENERIC-BATCH-INDEPENDENCE", "GENERIC-COMPILED-EQUALS-EAGER", "GENERIC-COMPILED-UNKNOWN-BATCH",
        "GENERIC-DEVICE-AGREES-WITH-CPU", "GENERIC-GRAD-FINITE-DIFFERENCE", "GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER",
        "GENERIC-OUTPUT-SHAPE"},
}


def test_only_the_generic_contracts_a_dense_layer_cannot_meet_are_not_applicable(layer_results):
    name, results, _ = layer_results
    not_applicable = {r.contract_id for r in results
                      if r.area == "generic" and r.device in (runner.DEFAULT_DEVICE, "CPU:1") and r.status == outcomes.NOT_APPLICABLE}
    assert not_applicable <= MAY_NOT_APPLY[name], sorted(not_applicable - MAY_NOT_APPLY[name])
    assert MASKS_AND_STATE <= not_applicable  # a contract that should be n/a here and ran would be a kit error
