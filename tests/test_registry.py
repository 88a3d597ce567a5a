"""The registry: stable, well-formed ids, complete documentation, and selection by id or area."""

import inspect
import subprocess
import sys

import pytest

from conformance import catalog, registry
from conformance.registry import AREAS, LEVELS, MUST, SHOULD, contract

CONTRACTS = catalog.all_contracts()


def test_ids_are_unique_and_read_as_area_what():
    ids = [c.id for c in CONTRACTS]
    assert len(ids) == len(set(ids))
    malformed = [i for i in ids if not registry._ID_PATTERN.match(i)]
    assert not malformed


@pytest.mark.parametrize("entry", CONTRACTS, ids=lambda c: c.id)
def test_every_contract_is_documented(entry):
    assert entry.area in AREAS and entry.level in LEVELS
    assert entry.statement.strip().endswith("."), f"{entry.id}: the statement should be one full sentence"
    assert entry.rationale.strip().endswith("."), f"{entry.id}: the rationale should say, in sentences, why it exists"
    assert entry.rationale != entry.statement
    assert entry.how_checked, f"{entry.id}: the check has no docstring saying how it decides"


def test_all_contracts_are_ordered_by_area_then_id():
    keys = [(AREAS.index(c.area), c.id) for c in CONTRACTS]
    assert keys == sorted(keys)


def test_select_by_wildcard_is_case_insensitive():
    chosen = [c.id for c in catalog.select(["dense-shape-*"])]
    assert chosen == sorted(chosen) and set(chosen) >= {"DENSE-SHAPE-2D", "DENSE-SHAPE-3D", "DENSE-SHAPE-4D"}
    assert all(i.startswith("DENSE-SHAPE-") for i in chosen)


def test_select_by_area_and_by_id_without_duplicates():
    chosen = catalog.select(["gradients", "GRAD-KERNEL"])
    assert {c.area for c in chosen} == {"gradients"}
    assert [c.id for c in chosen].count("GRAD-KERNEL") == 1
    assert len(chosen) == len([c for c in CONTRACTS if c.area == "gradients"])


def test_select_nothing_means_everything():
    assert catalog.select(None) == CONTRACTS == catalog.select([])


def test_a_pattern_matching_nothing_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"'DENSE-TYPO-\*' matches no contract"):
        catalog.select(["DENSE-SHAPE-2D", "DENSE-TYPO-*"])


def test_get_unknown_id_names_it():
    assert catalog.get("DENSE-SHAPE-2D").area == "shapes"
    with pytest.raises(KeyError, match="NO-SUCH-CONTRACT"):
        catalog.get("NO-SUCH-CONTRACT")


def _check_in(module):
    """A check function that looks as if it were defined in ``module``."""

    def check(impl):
        """Do nothing."""

    check.__module__ = module
    return check


@pytest.mark.parametrize(
    "contract_id, module, level, message",
    [
        ("dense-lowercase", "conformance.contracts.shapes", MUST, "AREA-WHAT"),
        ("NODASH", "conformance.contracts.shapes", MUST, "AREA-WHAT"),
        ("DENSE-NEW-THING", "conformance.contracts.plumbing", MUST, "area one of"),
        ("DENSE-NEW-THING", "tests.test_registry", MUST, "expected a module conformance.contracts.<area>"),
        ("DENSE-NEW-THING", "conformance.contracts.shapes", "MAY", "level must be one of"),
    ],
)
def test_decorator_rejects_malformed_declarations(contract_id, module, level, message):
    with pytest.raises(ValueError, match=message):
        contract(contract_id, level=level, statement="s.", rationale="r.")(_check_in(module))
    assert contract_id not in {c.id for c in catalog.all_contracts()}


def test_decorator_refuses_to_reuse_an_id():
    declare = contract("DENSE-SHAPE-2D", level=MUST, statement="s.", rationale="r.")
    with pytest.raises(ValueError, match="registered twice"):
        declare(_check_in("conformance.contracts.shapes"))
    assert catalog.get("DENSE-SHAPE-2D").statement != "s."


def test_the_area_is_the_module_that_declares_the_contract():
    for entry in CONTRACTS:
        declared_in = inspect.unwrap(entry.check).__module__
        assert declared_in == f"conformance.contracts.{entry.area}", entry.id


def test_variants_register_one_contract_each_with_their_values_passed_to_the_check():
    seen = []

    def check(impl, shape, rank):
        """Rank {rank}."""
        seen.append((impl, shape, rank))

    check.__module__ = "conformance.contracts.shapes"
    contract(level=MUST, rationale="r.", variants=[
        dict(id="DENSE-TEST-VARIANT-2D", statement="Two.", rank=2),
        dict(id="DENSE-TEST-VARIANT-3D", statement="Three.", level=SHOULD, rank=3),
    ])(check)
    try:
        two, three = catalog.get("DENSE-TEST-VARIANT-2D"), catalog.get("DENSE-TEST-VARIANT-3D")
        assert (two.area, two.level, two.statement, two.rationale) == ("shapes", MUST, "Two.", "r.")
        assert (three.level, three.statement, three.how_checked) == (SHOULD, "Three.", "Rank 3.")
        three.check("impl", shape=(1, 2, 3))
        assert seen == [("impl", (1, 2, 3), 3)]
    finally:
        for contract_id in ("DENSE-TEST-VARIANT-2D", "DENSE-TEST-VARIANT-3D"):
            registry._REGISTRY.pop(contract_id, None)


def test_families_keep_their_ids():
    ids = {c.id for c in CONTRACTS}
    assert {f"DENSE-SHAPE-{rank}" for rank in ("2D", "3D", "4D", "ND")} <= ids
    assert {f"DENSE-FORWARD-{a}" for a in ("LINEAR", "RELU", "SIGMOID", "TANH", "SOFTMAX")} <= ids
    assert {f"TRAIN-{o}-MATCHES-ORACLE" for o in ("SGD-MOMENTUM", "RMSPROP", "ADAM")} <= ids
    assert len([i for i in ids if i.startswith("ERR-")]) == 17


def test_a_retired_id_resolves_to_its_successor_with_a_warning():
    with pytest.warns(registry.DeprecatedId, match="LAYER-UNBUILT-AT-INIT is retired: GENERIC-UNBUILT-AT-INIT"):
        assert catalog.get("LAYER-UNBUILT-AT-INIT").id == "GENERIC-UNBUILT-AT-INIT"
    with pytest.warns(registry.DeprecatedId):
        chosen = [c.id for c in catalog.select(["GRAD-FROZEN-LAYER", "DENSE-SHAPE-2D"])]
    assert chosen == ["GENERIC-TRAINABLE-FALSE-FREEZES", "DENSE-SHAPE-2D"]
    with pytest.warns(registry.DeprecatedId):
        assert {c.id for c in catalog.select(["devices"])} == {"GENERIC-DEVICE-PLACEMENT", "GENERIC-DEVICE-AGREES-WITH-CPU"}


def test_every_retired_id_names_a_live_contract_and_is_no_longer_registered():
    ids = {c.id for c in CONTRACTS}
    assert set(registry.ALIASES.values()) <= ids
    assert not set(registry.ALIASES) & ids
    assert {old for olds in registry.RETIRED_AREAS.values() for old in olds} <= set(registry.ALIASES)
    assert not set(registry.RETIRED_AREAS) & set(AREAS)


def test_one_root_cause_blocks_every_dense_contract():
    """GENERIC-EXPLICIT-BUILD is the root of everything; LAYER-WEIGHT-LAYOUT of everything past lifecycle. The
    agreement contracts compare backends, each of whose own cells says whether it builds: they rest on nothing."""
    for entry in CONTRACTS:
        if entry.id in (registry.BUILDS, "GENERIC-UNBUILT-AT-INIT") or entry.area == "agreement":
            assert entry.rests_on == ()
        elif entry.area in ("generic", "lifecycle"):
            assert entry.rests_on[:1] == (registry.BUILDS,), entry.id
        else:
            assert entry.rests_on[:2] == (registry.BUILDS, registry.WEIGHT_LAYOUT), entry.id
    assert all(prerequisite in {c.id for c in CONTRACTS} for c in CONTRACTS for prerequisite in c.rests_on)


def test_kit_core_imports_no_tensorflow():
    """The registry, catalog, pipeline, strategies, oracles, runner and every contract module load without a backend,
    so the same kit runs against Keras 3 on JAX or PyTorch."""
    code = (
        "import sys\n"
        "from conformance import catalog, oracles, pipeline, registry, runner, strategies\n"
        "catalog.all_contracts()\n"
        "loaded = sorted(m for m in ('tensorflow', 'keras', 'tf_keras', 'torch', 'jax') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "", f"the kit core imported {completed.stdout.strip()}"


def test_the_registry_is_a_leaf_that_imports_no_contract_module():
    code = "import sys\nimport conformance.registry\nprint(sorted(m for m in sys.modules if m.startswith('conformance')))\n"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "['conformance', 'conformance.outcomes', 'conformance.registry']"


def test_levels_are_the_ones_of_the_outcome_vocabulary():
    from conformance import outcomes

    assert (registry.MUST, registry.SHOULD, registry.LEVELS) == (outcomes.MUST, outcomes.SHOULD, outcomes.LEVELS)
