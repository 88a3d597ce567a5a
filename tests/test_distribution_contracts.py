"""The distribution contracts bite (each mutant fails its target), are right (Keras 3 and tf_keras pass
every one over two logical CPUs, Keras 3 on JAX over two XLA CPU devices) and say why where they do not
apply (the reference). Quick profile, fixed seed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, strategies as st

from conformance import adapters, catalog, outcomes, runner, strategies
from conformance.adapters.backend import data_parallel_devices
from conformance.adapters.base import Implementation
from conformance.contracts.distribution import evenly_split
from conformance.registry import NotApplicable
from tests.mutants.distribution import MUTANTS, SYMPTOMS

SEED = 1234
PROFILE = "quick"
AREA = "distribution"


def _cell(impl, contract):
    return runner.run_cell(contract, impl, runner.DEFAULT_DEVICE, PROFILE, SEED)


def _mutant(name):
    module, target = MUTANTS[name]
    return Implementation(name, module, adapters.load("keras").backend), target


@given(case=strategies.regression_cases(), replicas=st.integers(1, 4))
def test_evenly_split_gives_every_replica_the_same_rows_per_batch(case, replicas):
    split = evenly_split(case, replicas)
    rows = len(split.x)
    batches = [min(split.batch_size, rows - start) for start in range(0, rows, split.batch_size)]
    assert all(batch % replicas == 0 for batch in batches), f"batches {batches} for {replicas} replicas"
    assert split.batch_size == replicas * case.batch_size
    assert rows - replicas < len(case.x) <= rows
    np.testing.assert_array_equal(split.x[: len(case.x)], case.x)
    np.testing.assert_array_equal(split.y[len(case.x) :], np.resize(case.y, split.y.shape)[len(case.x) :])


def test_data_parallel_devices_prefers_two_or_more_gpus_and_needs_two_devices():
    assert data_parallel_devices(["CPU:0", "CPU:1", "GPU:0", "GPU:1"]) == ["GPU:0", "GPU:1"]
    assert data_parallel_devices(["CPU:0", "CPU:1", "GPU:0"]) == ["CPU:0", "CPU:1"]
    assert data_parallel_devices(["CPU:0", "CPU:1"]) == ["CPU:0", "CPU:1"]
    with pytest.raises(NotApplicable, match="one device only"):
        data_parallel_devices(["CPU:0", "GPU:0"])


def test_at_least_two_mutants_each_targeting_a_distribution_contract():
    assert len(MUTANTS) >= 2
    for name, (_, target) in MUTANTS.items():
        assert catalog.get(target).area == AREA, f"{name} targets {target}, outside {AREA}"


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_fails_its_target_contract(name):
    impl, target = _mutant(name)
    result = _cell(impl, catalog.get(target))
    assert result.status == outcomes.FAILED, f"{name} was not killed by {target}: {result.status} {result.message}"
    assert SYMPTOMS[name] in result.message, f"{target} killed {name} for another reason: {result.message}"


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_fails_an_example_its_target_pins_for_every_profile(name):
    impl, target = _mutant(name)
    contract = catalog.get(target)
    for example in contract.examples or [{}]:
        try:
            contract.check(impl, **example)
        except AssertionError:
            return
    pytest.fail(f"{name} passes every example {target} pins; only random draws can catch it")


@pytest.mark.parametrize("impl_name", ["keras", "tf_keras"])
def test_tensorflow_frameworks_pass_every_distribution_contract(impl_name):
    impl = adapters.load(impl_name)
    results = [_cell(impl, c) for c in catalog.select([AREA])]
    wrong = [f"{r.contract_id}: {r.status}: {r.message}" for r in results if r.status != outcomes.PASSED]
    assert not wrong, "\n".join(wrong)


def test_reference_is_not_applicable_and_says_why():
    impl = adapters.load("reference")
    for contract in catalog.select([AREA]):
        result = _cell(impl, contract)
        assert result.status == outcomes.NOT_APPLICABLE, f"{contract.id}: {result.status} {result.message}"
        assert "distribute_strategy" in result.message


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed (the jax extra)")
def test_keras_on_jax_passes_every_distribution_contract_over_two_cpu_devices(tmp_path):
    report = tmp_path / "jax.json"
    environment = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    completed = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--impl", "keras", "--contracts", AREA, "--profile", PROFILE,
         "--seed", str(SEED), "--report-json", str(report)],
        env=environment, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = json.loads(report.read_text())["results"]
    assert {r["contract_id"] for r in results} == {c.id for c in catalog.select([AREA])}
    assert {r["status"] for r in results} == {outcomes.PASSED}, results
