"""The contract registry: what a contract is, and the one way to declare one.

A contract is a normative statement about Keras-style behaviour plus the check that decides it.
Contracts are declared with the :func:`contract` decorator in ``conformance/contracts/<area>.py``: the
module's name is the contract's area. This module is a leaf: it imports no contract module.
:mod:`conformance.catalog` loads them and is what the rest of the kit reads (``catalog.all_contracts``,
``get``, ``select``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from conformance.outcomes import LEVELS, MUST, SHOULD  # noqa: F401  (MUST and SHOULD for the contract modules)

CONTRACTS_PACKAGE = "conformance.contracts"

# Order in which areas appear in reports and docs: fundamentals first, so a reader meets the
# cause (a broken build) before its consequences (broken training).
AREAS = (
    "generic",
    "lifecycle",
    "shapes",
    "numerics",
    "gradients",
    "sequential",
    "compile",
    "training",
    "distribution",
    "validation",
    "errors",
    "agreement",
)

# What a contract presupposes, unless it says otherwise: a layer that cannot be built, or that does not
# hold [kernel, bias], would otherwise fail every later contract for that one reason. The contracts
# named here are the root causes; the cells resting on them are reported as blocked, once each.
BUILDS = "GENERIC-EXPLICIT-BUILD"
WEIGHT_LAYOUT = "LAYER-WEIGHT-LAYOUT"
# Areas whose every example compiles and fits a fresh model (0.3-1 s, mostly graph tracing, against about
# 10 ms for a layer call): their contracts draw a fraction of the profile's examples (Contract.fits).
FIT_AREAS = ("compile", "training", "validation", "errors", "distribution")
# Areas whose contracts hold for any Keras-style layer, built from its LayerSpec; every other area is
# about Dense-like layers (constructed as Class(units, activation=...)) and the models made of them.
GENERIC_AREAS = ("generic", "agreement")
AREA_RESTS_ON = {
    "generic": (BUILDS,),
    "lifecycle": (BUILDS,),
    "agreement": (),  # compares backends; each backend's own cells say whether it builds
    **{area: (BUILDS, WEIGHT_LAYOUT) for area in AREAS if area not in ("generic", "lifecycle", "agreement")},
}

# Retired ids, each with the contract that now does its job: Dense contracts that twinned a generic
# contract, which runs on the Dense spec instead, and contracts split in two. They resolve, with a
# DeprecatedId warning, in catalog.get/select and in expected-failures files until the next release, then go.
ALIASES = {
    "LAYER-UNBUILT-AT-INIT": "GENERIC-UNBUILT-AT-INIT",
    "LAYER-BUILD-ONCE": "GENERIC-BUILD-ONCE",
    "LAYER-EXPLICIT-BUILD": "GENERIC-EXPLICIT-BUILD",
    "LAYER-SET-GET-WEIGHTS": "GENERIC-SET-GET-WEIGHTS",
    "GRAD-EVERY-TRAINABLE-WEIGHT": "GENERIC-FIT-STEP-FINITE-GRADIENTS",
    "GRAD-FROZEN-LAYER": "GENERIC-TRAINABLE-FALSE-FREEZES",
    "GRAD-FINITE-DIFFERENCE": "GENERIC-GRAD-FINITE-DIFFERENCE",
    "DEVICE-PLACEMENT": "GENERIC-DEVICE-PLACEMENT",
    "DEVICE-AGREES-WITH-CPU": "GENERIC-DEVICE-AGREES-WITH-CPU",
    # The config and .keras round trips were SHOULDs that said "same layer back" and "can be rebuilt" at
    # once; the "same layer back" half, which both did, is now a MUST of its own.
    "GENERIC-CONFIG-ROUND-TRIP": "GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER",
    "GENERIC-SAVE-LOAD-ROUND-TRIP": "GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER",
}
# Areas the retirements emptied, with the retired ids they held (resolved through ALIASES).
RETIRED_AREAS = {"devices": ["DEVICE-PLACEMENT", "DEVICE-AGREES-WITH-CPU"]}


class DeprecatedId(DeprecationWarning):
    """A retired contract id or area was named; the message says which contract to name instead."""


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
        fits: how many models every example compiles and fits (seconds each, against milliseconds for a
            layer call; ``True`` is one, as in the fit areas): the contract draws that many times fewer of the
            fit areas' share of the profile's examples (see ``runner.max_examples``).
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
    fits: int = 0

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


def contract(id=None, *, level=None, statement=None, rationale=None, given=None, per_device=False, requires=None,
             examples=(), rests_on=None, fits=False, variants=None):
    """Decorator: register ``check`` as a contract and return it unchanged.

    The area is the name of the module under ``conformance/contracts/`` that defines ``check``. A family
    of contracts that share one check gives ``variants``: one dict per contract, holding its ``id`` and
    any declaration fields of its own (they override the shared ones), while every other key is a value
    passed to ``check`` as a keyword argument and filled into its docstring (``{activation}``).
    """
    shared = dict(id=id, level=level, statement=statement, rationale=rationale, given=given, per_device=per_device,
                  requires=requires, examples=examples, rests_on=rests_on, fits=fits)
    declarations = [({**shared, **{k: v for k, v in variant.items() if k in shared}},
                     {k: v for k, v in variant.items() if k not in shared}) for variant in variants or [{}]]
    for fields, _ in declarations:
        _validate(fields["id"], fields["level"])

    def register(check):
        for fields, values in declarations:
            _register(_bound(check, values) if values else check, **fields)
        return check

    return register


def _validate(id, level):
    if not isinstance(id, str) or not _ID_PATTERN.match(id):
        raise ValueError(f"contract id must look like AREA-WHAT (upper case, dashes), got {id!r}")
    if level not in LEVELS:
        raise ValueError(f"contract {id}: level must be one of {LEVELS}, got {level!r}")


def _area_of(check, contract_id) -> str:
    """The area of a check: the name of its module under ``conformance/contracts/``."""
    package, _, area = check.__module__.rpartition(".")
    if package != CONTRACTS_PACKAGE or area not in AREAS:
        raise ValueError(f"contract {contract_id}: declared in {check.__module__}, expected a module "
                         f"{CONTRACTS_PACKAGE}.<area>, area one of {AREAS}")
    return area


def _bound(check, values):
    """``check`` with ``values`` passed on every call, its docstring filled in with them."""

    @functools.wraps(check)
    def bound(impl, **drawn):
        return check(impl, **values, **drawn)

    bound.__doc__ = (check.__doc__ or "").format(**values)
    return bound


def _register(check, id, level, statement, rationale, given, per_device, requires, examples, rests_on, fits):
    if id in _REGISTRY:
        raise ValueError(f"contract id {id!r} is registered twice")
    area = _area_of(check, id)
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
        rests_on=tuple(p for p in (AREA_RESTS_ON[area] if rests_on is None else rests_on) if p != id),
        fits=int(fits) or int(area in FIT_AREAS),
    )


def registered() -> list[Contract]:
    """The contracts registered so far, ordered by area then id; :mod:`conformance.catalog` registers them all."""
    return sorted(_REGISTRY.values(), key=lambda c: (AREAS.index(c.area), c.id))
