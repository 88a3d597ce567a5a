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

import functools
import os
from dataclasses import dataclass, field

from conformance import adapters, catalog, registry, xfail as expected_failures
from conformance.outcomes import DEFAULT_DEVICE, FAIL_ON
from conformance.registry import NothingSelected

__all__ = ["Cell", "NothingSelected", "Recipe", "Session", "UsageError", "layer_specs", "load_implementation", "open_session",
           "resolve_jobs"]

PROFILES = ("quick", "default", "thorough")


class UsageError(ValueError):
    """What the user asked for cannot be done: a bad argument, a module that does not import, a layer
    that cannot be constructed. The message is one line naming the argument."""


@dataclass(frozen=True)
class Cell:
    """One contract on one device, with the expected-failures entry that concerns it (or None)."""

    contract: registry.Contract
    device: str
    expectation: object = None

    @property
    def column(self) -> str:
        return "any" if self.device == DEFAULT_DEVICE else self.device


@dataclass
class Session:
    """An implementation, the contracts selected for it, and how to run them."""

    impl: adapters.Implementation
    contracts: list
    expected: object = None  # conformance.xfail.ExpectedFailures
    seed: int = 0
    profile: str = "default"
    devices: list = field(default_factory=list)
    timeout: float | None = None
    fail_on: str = "must"
    shard: tuple | None = None  # (K, N): only the cells of runner.in_shard
    recipe: Recipe | None = None  # how a worker process loads ``impl``; None for an object the caller loaded

    def cells(self) -> list[Cell]:
        """Every cell (of the shard) in the order it runs: each contract after those it rests on."""
        from conformance import runner

        found = []
        for contract, device in runner.cells(runner.in_dependency_order(self.contracts), self.devices):
            if not runner.in_shard(contract, self.shard):
                continue
            entry = self.expected.match(contract.id, self.impl, contract.area) if self.expected is not None else None
            found.append(Cell(contract, device, entry))
        return found

    def run(self, on_start=None, on_result=None, jobs=1, pool=None) -> list:
        """Run every cell, in ``jobs`` worker processes when more than one (see conformance.parallel; a
        ``parallel.Pool`` given is used and left open); Results in report order, the same for any
        ``jobs``. Ctrl-C raises runner.RunInterrupted with the finished ones."""
        from conformance import parallel, reproduce, runner

        jobs = resolve_jobs(jobs)
        if jobs > 1 and self.recipe is None:
            raise UsageError(f"jobs={jobs} needs the implementation by name (a worker process loads it again); "
                             "an Implementation object runs with jobs=1 only")
        run = runner.run if jobs == 1 else functools.partial(parallel.run, recipe=self.recipe, jobs=jobs, pool=pool)
        try:
            results = run(self.impl, self.contracts, profile=self.profile, seed=self.seed, devices=self.devices,
                          on_result=on_result, expected=self.expected, timeout=self.timeout, on_start=on_start,
                          shard=self.shard)
        except runner.RunInterrupted as stop:
            reproduce.attach(stop.results, self.impl)
            raise
        reproduce.attach(results, self.impl)
        return results


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


def resolve_jobs(jobs) -> int:
    """Worker processes for ``jobs``: a positive int, or ``"auto"`` for the CPUs this process may use."""
    if jobs == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        count = int(jobs)
    except (TypeError, ValueError):
        count = 0
    if count < 1 or str(count) != str(jobs).strip():
        raise UsageError(f"jobs must be a positive number of worker processes or 'auto', got {jobs!r}")
    return count


def load_implementation(impl="reference", layer=None, logical_cpus=None, spec=None) -> adapters.Implementation:
    """``impl`` (with the Dense-like ``layer``, or the layer of ``spec``) loaded; names are looked up
    before the framework is imported. Raises UsageError naming the argument."""
    if isinstance(impl, adapters.Implementation):
        return impl
    try:
        adapters.check_importable(impl, "impl", builtin=True)
        if layer:
            adapters.check_importable(layer, "layer")
        if spec is not None and isinstance(spec.layer, str):
            adapters.check_importable(spec.layer, f"layer spec {spec.label!r}: layer")
        adapters.prepare_environment(logical_cpus)
        return adapters.load(impl, layer, spec=spec)
    except ValueError as error:
        raise UsageError(str(error)) from None


def layer_specs(layer=None, layer_kwargs=None, input_shape=None, input_dtype=None, input_range=None, spec_file=None) -> list:
    """The LayerSpecs a run asks for: those of ``spec_file`` (a TOML file of ``[[layer]]`` tables or a
    pyproject.toml), or one from ``layer`` and its companions when any companion is given; an empty
    list for a Dense-like ``layer`` (or none). Raises UsageError naming the argument."""
    from conformance import specs

    companions = (layer_kwargs, input_shape, input_dtype, input_range)
    try:
        if spec_file is not None:
            if layer is not None or any(c is not None for c in companions):
                raise ValueError("--layer-spec replaces --layer and its companions; give one or the other")
            return specs.load_file(spec_file)
        if any(c is not None for c in companions):
            if layer is None:
                raise ValueError("--layer-kwargs, --input-shape, --input-dtype and --input-range describe a --layer; give --layer too")
            return [specs.from_cli(layer, *companions)]
    except ValueError as error:
        raise UsageError(str(error)) from None
    return []


def open_session(impl="reference", layer=None, contracts=None, profile="default", seed=None, xfail=None, strict=False,
                 timeout=None, fail_on="must", logical_cpus=None, spec=None, shard=None) -> Session:
    """A :class:`Session`, every argument checked before the framework is imported.

    Args:
        impl: ``reference``, ``keras``, ``tf_keras``, a module path, ``module:attribute``, or an already
            loaded :class:`~conformance.adapters.Implementation`.
        layer: ``module:Class`` of a Dense-like layer under test inside ``impl``.
        contracts: ids (wildcards allowed) or areas; ``None`` for every contract.
        profile: ``quick``, ``default`` or ``thorough``.
        seed: hypothesis seed; a fresh random one when ``None`` (recorded in every result).
        xfail: an expected-failures file path, or a loaded ``ExpectedFailures``.
        strict: an expected failure that passes is reported as failed.
        timeout: time limit per cell in seconds; ``None`` for the runner's default.
        fail_on: ``must`` or ``should``: which failures fail the run.
        logical_cpus: split the CPU into this many TensorFlow devices (default 2).
        spec: a :class:`~conformance.specs.LayerSpec`: any Keras-style layer, checked by the generic
            contracts (the Dense ones are not applicable to it).
        shard: ``"K/N"`` (or ``(K, N)``): run only the K-th of N stable shares of the contracts.
    """
    from conformance import runner

    if profile not in PROFILES:
        raise UsageError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if fail_on not in FAIL_ON:
        raise UsageError(f"fail_on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}")
    if timeout is not None and not timeout > 0:
        raise UsageError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if logical_cpus is not None and (not isinstance(logical_cpus, int) or logical_cpus < 1):
        raise UsageError(f"logical_cpus must be an int >= 1, got {logical_cpus!r}")
    if shard is not None:
        try:
            shard = runner.parse_shard(shard if isinstance(shard, str) else "/".join(map(str, shard)))
        except ValueError as error:
            raise UsageError(str(error)) from None
    selected = catalog.select(contracts)  # NothingSelected goes through: exit status 5, not 4
    try:
        expected = expected_failures.load(xfail, strict=strict)
    except ValueError as error:
        raise UsageError(str(error)) from None
    recipe = None if isinstance(impl, adapters.Implementation) else Recipe(impl, layer, logical_cpus, spec)
    impl = load_implementation(impl, layer, logical_cpus, spec)
    return Session(
        impl=impl,
        contracts=selected,
        expected=expected,
        seed=runner.new_seed() if seed is None else seed,
        profile=profile,
        devices=runner.device_matrix(impl),
        timeout=runner.DEFAULT_TIMEOUT if timeout is None else timeout,
        fail_on=fail_on,
        shard=shard,
        recipe=recipe,
    )
