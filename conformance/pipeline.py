"""One way through a conformance run, shared by the CLI, the API, the pytest plugin, the docs and diff.

    session = open_session("keras", layer="mypkg:MyDense", contracts=["GRAD-*"], profile="quick")
    for cell in session.cells():   # what will run, in dependency order, with its expectation
        ...
    results = session.run()        # one Result per cell, in report order

:func:`open_session` checks what it is given in order of cost (names and files first, the framework's
seconds-long import last) and raises :class:`UsageError` or :class:`~conformance.registry.NothingSelected`
with one line that names the argument; the callers turn those into exit statuses 4 and 5.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance import adapters, agreement, catalog, options, outcomes, registry, xfail as expected_failures
from conformance.options import UsageError
from conformance.registry import NothingSelected

__all__ = ["Cell", "InProcess", "NothingSelected", "Recipe", "Session", "UsageError", "layer_specs", "load_implementation",
           "open_session"]


@dataclass(frozen=True)
class Cell:
    """One contract on one device, with the expected-failures entry that concerns it (or None)."""

    contract: registry.Contract
    device: str
    expectation: object = None

    @property
    def key(self) -> tuple[str, str]:
        return self.contract.id, self.device

    @property
    def column(self) -> str:
        return outcomes.column(self.device)


@dataclass
class Session:
    """An implementation, the contracts selected for it, and how to run them: the one place a cell is
    decided (skipped, blocked, run), settled against its expected-failures entry and given its
    reproduction, whoever runs it (the CLI, the API, the plugin, a worker pool)."""

    impl: adapters.Implementation
    contracts: list
    expected: object = None  # conformance.xfail.ExpectedFailures
    seed: int = 0
    profile: str = "default"
    devices: list | None = None  # the implementation's device matrix (runner.device_matrix) when None
    timeout: float | None = options.DEFAULT_TIMEOUT
    fail_on: str = "must"
    shard: tuple | None = None  # (K, N): only the cells of runner.in_shard
    recipe: Recipe | None = None  # how a worker process loads ``impl``; None for an object the caller loaded

    def __post_init__(self):
        from conformance import runner

        if self.devices is None:
            self.devices = runner.device_matrix(self.impl)
        self._plan = {}
        for contract, device in runner.cells(runner.in_dependency_order(self.contracts), self.devices):
            entry = self.expected.match(contract.id, self.impl, contract.area) if self.expected is not None else None
            self._plan[(contract.id, device)] = Cell(contract, device, entry)
        self._report_order = {key: index for index, key in enumerate((c.id, d) for c, d in runner.cells(self.contracts, self.devices))}

    def cells(self) -> list[Cell]:
        """Every cell of the shard in the order it runs: each contract after those it rests on."""
        from conformance import runner

        return [cell for cell in self._plan.values() if runner.in_shard(cell.contract, self.shard)]

    def prerequisites(self, cell) -> list[tuple[str, str]]:
        """The cells whose outcome can block ``cell`` (see runner.blocker), of any shard."""
        from conformance import runner

        first_device = self.devices[0] if self.devices else "CPU:0"
        return [key for key in runner.prerequisite_cells(cell.contract, cell.device, first_device) if key in self._plan]

    def decide(self, cell, finished) -> Result:
        """``cell``'s Result as the run records it, run in this process when it must run; kept in
        ``finished`` (``{(contract id, device): Result}``). A prerequisite absent from ``finished`` (it
        ran in another shard or another xdist worker, or was deselected) is decided first, only to know
        whether it blocks."""
        result = self.without_running(cell, finished)
        finished[cell.key] = self.complete(cell, self.execute(cell) if result is None else result)
        return finished[cell.key]

    def without_running(self, cell, finished):
        """The Result of ``cell`` when it is not run (skipped by an expected-failures ``skip`` entry,
        or blocked by a prerequisite that did not pass), or ``None`` when it must run."""
        from conformance import runner

        for key in self.prerequisites(cell):
            if key not in finished:
                self.decide(self._plan[key], finished)
        first_device = self.devices[0] if self.devices else "CPU:0"
        blocking = runner.blocker(cell.contract, cell.device, finished, first_device)
        if cell.expectation is not None and cell.expectation.mode == "skip":
            return self._result(cell, outcomes.SKIPPED)
        if blocking is None or not (cell.device == outcomes.DEFAULT_DEVICE or cell.device in self.impl.devices()):
            return None
        # name the root cause, not the blocked contract in between
        message = blocking.message if blocking.status == outcomes.BLOCKED else (
            f"blocked by {blocking.contract_id} ({blocking.status} on {blocking.device})")
        result = self._result(cell, outcomes.BLOCKED, message)
        result.extra["blocked_by"] = blocking.extra.get("blocked_by", blocking.contract_id)
        return result

    def execute(self, cell) -> Result:
        """``cell`` run in this process (see runner.run_cell)."""
        from conformance import runner

        return runner.run_cell(cell.contract, self.impl, cell.device, self.profile, self.seed, self.timeout)

    def complete(self, cell, result) -> Result:
        """``result`` with its reproduction snippet, settled against ``cell``'s expected-failures entry."""
        from conformance import reproduce

        reproduce.attach([result], self.impl)
        if cell.expectation is not None:
            self.expected.settle(result, cell.expectation)
        return result

    def in_report_order(self, results) -> list:
        return sorted(results, key=lambda r: self._report_order[(r.contract_id, r.device)])

    def _result(self, cell, status, message="") -> Result:
        contract = cell.contract
        return outcomes.Result(contract.id, contract.area, contract.level, self.impl.label, cell.device, status,
                               message=message, seed=self.seed, profile=self.profile)

    def run(self, on_start=None, on_result=None, jobs=1, pool=None) -> list:
        """Run every cell of the shard, in ``jobs`` worker processes when more than one (a
        ``parallel.Pool`` given is used and left open); Results in report order, the same for any
        ``jobs``. ``on_start(contract, device)`` and ``on_result(result)`` follow progress. Ctrl-C
        raises runner.RunInterrupted with the finished ones."""
        from conformance import parallel

        jobs = options.jobs(jobs)
        if pool is None and jobs > 1:
            if self.recipe is None:
                raise UsageError(f"jobs={jobs} needs the implementation by name (a worker process loads it again); "
                                 "an Implementation object runs with jobs=1 only")
            with parallel.Pool(min(jobs, max(1, len(self.cells()))), warm=self.recipe) as own:
                return schedule(self, own, on_start, on_result)
        return schedule(self, pool or InProcess(), on_start, on_result)


Result = outcomes.Result


class InProcess:
    """The executor that runs each cell in this process as it is sent (see :func:`schedule`)."""

    def __init__(self):
        self.done = []

    def idle(self) -> bool:
        return not self.done

    def busy(self) -> bool:
        return bool(self.done)

    def send(self, cell, session):
        self.done.append((cell, session.execute(cell)))

    def collect(self) -> list:
        done, self.done = self.done, []
        return done


def schedule(session, executor, on_start=None, on_result=None) -> list:
    """Every cell of ``session``'s shard, decided in this process or run by ``executor`` (:class:`InProcess`
    or a ``parallel.Pool``: ``idle()``, ``busy()``, ``send(cell, session)``, ``collect() -> [(cell,
    Result)]``); Results in report order.

    A cell is sent only once the cells it rests on have finished, and a cell that is skipped or blocked is
    decided here, so every executor gives the results of a serial run, cell for cell. A prerequisite in
    another shard runs too, only to know whether it blocks: it is not reported.
    """
    from conformance import runner

    shown = {cell.key for cell in session.cells()}
    pending = [cell for cell in session._plan.values() if cell.key in _with_prerequisites(session, shown)]
    finished, reported = {}, []

    def finish(cell, result):
        finished[cell.key] = session.complete(cell, result)
        if cell.key in shown:
            reported.append(result)
            if on_result is not None:
                on_result(result)

    try:
        while pending or executor.busy():
            for cell in list(pending):
                if any(key not in finished for key in session.prerequisites(cell)):
                    continue
                decided = session.without_running(cell, finished)
                if decided is None and not executor.idle():
                    break  # no executor free: the cells after this one wait, so they start in order
                pending.remove(cell)
                if on_start is not None and cell.key in shown:
                    on_start(cell.contract, cell.device)
                if decided is None:
                    executor.send(cell, session)
                else:
                    finish(cell, decided)
            if not pending and not executor.busy():
                break  # the last cells were decided here: nothing left to wait for
            for cell, result in executor.collect():  # a pool waits here for a worker (or its readiness)
                finish(cell, result)
    except KeyboardInterrupt:
        raise runner.RunInterrupted(session.in_report_order(reported)) from None
    return session.in_report_order(reported)


def _with_prerequisites(session, keys) -> set:
    """``keys`` and every cell they rest on, directly or not."""
    needed, stack = set(), list(keys)
    while stack:
        key = stack.pop()
        if key not in needed:
            needed.add(key)
            stack.extend(session.prerequisites(session._plan[key]))
    return needed


@dataclass(frozen=True)
class Recipe:
    """What :func:`load_implementation` was given: enough for a worker process to load the same
    implementation (picklable: names, a LayerSpec, a number)."""

    impl: str
    layer: str | None = None
    logical_cpus: int | None = None
    spec: object = None

    def load(self) -> adapters.Implementation:
        return load_implementation(self.impl, self.layer, self.logical_cpus, self.spec)


def load_implementation(impl="reference", layer=None, logical_cpus=None, spec=None, pool=None):
    """``impl`` (with the Dense-like ``layer``, or the layer of ``spec``) loaded; names are looked up
    before the framework is imported. With a ``parallel.Pool``, a worker loads it and this process gets
    a ``parallel.Loaded`` (it never imports the framework). Raises UsageError naming the argument."""
    if isinstance(impl, (adapters.Implementation, agreement.Backends)):
        return impl
    try:
        adapters.check_importable(impl, "impl", builtin=True)
        if layer:
            adapters.check_importable(layer, "layer")
        if spec is not None and isinstance(spec.layer, str):
            adapters.check_importable(spec.layer, f"layer spec {spec.label!r}: layer")
        if pool is not None:
            return pool.load(Recipe(impl, layer, logical_cpus, spec))
        return adapters.load(impl, layer, spec=spec, logical_cpus=logical_cpus)
    except ValueError as error:
        raise UsageError(str(error)) from None


def across_backends(pools, spec) -> agreement.Backends:
    """What an agreement session runs on: ``spec``'s layer on each backend of ``pools`` (``{backend: parallel.Pool}``);
    UsageError when a backend's worker cannot load it."""
    backends = agreement.Backends(pools, spec)
    for backend, facts in backends.facts.items():
        if "raised" in facts:
            raise UsageError(f"layer spec {spec.label!r} cannot be loaded on the {backend} backend: {facts['raised']}")
    return backends


def dense_spec(layer=None):
    """The LayerSpec the agreement contracts check a Dense-like ``layer`` with (Keras's Dense when
    ``None``): ``Class(units=3)`` on vectors, the spec the generic contracts give it."""
    from conformance import specs

    return specs.LayerSpec(layer or "keras.layers:Dense", kwargs={"units": 3})


def layer_specs(layer=None, layer_kwargs=None, input_shape=None, input_dtype=None, input_range=None, spec_file=None,
                inputs=None, call_kwargs=None) -> list:
    """The LayerSpecs a run asks for: those of ``spec_file`` (a TOML file of ``[[layer]]`` tables or a
    pyproject.toml), or one from ``layer`` and its companions when any companion is given; an empty
    list for a Dense-like ``layer`` (or none). Raises UsageError naming the argument."""
    from conformance import specs

    companions = (layer_kwargs, input_shape, input_dtype, input_range, inputs, call_kwargs)
    try:
        if spec_file is not None:
            if layer is not None or any(c is not None for c in companions):
                raise ValueError("--layer-spec replaces --layer and its companions; give one or the other")
            return specs.load_file(spec_file)
        if any(c is not None for c in companions):
            if layer is None:
                raise ValueError("--layer-kwargs, --input-shape, --input-dtype, --input-range, --inputs and --call-kwargs "
                                 "describe a --layer; give --layer too")
            return [specs.from_cli(layer, *companions)]
    except ValueError as error:
        raise UsageError(str(error)) from None
    return []


def open_session(*, impl="reference", layer=None, contracts=None, profile="default", seed=None, xfail=None, strict=False,
                 timeout=None, fail_on="must", logical_cpus=None, spec=None, shard=None, pool=None) -> Session:
    """A :class:`Session`, every argument checked (by its declaration in :mod:`conformance.options`)
    before the framework is imported.

    Args:
        impl: ``reference``, ``keras``, ``tf_keras``, a module path, ``module:attribute``, or an already
            loaded :class:`~conformance.adapters.Implementation`.
        layer: ``module:Class`` of a Dense-like layer under test inside ``impl``.
        contracts: ids (wildcards allowed) or areas; ``None`` for every contract.
        profile: ``quick``, ``default`` or ``thorough``.
        seed: hypothesis seed; a fresh random one when ``None`` (recorded in every result).
        xfail: an expected-failures file path, or a loaded ``ExpectedFailures``.
        strict: an expected failure that passes is reported as failed.
        timeout: time limit per cell in seconds; ``None`` for the default (300).
        fail_on: ``must`` or ``should``: which failures fail the run.
        logical_cpus: split the CPU into this many logical devices (default: the environment's, else 2).
        spec: a :class:`~conformance.specs.LayerSpec`: any Keras-style layer, checked by the generic
            contracts (the Dense ones are not applicable to it).
        shard: ``"K/N"`` (or ``(K, N)``): run only the K-th of N stable shares of the contracts.
        pool: a ``parallel.Pool`` that will run the cells: one of its workers loads ``impl``, and this
            process, which only schedules, never imports the framework.
    """
    from conformance import runner

    checked = options.check(profile=profile, seed=seed, timeout=timeout, fail_on=fail_on, logical_cpus=logical_cpus,
                            shard=shard)
    selected = catalog.select(contracts)  # NothingSelected goes through: exit status 5, not 4
    across = isinstance(impl, agreement.Backends)
    selected = [c for c in selected if (c.area == "agreement") == across]  # the agreement area compares backends only
    if not selected:
        raise NothingSelected("contracts: the agreement contracts compare Keras backends (keras-conformance run --impl keras "
                              "--backends tensorflow,jax,torch), and only they do" if not across else
                              "contracts: no agreement contract selected to compare the backends")
    try:
        expected = expected_failures.load(xfail, strict=strict)
    except ValueError as error:
        raise UsageError(str(error)) from None
    recipe = None if isinstance(impl, (adapters.Implementation, agreement.Backends)) else Recipe(impl, layer, checked["logical_cpus"], spec)
    impl = load_implementation(impl, layer, checked["logical_cpus"], spec, pool)
    return Session(
        impl=impl,
        contracts=selected,
        expected=expected,
        seed=runner.new_seed() if seed is None else checked["seed"],
        profile=profile,
        devices=[] if across else runner.device_matrix(impl),
        timeout=options.DEFAULT_TIMEOUT if timeout is None else checked["timeout"],
        fail_on=fail_on,
        shard=checked["shard"],
        recipe=recipe,
    )
