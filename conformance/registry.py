"""The contract registry: what a contract is, and the one way to declare one.

A contract is a normative statement about Keras-style behaviour plus the check that decides it.
Contracts are declared with the :func:`contract` decorator in ``conformance/contracts/<area>.py``.
This module is a leaf: it imports no contract module. :mod:`conformance.catalog` loads them and is
what the rest of the kit reads (``catalog.all_contracts``, ``get``, ``select``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

MUST = "MUST"
SHOULD = "SHOULD"
LEVELS = (MUST, SHOULD)

# Order in which areas appear in reports and docs: fundamentals first, so a reader meets the
# cause (a broken build) before its consequences (broken training).
AREAS = (
    "generic",
    "lifecycle",
    "shapes",
    "numerics",
    "gradients",
    "sequential",
    "devices",
    "compile",
    "training",
    "distribution",
    "validation",
    "errors",
)

# What a contract presupposes, unless it says otherwise: a layer that cannot be built, or that does not
# hold [kernel, bias], would otherwise fail every later contract for that one reason. The contracts
# named here are the root causes; the cells resting on them are reported as blocked, once each.
BUILDS = "LAYER-EXPLICIT-BUILD"
WEIGHT_LAYOUT = "LAYER-WEIGHT-LAYOUT"
GENERIC_BUILDS = "GENERIC-EXPLICIT-BUILD"
# Areas whose contracts hold for any Keras-style layer, built from its LayerSpec; every other area is
# about Dense-like layers (constructed as Class(units, activation=...)) and the models made of them.
GENERIC_AREAS = ("generic",)
AREA_RESTS_ON = {
    "generic": (GENERIC_BUILDS,),
    "lifecycle": (BUILDS,),
    **{area: (BUILDS, WEIGHT_LAYOUT) for area in AREAS if area not in ("generic", "lifecycle")},
}

_ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")


class NothingSelected(ValueError):
    """A contract pattern that matches no contract id or area."""


class NotApplicable(Exception):
    """Raised by a check when the implementation lacks an optional feature the contract needs."""


@dataclass(frozen=True)
class Contract:
    """One normative statement and the check that decides it.

    Attributes:
        id: stable, readable identifier such as ``DENSE-SHAPE-3D``; never reused for another meaning.
        area: one of :data:`AREAS`.
        level: ``MUST`` (every Keras-style implementation) or ``SHOULD`` (stricter reference behaviour).
        statement: one normative sentence.
        rationale: why the contract exists, and what breaks for users when it does not hold.
        check: ``check(impl, **drawn)``; raises ``AssertionError`` on a violation and
            :class:`NotApplicable` when the implementation lacks a needed optional feature.
        given: hypothesis strategies by argument name; empty for a check that runs once.
        per_device: run once per device of the device matrix.
        requires: ``requires(impl, device)`` gives the reason the contract does not apply to ``impl``
            on ``device`` (an optional feature it lacks), or ``None`` when it applies.
        examples: keyword dicts for ``given`` that every profile runs first (hypothesis ``@example``):
            the cases the contract exists for, so a small profile samples the same space, not a blind one.
        rests_on: ids of the contracts this one presupposes; when one of them does not pass on the
            same device, this cell is reported as blocked by it instead of failing for the same cause.
    """

    id: str
    area: str
    level: str
    statement: str
    rationale: str
    check: Callable = field(repr=False, compare=False)
    given: Mapping = field(default_factory=dict, repr=False, compare=False)
    per_device: bool = False
    requires: Callable | None = field(default=None, repr=False, compare=False)
    examples: tuple = field(default=(), repr=False, compare=False)
    rests_on: tuple = ()

    @property
    def how_checked(self) -> str:
        """The check's docstring: how the statement is decided, for docs and failure messages."""
        doc = (self.check.__doc__ or "").strip()
        return " ".join(doc.split())

    @property
    def is_property(self) -> bool:
        return bool(self.given)

    @property
    def for_any_layer(self) -> bool:
        """Whether the contract holds for any layer (its area is generic), not only Dense-like ones."""
        return self.area in GENERIC_AREAS


_REGISTRY: dict[str, Contract] = {}


def contract(id, *, area, level, statement, rationale, given=None, per_device=False, requires=None, examples=(), rests_on=None):
    """Decorator: register ``check`` under ``id`` and return it unchanged."""
    if not _ID_PATTERN.match(id):
        raise ValueError(f"contract id must look like AREA-WHAT (upper case, dashes), got {id!r}")
    if area not in AREAS:
        raise ValueError(f"contract {id}: area must be one of {AREAS}, got {area!r}")
    if level not in LEVELS:
        raise ValueError(f"contract {id}: level must be one of {LEVELS}, got {level!r}")

    def register(check):
        if id in _REGISTRY:
            raise ValueError(f"contract id {id!r} is registered twice")
        _REGISTRY[id] = Contract(
            id=id,
            area=area,
            level=level,
            statement=statement,
            rationale=rationale,
            check=check,
            given=dict(given or {}),
            per_device=per_device,
            requires=requires,
            examples=tuple(dict(example) for example in examples),
            rests_on=tuple(p for p in (AREA_RESTS_ON.get(area, ()) if rests_on is None else rests_on) if p != id),
        )
        return check

    return register


def registered() -> list[Contract]:
    """The contracts registered so far, ordered by area then id; :mod:`conformance.catalog` registers them all."""
    return sorted(_REGISTRY.values(), key=lambda c: (AREAS.index(c.area), c.id))
