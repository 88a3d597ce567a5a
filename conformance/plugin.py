"""pytest plugin (registered through the ``pytest11`` entry point); inert unless asked.

``pytest --keras-impl keras`` (or ``--keras-layer mypkg.layers:SimpleDense``) collects every contract
as an ordinary pytest item, one per contract x implementation x device, with ids such as
``DENSE-SHAPE-3D[keras-any]`` or ``GRAD-KERNEL[keras+SimpleDense-CPU:1]``. Without those options the
plugin only adds its command-line options: this module imports nothing but pytest, and the kit
(with TensorFlow or another backend) is imported inside the hooks once the plugin is active.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

SEED_KEY = "keras_conformance_seed"  # xdist workerinput key: every worker replays the same seed


def pytest_addoption(parser):
    from conformance import options  # names and parsers only: no framework is imported

    options.add_to_argparse(parser.getgroup("keras-conformance", "Keras conformance contracts (keras-conformance)"), "pytest")


def _active(config) -> bool:
    return any(config.getoption(name, None) for name in ("keras_impl", "keras_layer", "keras_layer_spec"))


def pytest_configure(config):
    if _active(config):
        config.pluginmanager.register(ConformanceSuite(config), "keras-conformance-suite")


class ContractFailure(AssertionError):
    """A failed contract cell; pytest shows :func:`conformance.report.failure_text` for it."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text


class KitError(ContractFailure):
    """The kit itself raised in this cell: shown as a failed item, marked as the kit's, not the implementation's."""


def expectation_mark(entry, strict):
    """The pytest mark of an expected-failures ``entry`` (``None`` for none): skip, or xfail raising
    :class:`ContractFailure`, so pytest reports xfailed, XPASS and strict XPASS as it does for its own."""
    if entry is None:
        return None
    if entry.mode == "skip":
        return pytest.mark.skip(reason=f"expected failure, not run ({entry.source}): {entry.reason}")
    return pytest.mark.xfail(reason=f"{entry.reason} ({entry.source})", strict=strict, raises=ContractFailure)


def outcome(result, contract, fail_on="must"):
    """Turn a cell's settled Result into pytest's outcome: return for a pass, skip (not applicable,
    absent device, blocked), xfail for a finding that does not fail the run, :class:`ContractFailure`
    for one that does, :class:`KitError` when the kit raised. An expected failure (xfailed) raises
    ContractFailure and an expected failure that passed returns, so the item's :func:`expectation_mark`
    reports them as pytest reports its own."""
    from conformance import outcomes, report

    status = result.status
    if status == outcomes.PASSED or status == outcomes.XPASSED or (status == outcomes.FAILED and "expected" in result.extra):
        return  # a pass, possibly of an entry that expected a failure (strict or not): the mark decides
    if status == outcomes.ERROR:
        raise KitError("keras-conformance kit error (not the implementation's failure; please report it):\n"
                       + report.failure_text(result, contract) + "\n" + result.extra.get("traceback", ""))
    if status == outcomes.XFAILED:
        raise ContractFailure(report.failure_text(result, contract))
    if status in (outcomes.FAILED, outcomes.TIMEOUT):
        if not outcomes.fails_run(result, fail_on):
            pytest.xfail(f"{result.level} finding, does not fail the run (fail on should to fail it): "
                         f"{result.message.splitlines()[0] if result.message else result.status}")
        raise ContractFailure(report.failure_text(result, contract))
    prefix = f"{status.words}: " if status == outcomes.NOT_APPLICABLE else ""
    pytest.skip(prefix + result.message)


class ContractItem(pytest.Item):
    """One contract on one implementation and device: a :class:`conformance.pipeline.Cell` of a session."""

    def __init__(self, *, cell, conformance_session, suite, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.contract = cell.contract
        self.conformance_session = conformance_session  # pytest's own Node.session is the test session
        self.suite = suite
        self.extra_keyword_matches.update({cell.contract.area, cell.contract.level, cell.contract.id})

    def runtest(self):
        # A prerequisite this process has not run (another xdist worker's item, or one deselected) is
        # decided by Session.decide as the CLI decides it, so verdicts are the same under -n.
        session = self.conformance_session
        result = session.decide(self.cell, self.suite.finished.setdefault(id(session), {}))
        self.user_properties += [("seed", result.seed), ("profile", result.profile), ("status", str(result.status))]
        outcome(result, self.contract, session.fail_on)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ContractFailure):
            return excinfo.value.text
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        check = inspect.unwrap(self.contract.check)
        try:
            path, line = Path(inspect.getsourcefile(check)), inspect.getsourcelines(check)[1] - 1
        except (OSError, TypeError):
            path, line = self.path, None
        return path, line, self.name


class ConformanceSuite:
    """The hooks of an active plugin: options resolved once, items added to the collection."""

    def __init__(self, config):
        self.config = config
        self.impl_names = config.getoption("keras_impl") or ["keras"]
        self.layer = config.getoption("keras_layer")
        self.patterns = [p for value in config.getoption("keras_contracts") or [] for p in value.split(",") if p]
        self.seed = self._seed(config)
        self.expected = None
        self.stale = []
        self.finished = {}  # id(session) -> {(contract id, device): Result}: what later cells' blocking reads

    @staticmethod
    def _seed(config):
        if config.getoption("keras_seed") is not None:
            return config.getoption("keras_seed")
        worker_input = getattr(config, "workerinput", None)
        if worker_input and SEED_KEY in worker_input:
            return worker_input[SEED_KEY]
        hypothesis_seed = config.getoption("hypothesis_seed", None)
        if hypothesis_seed is not None:
            text = str(hypothesis_seed)
            return int(text) if text.lstrip("-").isdigit() else int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "big")
        from conformance import runner

        return runner.new_seed()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        node.workerinput[SEED_KEY] = self.seed

    def pytest_report_header(self, config):
        return (
            f"keras-conformance: impl {', '.join(self.impl_names)}"
            + (f", layer {self.layer}" if self.layer else "")
            + f", profile {self.config.getoption('keras_profile') or 'default'}, seed {self.seed} (replay with --keras-seed {self.seed})"
        )

    @pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so they apply to contract items
    def pytest_collection_modifyitems(self, session, config, items):
        items.extend(self.collect(session))

    def collect(self, session):
        from conformance import options, pipeline, xfail

        option = self.config.getoption
        # the plugin's options left unset take the API's defaults
        chosen = {o.name: option(f"keras_{o.name}") for o in options.RUN_OPTIONS if "pytest" in o.where and "api" in o.where}
        chosen = {name: value for name, value in chosen.items() if value is not None and name != "impl"}
        chosen.update(contracts=self.patterns or None, seed=self.seed)
        try:
            self.expected = xfail.load(chosen.pop("xfail", None), strict=chosen.pop("strict", False))
            specs = pipeline.layer_specs(spec_file=option("keras_layer_spec"))
            sessions = [pipeline.open_session(**chosen, impl=name, xfail=self.expected, spec=spec)
                        for name in self.impl_names for spec in (specs or [None])]
        except ValueError as error:  # UsageError, NothingSelected, a bad expected-failures file
            raise pytest.UsageError(f"keras-conformance: {error}") from None
        for run in sessions:
            for cell in run.cells():
                name = f"{cell.contract.id}[{run.impl.label}-{cell.column}]"
                item = ContractItem.from_parent(session, name=name, nodeid=f"keras-conformance::{name}", cell=cell, conformance_session=run, suite=self)
                mark = expectation_mark(cell.expectation, self.expected.strict if self.expected else False)
                if mark is not None:
                    item.add_marker(mark)
                yield item

    def pytest_terminal_summary(self, terminalreporter):
        self.stale = self.expected.stale() if self.expected is not None else []
        if self.stale:
            terminalreporter.write_sep("=", "keras-conformance: unused expected failures", yellow=True)
            for entry in self.stale:
                terminalreporter.write_line(f"{entry.source}: contract {entry.contract!r} matched no collected item")
