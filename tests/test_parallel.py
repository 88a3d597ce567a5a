"""``--jobs N``: cells run in worker processes with the results of a serial run; a worker that dies costs
only its cell. Each parallel run starts worker processes that import TensorFlow (seconds each), so the
tests here are few and each checks much."""

import pytest

from conformance import options, outcomes, pipeline


def comparable(results):
    """What must not depend on how a run was spread over processes, cell by cell."""
    return [(r.contract_id, r.device, r.status, r.seed, r.examples, r.message.splitlines()[0] if r.message else "")
            for r in results]


def test_two_jobs_give_the_serial_results_cell_for_cell_with_failures_and_blocked_cells():
    # TransposedKernel fails LAYER-WEIGHT-LAYOUT, which blocks the contracts resting on it: passed, failed,
    # blocked and skipped (GPU:0) cells all occur.
    session = pipeline.open_session(impl="keras", layer="tests.mutants.layers:TransposedKernel", profile="quick", seed=11,
                                    contracts=["GENERIC-EXPLICIT-BUILD", "LAYER-WEIGHT-LAYOUT", "DENSE-SHAPE-2D",
                                               "DENSE-FORWARD-LINEAR", "TRAIN-SGD-STEP-EQUALS-TAPE", "GRAD-KERNEL"])
    from conformance import parallel as pool_of

    serial = session.run()
    pool = pool_of.Pool(2, warm=session.recipe)  # one pool for both parallel runs: each worker start imports TensorFlow
    try:
        parallel = session.run(jobs=2, pool=pool)
        # Shard 1 rests on LAYER-WEIGHT-LAYOUT of shard 2: a worker decides it, and it is not reported.
        session.shard = (1, 2)
        sharded = session.run(jobs=2, pool=pool)
    finally:
        pool.close()
    statuses = {r.status for r in serial}
    assert {outcomes.FAILED, outcomes.BLOCKED} <= statuses, statuses
    assert comparable(parallel) == comparable(serial)
    assert all(r.extra.get("snippet") for r in parallel if r.status == outcomes.FAILED)  # attached in the parent
    assert comparable(sharded) == comparable(session.run())
    assert "LAYER-WEIGHT-LAYOUT" not in {r.contract_id for r in sharded}
    assert {r.status for r in sharded if r.contract_id == "TRAIN-SGD-STEP-EQUALS-TAPE"} == {outcomes.BLOCKED, outcomes.SKIPPED}


def test_one_pool_serves_the_sessions_of_several_layers_in_turn():
    from conformance import parallel
    from conformance.specs import LayerSpec

    layers = [LayerSpec("keras.layers:Dense", kwargs={"units": 3}, input_shape=(4,)),
              LayerSpec("keras.layers:LayerNormalization", input_shape=(5,))]
    sessions = [pipeline.open_session(impl="keras", profile="quick", seed=3, spec=spec,
                                      contracts=["GENERIC-UNBUILT-AT-INIT", "GENERIC-OUTPUT-SHAPE", "GENERIC-DEVICE-PLACEMENT"])
                for spec in layers]
    pool = parallel.Pool(2, warm=sessions[0].recipe)
    try:
        spread = [s.run(jobs=2, pool=pool) for s in sessions]
        survivors = [w.process.pid for w in pool.workers]
        assert all(w.process.is_alive() for w in pool.workers)  # left open for the next session
    finally:
        pool.close()
    assert [comparable(r) for r in spread] == [comparable(s.run()) for s in sessions]
    assert {r.impl for r in spread[1]} == {sessions[1].impl.label}  # the second layer, not the first
    assert len(set(survivors)) == 2


def test_a_run_whose_last_cells_are_blocked_ends_without_waiting_on_idle_workers():
    session = pipeline.open_session(impl="keras", layer="tests.mutants.layers:TransposedKernel", profile="quick", seed=11,
                                    contracts=["LAYER-WEIGHT-LAYOUT", "DENSE-SHAPE-2D", "DENSE-SHAPE-3D"])
    assert [r.status for r in session.run(jobs=2)] == [outcomes.FAILED, outcomes.BLOCKED, outcomes.BLOCKED]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_layer_that_aborts_its_process_fails_only_its_own_cell_and_the_report_is_intact(tmp_path, capsys, jobs):
    """Cells run isolated by default, with one worker as with two: the abort fails its cell, named by its signal."""
    import json

    from conformance import cli

    report = tmp_path / "report.json"
    status = cli.main(["run", "--impl", "keras", "--layer", "tests.unruly:AbortsOnRank3Input", "--profile", "quick",
                       "--seed", "5", "--jobs", jobs, "--report-json", str(report),
                       "--contracts", "DENSE-SHAPE-2D", "DENSE-SHAPE-3D", "DENSE-SHAPE-4D", "DENSE-SHAPE-ND"])
    assert status == outcomes.EXIT_FAILED
    results = {r["contract_id"]: r for r in json.loads(report.read_text())["results"]}
    aborted = results.pop("DENSE-SHAPE-3D")
    assert aborted["status"] == outcomes.FAILED
    # A worker that had run a cell before gets the cell again in a fresh worker, where the crash comes back: with one
    # worker always; with two it depends on which worker the cell went to.
    again = ", and again in a fresh worker"
    assert aborted["message"] in ("the worker process died with SIGABRT while running this cell" + again,
                                  *(["the worker process died with SIGABRT while running this cell"] if jobs == "2" else [])), aborted["message"]
    assert "--contracts DENSE-SHAPE-3D --seed 5" in aborted["reproduce"]
    assert {r["status"] for r in results.values()} == {outcomes.PASSED}, results
    assert len(results) == 3  # the cells after the crash ran in the replacement worker


def test_a_crash_that_does_not_come_back_in_a_fresh_worker_is_not_the_cells_failure(tmp_path, monkeypatch):
    """A worker that dies on a cell after running others may die of what they left behind (memory, a compile
    cache): the cell runs again in a fresh worker, and its verdict there is the cell's, the first death noted."""
    import json

    from conformance import cli

    monkeypatch.setenv("UNRULY_CRASH_FLAG", str(tmp_path / "crashed-once"))
    report = tmp_path / "report.json"
    status = cli.main(["run", "--impl", "keras", "--layer", "tests.unruly:AbortsOnceOnRank3Input", "--profile", "quick",
                       "--seed", "5", "--report-json", str(report), "--contracts", "DENSE-SHAPE-2D", "DENSE-SHAPE-3D"])
    results = {r["contract_id"]: r for r in json.loads(report.read_text())["results"]}
    assert (tmp_path / "crashed-once").exists()  # the first worker did die on DENSE-SHAPE-3D
    assert status == outcomes.EXIT_OK and {r["status"] for r in results.values()} == {outcomes.PASSED}, results
    assert results["DENSE-SHAPE-3D"]["message"] == ("rerun in a fresh worker: the first died with SIGABRT while running "
                                                    "this cell, after 1 other cell")


def test_jobs_above_one_need_an_implementation_given_by_name():
    impl = pipeline.load_implementation("reference")
    session = pipeline.open_session(impl=impl, contracts=["DENSE-SHAPE-2D"], profile="quick", seed=1)
    with pytest.raises(pipeline.UsageError, match="jobs=2 needs the implementation by name"):
        session.run(jobs=2)
    assert [r.status for r in session.run(jobs=1)] == [outcomes.PASSED]


@pytest.mark.parametrize("jobs", [0, -1, "two", "1.5", None])
def test_a_bad_jobs_value_is_a_usage_error_naming_jobs(jobs):
    with pytest.raises(pipeline.UsageError, match=r"^jobs must be a positive number of worker processes or 'auto'"):
        options.jobs(jobs)


def test_auto_jobs_is_the_number_of_usable_cpus():
    import os

    assert options.jobs("auto") == len(os.sched_getaffinity(0))
    assert options.jobs("3") == 3


def test_a_dead_worker_is_named_by_its_signal_or_exit_status():
    from conformance import parallel

    assert parallel.death_message(-9) == "the worker process died with SIGKILL while running this cell"
    assert parallel.death_message(3) == "the worker process exited with status 3 while running this cell"


def test_a_worker_stuck_past_the_hard_limit_is_killed_and_its_cell_is_a_timeout(monkeypatch):
    from conformance import parallel

    monkeypatch.setattr(parallel, "GRACE_SECONDS", 1.0)  # the parent's limit: the cell's 2 s, then 1 s more
    session = pipeline.open_session(impl="keras", layer="tests.unruly:CallIgnoresTheTimeLimit", profile="quick", seed=2,
                                    contracts=["DENSE-SHAPE-2D"], timeout=2)
    results = {r.contract_id: r for r in session.run(jobs=2)}
    stuck = results["DENSE-SHAPE-2D"]
    assert stuck.status == outcomes.TIMEOUT
    assert stuck.message.startswith("DENSE-SHAPE-2D did not finish within 2 s on keras+CallIgnoresTheTimeLimit / default, "
                                    "and its worker process did not stop 1 s later")
    assert "--contracts DENSE-SHAPE-2D --seed 2" in stuck.reproduce

