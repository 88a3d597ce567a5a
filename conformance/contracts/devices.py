"""Devices: work placed on a device runs there, and every device agrees with CPU:0."""

from __future__ import annotations

import numpy as np

from conformance import oracles, strategies
from conformance.fixtures import require
from conformance.fixtures.layers import loaded_dense, params_of
from conformance.registry import MUST, contract

AREA = "devices"
REFERENCE_DEVICE = "CPU:0"


@contract(
    "DEVICE-PLACEMENT",
    area=AREA,
    level=MUST,
    statement="A layer created and called under a device scope keeps its variables and its output on that device.",
    rationale="TensorFlow's soft placement silently runs 'GPU' work on the CPU; without this check a GPU "
    "column in the matrix could pass without a GPU ever being used.",
    given={"case": strategies.dense_cases(2, 3)},
    per_device=True,
    examples=[dict(case=strategies.example_case((2, 3), 3, "relu"))],
)
def check_placement(impl, case):
    """Read the device of the output tensor and of every weight variable."""
    layer = loaded_dense(impl, case)
    output, _ = impl.call(layer, case.x)
    expected = impl.current_device()
    placed = {"output": impl.device_of(output)}
    placed.update({f"weight {i}": impl.device_of(w) for i, w in enumerate(layer.weights)})
    wrong = {what: where for what, where in placed.items() if where != expected}
    require(not wrong, f"expected everything on {expected}, found {wrong}")


def _not_reference_device(impl, device):
    return "CPU:0 is the device the others are compared with" if device in (REFERENCE_DEVICE, "default") else None


@contract(
    "DEVICE-AGREES-WITH-CPU",
    area=AREA,
    level=MUST,
    statement="On every device the output of a layer with the same weights and input equals the CPU:0 output "
    "within the float32 error bound (TF32 off).",
    rationale="Different kernels per device are normal; different answers beyond rounding are bugs that "
    "only show up when a model moves to an accelerator.",
    given={"case": strategies.dense_cases(2, 4)},
    per_device=True,
    requires=_not_reference_device,
    examples=[
        dict(case=strategies.example_case((2, 2, 3), 3, "softmax")),
        dict(case=strategies.example_case((1, 3), 2, "sigmoid", scale=1e30)),
    ],
)
def check_agrees_with_cpu(impl, case):
    """Compute on this device and on CPU:0 with the same weights; each must lie in the other's bound."""
    layer = loaded_dense(impl, case)
    _, here = impl.call(layer, case.x)
    with impl.on_device(REFERENCE_DEVICE):
        reference_layer = loaded_dense(impl, case)
        _, on_cpu = impl.call(reference_layer, case.x)
    expected = oracles.forward([params_of(impl, layer, case.activation)], case.x)
    oracles.assert_within(
        f"output on {impl.current_device()} against {REFERENCE_DEVICE}",
        here,
        oracles.Interval(np.asarray(on_cpu, np.float64), 2 * expected.radius),
    )
