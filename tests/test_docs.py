"""Generated docs: on disk and in step with the registry, and buildable by mkdocs in strict mode."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import catalog, cli, docs

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"


def test_generated_pages_on_disk_match_the_registry():
    pages = docs.generate(docs.load_status(DOCS / "status.json"), docs.layer_table(DOCS))
    stale = docs.stale_pages(DOCS, pages)
    assert stale == [], f"stale generated docs {stale}: run `keras-conformance docs`"


def test_every_contract_has_its_section_and_status_row():
    pages = docs.generate(docs.load_status(DOCS / "status.json"))
    for contract in catalog.all_contracts():
        page = pages[f"contracts/{contract.area}.md"]
        section = page.split(f"## {contract.id}\n", 1)[1].split("\n## ", 1)[0]
        assert contract.statement in section and contract.how_checked in section
        assert f"**{contract.level}**" in section and "| reference | Keras 3 | tf_keras |" in section


def test_check_fails_on_an_edited_page_and_passes_after_regenerating(tmp_path, capsys):
    out = tmp_path / "docs"
    shutil.copytree(DOCS, out)
    page = out / "contracts" / "shapes.md"
    page.write_text(page.read_text().replace("MUST", "SHOULD", 1))
    assert cli.main(["docs", "--out", str(out), "--check"]) == 1
    assert str(page) in capsys.readouterr().err
    assert cli.main(["docs", "--out", str(out)]) == 0
    assert cli.main(["docs", "--out", str(out), "--check"]) == 0


def test_the_keras_layer_table_covers_every_spec_and_holds_only_confirmed_findings():
    specs, status, findings = docs.layer_table(DOCS)
    assert len(specs) >= 30
    generic = [c.id for c in catalog.all_contracts() if c.for_any_layer]
    for spec in specs:
        row = status["layers"].get(spec.label)
        assert row is not None and sorted(row) == sorted(generic), f"{spec.label}: run `keras-conformance docs --refresh-layers`"
    assert docs.unconfirmed_failures(status, findings) == [], "a failing cell is a kit bug to fix or a finding to confirm"
    for finding in findings:  # a confirmed finding names a real cell and shows the behaviour in plain Keras
        assert status["layers"][finding["layer"]][finding["contract"]]["status"] == "failed"
        assert "import keras" in finding["snippet"] and finding["behaviour"].strip()


def test_check_outside_the_repository_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["docs", "--check"]) == 4
    err = capsys.readouterr().err
    assert f"no generated pages under {tmp_path / 'docs'}" in err and "stale" not in err


def test_mkdocs_nav_lists_every_generated_page():
    nav = (ROOT / "mkdocs.yml").read_text()
    for name in docs.generate({"implementations": {}}):
        if name != "findings.md":
            assert f"- {name}" in nav, f"mkdocs.yml nav lacks {name}"


@pytest.mark.skipif(shutil.which("mkdocs") is None and not Path(sys.executable).with_name("mkdocs").exists(), reason="mkdocs is not installed (pip install 'keras-conformance[docs]')")
def test_docs_build_with_mkdocs_strict(tmp_path):
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).with_name("mkdocs"))
    build = subprocess.run([mkdocs, "build", "--strict", "-q", "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    assert (tmp_path / "site" / "contracts" / "shapes" / "index.html").exists()
