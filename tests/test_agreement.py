"""The agreement area: Keras 3 backends compared on the same layer config, weights and inputs.

Each mutant of tests/mutants/agreement.py differs on one backend only; the contract meant for it must
fail and name that backend, and layers the backends agree on must pass. The backends run in worker
pools, one per backend, started once for the module (three framework imports)."""

from __future__ import annotations

import pytest

from conformance import cli, options, outcomes, parallel, pipeline, runner, specs
from conformance.catalog import get

pytest.importorskip("jax")
pytest.importorskip("torch")

BACKENDS = ("tensorflow", "jax", "torch")
SEED = 20261206
MUTANTS = {spec.label: spec for spec in specs.load_file("tests/mutants/agreement.toml")}


@pytest.fixture(scope="module")
def pools():
    started = {backend: parallel.Pool(1, backend=backend) for backend in BACKENDS}
    yield started
    for pool in started.values():
        pool.close()


def run(pools, layer, contract_id, seed=SEED):
    return runner.run_cell(get(contract_id), pipeline.across_backends(pools, MUTANTS[layer]), outcomes.DEFAULT_DEVICE,
                           "quick", seed)


@pytest.mark.parametrize("layer, contract_id, backend", [
    ("PaddingOffByOneOnTorch", "AGREEMENT-OUTPUTS", "torch"),
    ("Float64DowncastOnJax", "AGREEMENT-FLOAT64-OUTPUTS", "jax"),
    ("StateResetLateOnTensorflow", "AGREEMENT-OUTPUTS", "tensorflow"),
    ("GradientStoppedOnTorch", "AGREEMENT-GRADIENTS", "torch"),
    ("OutputShapeClaimOnJax", "AGREEMENT-OUTPUT-SPEC", "jax"),
    ("ScaleSavedReversedOnJax", "AGREEMENT-SAVED-FILE-LOADS-EVERYWHERE", "jax"),
])
def test_each_mutant_is_killed_naming_its_backend(pools, layer, contract_id, backend):
    result = run(pools, layer, contract_id)
    assert result.status == outcomes.FAILED, (result.status, result.message)
    assert backend in result.message, result.message
    assert "--backends tensorflow,jax,torch" in result.reproduce


AGREEING = [
    ("Float64DowncastOnJax", "AGREEMENT-OUTPUTS"),  # float32 is not where it differs
    ("GradientStoppedOnTorch", "AGREEMENT-OUTPUTS"),
    ("OutputShapeClaimOnJax", "AGREEMENT-SAVED-FILE-LOADS-EVERYWHERE"),
    ("Conv1D", "AGREEMENT-OUTPUTS"),
    ("Conv1D", "AGREEMENT-OUTPUT-SPEC"),
    ("Conv1D", "AGREEMENT-GRADIENTS"),
    ("LayerNormalization", "AGREEMENT-OUTPUTS"),
    ("LayerNormalization", "AGREEMENT-SAVED-FILE-LOADS-EVERYWHERE"),
]


# One seed per case, the two taken in turn, so both run in every test run (fresh seeds are the fresh-seed runs' job).
@pytest.mark.parametrize("layer, contract_id, seed", [(*case, SEED + index % 2) for index, case in enumerate(AGREEING)])
def test_agreeing_layers_pass(pools, layer, contract_id, seed):
    result = run(pools, layer, contract_id, seed)
    assert result.status == outcomes.PASSED, result.message


def test_rejected_everywhere_the_same_way_is_agreement(pools):
    """A config every backend rejects with the same exception type agrees: Conv1D on inputs shorter than
    its kernel raises on each backend."""
    spec = specs.LayerSpec("keras.layers:Conv1D", kwargs={"filters": 2, "kernel_size": 9}, input_shape=(3, 2))
    result = runner.run_cell(get("AGREEMENT-OUTPUT-SPEC"), pipeline.across_backends(pools, spec), outcomes.DEFAULT_DEVICE,
                             "quick", SEED)
    assert result.status == outcomes.PASSED, result.message


@pytest.mark.parametrize("arguments, status, words", [
    (["--backends", "tensorflow,jax"], outcomes.EXIT_USAGE_ERROR, "needs --impl keras"),
    (["--impl", "keras", "--backends", "tensorflow,jax", "--in-process"], outcomes.EXIT_USAGE_ERROR, "no --in-process"),
    (["--contracts", "agreement"], outcomes.EXIT_NO_CONTRACTS, "--backends tensorflow,jax,torch"),
    (["--in-process", "--jobs", "2"], outcomes.EXIT_USAGE_ERROR, "--in-process"),
])
def test_usage_errors_name_the_option(capsys, arguments, status, words):
    assert cli.main(["run", *arguments]) == status
    assert words in capsys.readouterr().err


def test_jobs_give_each_backend_its_workers_and_the_comparison_runs_here(tmp_path):
    """--jobs 2 with --backends used to stop the run with an internal error: the comparison has no pool of its own."""
    import json

    report = tmp_path / "report.json"
    status = cli.main(["run", "--impl", "keras", "--backends", "tensorflow,numpy", "--layer", "keras.layers:Dense",
                       "--layer-kwargs", '{"units": 2}', "--input-shape", "3", "--contracts", "AGREEMENT-OUTPUT-SPEC",
                       "GENERIC-OUTPUT-SHAPE", "--profile", "quick", "--seed", "1", "--jobs", "2", "--report-json", str(report)])
    results = {(r["impl"], r["contract_id"]): r["status"] for r in json.loads(report.read_text())["results"]}
    assert status == outcomes.EXIT_OK, results
    assert {verdict for (impl, contract_id), verdict in results.items() if contract_id == "AGREEMENT-OUTPUT-SPEC"} == {"passed"}
    assert len({impl for impl, contract_id in results if contract_id == "GENERIC-OUTPUT-SHAPE"}) == 2, results


@pytest.mark.parametrize("value, words", [
    ("tensorflow", "two or more"),
    ("tensorflow,tensorflow", "distinct"),
    ("tensorflow,cntk", "unknown Keras backend 'cntk'"),
])
def test_backends_option_is_checked(value, words):
    with pytest.raises(options.UsageError, match=words):
        options.backends(value)


def test_agreement_contracts_are_not_applicable_to_one_implementation():
    from conformance import adapters

    reason = get("AGREEMENT-OUTPUTS").requires(adapters.load("reference"), "CPU:0")
    assert "--backends" in reason
