"""What a run produces: the status of each cell, the Result record, counts, and the exit status.

Defined once here and read by the runner, the CLI, the plugin, the API, the reports and the docs:
each status with its label, colour and precedence, the levels and the ``any`` column are spelled in
this module only. It imports nothing from hypothesis or any framework, so reports and merges can be
read without them.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field, fields

MUST, SHOULD = "MUST", "SHOULD"
LEVELS = (MUST, SHOULD)


class Status(enum.StrEnum):
    """The outcome of one cell. A member is its plain string ("failed"), so JSON reports and code that
    compares ``result.status == "failed"`` read it as before. Each also says how it is shown: ``label``
    (its matrix cell), ``heading`` (above its failure text), ``style`` (the CSS colours of its cell,
    and of a grid square whose most telling cell it is) and ``meaning`` (its legend entry)."""

    def __new__(cls, value, label, heading, style, meaning):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label, member.heading, member.style, member.meaning = label, heading, style, meaning
        return member

    # the implementation met the contract on every example
    PASSED = "passed", "pass", "PASSED", "color:#1a7f37;background:#dafbe1", "passed"
    # the implementation broke the contract: a counterexample is attached
    FAILED = "failed", "FAIL", "FAILED", "color:#ffffff;background:#cf222e", "the implementation broke the contract"
    # the kit itself (an oracle, a strategy, the harness) raised: not the implementation's failure
    ERROR = "error", "ERROR", "KIT ERROR", "color:#ffffff;background:#8250df", "the kit itself raised"
    # the cell ran past the per-cell time limit
    TIMEOUT = "timeout", "TIME", "TIMEOUT", "color:#ffffff;background:#bc4c00", "over the time limit"
    # a contract this one rests on did not pass, so its verdict would repeat that one
    BLOCKED = "blocked", "blocked", "BLOCKED", "color:#57606a;background:#eaeef2", "a contract it rests on did not pass"
    # not run: the device is absent, or an expected-failures entry says skip
    SKIPPED = "skipped", "skip", "SKIPPED", "color:#57606a;background:#eaeef2", "not run"
    # the implementation lacks an optional feature the contract needs
    NOT_APPLICABLE = ("not_applicable", "n/a", "NOT APPLICABLE", "color:#57606a;background:#f6f8fa",
                      "needs a feature the implementation lacks")
    # failed, as an expected-failures entry says it does
    XFAILED = "xfailed", "xfail", "XFAILED", "color:#6e4c00;background:#fff1c2", "fails, as the expected-failures file says"
    # passed, although an expected-failures entry says it fails
    XPASSED = ("xpassed", "XPASS", "XPASSED", "color:#ffffff;background:#bf8700",
               "passes, though the expected-failures file says it fails")

    @property
    def words(self) -> str:
        """The status in running text: "not applicable"."""
        return self.value.replace("_", " ")

    @property
    def precedence(self) -> int:
        """0 for the most telling status (see :data:`WORST_FIRST`)."""
        return WORST_FIRST.index(self)


STATUSES = tuple(Status)
PASSED, FAILED, ERROR, TIMEOUT, BLOCKED, SKIPPED, NOT_APPLICABLE, XFAILED, XPASSED = STATUSES

# Which status speaks for a group of cells (a contract over devices, an area in a report's grid): the
# one a reader must act on first. A group that mixes passes and a failure is a failure.
WORST_FIRST = (FAILED, TIMEOUT, ERROR, XPASSED, XFAILED, BLOCKED, PASSED, NOT_APPLICABLE, SKIPPED)

# The statuses by which the implementation broke a contract: they fail the run at a level that counts.
FAILING = (FAILED, TIMEOUT)

# The statuses by which a contract the others rest on blocks them: it did not pass, so whatever rests
# on it would only fail again for the same cause.
BLOCKING = (FAILED, ERROR, TIMEOUT, BLOCKED, XFAILED)

DEFAULT_DEVICE = "default"  # label for contracts that do not depend on the device
ANY_COLUMN = "any"  # the column of such contracts in matrices and reports


def worst(statuses) -> Status:
    """The most telling of ``statuses`` (see :data:`WORST_FIRST`)."""
    return min((Status(status) for status in statuses), key=lambda status: status.precedence)


def column(device) -> str:
    """The matrix column of a cell on ``device``: ``any`` for a device-independent contract."""
    return ANY_COLUMN if device == DEFAULT_DEVICE else device

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
    status: Status
    message: str = ""
    counterexample: str = ""
    seed: int | None = None
    profile: str = "default"
    duration: float = 0.0
    examples: int = 0
    reproduce: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.status = Status(self.status)  # a plain string becomes its member; an unknown one raises ValueError

    @classmethod
    def from_record(cls, record: dict) -> Result:
        """The Result of a report's record (see :meth:`to_record`): the fields it holds, the rest in ``extra``."""
        names = [f.name for f in fields(cls) if f.name != "extra"]
        return cls(**{name: record[name] for name in names if name in record},
                   extra={key: value for key, value in record.items() if key not in names})

    def to_record(self) -> dict:
        """The cell as a JSON-ready dict: every field, the status a plain string, then the entries of
        ``extra`` that JSON can hold."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        record.update(status=self.status.value, duration=round(self.duration, 4))
        record.update({key: value for key, value in self.extra.items() if key not in record and _is_json(value)})
        return record


def _is_json(value) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def counts(results) -> dict:
    """Cells per status (keyed by the plain string, as reports print it), every status present."""
    tally = {status.value: 0 for status in STATUSES}
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
    counted = (MUST,) if fail_on == "must" else LEVELS
    return result.status in FAILING and result.level in counted


def findings(results, fail_on="must") -> list:
    """Failed or timed-out cells that do not fail the run: SHOULD findings under ``fail_on="must"``."""
    return [r for r in results if r.status in FAILING and not fails_run(r, fail_on)]


def attention(results, fail_on="must") -> dict:
    """The cells a reader must act on, by kind, in report order: ``failures`` (they fail the run, or
    pass against an expected failure), ``findings`` (failed without failing the run: SHOULD contracts
    unless ``fail_on="should"``) and ``errors`` (the kit itself raised)."""
    return {
        "failures": [r for r in results if fails_run(r, fail_on) or r.status == XPASSED],
        "findings": findings(results, fail_on),
        "errors": [r for r in results if r.status == ERROR],
    }


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
