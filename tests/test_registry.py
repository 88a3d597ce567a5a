"""The registry: stable, well-formed ids, complete documentation, and selection by id or area."""

import subprocess
import sys

import pytest

from conformance import catalog, registry
from conformance.registry import AREAS, LEVELS, MUST, contract

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


@pytest.mark.parametrize(
    "contract_id, area, level, message",
    [
        ("dense-lowercase", "shapes", MUST, "AREA-WHAT"),
        ("NODASH", "shapes", MUST, "AREA-WHAT"),
        ("DENSE-NEW-THING", "plumbing", MUST, "area must be one of"),
        ("DENSE-NEW-THING", "shapes", "MAY", "level must be one of"),
    ],
)
def test_decorator_rejects_malformed_declarations(contract_id, area, level, message):
    with pytest.raises(ValueError, match=message):
        contract(contract_id, area=area, level=level, statement="s.", rationale="r.")


def test_decorator_refuses_to_reuse_an_id():
    declare = contract("DENSE-SHAPE-2D", area="shapes", level=MUST, statement="s.", rationale="r.")
    with pytest.raises(ValueError, match="registered twice"):
        declare(lambda impl: None)
    assert catalog.get("DENSE-SHAPE-2D").statement != "s."


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
    assert completed.stdout.strip() == "['conformance', 'conformance.registry']"
