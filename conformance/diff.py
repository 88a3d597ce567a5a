"""Differential mode: run the same drawn training examples through two implementations from the same
initial weights and report where outputs, gradients or History values diverge.

Both implementations compute in float32 from identical inputs and weights, so each compared quantity
has a float64 oracle interval (oracles.py) that bounds both of them; two values that are each within
their bound are within twice the bound of each other. The tolerance per entry is therefore
``2 * SAFETY * radius`` of the oracle interval: derived from the data, never hand-picked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from conformance import options, oracles, runner, strategies
from conformance.fixtures.training import compiled_linear, fit, trace_epochs

# What each probe compares; a probe runs one drawn RegressionCase through both implementations.
PROBES = options.DIFF_PROBES


@dataclass
class Divergence:
    probe: str
    quantity: str
    example: str
    left: float
    right: float
    tolerance: float


@dataclass
class DiffReport:
    left: str
    right: str
    examples: dict = field(default_factory=lambda: {p: 0 for p in PROBES})
    divergences: list = field(default_factory=list)

    @property
    def diverged(self) -> bool:
        return bool(self.divergences)


def _compare(report, probe, quantity, example, left, right, interval: oracles.Interval):
    left, right = np.asarray(left, np.float64), np.asarray(right, np.float64)
    tolerance = 2 * oracles.SAFETY * np.broadcast_to(interval.radius, left.shape)
    gap = np.abs(left - right)
    bad = ~(gap <= tolerance) if left.shape == right.shape else np.ones(1, bool)
    if left.shape != right.shape:
        report.divergences.append(Divergence(probe, f"{quantity} shape", example, math.nan, math.nan, 0.0))
    elif bad.any():
        index = np.unravel_index(int(np.argmax(np.where(bad, gap - tolerance, -np.inf))), gap.shape)
        report.divergences.append(Divergence(probe, f"{quantity}{list(index) if gap.ndim else ''}", example,
                                             float(left[index]), float(right[index]), float(tolerance[index])))


def _outputs(report, impls, case):
    values = []
    for impl in impls:
        model = compiled_linear(impl, case)
        values.append(np.asarray(model.predict(case.x, batch_size=case.batch_size, verbose=0)))
    expected = oracles.forward([oracles.DenseParams(case.kernel, case.bias)], case.x)
    _compare(report, "outputs", "predict", repr(case), values[0], values[1], expected)


def _gradients(report, impls, case):
    cotangent = np.ones(case.y.shape, np.float32)
    results = [impl.vjp(compiled_linear(impl, case), case.x, cotangent) for impl in impls]
    expected = oracles.vjp([oracles.DenseParams(case.kernel, case.bias)], case.x, cotangent)
    _compare(report, "gradients", "d/dx", repr(case), results[0][0], results[1][0], expected.inputs)
    for index, name in enumerate(("d/dkernel", "d/dbias")):
        _compare(report, "gradients", name, repr(case), results[0][1][index], results[1][1][index], expected.weights[index])


def _history(report, impls, case, epochs=2):
    histories, weights = [], []
    for impl in impls:
        model = compiled_linear(impl, case)
        histories.append(fit(model, case.x, case.y, batch_size=case.batch_size, epochs=epochs, shuffle=False).history)
        weights.append(impl.weights(model))
    traces = trace_epochs(case, epochs)
    for epoch, trace in enumerate(traces):
        _compare(report, "history", f"loss[{epoch}]", repr(case), histories[0]["loss"][epoch], histories[1]["loss"][epoch], trace.epoch_loss)
    _compare(report, "history", "kernel after fit", repr(case), weights[0][0], weights[1][0], traces[-1].kernel)
    _compare(report, "history", "bias after fit", repr(case), weights[0][1], weights[1][1], traces[-1].bias)


_RUNNERS = {"outputs": _outputs, "gradients": _gradients, "history": _history}


def run(left, right, profile="default", seed=0, probes=PROBES) -> DiffReport:
    """Draw RegressionCases under ``seed`` and run each probe on both implementations."""
    report = DiffReport(left.label, right.label)
    for probe in probes:
        runner.drive(_example(report, probe, left, right), {"case": strategies.regression_cases()}, profile, seed)
    return report


def _example(report, probe, left, right):
    def example(case):
        report.examples[probe] += 1
        _RUNNERS[probe](report, (left, right), case)

    return example


def format_report(report: DiffReport) -> str:
    lines = [f"{'probe':<10} {'examples':>8} {'divergences':>11}"]
    for probe in PROBES:
        count = sum(d.probe == probe for d in report.divergences)
        lines.append(f"{probe:<10} {report.examples.get(probe, 0):>8} {count:>11}")
    for d in report.divergences[:20]:
        lines.append(f"\n{d.probe}: {d.quantity}: {report.left} {d.left!r} vs {report.right} {d.right!r} "
                     f"(tolerance {d.tolerance:.3g})\n  example: {d.example}")
    lines.append(f"\n{report.left} vs {report.right}: " + ("DIVERGED" if report.diverged else "no divergence"))
    return "\n".join(lines)
