"""pytest plugin (registered through the ``pytest11`` entry point); inert unless asked.

``pytest --keras-impl keras`` (or ``--keras-layer mypkg.layers:SimpleDense``) collects every contract
as an ordinary pytest item, one per contract x implementation x device, with ids such as
``DENSE-SHAPE-3D[keras-any]`` or ``GRAD-KERNEL[keras+SimpleDense-CPU:1]``. Without those options the
plugin only adds its command-line options: this module imports nothing but pytest, and the kit
(with TensorFlow or another backend) is imported inside the hooks once the plugin is active.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

SEED_KEY = "keras_conformance_seed"  # xdist workerinput key: every worker replays the same seed


def pytest_addoption(parser):
    group = parser.getgroup("keras-conformance", "Keras conformance contracts (keras-conformance)")
    group.addoption(
        "--keras-impl",
        action="append",
        default=[],
        metavar="IMPL",
        help="run the contracts against IMPL: reference, keras, tf_keras, a module or module:attribute (repeatable)",
    )
    group.addoption(
        "--keras-layer",
        default=None,
        metavar="MODULE:CLASS",
        help="the Dense-like layer class to test inside --keras-impl (default impl: keras)",
    )
    group.addoption(
        "--keras-layer-spec",
        default=None,
        metavar="FILE",
        help="TOML file of [[layer]] specs (or a pyproject.toml with [[tool.keras-conformance.layer]]): any Keras-style layers to check",
    )
    group.addoption(
        "--keras-contracts",
        action="extend",
        nargs="+",
        default=[],
        metavar="PATTERN",
        help="contract ids (wildcards allowed, comma-separated or repeated) or areas; default: all",
    )
    group.addoption("--keras-profile", default="default", choices=("quick", "default", "thorough"), help="hypothesis examples per contract")
    group.addoption("--keras-seed", type=int, default=None, help="seed for every contract (default: --hypothesis-seed, else random)")
    group.addoption("--keras-xfail", default=None, metavar="FILE", help="expected-failures TOML file")
    group.addoption("--keras-strict", action="store_true", default=False, help="an expected failure that passes fails the run")
    group.addoption("--keras-timeout", type=float, default=None, metavar="SECONDS",
                    help="time limit per contract item (default 300); past it the item fails as a timeout")
    group.addoption("--keras-fail-on", default="must", choices=("must", "should"),
                    help="which failures fail their item: must (default; a SHOULD finding is reported as xfail) or should")


def _active(config) -> bool:
    return any(config.getoption(name, None) for name in ("keras_impl", "keras_layer", "keras_layer_spec"))


def pytest_configure(config):
    if _active(config):
        config.pluginmanager.register(ConformanceSuite(config), "keras-conformance-suite")


class ContractFailure(Exception):
    """A failed contract cell; pytest shows :func:`conformance.report.failure_text` for it."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text


class KitError(ContractFailure):
    """The kit itself raised in this cell: shown as a failed item, marked as the kit's, not the implementation's."""


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
        from conformance import outcomes, report, reproduce, runner

        session, contract, device = self.conformance_session, self.cell.contract, self.cell.device
        finished, missing = self.suite.prerequisites(session)
        # A prerequisite this process has not run (another xdist worker's item, or one deselected) is
        # decided here as the CLI decides it (runner.prerequisites), so verdicts are the same under -n.
        blocked = runner.decided_without_running(contract, device, session.impl, finished, session.profile, session.seed,
                                                 None, session.devices[0], missing)
        if blocked is not None:
            finished[(contract.id, device)] = blocked
            pytest.skip(blocked.message)
        result = runner.run_cell(contract, session.impl, device, session.profile, session.seed, session.timeout)
        # dependants see the cell as the CLI records it (xfailed, ...); this item reports the raw result
        finished[(contract.id, device)] = runner.settle(dataclasses.replace(result, extra=dict(result.extra)), contract,
                                                        session.impl, session.expected)
        self.user_properties += [("seed", result.seed), ("profile", result.profile), ("status", result.status)]
        if result.status == outcomes.ERROR:
            raise KitError("keras-conformance kit error (not the implementation's failure; please report it):\n"
                           + report.failure_text(result, contract) + "\n" + result.extra.get("traceback", ""))
        if result.status in (outcomes.FAILED, outcomes.TIMEOUT):
            reproduce.attach([result], session.impl)
            if not outcomes.fails_run(result, session.fail_on):
                pytest.xfail(f"{result.level} finding, does not fail the run (--keras-fail-on should to fail it): "
                             f"{result.message.splitlines()[0] if result.message else result.status}")
            raise ContractFailure(report.failure_text(result, contract))
        if result.status == outcomes.SKIPPED:
            pytest.skip(result.message)
        if result.status == outcomes.NOT_APPLICABLE:
            pytest.skip(f"not applicable: {result.message}")

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
        self.patterns = [p for value in config.getoption("keras_contracts") for p in value.split(",") if p]
        self.profile = config.getoption("keras_profile")
        self.seed = self._seed(config)
        self.timeout = config.getoption("keras_timeout")
        self.fail_on = config.getoption("keras_fail_on")
        self.expected = None
        self.stale = []
        self.finished = {}  # session -> ({(contract id, device): Result}, runner.prerequisites callback), for blocking

    def prerequisites(self, session):
        """``(finished, missing)`` of ``session``: the cells decided in this process, and the
        :func:`conformance.runner.prerequisites` callback that decides the others when needed."""
        from conformance import runner

        if id(session) not in self.finished:
            missing = runner.prerequisites(session.impl, session.contracts, session.devices, session.profile, session.seed,
                                           session.timeout, session.expected)
            self.finished[id(session)] = {}, missing
        return self.finished[id(session)]

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
            + f", profile {self.profile}, seed {self.seed} (replay with --keras-seed {self.seed})"
        )

    @pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so they apply to contract items
    def pytest_collection_modifyitems(self, session, config, items):
        items.extend(self.collect(session))

    def collect(self, session):
        from conformance import pipeline, xfail

        option = self.config.getoption
        try:
            self.expected = xfail.load(option("keras_xfail"), strict=option("keras_strict"))
            specs = pipeline.layer_specs(spec_file=option("keras_layer_spec"))
            sessions = [
                pipeline.open_session(name, self.layer, self.patterns, self.profile, self.seed, self.expected,
                                      option("keras_strict"), self.timeout, self.fail_on, spec=spec)
                for name in self.impl_names
                for spec in (specs or [None])
            ]
        except ValueError as error:  # UsageError, NothingSelected, a bad expected-failures file
            raise pytest.UsageError(f"keras-conformance: {error}") from None
        for run in sessions:
            for cell in run.cells():
                name = f"{cell.contract.id}[{run.impl.label}-{cell.column}]"
                item = ContractItem.from_parent(session, name=name, nodeid=f"keras-conformance::{name}", cell=cell, conformance_session=run, suite=self)
                entry = cell.expectation
                if entry is not None and entry.mode == "skip":
                    item.add_marker(pytest.mark.skip(reason=f"expected failure, not run ({entry.source}): {entry.reason}"))
                elif entry is not None:
                    item.add_marker(
                        pytest.mark.xfail(reason=f"{entry.reason} ({entry.source})", strict=self.expected.strict, raises=ContractFailure)
                    )
                yield item

    def pytest_terminal_summary(self, terminalreporter):
        self.stale = self.expected.stale() if self.expected is not None else []
        if self.stale:
            terminalreporter.write_sep("=", "keras-conformance: unused expected failures", yellow=True)
            for entry in self.stale:
                terminalreporter.write_line(f"{entry.source}: contract {entry.contract!r} matched no collected item")
