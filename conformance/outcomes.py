"""What a run produces: the status of each cell, the Result record, counts, and the exit status.

Defined once here and read by the runner, the CLI, the plugin, the API and the reports. This module
imports nothing from hypothesis or any framework, so reports and merges can be read without them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MUST, SHOULD = "MUST", "SHOULD"

PASSED = "passed"  # the implementation met the contract on every example
FAILED = "failed"  # the implementation broke the contract: a counterexample is attached
ERROR = "error"  # the kit itself (an oracle, a strategy, the harness) raised: not the implementation's failure
TIMEOUT = "timeout"  # the cell ran past the per-cell time limit
BLOCKED = "blocked"  # a contract this one rests on did not pass, so its verdict would repeat that one
SKIPPED = "skipped"  # not run: the device is absent, or an expected-failures entry says skip
NOT_APPLICABLE = "not_applicable"  # the implementation lacks an optional feature the contract needs
XFAILED = "xfailed"  # failed, as an expected-failures entry says it does
XPASSED = "xpassed"  # passed, although an expected-failures entry says it fails

STATUSES = (PASSED, FAILED, ERROR, TIMEOUT, BLOCKED, SKIPPED, NOT_APPLICABLE, XFAILED, XPASSED)

# The statuses by which a contract the others rest on blocks them: it did not pass, so whatever rests
# on it would only fail again for the same cause.
BLOCKING = (FAILED, ERROR, TIMEOUT, BLOCKED, XFAILED)

DEFAULT_DEVICE = "default"  # label for contracts that do not depend on the device

# Exit statuses, numbered as pytest numbers its own.
EXIT_OK = 0  # every contract that counts passed
EXIT_FAILED = 1  # a MUST contract (or a SHOULD one, with --fail-on should) failed or timed out
EXIT_INTERRUPTED = 2  # Ctrl-C (SIGINT): the cells that finished are reported
EXIT_INTERNAL_ERROR = 3  # the kit itself raised (an error cell, or a report it could not write)
EXIT_USAGE_ERROR = 4  # bad arguments, an unwritable report path, a module or layer that cannot be loaded
EXIT_NO_CONTRACTS = 5  # the selection left nothing to run

FAIL_ON = ("must", "should")  # which levels fail the run; SHOULD findings are reported either way


@dataclass
class Result:
    """The outcome of one contract on one implementation and device (one cell)."""

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


def counts(results) -> dict:
    """Cells per status, every status present."""
    tally = {status: 0 for status in STATUSES}
    for result in results:
        tally[result.status] += 1
    return tally


def fails_run(result, fail_on="must") -> bool:
    """Whether ``result`` makes the run fail: a failed or timed-out cell of a level that counts.

    A MUST always counts; a SHOULD only with ``fail_on="should"``. A kit error is never the
    implementation's failure (see :func:`exit_status`); a blocked cell is counted through the contract
    that blocked it.
    """
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}")
    counted = (MUST,) if fail_on == "must" else (MUST, SHOULD)
    return result.status in (FAILED, TIMEOUT) and result.level in counted


def findings(results, fail_on="must") -> list:
    """Failed or timed-out cells that do not fail the run: SHOULD findings under ``fail_on="must"``."""
    return [r for r in results if r.status in (FAILED, TIMEOUT) and not fails_run(r, fail_on)]


def exit_status(results, fail_on="must", interrupted=False) -> int:
    """The run's exit status (see the ``EXIT_*`` constants): interrupted, then failed, then kit error."""
    if interrupted:
        return EXIT_INTERRUPTED
    if any(fails_run(r, fail_on) for r in results):
        return EXIT_FAILED
    if any(r.status == ERROR for r in results):
        return EXIT_INTERNAL_ERROR
    return EXIT_OK


def failing_contracts(results, fail_on="must") -> list[str]:
    """Ids of the contracts with at least one cell that fails the run, in report order, each once."""
    return list(dict.fromkeys(r.contract_id for r in results if fails_run(r, fail_on)))
