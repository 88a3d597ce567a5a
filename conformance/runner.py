"""Run contracts against an implementation on every device and record one Result per cell.

The runner never stops at the first failure: every (contract, device) cell gets a status, so a
report shows the whole picture. Property contracts run under hypothesis with an explicit seed,
so every failure can be replayed with ``--seed``.
"""

from __future__ import annotations

import contextlib
import random
import time
import warnings
from dataclasses import asdict, dataclass, field

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.internal.conjecture import engine as conjecture_engine

from conformance.registry import MUST, Contract, NotApplicable

PROFILES = {"quick": 6, "default": 25, "thorough": 200}  # hypothesis max_examples per cell
PASSED, FAILED, SKIPPED, NOT_APPLICABLE, XFAILED, XPASSED = (
    "passed",
    "failed",
    "skipped",
    "not_applicable",
    "xfailed",
    "xpassed",
)
STATUSES = (PASSED, FAILED, SKIPPED, NOT_APPLICABLE, XFAILED, XPASSED)
DEFAULT_DEVICE = "default"  # label for contracts that do not depend on the device


@dataclass
class Result:
    """The outcome of one contract on one implementation and device."""

    contract_id: str
    area: str
    level: str
    impl: str
    device: str
    status: str
    message: str = ""
    counterexample: str = ""
    seed: int | None = None
    profile: str = "default"
    duration: float = 0.0
    examples: int = 0
    reproduce: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


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


def new_seed() -> int:
    return random.SystemRandom().randrange(2**32)


# Every example of these areas compiles and fits a fresh model (0.3-1 s, mostly graph tracing),
# against about 10 ms for a layer call; they draw a third of the profile's examples so that a
# profile costs about the same for every area. Their examples are small data sets that already
# vary shapes, batch sizes and epochs, so fewer draws still cover the partial-batch cases.
FIT_AREAS = ("compile", "training", "validation", "errors")
FIT_EXAMPLE_FRACTION = 3

# Hypothesis shrinks for up to 300 s by default; a fit-based failure re-runs fit per shrink step,
# so a few findings would dominate a run. 30 s still reaches a minimal example for the kit's
# small strategies (seen on every mutant in tests/mutants).
MAX_SHRINKING_SECONDS = 30


def max_examples(contract, profile: str) -> int:
    """How many examples ``contract`` draws under ``profile``."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if contract is not None and contract.area in FIT_AREAS:
        return max(2, PROFILES[profile] // FIT_EXAMPLE_FRACTION)
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
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def reproduce_command(impl, contract_id, seed, profile) -> str:
    layer = "" if impl.label == impl.name else f" --layer {impl.layer_name}"
    return f"keras-conformance run --impl {impl.name}{layer} --contracts {contract_id} --seed {seed} --profile {profile}"


def run_cell(contract: Contract, impl, device: str, profile="default", seed=None) -> Result:
    """Run one contract on one device and return its Result; never raises for a contract failure."""
    seed = new_seed() if seed is None else seed
    result = Result(contract.id, contract.area, contract.level, impl.label, device, PASSED, seed=seed, profile=profile)
    started = time.perf_counter()
    drawn = {}  # the last example hypothesis drew: after a failure, the shrunk counterexample
    try:
        if device != DEFAULT_DEVICE and device not in impl.devices():
            result.status, result.message = SKIPPED, f"{device} is not visible to {impl.name} on this machine"
            return result
        reason = contract.requires(impl, device) if contract.requires else None
        if reason:
            result.status, result.message = NOT_APPLICABLE, reason
            return result
        result.examples = _execute(contract, impl, None if device == DEFAULT_DEVICE else device, profile, seed, drawn)
    except NotApplicable as error:
        result.status, result.message = NOT_APPLICABLE, str(error)
    except Exception as error:  # a contract failure of any kind is a result, not a crash
        error = _first_error(error)
        result.status = FAILED
        result.message = f"{type(error).__name__}: {error}".strip()
        result.counterexample = _falsifying_example(error)
        result.reproduce = reproduce_command(impl, contract.id, seed, profile)
        result.extra["example"] = drawn
    finally:
        result.duration = time.perf_counter() - started
    return result


def _execute(contract, impl, device, profile, seed, last_drawn) -> int:
    examples = 0

    def check(**drawn):
        nonlocal examples
        examples += 1
        last_drawn.clear()
        last_drawn.update(drawn)
        # Frameworks warn about legitimate drawn edge cases (softmax over one unit); the contract,
        # not the warning, decides.
        with impl.on_device(device), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            contract.check(impl, **drawn)

    if not contract.given:
        check()
        return examples
    check.__name__ = contract.id.replace("-", "_").lower()
    test = hypothesis.seed(seed)(hypothesis_settings(profile, contract)(given(**contract.given)(check)))
    with _shrinking_limited_to(MAX_SHRINKING_SECONDS):
        test()
    return examples


@contextlib.contextmanager
def _shrinking_limited_to(seconds):
    """Lower hypothesis's shrink time limit (a module constant, no public setting) while running."""
    previous = getattr(conjecture_engine, "MAX_SHRINKING_SECONDS", None)
    if previous is not None:
        conjecture_engine.MAX_SHRINKING_SECONDS = min(previous, seconds)
    try:
        yield
    finally:
        if previous is not None:
            conjecture_engine.MAX_SHRINKING_SECONDS = previous


def _first_error(error):
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _falsifying_example(error) -> str:
    notes = [n for n in getattr(error, "__notes__", []) if not n.startswith("You can reproduce")]
    return "\n".join(notes).strip()


def run(impl, contracts, profile="default", seed=None, devices=None, on_result=None, expected=None) -> list[Result]:
    """Run ``contracts`` on ``impl`` for every device in ``devices`` (the device matrix by default).

    ``expected`` (a :class:`conformance.xfail.ExpectedFailures`) marks known failures: its ``skip``
    entries are not run, its ``xfail`` entries turn failures into ``xfailed`` and passes into ``xpassed``.
    """
    seed = new_seed() if seed is None else seed
    devices = device_matrix(impl) if devices is None else devices
    results = []
    for contract, device in cells(contracts, devices):
        entry = expected.match(contract.id, impl) if expected is not None else None
        if entry is not None and entry.mode == "skip":
            result = Result(contract.id, contract.area, contract.level, impl.label, device, SKIPPED, seed=seed, profile=profile)
        else:
            result = run_cell(contract, impl, device, profile, seed)
        if entry is not None:
            expected.settle(result, entry)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def must_failures(results) -> list[Result]:
    return [r for r in results if r.level == MUST and r.status == FAILED]


def counts(results) -> dict:
    tally = {status: 0 for status in STATUSES}
    for result in results:
        tally[result.status] += 1
    return tally
