"""Capabilities are probed, not assumed: on each Keras 3 backend the probes find what it lacks (NumPy and
OpenVINO do not train and do not differentiate), and each lacking capability makes the one Implementation
method that uses it raise NotApplicable with the probe's reason."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy", "openvino": "openvino"}

# Loads Keras on the backend KERAS_BACKEND names; prints its probed capabilities and what the method that
# uses each one does: "ok", or the NotApplicable it raises.
PROBE = """
import json

import numpy as np

from conformance import adapters
from conformance.registry import NotApplicable

impl = adapters.load("keras")
layer = impl.dense(1)
x = np.ones((2, 1), np.float32)
impl.apply(layer, x)


def outcome(use):
    try:
        use()
    except NotApplicable as reason:
        return str(reason)
    return "ok"


print(json.dumps({
    "backend": impl.backend.name,
    "devices": impl.devices(),
    "capabilities": impl.capabilities,
    "uses": {
        "training": outcome(lambda: impl.optimizer("SGD", learning_rate=0.1)),
        "gradients": outcome(lambda: impl.vjp(layer, x, np.ones((2, 1), np.float32))),
        "compilation": outcome(lambda: impl.compiled_call(layer, x)),
    },
}))
"""

# What each backend lacks: a substring of the reason, or None where it has the capability (devices, which
# depend on the machine, are checked against the devices each backend sees).
EXPECTED = {
    "tensorflow": {"training": None, "gradients": None, "compilation": None, "float64": None},
    "jax": {"training": None, "gradients": None, "compilation": None, "float64": "tanh of float64 returns float32"},
    "torch": {"training": None, "gradients": None, "compilation": "runs layers eagerly", "float64": "float32 precision"},
    "numpy": {"training": "the numpy backend does not train", "gradients": "the numpy backend has no differentiation",
              "compilation": "no compiled function", "float64": "returns float32"},
    "openvino": {"training": "the openvino backend does not train",
                 "gradients": "the openvino backend has no differentiation",
                 "compilation": "no compiled function", "float64": "returns float32"},
}
CPU_ONLY = ("numpy", "openvino")


@pytest.fixture(scope="module")
def probed():
    """Each installed backend's probe output, the processes run side by side (each import takes seconds)."""
    environment = {key: value for key, value in os.environ.items() if key not in ("XLA_FLAGS", "KERAS_CONFORMANCE_LOGICAL_CPUS")}
    running = {
        backend: subprocess.Popen([sys.executable, "-c", PROBE], env={**environment, "KERAS_BACKEND": backend},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for backend, package in BACKEND_PACKAGES.items() if importlib.util.find_spec(package) is not None
    }
    found = {}
    for backend, process in running.items():
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, f"KERAS_BACKEND={backend}: the probe script failed:\n{stderr[-3000:]}"
        found[backend] = json.loads(stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("backend", sorted(EXPECTED))
def test_probes_find_what_each_backend_lacks(probed, backend):
    if backend not in probed:
        pytest.skip(f"{BACKEND_PACKAGES[backend]} is not installed here")
    result = probed[backend]
    assert result["backend"] == backend, f"KERAS_BACKEND={backend} was driven through the {result['backend']} adapter"
    for capability, expected in EXPECTED[backend].items():
        reason = result["capabilities"][capability]
        if expected is None:
            assert reason is None, f"{backend}: {capability} probed as lacking: {reason}"
        else:
            assert reason is not None and expected in reason, f"{backend}: {capability} probed as {reason!r}, expected {expected!r}"
    devices, reason = result["devices"], result["capabilities"]["devices"]
    assert (reason is None) == (len(devices) >= 2), f"{backend} sees {devices}, yet devices probed as {reason!r}"
    if backend in CPU_ONLY:
        assert devices == ["CPU:0"], f"{backend} sees {devices}"


@pytest.mark.parametrize("backend", sorted(EXPECTED))
def test_a_lacking_capability_is_not_applicable_where_it_is_used_with_the_probes_reason(probed, backend):
    if backend not in probed:
        pytest.skip(f"{BACKEND_PACKAGES[backend]} is not installed here")
    result = probed[backend]
    for capability, outcome in result["uses"].items():
        assert outcome == (result["capabilities"][capability] or "ok"), f"{backend}: using {capability} gave {outcome!r}"
