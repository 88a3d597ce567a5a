"""Expected failures: a TOML file that names contracts an implementation is known to fail, and why.

::

    [[expected]]
    contract = "DENSE-ACTIVATION-BY-NAME"     # an id, a shell pattern (GRAD-*) or an area
    reason = "activation strings are not resolved"
    mode = "xfail"                           # xfail (run, failure expected) or skip (do not run)
    impl = "keras*"                          # optional: only for implementations matching this

A listed contract that fails is ``xfailed``; one that passes is ``xpassed``, or ``failed`` in strict
mode, so a fixed bug forces the entry out of the file. An entry whose contract matches no registered
contract id or area is an error (a typo would otherwise silently disable it); one that names a retired id
or area (``registry.ALIASES``) applies to the contracts that took over, with a DeprecatedId warning; an
entry that matched no cell of a run (another implementation, a contract not selected) is reported as unused.
"""

from __future__ import annotations

import difflib
import fnmatch
import tomllib
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from conformance import outcomes
from conformance.registry import ALIASES, AREAS, RETIRED_AREAS, DeprecatedId

MODES = ("xfail", "skip")
FIELDS = ("contract", "reason", "mode", "impl")


class ExpectedFailuresError(ValueError):
    """A malformed expected-failures file; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Expectation:
    """One ``[[expected]]`` entry."""

    contract: str
    reason: str
    mode: str = "xfail"
    impl: str | None = None
    source: str = ""  # "FILE, entry N", for messages
    successors: tuple = ()  # the contracts that took over the retired ids the entry names, if it names any

    def matches_contract(self, contract_id: str, area: str | None = None) -> bool:
        return (fnmatch.fnmatchcase(contract_id, self.contract.upper()) or self.contract.lower() == area
                or contract_id in self.successors)

    def matches_impl(self, impl) -> bool:
        if self.impl is None:
            return True
        names = {impl} if isinstance(impl, str) else {impl.name, impl.label}
        return any(fnmatch.fnmatchcase(name, self.impl) for name in names)


class ExpectedFailures:
    """The parsed entries of one file; the first entry that matches a contract decides it."""

    def __init__(self, entries, strict=False, path=None):
        self.entries = list(entries)
        self.strict = strict
        self.path = str(path) if path is not None else "<expected failures>"
        self.used = set()  # sources of the entries that matched a cell

    @classmethod
    def load(cls, path, strict=False) -> "ExpectedFailures":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ExpectedFailuresError(f"expected-failures file {path}: cannot read it ({error.strerror})") from None
        return cls.parse(text, path=path, strict=strict)

    @classmethod
    def parse(cls, text, path="<expected failures>", strict=False) -> "ExpectedFailures":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ExpectedFailuresError(f"{path}: not valid TOML: {error}") from None
        unknown = sorted(set(data) - {"expected"})
        if unknown:
            raise ExpectedFailuresError(f"{path}: unknown top-level key(s) {', '.join(map(repr, unknown))}; expected [[expected]] tables")
        tables = data.get("expected", [])
        if not isinstance(tables, list):
            raise ExpectedFailuresError(f"{path}: 'expected' must be an array of tables ([[expected]]), got {type(tables).__name__}")
        entries = [_resolved(_entry(path, number, table)) for number, table in enumerate(tables, 1)]
        return cls(entries, strict=strict, path=path)

    def match(self, contract_id: str, impl, area: str | None = None) -> Expectation | None:
        """The first entry for ``contract_id`` on ``impl`` (an Implementation or a name), if any."""
        if area is None:
            area = _area_of(contract_id)
        for entry in self.entries:
            if entry.matches_contract(contract_id, area) and entry.matches_impl(impl):
                self.used.add(entry.source)
                return entry
        return None

    def settle(self, result, entry: Expectation) -> None:
        """Turn ``result`` (an outcomes.Result) into what the entry says it should be reported as."""
        result.extra["expected"] = {"reason": entry.reason, "mode": entry.mode, "source": entry.source}
        if entry.mode == "skip":
            result.status = outcomes.SKIPPED
            result.message = f"expected failure, not run ({entry.source}): {entry.reason}"
        elif result.status == outcomes.FAILED:
            result.status = outcomes.XFAILED
            result.message = f"expected failure ({entry.source}): {entry.reason}\n{result.message}"
        elif result.status == outcomes.PASSED:
            if self.strict:
                result.status = outcomes.FAILED
                result.message = (
                    f"listed as an expected failure ({entry.source}: {entry.reason}) but passed; "
                    "strict mode: remove the entry"
                )
            else:
                result.status = outcomes.XPASSED
                result.message = f"listed as an expected failure ({entry.source}) but passed: {entry.reason}"

    def stale(self) -> list[Expectation]:
        """Entries that matched no cell so far: listed for a contract, implementation or device not run."""
        return [e for e in self.entries if e.source not in self.used]


def _resolved(entry) -> Expectation:
    """``entry``, checked to name a contract; one that names only retired ids matches their successors."""
    from conformance import catalog

    contracts = catalog.all_contracts()
    if any(entry.matches_contract(c.id, c.area) for c in contracts):
        return entry
    retired = catalog.retired_ids(entry.contract)
    if retired:
        successors = tuple(sorted({ALIASES[old] for old in retired}))
        warnings.warn(f"{entry.source}: contract {entry.contract!r} is retired; the entry now applies to "
                      f"{', '.join(successors)}: name them instead", DeprecatedId, stacklevel=2)
        return replace(entry, successors=successors)
    close = difflib.get_close_matches(entry.contract.upper(), [c.id for c in contracts], n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; `keras-conformance list` shows every id"
    raise ExpectedFailuresError(f"{entry.source}: contract {entry.contract!r} matches no contract id or area{hint}")


def _area_of(contract_id):
    from conformance import catalog

    try:
        return catalog.get(contract_id).area
    except KeyError:
        return None


def _entry(path, number, table) -> Expectation:
    where = f"{path}, entry {number}"
    if not isinstance(table, dict):
        raise ExpectedFailuresError(f"{where}: must be a table with contract and reason, got {table!r}")
    unknown = sorted(set(table) - set(FIELDS))
    if unknown:
        raise ExpectedFailuresError(f"{where}: unknown field {unknown[0]!r}; fields are {', '.join(FIELDS)}")
    for name in ("contract", "reason"):
        value = table.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ExpectedFailuresError(f"{where}: field {name!r} must be a non-empty string, got {value!r}")
    mode = table.get("mode", "xfail")
    if mode not in MODES:
        raise ExpectedFailuresError(f"{where}: field 'mode' must be 'xfail' or 'skip', got {mode!r}")
    impl = table.get("impl")
    if impl is not None and (not isinstance(impl, str) or not impl.strip()):
        raise ExpectedFailuresError(f"{where}: field 'impl' must be a non-empty string when given, got {impl!r}")
    contract = table["contract"].strip()
    if contract.lower() not in AREAS + tuple(RETIRED_AREAS) and not any(ch in contract for ch in "*?[") and contract != contract.upper():
        raise ExpectedFailuresError(f"{where}: field 'contract' must be a contract id (upper case), a pattern or an area, got {contract!r}")
    return Expectation(contract, table["reason"].strip(), mode, impl, source=where)


def load(xfail, strict=False) -> ExpectedFailures | None:
    """``xfail`` as ExpectedFailures: a path, an ExpectedFailures (strict applied), or ``None``."""
    if xfail is None:
        return None
    if isinstance(xfail, ExpectedFailures):
        if strict:
            xfail.strict = True
        return xfail
    return ExpectedFailures.load(xfail, strict=strict)
