"""``--shard K/N`` and ``keras-conformance merge``: shards merged equal the unsharded run, cell for cell."""

import json

import pytest
from hypothesis import given, strategies as st

from conformance import catalog, outcomes, registry, runner
from conformance.cli import main

# TransposedKernel breaks LAYER-WEIGHT-LAYOUT (shard 2 of 2), which TRAIN-SGD-STEP-EQUALS-TAPE (shard 1)
# rests on: shard 1 must decide that prerequisite itself to report its cells blocked.
SELECTION = ["GENERIC-EXPLICIT-BUILD", "LAYER-WEIGHT-LAYOUT", "DENSE-SHAPE-2D", "DENSE-FORWARD-LINEAR",
             "TRAIN-SGD-STEP-EQUALS-TAPE", "GRAD-KERNEL"]
# In this process (sharding is decided by the session, not by where cells run): spares each run a worker's start.
RUN = ["run", "--impl", "keras", "--layer", "tests.mutants.layers:TransposedKernel", "--profile", "quick", "--seed", "4",
       "--in-process", "--contracts", *SELECTION]


def cells(report):
    return [(r["contract_id"], r["device"], r["status"], r["seed"], r["examples"], r["message"].split("\n")[0])
            for r in report["results"]]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The unsharded run's JSON report and those of shards 1/2 and 2/2: {name: (path, report)}."""
    folder = tmp_path_factory.mktemp("shards")
    found = {}
    for name, extra in (("full", []), ("1of2", ["--shard", "1/2"]), ("2of2", ["--shard", "2/2"])):
        path = folder / f"{name}.json"
        assert main(RUN + extra + ["--report-json", str(path)]) == (outcomes.EXIT_OK if name == "1of2" else outcomes.EXIT_FAILED)
        found[name] = path, json.loads(path.read_text())
    return found


def test_shards_merged_equal_the_unsharded_run_cell_for_cell(reports, tmp_path, capsys):
    full = reports["full"][1]
    assert {"LAYER-WEIGHT-LAYOUT", "TRAIN-SGD-STEP-EQUALS-TAPE"} <= {r["contract_id"] for r in reports["1of2"][1]["results"]} | {
        r["contract_id"] for r in reports["2of2"][1]["results"]}
    blocked = [r for r in full["results"] if r["contract_id"] == "TRAIN-SGD-STEP-EQUALS-TAPE"]
    assert {r["device"]: r["status"] for r in blocked} == {"CPU:0": outcomes.BLOCKED, "CPU:1": outcomes.BLOCKED, "GPU:0": outcomes.SKIPPED}
    merged_path = tmp_path / "merged.json"
    status = main(["merge", str(reports["1of2"][0]), str(reports["2of2"][0]), "--report-json", str(merged_path),
                   "--report-html", str(tmp_path / "merged.html"), "--report-junit", str(tmp_path / "merged.xml")])
    assert status == full["exit_status"] == outcomes.EXIT_FAILED
    merged = json.loads(merged_path.read_text())
    assert cells(merged) == cells(full)
    assert merged["counts"] == full["counts"] and merged["must_failures"] == full["must_failures"]
    out = capsys.readouterr().out
    assert "MUST contracts failing: 1" in out and "exit status 1" in out


def test_a_shard_reports_only_its_own_cells_and_records_the_shard(reports):
    first, second = reports["1of2"][1], reports["2of2"][1]
    assert (first["shard"], second["shard"], reports["full"][1]["shard"]) == ("1/2", "2/2", None)
    for k, report in ((1, first), (2, second)):
        assert {r["contract_id"] for r in report["results"]} == {i for i in SELECTION if runner.in_shard(catalog.get(i), (k, 2))}


def test_merge_refuses_different_seeds_overlapping_cells_and_other_implementations(reports, tmp_path, capsys):
    first_path, second_path = reports["1of2"][0], reports["2of2"][0]
    other_seed = tmp_path / "other-seed.json"
    other_seed.write_text(json.dumps(dict(reports["2of2"][1], seed=5)))
    assert main(["merge", str(first_path), str(other_seed)]) == outcomes.EXIT_USAGE_ERROR
    error = capsys.readouterr().err.strip()
    assert error == f"keras-conformance merge: cannot merge {first_path} and {other_seed}: their seed differs (4 against 5)"

    assert main(["merge", str(first_path), str(first_path)]) == outcomes.EXIT_USAGE_ERROR
    assert "both hold the cell" in capsys.readouterr().err

    reference = tmp_path / "reference.json"
    assert main(["run", "--impl", "reference", "--profile", "quick", "--seed", "4", "--contracts", "DENSE-SHAPE-2D",
                 "--report-json", str(reference)]) == outcomes.EXIT_OK
    capsys.readouterr()
    assert main(["merge", str(first_path), str(reference)]) == outcomes.EXIT_USAGE_ERROR
    assert "their implementation differs" in capsys.readouterr().err
    matrix = tmp_path / "matrix.json"
    assert main(["merge", "--matrix", str(second_path), str(reference), "--report-json", str(matrix),
                 "--report-html", str(tmp_path / "matrix.html")]) == outcomes.EXIT_FAILED
    joined = json.loads(matrix.read_text())
    assert "reference@tensorflow any" in joined["columns"] and len(joined["implementations"]) == 2
    assert "reference@tensorflow any" in (tmp_path / "matrix.html").read_text()


def test_merge_of_a_file_that_is_not_a_report_is_a_usage_error(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["merge", str(broken)]) == outcomes.EXIT_USAGE_ERROR
    assert f"{broken}: cannot read a JSON report" in capsys.readouterr().err


@given(contract_id=st.text(min_size=1, max_size=30), count=st.integers(1, 9))
def test_every_contract_is_in_exactly_one_shard(contract_id, count):
    contract = registry.Contract(contract_id, "shapes", "MUST", "s", "r", check=lambda impl: None)
    assert sum(runner.in_shard(contract, (k, count)) for k in range(1, count + 1)) == 1


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "2/-1", " 1/2", ""])
def test_a_bad_shard_is_a_usage_error_naming_shard(text, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["run", "--shard", text])
    assert exited.value.code == outcomes.EXIT_USAGE_ERROR
    assert "argument --shard: shard must be K/N with 1 <= K <= N" in capsys.readouterr().err
