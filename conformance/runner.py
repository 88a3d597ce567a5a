"""Run one contract on one device (a cell) and record its Result; the rules that order cells.

:func:`run_cell` is the one place a check meets hypothesis: every executor (in this process, or a
worker of :mod:`conformance.parallel`) calls it, and :class:`conformance.pipeline.Session` decides,
schedules and settles the cells around it. A cell never stops the run: every (contract, device) cell
gets a status. Property contracts run under hypothesis with an explicit seed, so every failure can be
replayed with ``--seed``.
"""

from __future__ import annotations

import contextlib
import linecache
import random
import signal
import sys
import threading
import time
import traceback
import unittest
import warnings
import zlib

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from hypothesis.errors import Flaky, HypothesisException

from conformance.outcomes import BLOCKING, DEFAULT_DEVICE, ERROR, FAILED, NOT_APPLICABLE, PASSED, SKIPPED, TIMEOUT, Result
from conformance import agreement, reproduce
from conformance.options import DEFAULT_TIMEOUT, PROFILES
from conformance.registry import Contract, NotApplicable


class CellTimeout(BaseException):
    """Raised in the main thread when a cell runs past its time limit.

    A BaseException, so that neither an implementation's nor hypothesis's ``except Exception`` takes it
    for a failure of the example being run.
    """


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run`; ``results`` holds the cells that finished, in report order."""

    def __init__(self, results):
        super().__init__("interrupted")
        self.results = results


def device_matrix(impl) -> list[str]:
    """The implementation's visible devices, plus ``GPU:0`` (to be skipped) when no GPU is visible."""
    devices = impl.devices()
    if not any(d.startswith("GPU") for d in devices):
        devices = devices + ["GPU:0"]
    return devices


def cells(contracts, devices):
    """(contract, device) pairs in report order."""
    for contract in contracts:
        for device in devices if contract.per_device else [DEFAULT_DEVICE]:
            yield contract, device


def in_dependency_order(contracts) -> list:
    """``contracts`` with every contract after those it rests on (when selected), otherwise in the given order."""
    by_id = {c.id: c for c in contracts}
    ordered, placed = [], set()

    def place(contract):
        if contract.id in placed:
            return
        placed.add(contract.id)
        for prerequisite in contract.rests_on:
            if prerequisite in by_id:
                place(by_id[prerequisite])
        ordered.append(contract)

    for contract in contracts:
        place(contract)
    return ordered


def blocker(contract, device, finished, first_device="CPU:0"):
    """The finished Result that blocks ``contract`` on ``device``, or ``None``.

    ``finished`` maps ``(contract_id, device)`` to Results. A prerequisite blocks when it did not pass
    on the same device, or on the device-independent column; a device-independent cell runs on the
    default device, so it is also blocked by its prerequisite's cell on ``first_device``.
    """
    for key in prerequisite_cells(contract, device, first_device):
        result = finished.get(key)
        if result is not None and result.status in BLOCKING:
            return result
    return None


def prerequisite_cells(contract, device, first_device="CPU:0") -> list:
    """The ``(contract_id, device)`` cells whose outcome can block ``contract`` on ``device``, in the order
    :func:`blocker` looks at them: each prerequisite on the same device, on the device-independent column,
    and (for a device-independent cell, which runs on the default device) on ``first_device``."""
    places = [device, DEFAULT_DEVICE] + ([first_device] if device == DEFAULT_DEVICE else [])
    return [(prerequisite, place) for prerequisite in contract.rests_on for place in places]


def in_shard(contract, shard) -> bool:
    """Whether ``contract``'s cells belong to ``shard`` (``(K, N)``, or ``None`` for every cell).

    Decided by a checksum of the contract id alone, so a contract lands in the same shard whatever
    else is selected, and every device of a contract lands together.
    """
    if shard is None:
        return True
    k, n = shard
    return zlib.crc32(contract.id.encode()) % n == k - 1


def new_seed() -> int:
    return random.SystemRandom().randrange(2**32)


# A contract whose every example fits a model (Contract.fits: the fit areas, and any contract declared
# with fits=True) draws a third of the profile's examples, one that fits N models per example (fits=N) a
# 3N-th, so that a profile costs about the same for every contract. The cases each contract exists for
# are pinned with explicit examples (``@contract(examples=...)``), which every profile runs on top of these.
FIT_EXAMPLE_FRACTION = 3

# Hypothesis shrinks for up to 300 s; a fit-based failure re-runs fit per shrink step, so a few
# findings would dominate a run. Past this many seconds after the first failure, the shrinker stops
# (see _ShrinkBudget) at the smallest failing example found so far, which for the kit's small
# strategies is already minimal in practice.
SHRINK_SECONDS = 30


# Every example that draws starts by seeding the framework (Implementation.seed_example) with a drawn seed, shrunk
# and printed with the rest of the example and set again by its snippet: a layer's random initial weights (and
# Keras's dropout masks) are then part of the example, so a failure that only some of them show replays exactly
# instead of passing "when run again", and the examples explore them (hypothesis alone seeds Python's and numpy's
# generators with one constant for every example, so every example of a Keras layer had the same weights).
FRAMEWORK_SEEDS = st.integers(0, 2**16 - 1)


def max_examples(contract, profile: str) -> int:
    """How many examples ``contract`` draws under ``profile``."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if contract is not None and contract.fits:
        return max(2, PROFILES[profile] // (FIT_EXAMPLE_FRACTION * contract.fits))
    return PROFILES[profile]


def hypothesis_settings(profile: str, contract=None) -> settings:
    return settings(
        max_examples=max_examples(contract, profile),
        # The explain phase re-runs the failing example under a line tracer: ~20 s per failure inside
        # TensorFlow, for "# or any other generated value" comments; the shrunk example is the same.
        phases=[phase for phase in Phase if phase is not Phase.explain],
        deadline=None,  # first calls trace graphs; wall-clock deadlines would only measure noise
        database=None,
        print_blob=False,
        report_multiple_bugs=False,  # one failure per cell, with its own example and snippet
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def reproduce_command(impl, contract_id, seed, profile) -> str:
    layer = "" if impl.label == impl.name else f" --layer {impl.layer_name}"
    spec_options = None if impl.dense_like else impl.spec.command_line()
    if spec_options:  # a spec's layer is constructed and fed as its spec says, not as a Dense
        layer = f" {spec_options}"
    backends = f" --backends {','.join(impl.names)}" if isinstance(impl, agreement.Backends) else ""
    return f"keras-conformance run --impl {impl.name}{backends}{layer} --contracts {contract_id} --seed {seed} --profile {profile}"


def run_cell(contract: Contract, impl, device: str, profile="default", seed=None, timeout=DEFAULT_TIMEOUT) -> Result:
    """Run one contract on one device and return its Result.

    Never raises for anything the contract, the implementation or the kit does; only Ctrl-C
    (KeyboardInterrupt) goes through. ``timeout`` is the cell's time limit in seconds (``None``: no
    limit); it is enforced with SIGALRM, so only in the main thread, and only between Python bytecodes
    (a single framework kernel that never returns cannot be interrupted).
    """
    seed = new_seed() if seed is None else seed
    result = Result(contract.id, contract.area, contract.level, impl.label, device, PASSED, seed=seed, profile=profile)
    started = time.perf_counter()
    drawn = {}  # the last example that ran: after a failure, the shrunk counterexample
    ran = [0]  # examples run, kept when the cell fails
    try:
        if device != DEFAULT_DEVICE and device not in impl.devices():
            result.status, result.message = SKIPPED, f"{device} is not visible to {impl.name} on this machine"
            return result
        if not contract.for_any_layer and not impl.dense_like:
            result.status = NOT_APPLICABLE
            result.message = (f"{impl.label} comes from a layer spec, not a Dense-like class; this contract builds "
                              "Dense layers as Class(units, activation=...)")
            return result
        reason = contract.requires(impl, device) if contract.requires else None
        if reason:
            result.status, result.message = NOT_APPLICABLE, reason
            return result
        with _time_limit(timeout):
            _execute(contract, impl, None if device == DEFAULT_DEVICE else device, profile, seed, drawn, ran)
    except NotApplicable as error:
        result.status, result.message = NOT_APPLICABLE, str(error)
    except CellTimeout as stuck:
        result.status = TIMEOUT
        result.message = (
            f"{contract.id} did not finish within {timeout:g} s on {impl.label} / {device} "
            f"(stopped during example {ran[0]}; raise the limit with --timeout)"
        )
        if stuck.args and stuck.args[0]:
            result.message += "\nit was running:\n" + stuck.args[0]
            result.extra["example"] = drawn
        result.reproduce = reproduce_command(impl, contract.id, seed, profile)
    except Exception as error:  # a failure of any kind is a result, not a crash
        _record_exception(result, error)
        result.reproduce = reproduce_command(impl, contract.id, seed, profile)
        if result.status == FAILED:
            result.extra["example"] = drawn
    finally:
        result.duration = time.perf_counter() - started
        result.examples = ran[0]
    return result


def _record_exception(result, error) -> None:
    """Fill in status and message: FAILED when the implementation broke the contract or raised,
    ERROR when the exception comes from the kit itself."""
    if isinstance(error, Flaky):
        inner = _first_error(error)
        result.status = FAILED
        result.message = (
            "the same example failed once and passed when run again: the implementation is not "
            f"deterministic ({type(inner).__name__}: {inner})".strip()
        )
        return
    if isinstance(error, HypothesisException) or _raised_by_kit(error):
        result.status = ERROR
        result.message = f"kit error, not the implementation's failure: {type(error).__name__}: {error}".strip()
        result.extra["traceback"] = "".join(traceback.format_exception(error)[-6:])
        return
    result.status = FAILED
    result.message = f"{type(error).__name__}: {error}".strip()
    result.counterexample = _falsifying_example(error)


# Packages the kit calls as tools: an exception from them is the kit's unless the implementation's own
# code is on the way (numpy raising inside a framework's call is the framework's).
_NEUTRAL_PACKAGES = frozenset(sys.stdlib_module_names) | {"numpy", "hypothesis", "_pytest", "pytest", "pluggy", "_hypothesis_pytestplugin"}


def _raised_by_kit(error) -> bool:
    """Whether ``error`` was raised by the kit's own code rather than by the implementation.

    Decided at the implementation's call boundary, by the modules the frames run in (their
    ``__name__``, not their file paths): between the innermost frame of the kit (``conformance.*``) and
    the place the exception was raised, either some frame belongs to the implementation (anything that
    is neither the kit nor a neutral tool: the framework, the user's layer, its helpers), and the
    exception is the implementation's, or none does, and the kit raised it. A violation
    (AssertionError from ``require``) is never the kit's.
    """
    if isinstance(error, AssertionError):
        return False
    packages = [_package_of(frame) for frame, _ in traceback.walk_tb(error.__traceback__)]
    kit = [index for index, package in enumerate(packages) if package == "conformance"]
    if not kit:
        return False
    return all(package in _NEUTRAL_PACKAGES for package in packages[kit[-1] + 1:])


def _package_of(frame) -> str:
    """The top-level package of the module ``frame`` runs in (``""`` for code with no module)."""
    return (frame.f_globals.get("__name__") or "").partition(".")[0]


def _innermost_lines(frame, count=3) -> str:
    """The innermost ``count`` frames from ``frame`` outward, outside the standard library, one line each."""
    chosen = [f for f, _ in traceback.walk_stack(frame) if _package_of(f) not in sys.stdlib_module_names][:count]
    return "\n".join(f"  {f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}: "
                     f"{linecache.getline(f.f_code.co_filename, f.f_lineno).strip()}" for f in reversed(chosen))


@contextlib.contextmanager
def _time_limit(seconds):
    """Raise :class:`CellTimeout` in the body after ``seconds`` (main thread only; else no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise CellTimeout(_innermost_lines(frame))

    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:  # someone else's alarm (pytest-timeout, say) was pending: give it back
            signal.setitimer(signal.ITIMER_REAL, max(previous_delay - (time.monotonic() - started), 1e-3))


class _ShrinkBudget:
    """Bounds shrinking by time with hypothesis's public API only.

    Once ``seconds`` have passed since the first failure, the example that ends next stops hypothesis (a
    :class:`_ShrinkStopped`, which it lets through at once like any skip) and the cell reports the last
    failure seen, with the example that raised it: the shrinker runs only candidates smaller than its
    best, so that is the smallest failing example so far. The stop comes at the end of an example, never
    before its draws: an example that draws inside (``st.data()``) cannot be told from another before it
    has drawn, and one cut short would make hypothesis call its own data generation flaky.
    """

    def __init__(self, seconds):
        self.seconds = seconds
        self.first_failure = None
        self.last = None  # (error, drawn) of the last failure

    def check_time(self) -> None:
        if self.first_failure is not None and time.monotonic() - self.first_failure > self.seconds:
            raise _ShrinkStopped()

    def record_failure(self, error, drawn):
        if self.first_failure is None:
            self.first_failure = time.monotonic()
        self.last = (error, dict(drawn))

    def failure(self, name):
        """The last failure, its example written as hypothesis writes a failing test case."""
        error, drawn = self.last
        lines = [f"Failing test case: {name}("] + [
            f"    {key}={'data(...)' if isinstance(value, reproduce.DrawLog) else repr(value)}," for key, value in drawn.items()]
        lines.append(")")
        for log in (value for value in drawn.values() if isinstance(value, reproduce.DrawLog)):
            lines += [f"Draw {i}{f' ({label})' if label else ''}: {value!r}"
                      for i, (label, value) in enumerate(zip(log.labels, log.values), start=1)]
        lines.append(f"(shrinking stopped {self.seconds:g} s after the first failure, at the smallest failing example so far)")
        error.add_note("\n".join(lines))
        return error, drawn


class _ShrinkStopped(unittest.SkipTest):
    """The shrink budget is spent: raised inside an example, passed through by hypothesis like a skip."""


def _execute(contract, impl, device, profile, seed, last_drawn, ran) -> None:
    budget = _ShrinkBudget(SHRINK_SECONDS)
    given, examples = contract.given, contract.examples
    seeds = hasattr(impl, "seed_example") and bool(given)  # a comparison of backends seeds each backend's worker
    if seeds:
        given = {**given, reproduce.FRAMEWORK_SEED: FRAMEWORK_SEEDS}
        examples = tuple({**example, reproduce.FRAMEWORK_SEED: 0} for example in examples)

    def check(**drawn):
        drawn = reproduce.recording(drawn)  # st.data() draws are kept, so the example can be written down
        ran[0] += 1
        last_drawn.clear()
        last_drawn.update(drawn)
        arguments = dict(drawn)
        if seeds:
            impl.seed_example(arguments.pop(reproduce.FRAMEWORK_SEED))
        # Frameworks warn about legitimate drawn edge cases (softmax over one unit); the contract,
        # not the warning, decides.
        try:
            with impl.on_device(device), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                contract.check(impl, **arguments)
        except NotApplicable as error:
            raise _Final(error) from None
        except Exception as error:
            budget.record_failure(error, drawn)
            budget.check_time()
            raise
        budget.check_time()

    check.__name__ = contract.id.replace("-", "_").lower()
    try:
        drive(check, given, profile, seed, examples, contract)
    except _Final as stop:
        raise stop.error from None
    except _ShrinkStopped:
        error, drawn = budget.failure(check.__name__)
        last_drawn.clear()
        last_drawn.update(drawn)
        raise error from None


class _Final(unittest.SkipTest):
    """A NotApplicable on its way out of hypothesis, which re-raises a skip at once instead of shrinking
    it as a failure: that a contract does not apply is final, whatever example found it."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


def drive(check, strategies, profile, seed, examples=(), contract=None) -> None:
    """Call ``check(**drawn)`` under hypothesis with ``strategies`` (by argument name): the pinned
    ``examples`` first, then the profile's draws for ``contract``, from ``seed``; once, with no
    arguments, when there are no strategies. The one place the kit wires hypothesis."""
    if not strategies:
        check()
        return
    test = given(**strategies)(check)
    for example in reversed(examples):  # decorators apply inside out; keep the declared order
        test = hypothesis.example(**example)(test)
    hypothesis.seed(seed)(hypothesis_settings(profile, contract)(test))()


def _first_error(error):
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _falsifying_example(error) -> str:
    notes = [n for n in getattr(error, "__notes__", []) if not n.startswith("You can reproduce")]
    return "\n".join(notes).strip()
