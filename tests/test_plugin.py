"""The pytest plugin: inert by default, contract items with stable ids, actionable failures, expected failures."""

import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from conformance import catalog

pytest_plugins = ["pytester"]
# In-process pytester runs drop modules first imported inside them; importing every contract module
# here keeps them (and the registry that holds their contracts) loaded once for the whole file.
catalog.all_contracts()

ROOT = Path(__file__).parents[1]
# Loaded by the pytest11 entry point once the kit is pip-installed; by -p before that.
INSTALLED = any(e.name == "keras_conformance" for e in entry_points(group="pytest11"))
PLUGIN = [] if INSTALLED else ["-p", "conformance.plugin"]
NO_BIAS_LAYER = '''
import keras
import tensorflow as tf


class NoBiasDense(keras.layers.Layer):
    """The book's SimpleDense with one bug: call() forgets the bias."""

    def __init__(self, units, activation=None):
        super().__init__()
        self.units, self.activation = units, activation

    def build(self, input_shape):
        self.W = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        y = tf.matmul(inputs, self.W)
        return y if self.activation is None else self.activation(y)
'''


def test_unrelated_run_imports_no_framework_and_the_plugin_imports_fast(tmp_path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        import sys

        def pytest_sessionfinish(session):
            heavy = sorted(m for m in ("tensorflow", "torch", "jax", "keras", "tf_keras") if m in sys.modules)
            open("imported.txt", "w").write(",".join(heavy) or "none")
    """))
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "pytest", *PLUGIN, "-q", "-p", "no:cacheprovider"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "1 passed" in run.stdout, run.stdout + run.stderr
    assert (tmp_path / "imported.txt").read_text() == "none"
    timing = subprocess.run(
        [sys.executable, "-c", "import time, pytest; t = time.perf_counter(); import conformance.plugin; print(time.perf_counter() - t)"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    seconds = float(timing.stdout)
    print(f"plugin import time: {seconds * 1000:.1f} ms")
    assert seconds < 0.05, f"importing the plugin took {seconds:.3f}s"


def test_without_options_the_plugin_adds_no_items(pytester):
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest_inprocess(*PLUGIN, "--collect-only", "-q")
    assert result.ret == 0
    assert "keras-conformance" not in result.stdout.str()
    help_text = pytester.runpytest_inprocess(*PLUGIN, "--help").stdout.str()
    assert "--keras-impl" in help_text and "--keras-xfail" in help_text


def test_ids_are_one_per_contract_implementation_and_device_without_addresses(pytester):
    result = pytester.runpytest_inprocess(*PLUGIN, "--keras-impl", "keras", "--keras-contracts", "DENSE-SHAPE-2D,GRAD-KERNEL", "--collect-only", "-q")
    ids = [line for line in result.stdout.lines if line.startswith("keras-conformance::")]
    assert ids == [
        "keras-conformance::DENSE-SHAPE-2D[keras-any]",
        "keras-conformance::GRAD-KERNEL[keras-CPU:0]",
        "keras-conformance::GRAD-KERNEL[keras-CPU:1]",
        "keras-conformance::GRAD-KERNEL[keras-GPU:0]",
    ]
    assert not re.search(r"0x[0-9a-f]{6,}", result.stdout.str())


def test_bad_contract_pattern_is_a_usage_error(pytester):
    result = pytester.runpytest_inprocess(*PLUGIN, "--keras-impl", "keras", "--keras-contracts", "NO-SUCH-*", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pattern 'NO-SUCH-*' matches no contract" in result.stderr.str()


def test_a_broken_layer_fails_with_statement_counterexample_seed_and_snippet(pytester):
    pytester.makepyfile(broken_layer_a=NO_BIAS_LAYER)
    result = pytester.runpytest_inprocess(
        *PLUGIN, "--keras-layer", "broken_layer_a:NoBiasDense", "--keras-contracts", "DENSE-FORWARD-LINEAR", "DENSE-SHAPE-2D",
        "--keras-profile", "quick", "--keras-seed", "5", "-rfs",
    )
    result.assert_outcomes(passed=1, failed=2, skipped=1)
    out = result.stdout.str()
    assert "FAILED keras-conformance::DENSE-FORWARD-LINEAR[keras+NoBiasDense-CPU:0]" in out
    assert "contract:  With activation 'linear', the output equals" in out
    assert "shrunk counterexample" in out and "seed: 5" in out
    assert "layer.set_weights([kernel, bias])" in out and "from broken_layer_a import NoBiasDense" in out
    assert "GPU:0 is not visible" in out
    assert "keras-conformance: impl keras, layer broken_layer_a:NoBiasDense, profile quick, seed 5" in out


def test_expected_failures_xfail_strict_and_xpass(pytester):
    pytester.makepyfile(broken_layer_b=NO_BIAS_LAYER)
    pytester.makefile(
        ".toml",
        known=textwrap.dedent("""
            [[expected]]
            contract = "DENSE-FORWARD-*"
            reason = "bias is dropped"

            [[expected]]
            contract = "DENSE-SHAPE-2D"
            reason = "wrongly listed: it passes"
        """),
    )
    result = pytester.runpytest_inprocess(
        *PLUGIN, "--keras-layer", "broken_layer_b:NoBiasDense", "--keras-contracts", "DENSE-FORWARD-LINEAR", "DENSE-SHAPE-2D",
        "--keras-profile", "quick", "--keras-seed", "5", "--keras-xfail", "known.toml", "--keras-strict",
    )
    result.assert_outcomes(xfailed=2, failed=1, skipped=1)
    out = result.stdout.str()
    assert "[XPASS(strict)] wrongly listed: it passes" in out


def test_an_expected_failure_naming_no_contract_is_a_usage_error(pytester):
    pytester.makefile(".toml", typo='[[expected]]\ncontract = "DENSE-FORWARD-LINAER"\nreason = "r"\n')
    result = pytester.runpytest_inprocess(*PLUGIN, "--keras-impl", "keras", "--keras-xfail", "typo.toml", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "typo.toml, entry 1: contract 'DENSE-FORWARD-LINAER' matches no contract id or area; did you mean DENSE-FORWARD-LINEAR" in result.stderr.str()


def test_a_should_finding_is_reported_as_xfail_unless_fail_on_should(pytester):
    arguments = [*PLUGIN, "--keras-layer", "examples.book.simple_dense:SimpleDense", "--keras-contracts",
                 "LAYER-REJECT-CHANGED-DIM-VALUEERROR", "--keras-profile", "quick", "--keras-seed", "1", "-rx"]
    pytester.syspathinsert(ROOT)
    result = pytester.runpytest_inprocess(*arguments)
    result.assert_outcomes(xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "SHOULD finding, does not fail the run" in result.stdout.str() and "expected ValueError" in result.stdout.str()
    strict = pytester.runpytest_inprocess(*arguments, "--keras-fail-on", "should")
    strict.assert_outcomes(failed=1)


def test_downstream_project_fails_when_its_layer_is_broken(pytester):
    """The example project's own configuration and expected failures, with its layer swapped for a broken one."""
    downstream = ROOT / "examples" / "downstream"
    pytester.makefile(".toml", **{"expected-failures": (downstream / "expected-failures.toml").read_text()})
    pytester.mkpydir("mylayers_broken").joinpath("__init__.py").write_text(NO_BIAS_LAYER.replace("NoBiasDense", "SimpleDense"))
    result = pytester.runpytest_inprocess(
        *PLUGIN, "--keras-impl", "keras", "--keras-layer", "mylayers_broken:SimpleDense", "--keras-profile", "quick",
        "--keras-xfail", "expected-failures.toml", "--keras-contracts", "DENSE-FORWARD-RELU",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=2, skipped=1)


def test_a_layer_spec_file_collects_items_per_layer(pytester):
    pytester.makefile(".toml", layers='[[layer]]\nlayer = "keras.layers:Conv1D"\nkwargs = { filters = 2, kernel_size = 3 }\ninput_shape = [8, 3]\n')
    result = pytester.runpytest_inprocess(*PLUGIN, "--keras-layer-spec", "layers.toml", "--keras-contracts", "DENSE-SHAPE-2D", "--collect-only", "-q")
    ids = [line for line in result.stdout.lines if line.startswith("keras-conformance::")]
    assert ids == ["keras-conformance::DENSE-SHAPE-2D[keras+Conv1D-any]"]


BLOCKING_RUN = ["--keras-layer", "tests.mutants.layers:TransposedKernel", "--keras-contracts", "LAYER-WEIGHT-LAYOUT", "DENSE-SHAPE-2D",
                "TRAIN-SGD-STEP-EQUALS-TAPE", "GRAD-KERNEL", "--keras-profile", "quick", "--keras-seed", "4"]


def test_a_deselected_prerequisite_is_decided_so_its_dependants_are_still_blocked(pytester):
    # TransposedKernel breaks LAYER-WEIGHT-LAYOUT; with it deselected, this process decides it anyway
    # (the mechanism of shards and xdist workers) and the items resting on it are skipped as blocked.
    pytester.syspathinsert(ROOT)
    result = pytester.runpytest_inprocess(*PLUGIN, *BLOCKING_RUN, "-k", "not LAYER-WEIGHT-LAYOUT", "-rs")
    result.assert_outcomes(skipped=7)
    assert "SKIPPED [5] " in result.stdout.str() and "blocked by LAYER-WEIGHT-LAYOUT (failed on default)" in result.stdout.str()


def junit_outcomes(path):
    """{test name: (outcome, message)} from a JUnit XML file."""
    import xml.etree.ElementTree as ET

    found = {}
    for case in ET.parse(path).iter("testcase"):
        marks = [child for child in case if child.tag in ("failure", "skipped", "error")]
        found[case.get("name")] = (marks[0].tag, marks[0].get("message", "")) if marks else ("passed", "")
    return found


def test_under_xdist_every_item_gets_the_serial_verdict(tmp_path):
    # Two workers share the items: the one without LAYER-WEIGHT-LAYOUT decides it itself.
    pytest.importorskip("xdist")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "KERAS_CONFORMANCE_LOGICAL_CPUS": "2"}
    verdicts = []
    for name, workers in (("serial", []), ("xdist", ["-n", "2"])):
        run = subprocess.run([sys.executable, "-m", "pytest", *PLUGIN, *BLOCKING_RUN, *workers, "-q", "-p", "no:cacheprovider",
                              f"--junitxml={tmp_path / name}.xml"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 1, run.stdout + run.stderr
        verdicts.append(junit_outcomes(tmp_path / f"{name}.xml"))
    serial, parallel = verdicts
    assert serial == parallel
    assert [v[0] for v in serial.values()].count("skipped") == 7 and [v[0] for v in serial.values()].count("failure") == 1
