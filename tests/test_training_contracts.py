"""The training, validation, compile and errors contracts bite (each mutant fails its target) and are
right (reference, Keras 3 and tf_keras pass every MUST one). Quick profile, fixed seed."""

from __future__ import annotations

import pytest

from conformance import adapters, catalog, outcomes, runner
from conformance.adapters.base import Implementation
from conformance.registry import MUST, SHOULD
from tests.mutants.training import MUTANTS, SYMPTOMS

SEED = 1234
PROFILE = "quick"
AREAS = ("compile", "training", "validation", "errors")
DEVICE = "CPU:0"


def _cell(impl, contract):
    return runner.run_cell(contract, impl, DEVICE if contract.per_device else runner.DEFAULT_DEVICE, PROFILE, SEED)


def _mutant(name):
    module, target = MUTANTS[name]
    return Implementation(name, module, adapters.load("reference").backend), target


def test_at_least_twelve_mutants_each_targeting_a_registered_contract():
    assert len(MUTANTS) >= 12
    for name, (_, target) in MUTANTS.items():
        assert catalog.get(target).area in AREAS, f"{name} targets {target}, outside the training areas"


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_fails_its_target_contract(name):
    impl, target = _mutant(name)
    result = _cell(impl, catalog.get(target))
    assert result.status == outcomes.FAILED, f"{name} was not killed by {target}: {result.status} {result.message}"
    assert SYMPTOMS[name] in result.message, f"{target} killed {name} for another reason: {result.message}"


# One item per framework and area, so that pytest-xdist can spread them (one item per framework ran 30-50 s).
@pytest.mark.parametrize("area", AREAS)
@pytest.mark.parametrize("impl_name", ["reference", "keras", "tf_keras"])
def test_frameworks_pass_every_must_training_contract(impl_name, area):
    impl = adapters.load(impl_name)
    results = [_cell(impl, c) for c in catalog.select([area])]
    wrong = (outcomes.FAILED, outcomes.ERROR, outcomes.TIMEOUT)
    must_failures = [f"{r.contract_id}: {r.status}: {r.message}" for r in results if r.level == MUST and r.status in wrong]
    assert not must_failures, "\n".join(must_failures)
    should_failures = sorted(r.contract_id for r in results if r.level == SHOULD and r.status == outcomes.FAILED)
    print(f"\n{impl_name} SHOULD findings: {should_failures or 'none'}")
    if impl_name == "reference":
        assert not should_failures, f"the reference fails SHOULD contracts {should_failures}"


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_fails_an_example_its_target_pins_for_every_profile(name):
    """The distinguishing case is in the target's explicit examples, so no profile or seed can miss it."""
    impl, target = _mutant(name)
    contract = catalog.get(target)
    assert contract.examples, f"{target} pins no example for {name} to fail"
    for example in contract.examples:
        impl.set_random_seed(SEED)  # a mutant that shuffles wrongly is caught with high probability, not always
        try:
            with impl.on_device(DEVICE if contract.per_device else None):
                contract.check(impl, **example)
        except AssertionError:
            return
    pytest.fail(f"{name} passes every example {target} pins; only random draws can catch it")
