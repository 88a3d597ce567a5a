"""Every mutant in the zoo is killed by the contract it targets, with a message that says why."""

import re

import keras
import pytest

import conformance.adapters.tensorflow as tensorflow_backend
from conformance import adapters, catalog, outcomes, runner
from tests.mutants import layers as zoo

MUTANTS = zoo.LAYER_MUTANTS + zoo.SEQUENTIAL_MUTANTS
SEED = 20240611  # fixed, so a mutant that survives does so on every run, not on unlucky ones
# The generic area runs on the Dense spec too: it holds what Dense shares with every layer.
LAYER_AREAS = {"generic", "lifecycle", "shapes", "numerics", "gradients", "sequential"}


def implementation_for(mutant):
    if issubclass(mutant, keras.Sequential):
        return adapters.Implementation(f"keras+{mutant.__name__}", zoo.keras_with_sequential(mutant), tensorflow_backend)
    return adapters.load("keras", layer=f"{zoo.__name__}:{mutant.__name__}")


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda mutant: mutant.__name__)
def test_mutant_is_killed_by_its_target_contract(mutant):
    contract = catalog.get(mutant.targets)
    device = getattr(mutant, "device", "CPU:0") if contract.per_device else runner.DEFAULT_DEVICE
    result = runner.run_cell(contract, implementation_for(mutant), device, profile="quick", seed=SEED)

    assert result.status == outcomes.FAILED, (
        f"{mutant.__name__} survived {contract.id} on {device} ({result.status}: {result.message}); "
        f"what it breaks: {mutant.__doc__}"
    )
    assert mutant.symptom in result.message, f"{contract.id} killed {mutant.__name__} for another reason: {result.message}"
    assert f"--contracts {contract.id} --seed {SEED} --profile quick" in result.reproduce
    if contract.is_property:  # a pinned example (explicit) or a shrunk drawn one
        assert re.search(r"Failing (test case|explicit example)", result.counterexample), f"no counterexample for {mutant.__name__}: {result!r}"


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda mutant: mutant.__name__)
def test_mutant_documents_what_is_broken_and_targets_a_layer_contract(mutant):
    assert (mutant.__doc__ or "").strip(), f"{mutant.__name__} has no docstring saying what is broken"
    assert catalog.get(mutant.targets).area in LAYER_AREAS


def test_zoo_targets_every_layer_area_and_many_contracts():
    targeted = {catalog.get(mutant.targets) for mutant in MUTANTS}
    assert len(MUTANTS) >= 15
    assert {contract.area for contract in targeted} == LAYER_AREAS
    assert len(targeted) >= 20, sorted(contract.id for contract in targeted)
