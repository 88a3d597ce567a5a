"""The Python API: run the contracts from a script, or from a test file of your own.

::

    from conformance.api import check_implementation, check_layer, parametrize_with_contracts

    results = check_implementation("keras", layer="mylayers:SimpleDense", profile="quick")
    failed = [r for r in results if r.status == "failed"]

    @parametrize_with_contracts("keras", layer="mylayers:SimpleDense", profile="quick")
    def test_my_layer(contract, device):
        contract.check_on(device)

    # any Keras-style layer, described by a spec
    from conformance.specs import LayerSpec
    results = check_layer(LayerSpec("mylayers:MyConv", kwargs={"filters": 4, "kernel_size": 3}, input_shape=(16, 3)))
"""

from __future__ import annotations

from conformance import options


def check_layer(spec, impl="keras", *, jobs=1, **chosen):
    """Run the contracts on any Keras-style layer, described by a :class:`conformance.specs.LayerSpec`
    (or a ``module:Class`` string for a layer whose constructor needs no argument), inside ``impl``.

    The generic contracts apply; the Dense contracts are reported not applicable. The keywords and the
    results are those of :func:`check_implementation`.
    """
    from conformance import pipeline, specs

    if isinstance(spec, str):
        spec = specs.LayerSpec(spec)
    return pipeline.open_session(impl=impl, spec=spec, **chosen).run(jobs=jobs)


def check_implementation(impl="reference", *, jobs=1, **chosen):
    """Run the contracts and give back one :class:`conformance.outcomes.Result` per contract x device.

    ``impl`` is ``reference``, ``keras``, ``tf_keras``, a module path or ``module:attribute``, or an
    already loaded :class:`conformance.adapters.Implementation`. ``jobs`` worker processes (or
    ``"auto"``: one per usable CPU) need ``impl`` by name and a script's entry point guarded by
    ``if __name__ == "__main__":`` (they are spawned); the results are the same for any ``jobs``. The
    other keywords are the run options (the CLI's flags, ``--keras-*`` in pytest), listed below.

    Raises ``conformance.options.UsageError`` (a ValueError naming the argument) for what cannot be
    run, and ``NothingSelected`` when ``contracts`` matches nothing. Each result has ``contract_id``,
    ``device``, ``status`` (a ``conformance.outcomes.Status``, equal to its string: passed, failed,
    error, timeout, blocked, skipped, not_applicable, xfailed, xpassed), ``message``, ``counterexample``,
    ``seed`` and, for failures, ``extra['snippet']``: Python that reproduces the failure.
    ``conformance.outcomes.exit_status(results)`` gives the CLI's verdict. No pytest is needed. On
    Ctrl-C, ``conformance.runner.RunInterrupted`` (a KeyboardInterrupt) carries the finished cells.
    """
    from conformance import pipeline

    return pipeline.open_session(impl=impl, **chosen).run(jobs=jobs)


class BoundContract:
    """A contract cell of a :class:`conformance.pipeline.Session`; what a parametrized test receives."""

    def __init__(self, cell, session, finished):
        self.cell = cell
        self.contract = cell.contract
        self.session = session
        self.impl = session.impl
        self.finished = finished  # the session's decided cells, shared by its tests: what blocking reads

    @property
    def id(self):
        return self.contract.id

    def __repr__(self):
        return f"<contract {self.contract.id} on {self.impl.label}>"

    def run_on(self, device):
        """The :class:`conformance.outcomes.Result` of this contract on ``device``, as the CLI records it."""
        from conformance import pipeline

        return self.session.decide(pipeline.Cell(self.contract, device, self.cell.expectation), self.finished)

    def check_on(self, device):
        """Run on ``device`` and turn the result into pytest's outcome as the plugin does
        (:func:`conformance.plugin.outcome`): skip when not applicable, absent or blocked, xfail for a
        finding that does not fail the run, AssertionError on a failure that does."""
        from conformance import plugin

        result = self.run_on(device)
        plugin.outcome(result, self.contract, self.session.fail_on)
        return result


def parametrize_with_contracts(impl="reference", **chosen):
    """A ``pytest.mark.parametrize`` over ``(contract, device)`` for every selected contract cell.

    ``contract`` is a :class:`BoundContract`; call ``contract.check_on(device)`` in the test body.
    Ids look like ``DENSE-SHAPE-3D-any`` and ``GRAD-KERNEL-CPU:1``. Entries of ``xfail`` become
    ``xfail``/``skip`` marks (``strict`` makes an unexpected pass fail). Loading ``impl`` here
    imports its framework when the test module is collected. ``spec`` (a LayerSpec) checks any
    Keras-style layer instead of a Dense-like ``layer``. The keywords are the run options, listed below.
    """
    import pytest

    from conformance import pipeline, plugin

    session = pipeline.open_session(impl=impl, **chosen)
    finished, strict = {}, session.expected.strict if session.expected is not None else False
    params = []
    for cell in session.cells():
        mark = plugin.expectation_mark(cell.expectation, strict)
        params.append(pytest.param(BoundContract(cell, session, finished), cell.device, marks=[mark] if mark else [],
                                   id=f"{cell.contract.id}-{cell.column}"))
    return pytest.mark.parametrize(("contract", "device"), params)


for _function in (check_layer, check_implementation, parametrize_with_contracts):
    _function.__doc__ += "\n" + options.api_doc()
