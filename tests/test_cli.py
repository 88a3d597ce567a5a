"""``keras-conformance``, called in-process: list, run, the matrix, and every exit status (0-5)."""

import json
import os

import pytest

from conformance import catalog, oracles, outcomes
from conformance.cli import main

# What these tests check (exit statuses, the matrix, reports, usage errors) does not depend on where cells run, so
# most of them run in this process and spare a worker's start (about 6 s of TensorFlow import each); isolation has
# its own tests in tests/test_parallel.py, tests/test_one_path.py shows the isolated and in-process runs give equal
# verdicts, and tests/test_specs.py has a usage error found by a worker.
IN_PROCESS = ["--in-process"]


def test_list_prints_every_contract(capsys):
    assert main(["list"]) == outcomes.EXIT_OK
    out = capsys.readouterr().out
    for entry in catalog.all_contracts():
        assert entry.id in out


def test_a_pattern_matching_nothing_selects_nothing_exit_5(capsys):
    assert main(["list", "--contracts", "DENSE-TYPO-*"]) == outcomes.EXIT_NO_CONTRACTS == 5
    assert "'DENSE-TYPO-*' matches no contract" in capsys.readouterr().err
    assert main(["run", "--impl", "keras", "--contracts", "DENSE-TYPO-*"]) == 5


def test_every_selected_cell_skipped_is_nothing_run_exit_5(tmp_path, capsys):
    skip_all = tmp_path / "skip.toml"
    skip_all.write_text('[[expected]]\ncontract = "DENSE-SHAPE-2D"\nreason = "not today"\nmode = "skip"\n')
    argv = ["run", "--impl", "keras", "--contracts", "DENSE-SHAPE-2D", "--profile", "quick", "--xfail", str(skip_all), *IN_PROCESS]
    assert main(argv) == 5
    assert "exit status 5" in capsys.readouterr().out


def test_run_prints_the_matrix_and_exits_0_when_every_must_passes(capsys):
    assert main(["run", "--impl", "keras", "--contracts", "DENSE-SHAPE-2D", "--profile", "quick", "--seed", "1", *IN_PROCESS]) == 0
    out = capsys.readouterr().out
    assert "profile: quick   seed: 1" in out
    assert "1 contract, 1 cell" in out
    row = next(line for line in out.splitlines() if line.startswith("DENSE-SHAPE-2D"))
    assert row.split()[1:] == ["MUST", "pass"]
    assert "MUST contracts failing: 0" in out
    assert "conformance: 1 passed, 0 failed (cells of 1 contract)" in out


def test_run_shows_one_column_per_device_and_why_gpu_is_skipped(capsys):
    assert main(["run", "--impl", "keras", "--contracts", "GENERIC-DEVICE-PLACEMENT", "--profile", "quick", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("contract"))
    row = next(line for line in out.splitlines() if line.startswith("GENERIC-DEVICE-PLACEMENT"))
    assert header.split()[2:5] == ["any", "CPU:0", "CPU:1"]
    assert row.split()[1:4] == ["MUST", "pass", "pass"]
    if "GPU:0 not visible" in out:  # no GPU here: the reason is printed, grouped, with the contract
        assert "skipped, 1 cell: GPU:0 is not visible to keras on this machine  [GENERIC-DEVICE-PLACEMENT]" in out


def test_a_must_failure_exits_1_and_lists_every_failing_must_id(capsys):
    argv = ["run", "--impl", "keras", "--layer", "tests.mutants.layers:BiasAddedTwice", "--contracts", "DENSE-FORWARD-*",
            "--profile", "quick", "--seed", "3", *IN_PROCESS]
    assert main(argv) == outcomes.EXIT_FAILED == 1
    out = capsys.readouterr().out
    assert "FAILED DENSE-FORWARD-LINEAR [MUST] on keras+BiasAddedTwice / CPU:0" in out
    failing = next(line for line in out.splitlines() if line.startswith("MUST contracts failing:"))
    count = int(failing.split(":")[1].split()[0])
    listed = failing.split(": ", 2)[2].split(", ")
    assert count == len(listed) >= 1 and "DENSE-FORWARD-LINEAR" in listed
    assert "reproduce: keras-conformance run --impl keras --layer tests.mutants.layers:BiasAddedTwice --contracts DENSE-FORWARD-" in out


def test_a_should_finding_exits_0_unless_fail_on_should(capsys):
    argv = ["run", "--impl", "keras", "--layer", "examples.book.simple_dense:SimpleDense", "--contracts",
            "LAYER-REJECT-CHANGED-DIM-VALUEERROR", "--profile", "quick", "--seed", "1", *IN_PROCESS]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Findings (SHOULD contracts: reported, not failing the run)" in out
    assert "FAILED LAYER-REJECT-CHANGED-DIM-VALUEERROR [SHOULD]" in out
    assert "expected ValueError" in out and "minimal counterexample (hypothesis):" in out
    assert main(argv + ["--fail-on", "should"]) == 1


def test_an_exception_raised_by_the_kit_is_an_error_exit_3_not_a_failure(monkeypatch, capsys):
    # An oracle bug: code that runs in the oracles' module (as a real oracle's frames do) and raises.
    source = "def forward(*args, **kwargs):\n    raise ZeroDivisionError('the oracle divided by zero')\n"
    namespace = {"__name__": oracles.__name__}
    exec(compile(source, oracles.__file__, "exec"), namespace)
    monkeypatch.setattr(oracles, "forward", namespace["forward"])
    assert main(["run", "--impl", "keras", "--contracts", "DENSE-FORWARD-LINEAR", "--profile", "quick", "--seed", "1", "--in-process"]) == 3
    out = capsys.readouterr().out
    assert "KIT ERROR DENSE-FORWARD-LINEAR" in out and "not the implementation's failure" in out
    assert "ZeroDivisionError: the oracle divided by zero" in out
    assert "MUST contracts failing: 0" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--profile", "fast"], "invalid choice: 'fast'"),
        (["--timeout", "-1"], "argument --timeout: timeout must be a positive number of seconds, got '-1'"),
        (["--impl", "no_such_framework"], "impl='no_such_framework': cannot import module 'no_such_framework'"),
        (["--layer", "examples.book.simple_dense:NoSuchLayer"], "has no attribute 'NoSuchLayer'"),
        (["--layer", "tests.unruly:NeedsKernelSize"], "NeedsKernelSize(2, activation=None) raised TypeError"),
        (["--report-json", "/proc/x.json"], "--report-json='/proc/x.json': cannot write in '/proc'"),
        (["--report-html", "."], "--report-html='.': is a directory"),
    ],
)
def test_usage_errors_exit_4_with_one_line_and_no_traceback(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) if "--profile" in argv or "--timeout" in argv else _no_exit() as exit_info:
        status = main(["run", "--impl", "keras", "--contracts", "DENSE-SHAPE-2D", *argv, *IN_PROCESS])
    status = exit_info.value.code if exit_info is not None else status
    err = capsys.readouterr().err
    assert status == outcomes.EXIT_USAGE_ERROR == 4
    assert message in err
    assert "Traceback" not in err


class _no_exit:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize(
    "source, message",
    [
        ("raise RuntimeError('no GPU driver')", "importing module 'blows_up' raised RuntimeError: no GPU driver"),
        ("def broken(:\n", "importing module 'blows_up' raised SyntaxError"),
        ("import sys\nsys.exit(3)", "importing module 'blows_up' raised SystemExit: 3"),
    ],
)
def test_a_module_that_blows_up_on_import_is_a_usage_error(source, message, tmp_path, monkeypatch, capsys):
    (tmp_path / "blows_up.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    for option in ("--impl", "--layer"):
        spec = "blows_up" if option == "--impl" else "blows_up:Layer"
        argv = ["run", "--contracts", "DENSE-SHAPE-2D", option, spec, *IN_PROCESS] + (["--impl", "keras"] if option == "--layer" else [])
        assert main(argv) == 4
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_a_partial_as_layer_runs_every_lifecycle_contract_and_is_named(capsys):
    argv = ["run", "--impl", "keras", "--layer", "tests.unruly:PartialSimpleDense", "--contracts", "lifecycle", "DENSE-SHAPE-2D",
            "--profile", "quick", "--seed", "1", *IN_PROCESS]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "KIT ERROR" not in out and "on keras+partial(SimpleDense)" in out


def test_a_layer_whose_build_raises_gives_one_failure_and_blocked_cells(tmp_path, capsys):
    report = tmp_path / "build.json"
    argv = ["run", "--impl", "keras", "--layer", "tests.unruly:BuildRaises", "--profile", "quick", "--seed", "1",
            "--report-json", str(report), *IN_PROCESS]
    assert main(argv) == 1
    out = capsys.readouterr().out
    record = json.loads(report.read_text())
    failed = [r for r in record["results"] if r["status"] == "failed"]
    assert [r["contract_id"] for r in failed] == ["GENERIC-EXPLICIT-BUILD"]
    assert "this layer's build is broken" in failed[0]["message"]
    assert record["counts"]["blocked"] > 100
    assert len(out.splitlines()) < 200, f"{len(out.splitlines())} lines of output for one root cause"
    assert "blocked by GENERIC-EXPLICIT-BUILD (failed on default)" in out and "(blocked on" not in out


def test_explicit_build_that_never_marks_built_is_one_finding_not_a_flood(capsys):
    argv = ["run", "--impl", "keras", "--layer", "tests.unruly:NeverMarkedBuilt", "--profile", "quick", "--seed", "1", *IN_PROCESS]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "MUST contracts failing: 1 (1 cells): GENERIC-EXPLICIT-BUILD" in out
    assert "built is False after build(" in out
    assert "too many values to unpack" not in out


def test_a_hanging_layer_ends_as_a_timeout_cell_and_the_report_is_written(tmp_path, capsys):
    report = tmp_path / "hang.json"
    argv = ["run", "--impl", "keras", "--layer", "tests.unruly:CallNeverReturns", "--contracts", "GENERIC-EXPLICIT-BUILD", "lifecycle",
            "--profile", "quick", "--seed", "1", "--timeout", "2", "--report-json", str(report)]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "TIMEOUT GENERIC-EXPLICIT-BUILD [MUST]" in out and "did not finish within 2 s" in out
    assert "unruly.py" in out and "in call" in out  # where it was stuck
    record = json.loads(report.read_text())
    assert record["counts"]["timeout"] >= 1 and record["exit_status"] == 1


def test_a_report_that_cannot_be_written_at_the_end_does_not_stop_the_others(tmp_path, monkeypatch, capsys):
    from conformance import report

    def refuse(path, record):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(report, "write_json", refuse)
    html = tmp_path / "ok.html"
    argv = ["run", "--impl", "keras", "--contracts", "DENSE-SHAPE-2D", "--profile", "quick",
            "--report-json", str(tmp_path / "no.json"), "--report-html", str(html), *IN_PROCESS]
    assert main(argv) == 3
    assert html.exists()
    assert "could not write the report (Permission denied)" in capsys.readouterr().err


def test_reports_get_the_mode_the_umask_gives(tmp_path):
    previous = os.umask(0o022)
    try:
        path = tmp_path / "r.json"
        assert main(["run", "--impl", "keras", "--contracts", "DENSE-SHAPE-2D", "--profile", "quick", "--report-json", str(path), *IN_PROCESS]) == 0
        assert path.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(previous)


def test_help_documents_exit_statuses_timeout_and_fail_on(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for text in ("--timeout", "--fail-on", "0  every MUST contract passed", "5  nothing selected", "4  usage error"):
        assert text in out


def test_ctrl_c_gives_exit_2_and_a_valid_partial_report(tmp_path):
    """With two workers (the default one-worker pool is the same code, stopping one): the workers ignore Ctrl-C and
    the parent stops them."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    report = tmp_path / "partial.json"
    command = [sys.executable, "-m", "conformance.cli", "run", "--impl", "reference", "--profile", "default", "--seed", "1",
               "--jobs", "2", "--report-json", str(report)]
    # A pytest-xdist worker ignores SIGINT, and an ignored signal stays ignored across exec: give the run
    # the default disposition a terminal would, so Ctrl-C reaches it.
    process = subprocess.Popen(command, cwd=Path(__file__).parents[1], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in process.stdout:  # not a terminal: one line per finished area
            if line.startswith("[") and "lifecycle:" in line:
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == outcomes.EXIT_INTERRUPTED == 2, err
    assert "INTERRUPTED after" in out and "Traceback" not in err and "KeyboardInterrupt" not in err
    record = json.loads(report.read_text())
    assert record["interrupted"] is True and record["exit_status"] == 2
    assert record["results"] and "errors" not in {r["area"] for r in record["results"]}  # stopped before the end
    assert all(r["status"] == "passed" for r in record["results"] if r["area"] == "lifecycle")


def test_a_retired_contract_id_runs_its_successor_with_one_note(capsys):
    assert main(["list", "--contracts", "DEVICE-PLACEMENT", "LAYER-EXPLICIT-BUILD"]) == 0
    captured = capsys.readouterr()
    assert "GENERIC-DEVICE-PLACEMENT" in captured.out and "GENERIC-EXPLICIT-BUILD" in captured.out
    notes = [line for line in captured.err.splitlines() if line.startswith("keras-conformance: note: contract id")]
    assert len(notes) == 2 and "DEVICE-PLACEMENT is retired" in notes[0]
