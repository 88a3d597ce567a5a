"""The catalog: every contract, loaded once, and the ways to pick some.

Importing this module imports every area module of :mod:`conformance.contracts`, which registers their
contracts (see :mod:`conformance.registry`); tests, reports, docs and the pipeline read contracts here.
A retired id or area (``registry.ALIASES``, ``registry.RETIRED_AREAS``) still resolves, to the contracts
that took over its job, with a :class:`~conformance.registry.DeprecatedId` warning.
"""

from __future__ import annotations

import fnmatch
import warnings

import conformance.contracts  # noqa: F401  (registers every area module)
from conformance.registry import ALIASES, AREAS, RETIRED_AREAS, Contract, DeprecatedId, NothingSelected, registered


def all_contracts() -> list[Contract]:
    """Every contract, ordered by area then id."""
    return registered()


def get(contract_id: str) -> Contract:
    """The contract with ``contract_id`` (or the one a retired id now names); KeyError naming it when there is none."""
    for contract in registered():
        if contract.id == contract_id:
            return contract
    if contract_id in ALIASES:
        return get(_successor(contract_id))
    raise KeyError(f"no contract with id {contract_id!r}")


def select(patterns=None) -> list[Contract]:
    """Contracts whose id or area matches any of ``patterns`` (shell wildcards, case-insensitive).

    ``None`` or an empty list selects everything. A pattern that matches nothing raises
    :class:`~conformance.registry.NothingSelected`, so a typo never turns into a silently empty run.
    """
    contracts = all_contracts()
    if not patterns:
        return contracts
    chosen = []
    for pattern in patterns:
        pattern_upper = pattern.upper()
        matched = [c for c in contracts if fnmatch.fnmatchcase(c.id, pattern_upper) or c.area == pattern.lower()]
        if not matched:
            successors = {_successor(old) for old in retired_ids(pattern)}
            matched = [c for c in contracts if c.id in successors]
        if not matched:
            raise NothingSelected(f"contracts: pattern {pattern!r} matches no contract id or area (areas: {', '.join(AREAS)})")
        chosen.extend(c for c in matched if c not in chosen)
    return [c for c in contracts if c in chosen]


def retired_ids(pattern) -> list[str]:
    """The retired ids that ``pattern`` (an id, a shell pattern or an area, any case) names."""
    return RETIRED_AREAS.get(pattern.lower()) or [old for old in ALIASES if fnmatch.fnmatchcase(old, pattern.upper())]


def _successor(retired_id) -> str:
    successor = ALIASES[retired_id]
    warnings.warn(f"contract id {retired_id} is retired: {successor} does its job (name {successor} instead; "
                  "the old id stops resolving in the next release)", DeprecatedId, stacklevel=3)
    return successor
