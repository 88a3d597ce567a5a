"""One way to run a cell: the CLI (in worker processes), the API and the pytest plugin give the same verdict
for every cell, on the reference, Keras 3, tf_keras and a broken layer (failed and blocked cells)."""

import json
import xml.etree.ElementTree as ElementTree
from importlib.metadata import entry_points

import pytest

# The pytester fixture drops the modules first imported while it is up; the kit's are imported here, so
# every run of this file uses the same module objects (worker processes pickle its classes by name).
from conformance import catalog, outcomes, parallel, pipeline, plugin, report, reproduce, runner  # noqa: F401
from conformance.api import check_implementation
from conformance.cli import main

pytest_plugins = ["pytester"]
catalog.all_contracts()  # keep contract modules loaded across in-process pytester runs

CONTRACTS = ["GENERIC-EXPLICIT-BUILD", "LAYER-WEIGHT-LAYOUT", "DENSE-SHAPE-2D", "GRAD-KERNEL", "TRAIN-SGD-STEP-EQUALS-TAPE",
             "GENERIC-DEVICE-PLACEMENT"]
SEED = 21
# Loaded by the pytest11 entry point once the kit is pip-installed; by -p before that.
PLUGIN = [] if any(e.name == "keras_conformance" for e in entry_points(group="pytest11")) else ["-p", "conformance.plugin"]


def _plugin_verdicts(pytester, impl, layer):
    arguments = [*PLUGIN, "--keras-impl", impl, "--keras-profile", "quick", "--keras-seed", str(SEED),
                 "--keras-contracts", ",".join(CONTRACTS), "--junitxml", "junit.xml", "-p", "no:cacheprovider"]
    pytester.runpytest_inprocess(*arguments, *(["--keras-layer", layer] if layer else []))
    verdicts = {}
    for case in ElementTree.parse(pytester.path / "junit.xml").iter("testcase"):
        contract_id, _, rest = case.get("name").partition("[")
        device = rest.rstrip("]").rpartition("-")[2]
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        verdicts[(contract_id, device)] = properties.get("status", "not run")
    return verdicts


@pytest.mark.parametrize("impl, layer", [("reference", None), ("keras", None), ("tf_keras", None),
                                         ("keras", "tests.mutants.layers:TransposedKernel")])
def test_cli_jobs_api_and_plugin_give_equal_verdicts_cell_for_cell(impl, layer, pytester, tmp_path):
    api = {(r.contract_id, outcomes.column(r.device)): str(r.status)
           for r in check_implementation(impl, layer=layer, contracts=CONTRACTS, profile="quick", seed=SEED)}
    report = tmp_path / "cli.json"
    # Two workers for the broken layer, whose blocked cells rest on a failure another worker may find; one isolated
    # worker for the frameworks (each worker start is an import of the framework).
    jobs = "2" if layer else "1"
    main(["run", "--impl", impl, *(["--layer", layer] if layer else []), "--contracts", *CONTRACTS, "--profile", "quick",
          "--seed", str(SEED), "--jobs", jobs, "--report-json", str(report)])
    cli = {(r["contract_id"], outcomes.column(r["device"])): r["status"] for r in json.loads(report.read_text())["results"]}
    plugin = _plugin_verdicts(pytester, impl, layer)
    assert cli == api
    assert plugin == api
    if layer:  # the broken layer: its failure, and the cells it blocks, read the same everywhere
        assert {outcomes.FAILED, outcomes.BLOCKED} <= set(api.values())
