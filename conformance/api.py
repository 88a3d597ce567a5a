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


def check_layer(spec, impl="keras", contracts=None, profile="default", seed=None, xfail=None, strict=False, timeout=None,
                jobs=1):
    """Run the contracts on any Keras-style layer, described by a :class:`conformance.specs.LayerSpec`
    (or a ``module:Class`` string for a layer whose constructor needs no argument), inside ``impl``.

    The generic contracts apply; the Dense contracts are reported not applicable. Results as for
    :func:`check_implementation`.
    """
    from conformance import pipeline, specs

    if isinstance(spec, str):
        spec = specs.LayerSpec(spec)
    return pipeline.open_session(impl, None, contracts, profile, seed, xfail, strict, timeout, spec=spec).run(jobs=jobs)


def check_implementation(impl="reference", layer=None, contracts=None, profile="default", seed=None, xfail=None, strict=False,
                         timeout=None, jobs=1):
    """Run the contracts and give back one :class:`conformance.runner.Result` per contract x device.

    Args:
        impl: ``reference``, ``keras``, ``tf_keras``, a module path or ``module:attribute``, or an
            already loaded :class:`conformance.adapters.Implementation`.
        layer: ``module:Class`` of a Dense-like layer to test inside ``impl``.
        contracts: ids (wildcards allowed) or areas; ``None`` for all.
        profile: ``quick``, ``default`` or ``thorough``.
        seed: hypothesis seed; a random one (recorded in every result) when ``None``.
        xfail: path of an expected-failures TOML file, or a :class:`conformance.xfail.ExpectedFailures`.
        strict: an expected failure that passes is reported as failed.
        timeout: time limit per cell in seconds (``None``: the runner's default, 300).
        jobs: worker processes (or ``"auto"``: one per usable CPU); more than one needs ``impl`` by name,
            and a script's entry point guarded by ``if __name__ == "__main__":`` (they are spawned).
            The results are the same for any ``jobs``.

    Raises ``conformance.pipeline.UsageError`` (a ValueError naming the argument) for what cannot be
    run, and ``NothingSelected`` when ``contracts`` matches nothing. Each result has ``contract_id``, ``device``, ``status`` (one of ``conformance.outcomes.STATUSES``:
    passed, failed, error, timeout, blocked, skipped, not_applicable, xfailed, xpassed), ``message``,
    ``counterexample``, ``seed`` and, for failures, ``extra['snippet']``: Python that reproduces the
    failure. ``conformance.outcomes.exit_status(results)`` gives the CLI's verdict. No pytest is needed.
    On Ctrl-C, ``conformance.runner.RunInterrupted`` (a KeyboardInterrupt) carries the finished cells.
    """
    from conformance import pipeline

    return pipeline.open_session(impl, layer, contracts, profile, seed, xfail, strict, timeout).run(jobs=jobs)


class BoundContract:
    """A contract bound to a :class:`conformance.pipeline.Session`; what a parametrized test receives."""

    def __init__(self, contract, session):
        self.contract = contract
        self.session = session
        self.impl = session.impl

    @property
    def id(self):
        return self.contract.id

    def __repr__(self):
        return f"<contract {self.contract.id} on {self.impl.label}>"

    def run_on(self, device):
        """The :class:`conformance.runner.Result` of this contract on ``device``."""
        from conformance import reproduce, runner

        session = self.session
        result = runner.run_cell(self.contract, session.impl, device, session.profile, session.seed, session.timeout)
        reproduce.attach([result], session.impl)
        return result

    def check_on(self, device):
        """Run on ``device``: pytest-skip when not applicable or absent, xfail for a finding that does
        not fail the run (a SHOULD contract, unless ``fail_on="should"``), AssertionError on a failure
        that does, RuntimeError when the kit itself raised."""
        import pytest

        from conformance import outcomes, report

        result = self.run_on(device)
        if result.status == outcomes.ERROR:
            raise RuntimeError("keras-conformance kit error (not the implementation's failure):\n" + report.failure_text(result, self.contract))
        if result.status in (outcomes.FAILED, outcomes.TIMEOUT):
            if not outcomes.fails_run(result, self.session.fail_on):
                pytest.xfail(f"{result.level} finding, does not fail the run: {result.message.splitlines()[0]}")
            raise AssertionError(report.failure_text(result, self.contract))
        if result.status in (outcomes.SKIPPED, outcomes.NOT_APPLICABLE):
            pytest.skip(result.message)
        return result


def parametrize_with_contracts(impl="reference", layer=None, contracts=None, profile="default", seed=None, xfail=None, strict=False,
                               fail_on="must", timeout=None, spec=None):
    """A ``pytest.mark.parametrize`` over ``(contract, device)`` for every selected contract cell.

    ``contract`` is a :class:`BoundContract`; call ``contract.check_on(device)`` in the test body.
    Ids look like ``DENSE-SHAPE-3D-any`` and ``GRAD-KERNEL-CPU:1``. Entries of ``xfail`` become
    ``xfail``/``skip`` marks (``strict`` makes an unexpected pass fail). Loading ``impl`` here
    imports its framework when the test module is collected. ``spec`` (a LayerSpec) checks any
    Keras-style layer instead of a Dense-like ``layer``.
    """
    import pytest

    from conformance import pipeline

    session = pipeline.open_session(impl, layer, contracts, profile, seed, xfail, strict, timeout, fail_on, spec=spec)
    params = []
    for cell in session.cells():
        marks, entry = [], cell.expectation
        if entry is not None and entry.mode == "skip":
            marks.append(pytest.mark.skip(reason=f"{entry.reason} ({entry.source})"))
        elif entry is not None:
            marks.append(pytest.mark.xfail(reason=f"{entry.reason} ({entry.source})", strict=session.expected.strict, raises=AssertionError))
        params.append(pytest.param(BoundContract(cell.contract, session), cell.device, marks=marks, id=f"{cell.contract.id}-{cell.column}"))
    return pytest.mark.parametrize(("contract", "device"), params)
