"""The runner: every cell gets a status; failures carry a shrunk counterexample and a replayable seed."""

import pytest
from hypothesis import strategies as st

from conformance import adapters, catalog, outcomes, runner
from conformance.pipeline import Session
from conformance.registry import MUST, SHOULD, Contract, NotApplicable


@pytest.fixture(scope="module")
def impl():
    return adapters.load("keras")


def toy_contract(check, given=None, per_device=False, requires=None, level=MUST, id="TOY-CONTRACT", rests_on=(), examples=()):
    """A contract that is not registered, so the real registry stays untouched."""
    return Contract(
        id=id,
        area="shapes",
        level=level,
        statement="A toy statement.",
        rationale="Exercises the runner.",
        check=check,
        given=given or {},
        per_device=per_device,
        requires=requires,
        rests_on=tuple(rests_on),
        examples=tuple(examples),
    )


def below_ten(impl, n):
    """Fails for every n >= 10."""
    if n >= 10:
        raise AssertionError(f"n is {n}, expected below 10")


def test_failing_property_reports_the_shrunk_counterexample_and_a_seed_that_replays_it(impl):
    contract = toy_contract(below_ten, given={"n": st.integers(0, 1000)})
    first = runner.run_cell(contract, impl, runner.DEFAULT_DEVICE, profile="quick", seed=1234)
    assert first.status == outcomes.FAILED
    assert first.message == "AssertionError: n is 10, expected below 10"
    assert "n=10" in first.counterexample
    assert first.seed == 1234
    assert first.examples > 1  # the examples run before and while shrinking are counted on failure too
    assert "--contracts TOY-CONTRACT --seed 1234 --profile quick" in first.reproduce
    again = runner.run_cell(contract, impl, runner.DEFAULT_DEVICE, profile="quick", seed=1234)
    assert (again.status, again.message, again.counterexample) == (first.status, first.message, first.counterexample)


def test_passing_property_runs_the_profile_number_of_examples(impl):
    seen = []
    contract = toy_contract(lambda impl, n: seen.append(n), given={"n": st.integers(0, 1000)})
    for profile in ("quick", "default"):
        seen.clear()
        result = runner.run_cell(contract, impl, runner.DEFAULT_DEVICE, profile=profile, seed=7)
        assert (result.status, result.message) == (outcomes.PASSED, "")
        assert result.examples == len(seen) == runner.PROFILES[profile]


def test_a_check_without_strategies_runs_once(impl):
    calls = []
    result = runner.run_cell(toy_contract(lambda impl: calls.append(impl)), impl, runner.DEFAULT_DEVICE, seed=1)
    assert result.status == outcomes.PASSED and result.examples == 1 and calls == [impl]


def test_an_unexpected_exception_is_a_failure_naming_its_type(impl):
    def crashes(impl):
        """Raises what a broken framework might raise."""
        raise TypeError("unsupported operand")

    result = runner.run_cell(toy_contract(crashes), impl, runner.DEFAULT_DEVICE, seed=1)
    assert result.status == outcomes.FAILED
    assert result.message == "TypeError: unsupported operand"


def test_not_applicable_from_the_check_or_from_requires(impl):
    def lacks_feature(impl):
        raise NotApplicable("no float64 support")

    from_check = runner.run_cell(toy_contract(lacks_feature), impl, runner.DEFAULT_DEVICE, seed=1)
    assert (from_check.status, from_check.message) == (outcomes.NOT_APPLICABLE, "no float64 support")
    from_requires = runner.run_cell(
        toy_contract(below_ten, requires=lambda impl, device: "needs compute_output_shape"),
        impl,
        runner.DEFAULT_DEVICE,
        seed=1,
    )
    assert (from_requires.status, from_requires.message) == (outcomes.NOT_APPLICABLE, "needs compute_output_shape")


def test_invisible_gpu_cell_is_skipped_with_a_reason(impl):
    if any(device.startswith("GPU") for device in impl.devices()):
        pytest.skip("a GPU is visible here; the skip path needs a machine without one")
    assert "GPU:0" in runner.device_matrix(impl)
    result = runner.run_cell(toy_contract(below_ten, per_device=True), impl, "GPU:0", seed=1)
    assert result.status == outcomes.SKIPPED
    assert result.message == "GPU:0 is not visible to keras on this machine"


def test_per_device_contracts_run_on_each_device_and_inside_its_scope(impl):
    devices_seen = []
    per_device = toy_contract(lambda impl: devices_seen.append(impl.current_device()), per_device=True)
    once = toy_contract(lambda impl: None, id="TOY-ONCE")
    results = Session(impl, [per_device, once], profile="quick", seed=3, devices=["CPU:0", "CPU:1"]).run()
    assert [(r.device, r.status) for r in results] == [
        ("CPU:0", outcomes.PASSED),
        ("CPU:1", outcomes.PASSED),
        (runner.DEFAULT_DEVICE, outcomes.PASSED),
    ]
    assert devices_seen == ["CPU:0", "CPU:1"]


def test_counts_and_must_failures(impl):
    must = toy_contract(below_ten, given={"n": st.integers(10, 20)})
    should = toy_contract(below_ten, given={"n": st.integers(10, 20)}, level=SHOULD, id="TOY-SHOULD")
    passing = toy_contract(lambda impl: None, id="TOY-PASSING")
    results = Session(impl, [must, should, passing], profile="quick", seed=5, devices=["CPU:0"]).run()
    assert outcomes.counts(results)[outcomes.FAILED] == 2 and outcomes.counts(results)[outcomes.PASSED] == 1
    assert [r.level for r in results if outcomes.fails_run(r)] == [MUST]


def test_the_split_follows_the_implementations_call_boundary_not_file_paths(impl):
    # Kit code (by module, wherever its file is) that calls into the framework: an exception raised
    # inside the framework is the implementation's; one raised by numpy with no framework frame is the kit's.
    source = ("def calls_framework(impl):\n    impl.module.ops.reshape(impl.module.ops.ones((2, 3)), (7,))\n\n"
              "def numpy_only(impl):\n    import numpy\n    numpy.ones(3).reshape(7)\n")
    namespace = {"__name__": "conformance.contracts.toy"}
    exec(compile(source, "/somewhere/else/toy.py", "exec"), namespace)
    assert runner.run_cell(toy_contract(namespace["calls_framework"]), impl, runner.DEFAULT_DEVICE, seed=1).status == outcomes.FAILED
    assert runner.run_cell(toy_contract(namespace["numpy_only"]), impl, runner.DEFAULT_DEVICE, seed=1).status == outcomes.ERROR


def test_unknown_profile_is_an_error_naming_the_choices():
    with pytest.raises(ValueError, match="profile must be one of quick, default, thorough, got 'fast'"):
        runner.hypothesis_settings("fast")


def test_two_distinct_bugs_give_one_failure_whose_message_and_example_agree(impl):
    def two_bugs(impl, n):
        """Small n fail one way, large n another: hypothesis would report an ExceptionGroup."""
        if n % 2:
            raise AssertionError(f"odd n={n}")
        if n > 500:
            raise ValueError(f"large n={n}")

    for seed in range(5):
        result = runner.run_cell(toy_contract(two_bugs, given={"n": st.integers(0, 1000)}), impl, runner.DEFAULT_DEVICE, "quick", seed)
        assert result.status == outcomes.FAILED
        assert f"n={result.extra['example']['n']}" in result.message, (result.message, result.extra["example"])
        assert f"n={result.extra['example']['n']}" in result.counterexample


def test_shrinking_past_its_time_budget_still_reports_a_real_failure(impl, monkeypatch):
    monkeypatch.setattr(runner, "SHRINK_SECONDS", 0.0)
    result = runner.run_cell(toy_contract(below_ten, given={"n": st.integers(0, 1000)}), impl, runner.DEFAULT_DEVICE, "quick", 1234)
    assert result.status == outcomes.FAILED
    n = result.extra["example"]["n"]
    assert n >= 10 and result.message == f"AssertionError: n is {n}, expected below 10"


def test_shrinking_past_its_time_budget_with_draws_inside_the_example_reports_that_failure(impl, monkeypatch):
    """An example that draws inside (``st.data()``) cannot be told from another before it draws: past the budget
    the shrinker stops at the smallest failure so far, never at a flaky verdict made by the budget itself."""
    monkeypatch.setattr(runner, "SHRINK_SECONDS", 0.0)

    def draws_inside(impl, n, data):
        m = data.draw(st.integers(0, 1000), label="m")
        if n + m >= 10:
            raise AssertionError(f"n + m is {n + m}, expected below 10")

    for seed in range(6):
        result = runner.run_cell(toy_contract(draws_inside, given={"n": st.integers(0, 5), "data": st.data()}),
                                 impl, runner.DEFAULT_DEVICE, "quick", seed)
        assert result.status == outcomes.FAILED, result.message
        total = result.extra["example"]["n"] + result.extra["example"]["data"].values[0]
        assert result.message == f"AssertionError: n + m is {total}, expected below 10" and total >= 10
        assert f"n={result.extra['example']['n']}" in result.counterexample and "Draw 1 (m)" in result.counterexample
        seed = result.extra["example"]["framework_seed"]  # the example's framework seed stays with it
        assert f"framework_seed={seed}" in result.counterexample


def test_pinned_examples_run_first_in_every_profile(impl):
    seen = []
    contract = toy_contract(lambda impl, n: seen.append(n), given={"n": st.integers(0, 5)}, examples=[{"n": 999}, {"n": 998}])
    for profile in ("quick", "thorough"):
        seen.clear()
        runner.run_cell(contract, impl, runner.DEFAULT_DEVICE, profile, seed=1)
        assert seen[:2] == [999, 998]


def test_an_exception_from_kit_code_is_an_error_and_a_violation_never_is(impl):
    import conformance.oracles

    source = "def broken_oracle(impl):\n    return {}['missing']\n\ndef violated(impl):\n    raise AssertionError('wrong')\n"
    namespace = {"__name__": "conformance.oracles"}  # code that runs in the kit's own module
    exec(compile(source, conformance.oracles.__file__, "exec"), namespace)
    error = runner.run_cell(toy_contract(namespace["broken_oracle"]), impl, runner.DEFAULT_DEVICE, seed=1)
    assert error.status == outcomes.ERROR
    assert error.message == "kit error, not the implementation's failure: KeyError: 'missing'"
    assert "broken_oracle" in error.extra["traceback"]
    violated = runner.run_cell(toy_contract(namespace["violated"]), impl, runner.DEFAULT_DEVICE, seed=1)
    assert violated.status == outcomes.FAILED


def test_a_cell_past_its_time_limit_is_a_timeout_and_the_run_goes_on(impl):
    def stuck(impl):
        while True:
            pass

    results = Session(impl, [toy_contract(stuck), toy_contract(lambda impl: None, id="TOY-NEXT")], seed=1, devices=["CPU:0"], timeout=0.5).run()
    assert [(r.contract_id, r.status) for r in results] == [("TOY-CONTRACT", outcomes.TIMEOUT), ("TOY-NEXT", outcomes.PASSED)]
    assert "did not finish within 0.5 s" in results[0].message and "in stuck" in results[0].message


def test_cells_resting_on_a_failed_contract_are_blocked_by_it_once(impl):
    calls = []
    root = toy_contract(lambda impl: (_ for _ in ()).throw(AssertionError("cannot build")), id="TOY-ROOT")
    dependent = toy_contract(lambda impl: calls.append("ran"), id="TOY-LEAF", rests_on=["TOY-ROOT"], per_device=True)
    unrelated = toy_contract(lambda impl: calls.append("unrelated"), id="TOY-OTHER")
    # listed before its root: the runner still runs the root first, and reports in the given order
    results = Session(impl, [dependent, root, unrelated], seed=1, devices=["CPU:0", "CPU:1"]).run()
    assert [(r.contract_id, r.device, r.status) for r in results] == [
        ("TOY-LEAF", "CPU:0", outcomes.BLOCKED),
        ("TOY-LEAF", "CPU:1", outcomes.BLOCKED),
        ("TOY-ROOT", runner.DEFAULT_DEVICE, outcomes.FAILED),
        ("TOY-OTHER", runner.DEFAULT_DEVICE, outcomes.PASSED),
    ]
    assert results[0].message == "blocked by TOY-ROOT (failed on default)"
    assert calls == ["unrelated"]


def test_ctrl_c_stops_the_run_and_keeps_the_finished_cells(impl):
    def interrupt(impl):
        raise KeyboardInterrupt

    first, second, third = toy_contract(lambda impl: None, id="TOY-A"), toy_contract(interrupt, id="TOY-B"), toy_contract(lambda impl: None, id="TOY-C")
    with pytest.raises(runner.RunInterrupted) as stop:
        Session(impl, [first, second, third], seed=1, devices=["CPU:0"]).run()
    assert [(r.contract_id, r.status) for r in stop.value.results] == [("TOY-A", outcomes.PASSED)]


def test_every_registered_prerequisite_exists_and_runs_before_its_dependents():
    contracts = catalog.all_contracts()
    ids = {c.id for c in contracts}
    order = [c.id for c in runner.in_dependency_order(contracts)]
    for contract in contracts:
        for prerequisite in contract.rests_on:
            assert prerequisite in ids, f"{contract.id} rests on unknown {prerequisite}"
            assert order.index(prerequisite) < order.index(contract.id)


def test_a_check_drawing_from_data_records_its_draws_for_the_snippet(impl):
    from conformance import reproduce

    def interactive(impl, data):
        """Fails when the second draw exceeds the first."""
        first = data.draw(st.integers(0, 100), label="first")
        second = data.draw(st.integers(0, 100), label="second")
        if second > first:
            raise AssertionError(f"{second} > {first}")

    result = runner.run_cell(toy_contract(interactive, given={"data": st.data()}), impl, runner.DEFAULT_DEVICE, "quick", 3)
    assert result.status == outcomes.FAILED
    assert result.extra["example"]["data"].values == [0, 1]  # the shrunk draws, in order
    source = reproduce.literal(result.extra["example"]["data"], set())
    assert source == "Replayed([0, 1])"
    replayed = reproduce.Replayed([0, 1])
    with pytest.raises(AssertionError, match="1 > 0"):
        interactive(impl, replayed)


def test_not_applicable_midway_is_final_and_is_not_shrunk():
    """A contract that finds partway through that it does not apply says so at once: hypothesis would
    otherwise shrink the NotApplicable like a failure (up to the shrink budget), and later examples are not run."""
    from hypothesis import strategies as st

    from conformance import adapters, registry
    from conformance.outcomes import NOT_APPLICABLE

    calls = []

    def check(impl, data):  # draws inside the check, as the generic contracts do (replays must stay consistent)
        value = data.draw(st.integers(0, 100))
        calls.append(value)
        if value >= 5:
            data.draw(st.integers(0, 9))
            raise registry.NotApplicable(f"not for {value}")

    contract = registry.Contract("TEST-NA-MIDWAY", "generic", "MUST", "s", "r", check, given={"data": st.data()})
    result = runner.run_cell(contract, adapters.load("reference"), "default", "default", seed=1)
    assert result.status == NOT_APPLICABLE and result.message.startswith("not for ")
    assert sum(v >= 5 for v in calls) == 1, calls


def test_a_contract_that_fits_several_models_per_example_draws_that_many_times_fewer():
    from conformance.options import PROFILES

    several, one, none = (catalog.get(i) for i in ("GENERIC-COMPILED-UNKNOWN-BATCH", "TRAIN-SGD-STEP-EQUALS-TAPE", "GENERIC-OUTPUT-SHAPE"))
    assert (several.fits, one.fits, none.fits) == (3, 1, 0)
    assert runner.max_examples(none, "thorough") == PROFILES["thorough"]
    assert runner.max_examples(one, "thorough") == PROFILES["thorough"] // 3
    assert runner.max_examples(several, "thorough") == PROFILES["thorough"] // 9
    assert runner.max_examples(several, "quick") == 2  # never fewer than two drawn examples
