"""The runner: every cell gets a status; failures carry a shrunk counterexample and a replayable seed."""

import pytest
from hypothesis import strategies as st

from conformance import adapters, runner
from conformance.registry import MUST, SHOULD, Contract, NotApplicable


@pytest.fixture(scope="module")
def impl():
    return adapters.load("keras")


def toy_contract(check, given=None, per_device=False, requires=None, level=MUST):
    """A contract that is not registered, so the real registry stays untouched."""
    return Contract(
        id="TOY-CONTRACT",
        area="shapes",
        level=level,
        statement="A toy statement.",
        rationale="Exercises the runner.",
        check=check,
        given=given or {},
        per_device=per_device,
        requires=requires,
    )


def below_ten(impl, n):
    """Fails for every n >= 10."""
    if n >= 10:
        raise AssertionError(f"n is {n}, expected below 10")


def test_failing_property_reports_the_shrunk_counterexample_and_a_seed_that_replays_it(impl):
    contract = toy_contract(below_ten, given={"n": st.integers(0, 1000)})
    first = runner.run_cell(contract, impl, runner.DEFAULT_DEVICE, profile="quick", seed=1234)
    assert first.status == runner.FAILED
    assert first.message == "AssertionError: n is 10, expected below 10"
    assert "n=10" in first.counterexample
    assert first.seed == 1234
    assert "--contracts TOY-CONTRACT --seed 1234 --profile quick" in first.reproduce
    again = runner.run_cell(contract, impl, runner.DEFAULT_DEVICE, profile="quick", seed=1234)
    assert (again.status, again.message, again.counterexample) == (first.status, first.message, first.counterexample)


def test_passing_property_runs_the_profile_number_of_examples(impl):
    seen = []
    contract = toy_contract(lambda impl, n: seen.append(n), given={"n": st.integers(0, 1000)})
    for profile in ("quick", "default"):
        seen.clear()
        result = runner.run_cell(contract, impl, runner.DEFAULT_DEVICE, profile=profile, seed=7)
        assert (result.status, result.message) == (runner.PASSED, "")
        assert result.examples == len(seen) == runner.PROFILES[profile]


def test_a_check_without_strategies_runs_once(impl):
    calls = []
    result = runner.run_cell(toy_contract(lambda impl: calls.append(impl)), impl, runner.DEFAULT_DEVICE, seed=1)
    assert result.status == runner.PASSED and result.examples == 1 and calls == [impl]


def test_an_unexpected_exception_is_a_failure_naming_its_type(impl):
    def crashes(impl):
        """Raises what a broken framework might raise."""
        raise TypeError("unsupported operand")

    result = runner.run_cell(toy_contract(crashes), impl, runner.DEFAULT_DEVICE, seed=1)
    assert result.status == runner.FAILED
    assert result.message == "TypeError: unsupported operand"


def test_not_applicable_from_the_check_or_from_requires(impl):
    def lacks_feature(impl):
        raise NotApplicable("no float64 support")

    from_check = runner.run_cell(toy_contract(lacks_feature), impl, runner.DEFAULT_DEVICE, seed=1)
    assert (from_check.status, from_check.message) == (runner.NOT_APPLICABLE, "no float64 support")
    from_requires = runner.run_cell(
        toy_contract(below_ten, requires=lambda impl, device: "needs compute_output_shape"),
        impl,
        runner.DEFAULT_DEVICE,
        seed=1,
    )
    assert (from_requires.status, from_requires.message) == (runner.NOT_APPLICABLE, "needs compute_output_shape")


def test_invisible_gpu_cell_is_skipped_with_a_reason(impl):
    if any(device.startswith("GPU") for device in impl.devices()):
        pytest.skip("a GPU is visible here; the skip path needs a machine without one")
    assert "GPU:0" in runner.device_matrix(impl)
    result = runner.run_cell(toy_contract(below_ten, per_device=True), impl, "GPU:0", seed=1)
    assert result.status == runner.SKIPPED
    assert result.message == "GPU:0 is not visible to keras on this machine"


def test_per_device_contracts_run_on_each_device_and_inside_its_scope(impl):
    devices_seen = []
    per_device = toy_contract(lambda impl: devices_seen.append(impl.current_device()), per_device=True)
    once = toy_contract(lambda impl: None)
    results = runner.run(impl, [per_device, once], profile="quick", seed=3, devices=["CPU:0", "CPU:1"])
    assert [(r.device, r.status) for r in results] == [
        ("CPU:0", runner.PASSED),
        ("CPU:1", runner.PASSED),
        (runner.DEFAULT_DEVICE, runner.PASSED),
    ]
    assert devices_seen == ["CPU:0", "CPU:1"]


def test_counts_and_must_failures(impl):
    must = toy_contract(below_ten, given={"n": st.integers(10, 20)})
    should = toy_contract(below_ten, given={"n": st.integers(10, 20)}, level=SHOULD)
    passing = toy_contract(lambda impl: None)
    results = runner.run(impl, [must, should, passing], profile="quick", seed=5, devices=["CPU:0"])
    assert runner.counts(results)[runner.FAILED] == 2 and runner.counts(results)[runner.PASSED] == 1
    assert [r.level for r in runner.must_failures(results)] == [MUST]


def test_unknown_profile_is_an_error_naming_the_choices():
    with pytest.raises(ValueError, match="profile must be one of quick, default, thorough, got 'fast'"):
        runner.hypothesis_settings("fast")
