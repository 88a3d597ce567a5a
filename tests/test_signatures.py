"""Layers with real signatures (several inputs by keyword or as one positional list, drawn masks, constant call
arguments) pass the generic contracts through the CLI and the pytest plugin, from the shipped example specs."""

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from conformance import catalog
from conformance.cli import main

pytest_plugins = ["pytester"]
catalog.all_contracts()  # kept loaded across in-process pytester runs (see tests/test_plugin.py)

ROOT = Path(__file__).parents[1]
PLUGIN = [] if any(e.name == "keras_conformance" for e in entry_points(group="pytest11")) else ["-p", "conformance.plugin"]
EXAMPLE = ROOT / "examples" / "signatures" / "layers.toml"
LAYERS = ("MultiHeadAttention", "Attention", "Add", "Concatenate", "LSTM")
# Contracts that must have run and passed on every one of them, not been found not applicable: the ones that
# feed every input, slice every input's batch, differentiate every float input and rebuild the layer.
MUST_RUN = {"GENERIC-EXPLICIT-BUILD", "GENERIC-BUILD-ONCE", "GENERIC-INPUTS-UNCHANGED", "GENERIC-OUTPUT-SHAPE",
            "GENERIC-BATCH-INDEPENDENCE", "GENERIC-GRAD-FINITE-DIFFERENCE", "GENERIC-MIXED-PRECISION",
            "GENERIC-FIT-STEP-FINITE-GRADIENTS", "GENERIC-DEVICE-PLACEMENT"}
# The mask and returned-state contracts, on the example layers that are drawn a mask, make one or return their state.
MASK_AND_STATE_RUN = {
    "Attention": {"GENERIC-MASK-PROPAGATED-AS-COMPUTED", "GENERIC-MASKED-POSITIONS-IGNORED"},
    "LSTM": {"GENERIC-MASK-PROPAGATED-AS-COMPUTED", "GENERIC-MASKED-POSITIONS-IGNORED", "GENERIC-RNN-STATE-CONTINUES"},
    "GRU": {"GENERIC-MASK-PROPAGATED-AS-COMPUTED", "GENERIC-MASKED-POSITIONS-IGNORED", "GENERIC-RNN-STATE-CONTINUES"},
    "Embedding": {"GENERIC-MASK-PROPAGATED-AS-COMPUTED"},
}


def _blocks(*names):
    """The [[layer]] blocks of the example file for the Keras layers ``names``, as one TOML text."""
    return "".join("[[layer]]" + block for block in EXAMPLE.read_text().split("[[layer]]")[1:]
                   if any(f'layer = "keras.layers:{name}"' in block for name in names))


# One item per layer, so that pytest-xdist can spread them (the seven layers in one run took 50 s).
@pytest.mark.parametrize("layer", LAYERS + ("GRU", "Embedding"))
def test_the_example_layers_pass_the_contracts_that_feed_slice_and_differentiate_every_input_through_the_cli(
        layer, tmp_path, capsys):
    """The contracts a signature changes (MUST_RUN and the mask and state ones), through the CLI. Every other generic
    contract runs on the same Keras layers in the layer table (docs/keras-layers.toml, rerun whole by
    `keras-conformance docs --refresh-layers`, its call-level contracts in CI); here they would cost three times as
    long (the compiled-step contracts trace a model per example) for what the table already shows."""
    report, spec = tmp_path / "signatures.json", tmp_path / "layer.toml"
    spec.write_text(_blocks(layer))
    chosen = sorted(MUST_RUN | set().union(*MASK_AND_STATE_RUN.values()))
    argv = ["run", "--impl", "keras", "--layer-spec", str(spec), "--contracts", *chosen, "--profile", "quick",
            "--seed", "3", "--in-process", "--report-json", str(report)]
    status = main(argv)
    results = json.loads(report.read_text())["results"]
    bad = [(r["impl"], r["contract_id"], r["device"], r["status"], r["message"][:200]) for r in results
           if r["level"] == "MUST" and r["status"] not in ("passed", "not_applicable", "skipped")]
    assert not bad and status == 0, bad
    passed = {r["contract_id"] for r in results if r["impl"] == f"keras+{layer}" and r["status"] == "passed"}
    must_pass = (MUST_RUN if layer in LAYERS else set()) | MASK_AND_STATE_RUN.get(layer, set())
    assert must_pass <= passed, (layer, sorted(must_pass - passed))


def test_the_example_layers_pass_the_contracts_that_feed_slice_and_differentiate_every_input_through_the_plugin(pytester):
    """The plugin path on two of the example layers, one taking inputs by keyword and one a positional list, on the
    contracts a signature changes (tests/test_one_path.py shows the plugin and the CLI give equal verdicts cell for
    cell)."""
    two = pytester.path / "two.toml"
    two.write_text(_blocks("MultiHeadAttention", "Concatenate"))
    assert two.read_text().count("[[layer]]") == 2
    result = pytester.runpytest_inprocess(
        *PLUGIN, "--keras-impl", "keras", "--keras-layer-spec", str(two), "--keras-contracts", *sorted(MUST_RUN),
        "--keras-profile", "quick", "--keras-seed", "3", "-q")
    outcomes = result.parseoutcomes()
    assert result.ret == pytest.ExitCode.OK and outcomes.get("passed", 0) >= 2 * len(MUST_RUN), result.stdout.str()[-3000:]


ADAPTED = '[[layer]]\nlayer = "keras.layers:Normalization"\ninput_shape = [3]\nsetup = "examples.signatures.hooks:adapt"\n'


def test_a_setup_hook_adapts_every_new_layer_and_the_lifecycle_contracts_step_aside(tmp_path, capsys):
    from conformance import adapters, specs

    (tmp_path / "adapted.toml").write_text(ADAPTED)
    spec, = specs.load_file(tmp_path / "adapted.toml")
    layer = adapters.load("keras", spec=spec).new_layer()
    assert layer.built and abs(float(layer.mean.numpy().mean()) - float(spec.setup_data().mean())) < 1e-5
    report = tmp_path / "adapted.json"
    argv = ["run", "--impl", "keras", "--layer-spec", str(tmp_path / "adapted.toml"), "--contracts", "GENERIC-UNBUILT-AT-INIT",
            "GENERIC-EXPLICIT-BUILD", "GENERIC-BATCH-INDEPENDENCE", "--profile", "quick", "--seed", "1", "--report-json", str(report)]
    assert main(argv) == 0
    statuses = {r["contract_id"]: r["status"] for r in json.loads(report.read_text())["results"]}
    assert statuses == {"GENERIC-UNBUILT-AT-INIT": "not_applicable", "GENERIC-EXPLICIT-BUILD": "not_applicable",
                        "GENERIC-BATCH-INDEPENDENCE": "passed"}
    (tmp_path / "missing.toml").write_text(ADAPTED.replace("hooks:adapt", "hooks:fit"))
    assert main(argv[:4] + [str(tmp_path / "missing.toml")] + argv[5:-2]) == 4
    assert "setup 'examples.signatures.hooks:fit' cannot be imported" in capsys.readouterr().err
