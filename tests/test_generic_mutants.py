"""The generic contracts on custom layers other than Dense: every mutant of tests/mutants/generic.py is
killed by the contract it targets, with a message that says why, and every correct layer passes every
MUST generic contract."""

import re

import pytest

from conformance import adapters, catalog, outcomes, runner
from tests.mutants import generic as zoo

SEED = 20240611  # fixed, so a mutant that survives does so on every run, not on unlucky ones
# One seed per correct layer, taken in turn from these, so both seeds run in every test run and each layer's run costs
# one pass over the contracts (fresh seeds on every contract are the fresh-seed runs' job; see the closing notes).
CORRECT_SEEDS = (1, 20240611)


# Per-device contracts run on CPU:1 (tests/conftest.py splits the CPU in two): on CPU:0 the agreement
# contract has nothing to compare with, and placement on the default device cannot tell a pinned weight.
OTHER_DEVICE = "CPU:1"


def implementation_for(layer_class):
    return adapters.load("keras", spec=zoo.SPECS[layer_class])


def device_for(contract):
    return OTHER_DEVICE if contract.per_device else runner.DEFAULT_DEVICE


@pytest.mark.parametrize("mutant", zoo.MUTANTS, ids=lambda mutant: mutant.__name__)
def test_mutant_is_killed_by_its_target_contract(mutant):
    contract = catalog.get(mutant.targets)
    result = runner.run_cell(contract, implementation_for(mutant), device_for(contract), profile="quick", seed=SEED)

    assert result.status == outcomes.FAILED, (
        f"{mutant.__name__} survived {contract.id} ({result.status}: {result.message}); what it breaks: {mutant.__doc__}"
    )
    assert mutant.symptom in result.message, f"{contract.id} killed {mutant.__name__} for another reason: {result.message}"
    assert f"--contracts {contract.id} --seed {SEED} --profile quick" in result.reproduce
    if contract.is_property:  # a pinned example (explicit) or a shrunk drawn one
        assert re.search(r"Failing (test case|explicit example)", result.counterexample), f"no counterexample for {mutant.__name__}: {result!r}"


@pytest.mark.parametrize("mutant", zoo.MUTANTS, ids=lambda mutant: mutant.__name__)
def test_mutant_documents_what_is_broken_and_targets_a_generic_contract(mutant):
    assert (mutant.__doc__ or "").strip(), f"{mutant.__name__} has no docstring saying what is broken"
    assert catalog.get(mutant.targets).area == "generic"
    assert mutant.symptom.strip(), f"{mutant.__name__} names no symptom"


MUST_GENERIC = [contract for contract in catalog.all_contracts() if contract.area == "generic" and contract.level == "MUST"]


@pytest.mark.parametrize("layer_class", zoo.CORRECT, ids=lambda layer_class: layer_class.__name__)
def test_correct_layer_passes_every_must_generic_contract(layer_class):
    impl = implementation_for(layer_class)
    seed = CORRECT_SEEDS[zoo.CORRECT.index(layer_class) % len(CORRECT_SEEDS)]
    bad = []
    for contract in MUST_GENERIC:
        result = runner.run_cell(contract, impl, device_for(contract), profile="quick", seed=seed)
        if result.status in (outcomes.FAILED, outcomes.ERROR, outcomes.TIMEOUT):
            bad.append(f"{contract.id} seed {seed}: {result.status}: {result.message}")
    assert not bad, f"{layer_class.__name__}, a correct layer, does not pass:\n" + "\n".join(bad)


def test_zoo_is_large_and_targets_many_generic_contracts():
    targeted = {mutant.targets for mutant in zoo.MUTANTS}
    assert len(zoo.MUTANTS) >= 15
    assert len(targeted) >= 8, sorted(targeted)
    assert len(zoo.CORRECT) >= 6
    assert set(zoo.SPECS) == set(zoo.MUTANTS) | set(zoo.CORRECT)
