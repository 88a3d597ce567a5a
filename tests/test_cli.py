"""``keras-conformance``, called in-process: list, run, the matrix, and the exit status."""

import pytest

from conformance import registry
from conformance.cli import main


def test_list_prints_every_contract(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for entry in registry.all_contracts():
        assert entry.id in out


def test_list_with_a_pattern_matching_nothing_exits_2(capsys):
    assert main(["list", "--contracts", "DENSE-TYPO-*"]) == 2
    assert "'DENSE-TYPO-*' matches no contract" in capsys.readouterr().err


def test_run_prints_the_matrix_and_exits_0_when_every_must_passes(capsys):
    assert main(["run", "--impl", "keras", "--contracts", "DENSE-SHAPE-2D", "--profile", "quick", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "profile: quick   seed: 1   contracts: 1" in out
    row = next(line for line in out.splitlines() if line.startswith("DENSE-SHAPE-2D"))
    assert row.split()[1:] == ["MUST", "pass"]
    assert "MUST contracts failing: 0" in out
    assert "1 passed, 0 failed" in out


def test_run_shows_one_column_per_device_for_device_contracts(capsys):
    assert main(["run", "--impl", "keras", "--contracts", "DEVICE-PLACEMENT", "--profile", "quick", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("contract"))
    row = next(line for line in out.splitlines() if line.startswith("DEVICE-PLACEMENT"))
    assert header.split()[2:5] == ["any", "CPU:0", "CPU:1"]
    assert row.split()[1:4] == ["MUST", "pass", "pass"]


def test_unknown_impl_exits_2_naming_it(capsys):
    assert main(["run", "--impl", "no_such_framework", "--contracts", "DENSE-SHAPE-2D"]) == 2
    err = capsys.readouterr().err
    assert "impl='no_such_framework'" in err and "cannot import" in err


def test_unknown_layer_class_exits_2_naming_it(capsys):
    assert main(["run", "--impl", "keras", "--layer", "examples.book.simple_dense:NoSuchLayer"]) == 2
    assert "has no attribute 'NoSuchLayer'" in capsys.readouterr().err


def test_a_must_failure_exits_1_and_prints_the_failure(capsys):
    argv = ["run", "--impl", "keras", "--layer", "tests.mutants.layers:InitializerScaleOne", "--contracts", "LAYER-INIT-KERNEL", "--seed", "3"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "FAILED LAYER-INIT-KERNEL [MUST] on keras+InitializerScaleOne / default" in out
    assert "initial kernel does not follow N(0.0, 0.05**2)" in out
    assert "MUST contracts failing: 1 (LAYER-INIT-KERNEL)" in out
    assert (
        "reproduce: keras-conformance run --impl keras --layer tests.mutants.layers:InitializerScaleOne "
        "--contracts LAYER-INIT-KERNEL --seed 3 --profile default"
    ) in out


def test_a_should_failure_alone_exits_0_and_still_shows_the_counterexample(capsys):
    argv = ["run", "--impl", "keras", "--layer", "examples.book.simple_dense:SimpleDense", "--contracts",
            "LAYER-REJECT-CHANGED-DIM-VALUEERROR", "--profile", "quick", "--seed", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "FAILED LAYER-REJECT-CHANGED-DIM-VALUEERROR [SHOULD]" in out
    assert "expected ValueError" in out and "minimal counterexample (hypothesis):" in out
    assert "MUST contracts failing: 0" in out


def test_bad_profile_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--impl", "keras", "--profile", "fast"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fast'" in capsys.readouterr().err
