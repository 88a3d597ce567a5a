"""TensorFlow is optional: the kit checks Keras 3 on JAX without it, and the implementations that need it
(the reference, tf_keras) say which extra to install."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras") is None,
    reason="Keras 3 on JAX is not installed (pip install 'keras-conformance[jax]')",
)

# The CLI in a process where `import tensorflow` fails as it does where TensorFlow was never installed.
WITHOUT_TENSORFLOW = """
import sys

class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "tensorflow":
            raise ImportError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoTensorFlow())
from conformance.cli import main
status = main(sys.argv[1:])
assert "tensorflow" not in sys.modules
sys.exit(status)
"""


def run_without_tensorflow(*arguments):
    environment = {**os.environ, "KERAS_BACKEND": "jax"}
    environment.pop("XLA_FLAGS", None)
    return subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, "run", *arguments],
                          capture_output=True, text=True, env=environment, timeout=600)


def test_keras_on_jax_runs_without_tensorflow_on_two_cpu_devices(tmp_path):
    report = tmp_path / "report.json"
    done = run_without_tensorflow("--impl", "keras", "--contracts", "GENERIC-UNBUILT-AT-INIT", "GENERIC-DEVICE-PLACEMENT",
                                  "--profile", "quick", "--seed", "0", "--report-json", str(report))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cells = json.loads(report.read_text())["results"]
    placement = {cell["device"]: cell["status"] for cell in cells if cell["contract_id"] == "GENERIC-DEVICE-PLACEMENT"}
    assert placement.get("CPU:0") == placement.get("CPU:1") == "passed", placement
    assert "float64" not in done.stderr


def test_the_reference_without_tensorflow_is_a_usage_error_naming_the_extra():
    done = run_without_tensorflow("--impl", "reference", "--contracts", "GENERIC-UNBUILT-AT-INIT")
    assert done.returncode == 4, done.stdout[-3000:] + done.stderr[-3000:]
    (line,) = done.stderr.strip().splitlines()
    assert "impl='reference'" in line and "pip install 'keras-conformance[tensorflow]'" in line
