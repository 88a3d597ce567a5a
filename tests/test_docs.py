"""Generated docs: on disk and in step with the registry, and buildable by mkdocs in strict mode."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import catalog, cli, docs
from conformance.options import KERAS_BACKENDS

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
        columns = "| Keras 3 across backends |" if contract.area == "agreement" else "| reference | Keras 3 | tf_keras |"
        assert f"**{contract.level}**" in section and columns in section


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
    specs, status, findings, agreement_specs = docs.layer_table(DOCS)
    assert len(specs) >= 65 and len(agreement_specs) >= 10
    generic = [c.id for c in catalog.all_contracts() if c.area == "generic"]
    for backend, table in docs.layer_tables(status).items():
        for spec in specs:
            row = table.get(spec.label)
            assert row is not None and sorted(row) == sorted(generic), f"{spec.label} on {backend}: run `keras-conformance docs --refresh-layers`"
    agreement = [c.id for c in catalog.all_contracts() if c.area == "agreement"]
    for spec in agreement_specs:
        row = status["agreement"]["layers"].get(spec.label)
        assert row is not None and sorted(row) == sorted(agreement), f"{spec.label} across backends: run --refresh-layers"
    assert docs.unconfirmed_failures(status, findings) == [], "a failing cell is a kit bug to fix or a finding to confirm"
    known = {c.id for c in catalog.all_contracts()}
    for finding in findings:  # a confirmed finding names real contracts and shows the behaviour in plain Keras
        assert set(docs.contracts_of(finding)) <= known, finding
        assert not ("backend" in finding and "backends" in finding), finding
        assert set(docs.backends_of(finding)) <= {*KERAS_BACKENDS, "across"}, finding
        assert "import keras" in finding["snippet"] and finding["behaviour"].strip()
        if len(docs.backends_of(finding)) > 1:  # one snippet for several backends: it must not pick one itself
            assert "KERAS_BACKEND" not in finding["snippet"], finding["snippet"]
        if "layer" in finding:  # a finding about a layer explains a failing cell on each of its backends
            for backend in docs.backends_of(finding):
                table = docs.layer_tables(status, across=True)[backend]
                assert all(table[finding["layer"]][c]["status"] == "failed" for c in docs.contracts_of(finding)), (backend, finding["layer"])


def _cell(status):
    return {"status": status, "message": "", "devices": {"default": status}}


def test_one_finding_for_several_backends_confirms_each_of_them_and_no_other():
    status = {"backend": "tensorflow", "layers": {"Dense": {"GENERIC-MIXED-PRECISION": _cell("failed")}},
              "other_backends": {backend: {"layers": {"Dense": {"GENERIC-MIXED-PRECISION": _cell("failed")}}}
                                 for backend in ("jax", "torch")}}
    finding = {"layer": "Dense", "contract": "GENERIC-MIXED-PRECISION", "backends": ["tensorflow", "torch"],
               "behaviour": "b", "snippet": "import keras"}
    assert docs.unconfirmed_failures(status, [finding]) == [("jax", "Dense", "GENERIC-MIXED-PRECISION", "failed")]
    page = docs.keras_layers_page(catalog.all_contracts(), [], status, [finding])
    assert "### Dense: GENERIC-MIXED-PRECISION (Keras 3 on tensorflow, torch)" in page


def test_a_backend_section_says_why_most_of_its_cells_are_not_applicable():
    lacks = {"status": "not_applicable", "message": "the numpy backend does not train (fit raised)\nmore", "devices": {}}
    status = {"backend": "tensorflow", "layers": {},
              "other_backends": {"numpy": {"layers": {name: {"GENERIC-FIT-STEP-FINITE-GRADIENTS": lacks, "GENERIC-TRAINABLE-FALSE-FREEZES": lacks}
                                                      for name in ("Dense", "Conv1D")}}}}
    page = docs.keras_layers_page(catalog.all_contracts(), [], status, [])
    assert "`KERAS_BACKEND=numpy`. 4 cells are n/a because the numpy backend does not train (fit raised)." in page


def test_a_failing_cell_on_another_backend_is_unconfirmed_until_a_finding_for_that_backend_explains_it():
    status = {"backend": "tensorflow", "layers": {"Dense": {"GENERIC-SET-GET-WEIGHTS": _cell("passed")}},
              "other_backends": {"jax": {"layers": {"Dense": {"GENERIC-SET-GET-WEIGHTS": _cell("failed")}}}}}
    on_tensorflow = {"contract": "GENERIC-SET-GET-WEIGHTS", "behaviour": "b", "snippet": "import keras"}
    on_jax_every_layer = {**on_tensorflow, "backend": "jax", "contracts": ["GENERIC-SET-GET-WEIGHTS"]}
    on_jax_other_layer = {**on_jax_every_layer, "layer": "Conv1D"}
    assert docs.unconfirmed_failures(status, [on_tensorflow, on_jax_other_layer]) == [
        ("jax", "Dense", "GENERIC-SET-GET-WEIGHTS", "failed")]
    assert docs.unconfirmed_failures(status, [on_jax_every_layer]) == []
    page = docs.keras_layers_page(catalog.all_contracts(), [], status, [on_jax_every_layer])
    assert "## On jax" in page and "### every layer: GENERIC-SET-GET-WEIGHTS (Keras 3 on jax)" in page


def test_the_findings_page_shows_each_backends_confirmed_findings_with_their_snippet():
    finding = {"backend": "jax", "contract": "ERR-BATCH-SIZE-NEGATIVE", "behaviour": "leaks StopIteration",
               "snippet": "import keras\nkeras.Sequential().fit(batch_size=-1)"}
    status = {"implementations": {"keras[jax]": {"version": "3.15.1", "backend": "jax", "layer": "keras.layers.Dense",
                                                 "contracts": {"ERR-BATCH-SIZE-NEGATIVE": _cell("failed")}}}}
    page = docs.findings_page(catalog.all_contracts(), status, [finding])
    jax_section = page.split("## Keras 3 on JAX\n", 1)[1].split("\n## ", 1)[0]
    assert "jax backend" in jax_section and "[ERR-BATCH-SIZE-NEGATIVE]" in jax_section
    assert "### Confirmed: ERR-BATCH-SIZE-NEGATIVE" in jax_section and "keras.Sequential().fit(batch_size=-1)" in jax_section
    torch_section = page.split("## Keras 3 on torch\n", 1)[1]
    assert "Not run yet." in torch_section and "Confirmed" not in torch_section


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


def test_each_shipped_expected_failure_is_a_confirmed_finding_of_its_backend():
    from conformance import xfail

    _, _, findings, _ = docs.layer_table(DOCS)
    shipped = sorted((ROOT / "expected-failures").glob("keras-*.toml"))
    assert [path.name for path in shipped] == ["keras-across.toml", "keras-jax.toml", "keras-numpy.toml", "keras-openvino.toml", "keras-torch.toml"]
    for path in shipped:
        backend = path.stem.removeprefix("keras-")
        for entry in xfail.ExpectedFailures.load(path).entries:
            assert any(backend in docs.backends_of(f) and entry.contract in docs.contracts_of(f) for f in findings), (
                f"{path.name}: {entry.contract} has no confirmed finding for {backend} in docs/{docs.LAYER_FINDINGS}")


def test_the_index_lists_every_retired_id_with_the_contract_that_does_its_job():
    from conformance import catalog, docs, registry

    page = docs.contracts_index(list(registry.AREAS), catalog.all_contracts())
    for old, new in registry.ALIASES.items():
        assert f"| {old} | [{new}](" in page


def test_confirm_passes_a_report_whose_failures_are_confirmed_findings_and_names_the_others(tmp_path, capsys):
    import json

    finding = next(f for f in docs.layer_table(DOCS)[2] if "layer" in f and "tensorflow" in docs.backends_of(f))
    failed = {"contract_id": docs.contracts_of(finding)[0], "area": "generic", "level": "MUST", "device": "default",
              "impl": f"keras+{finding['layer']}", "status": "failed", "message": "m", "seed": 0, "profile": "quick"}
    report = tmp_path / "layers.json"
    report.write_text(json.dumps({"implementation": {"backend": "tensorflow"}, "results": [failed]}))
    assert cli.main(["docs", "--confirm", str(report)]) == 0
    report.write_text(json.dumps({"implementation": {"backend": "tensorflow"}, "results": [{**failed, "impl": "keras+Unheard"}]}))
    assert cli.main(["docs", "--confirm", str(report)]) == 1
    assert f"Unheard on tensorflow: {failed['contract_id']} failed" in capsys.readouterr().err
