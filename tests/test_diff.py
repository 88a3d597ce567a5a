"""Differential mode: identical implementations agree; a mutant that trains differently is reported."""

from __future__ import annotations

from conformance import adapters, diff
from conformance.adapters.base import Implementation
from tests.mutants.training import MUTANTS


def test_reference_and_keras_do_not_diverge():
    report = diff.run(adapters.load("reference"), adapters.load("keras"), profile="quick", seed=7)
    assert all(report.examples[p] > 0 for p in diff.PROBES)
    assert not report.diverged, diff.format_report(report)
    assert "no divergence" in diff.format_report(report)


def test_a_mutant_that_drops_the_last_partial_batch_diverges_in_history():
    reference = adapters.load("reference")
    mutant = Implementation("DropsLastPartialBatch", MUTANTS["DropsLastPartialBatch"][0], reference.backend)
    report = diff.run(reference, mutant, profile="quick", seed=7, probes=("history",))
    assert report.diverged and {d.probe for d in report.divergences} == {"history"}, diff.format_report(report)
