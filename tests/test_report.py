"""Reports: JSON fields and honest score, JUnit XML, atomic writes, and the HTML page as Chromium shows it."""

import html
import json
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser

import numpy as np
import pytest

from conformance import catalog, outcomes, report, reproduce, runner
from conformance.strategies import DenseCase

IMPL_INFO = {"name": "keras", "module": "keras", "version": "3.15.1", "backend": "tensorflow", "layer": "mylayers:SimpleDense"}
DEVICES = ["CPU:0", "GPU:0"]


def _results():
    failed = runner.Result("GRAD-KERNEL", "gradients", "MUST", "keras", "CPU:0", outcomes.FAILED, message="AssertionError: kernel gradient off", seed=7)
    failed.extra["example"] = {"case": DenseCase(np.array([[0.5]], np.float32), 1, "relu", np.array([[1.0]], np.float32), np.array([0.0], np.float32))}
    failed.extra["snippet"] = "import numpy as np\n"
    expected_skip = runner.Result("DENSE-ACTIVATION-BY-NAME", "errors", "SHOULD", "keras", "default", outcomes.SKIPPED, seed=7)
    expected_skip.extra["expected"] = {"reason": "known", "mode": "skip", "source": "x.toml, entry 1"}
    return [
        runner.Result("DENSE-SHAPE-2D", "shapes", "MUST", "keras", "default", outcomes.PASSED, seed=7),
        runner.Result("GRAD-KERNEL", "gradients", "MUST", "keras", "GPU:0", outcomes.SKIPPED, message="GPU:0 is not visible", seed=7),
        failed,
        runner.Result("DENSE-FLOAT64", "numerics", "SHOULD", "keras", "default", outcomes.NOT_APPLICABLE, message="no dtype", seed=7),
        expected_skip,
    ]


def _report():
    return report.build(_results(), IMPL_INFO, DEVICES, "quick", 7, duration=1.5)


def test_json_report_carries_versions_counts_and_an_uninflated_score(tmp_path):
    path = report.write_json(tmp_path / "r.json", _report())
    data = json.loads(path.read_text())
    assert data["schema_version"] == report.SCHEMA_VERSION
    assert data["kit"]["version"] and data["implementation"]["version"] == "3.15.1"
    assert data["implementation"]["backend"] == "tensorflow" and data["devices"] == DEVICES
    assert (data["profile"], data["seed"]) == ("quick", 7)
    assert data["counts"] == {"passed": 1, "failed": 1, "error": 0, "timeout": 0, "blocked": 0, "skipped": 2,
                              "not_applicable": 1, "xfailed": 0, "xpassed": 0}
    assert (data["interrupted"], data["fail_on"], data["exit_status"]) == (False, "must", 1)
    # scored: the pass, the failure and the expected-failure skip; not the absent GPU, not the n/a
    assert data["score"] == pytest.approx(1 / 3)
    assert data["must_failures"] == ["GRAD-KERNEL"]
    failed = [r for r in data["results"] if r["status"] == "failed"][0]
    assert failed["example"]["case"].startswith("DenseCase(x=np.array([[0.5]], dtype='float32')")


def test_score_is_none_when_nothing_was_scored():
    skipped = runner.Result("GRAD-KERNEL", "gradients", "MUST", "keras", "GPU:0", outcomes.SKIPPED)
    assert report.score([skipped]) is None


def test_junit_report_has_one_testcase_per_cell():
    suite = ET.fromstring(report.junit_xml(_report()).encode())
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases][:3] == ["DENSE-SHAPE-2D[keras-any]", "GRAD-KERNEL[keras-GPU:0]", "GRAD-KERNEL[keras-CPU:0]"]
    assert suite.get("failures") == "1" and cases[2].find("failure").get("message") == "AssertionError: kernel gradient off"
    assert cases[3].find("skipped").get("message") == "not applicable: no dtype"


def test_junit_agrees_with_the_exit_status_on_should_findings_errors_and_timeouts():
    finding = runner.Result("DENSE-ACTIVATION-BY-NAME", "numerics", "SHOULD", "keras", "default", outcomes.FAILED, message="AssertionError: no")
    error = runner.Result("GRAD-BIAS", "gradients", "MUST", "keras", "CPU:0", outcomes.ERROR, message="kit error, not the implementation's failure: KeyError")
    timeout = runner.Result("GRAD-INPUT", "gradients", "MUST", "keras", "CPU:0", outcomes.TIMEOUT, message="did not finish")
    passed = runner.Result("DENSE-SHAPE-2D", "shapes", "MUST", "keras", "default", outcomes.PASSED)
    for fail_on, failures in (("must", 1), ("should", 2)):
        record = report.build([finding, error, timeout, passed], IMPL_INFO, DEVICES, "quick", 7, fail_on=fail_on)
        suite = ET.fromstring(report.junit_xml(record).encode())
        assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (str(failures), "1", str(2 - failures))
        assert record["exit_status"] == 1
    only_finding = report.build([finding, passed], IMPL_INFO, DEVICES, "quick", 7)
    suite = ET.fromstring(report.junit_xml(only_finding).encode())
    assert only_finding["exit_status"] == 0 and suite.get("failures") == "0"
    assert suite.findall("testcase")[0].find("skipped").get("message").startswith("SHOULD finding, does not fail the run")


def test_interrupted_write_leaves_the_old_file_and_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    target.write_text("previous report\n")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report.write_json(target, _report())
    assert target.read_text() == "previous report\n"
    assert os.listdir(tmp_path) == ["r.json"]


def test_literal_rebuilds_the_drawn_example_bit_for_bit():
    x = np.array([[1.1754944e-38, -0.1, 2.0]], np.float32)
    example = (DenseCase(x, 2, "tanh", np.full((3, 2), 1 / 3, np.float32), np.zeros(2, np.float32)), np.float32(0.25))
    imports = set()
    source = reproduce.literal(example, imports)
    namespace = {}
    exec("\n".join(sorted(imports)), namespace)
    rebuilt = eval(source, namespace)
    assert rebuilt[0].x.tobytes() == x.tobytes() and rebuilt[0].kernel.dtype == np.float32
    assert rebuilt[0].units == 2 and rebuilt[1] == np.float32(0.25)


def test_snippets_number_their_steps_only_when_there_are_several():
    dense = runner.Result("DENSE-FORWARD-RELU", "numerics", "MUST", "keras", "CPU:0", outcomes.FAILED, seed=7)
    dense.extra["example"] = _results()[2].extra["example"]
    two_steps = reproduce.snippet_for(dense, "keras", None)
    assert "# 1. The case in plain keras" in two_steps and "# 2. The contract's own check" in two_steps
    other = runner.Result("TRAIN-HISTORY-ONE-FLOAT-PER-EPOCH", "training", "MUST", "keras", "default", outcomes.FAILED, seed=7)
    other.extra["example"] = {"epochs": 2}
    one_step = reproduce.snippet_for(other, "keras", None)
    assert "# The contract's own check" in one_step and "# 1." not in one_step and "# 2." not in one_step


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def _png_pixels(data):
    """RGB(A) pixel rows of an 8-bit non-interlaced PNG (what Chromium writes), without Pillow."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], None
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and interlace == 0 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(b"".join(chunks)), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(line)
        previous = line
    return {tuple(row[i : i + 3]) for row in rows for i in range(0, stride, channels)}


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)")
def test_html_report_renders_the_matrix_in_headless_chromium(tmp_path):
    page = report.write_html(tmp_path / "r.html", _report())
    url = page.resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    start = dom.index('<table id="matrix">')
    table = ET.fromstring(dom[start : dom.index("</table>", start) + len("</table>")])
    rows = {tr.findtext("td/a"): [td.text for td in tr.findall("td")[3:]] for tr in table.iter("tr") if tr.find("td") is not None}
    assert rows["GRAD-KERNEL"] == [None, "FAIL", "skip"]  # columns: any, CPU:0, GPU:0
    assert rows["DENSE-SHAPE-2D"] == ["pass", None, None]
    assert "33.3%" in dom and "kernel gradient off" in dom
    screenshot = tmp_path / "r.png"
    subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--screenshot={screenshot}", "--window-size=1000,700", url], capture_output=True, timeout=120)
    colours = _png_pixels(screenshot.read_bytes())
    assert (0xCF, 0x22, 0x2E) in colours, "no red FAIL cell on the rendered page"
    assert (0xDA, 0xFB, 0xE1) in colours, "no green pass cell on the rendered page"


HOSTILE = """<script>alert("x")</script> & 'quoted'"""


def _attention_report():
    """A MUST failure and a pass in one area and column, a SHOULD finding and a kit error, with markup
    in every text a run can carry."""
    contracts = catalog.all_contracts()
    must = next(c for c in contracts if c.level == outcomes.MUST)
    passing = next(c for c in contracts if c.area == must.area and c is not must)
    should = next(c for c in contracts if c.level == outcomes.SHOULD)
    failure = outcomes.Result(must.id, must.area, "MUST", "keras", "CPU:0", outcomes.FAILED, message="kernel off", seed=7,
                            counterexample="case=DenseCase(units=1)", reproduce=f"keras-conformance run --contracts {must.id} --seed 7")
    finding = outcomes.Result(should.id, should.area, "SHOULD", "keras", "default", outcomes.FAILED, message=f"finding {HOSTILE}",
                            counterexample=f"activation={HOSTILE}", seed=7, reproduce=f"keras-conformance run --contracts {should.id}")
    finding.extra["snippet"] = f"layer = keras.layers.Dense(1, activation={HOSTILE!r})\n"
    error = outcomes.Result(passing.id, passing.area, "MUST", "keras", "GPU:0", outcomes.ERROR, message="kit error, not the implementation's failure")
    error.extra["traceback"] = f"Traceback (most recent call last):\nKeyError: {HOSTILE}"
    results = [failure, outcomes.Result(passing.id, passing.area, "MUST", "keras", "CPU:0", outcomes.PASSED, seed=7), finding, error]
    record = report.build(results, {**IMPL_INFO, "name": HOSTILE}, DEVICES, "quick", 7)
    return record, must, should


class _Page(HTMLParser):
    """The tags and the text of a page, as a browser reads them."""

    def __init__(self, page):
        super().__init__()
        self.tags, self.text = [], []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_html_report_escapes_every_text_a_run_carries():
    record, _, _ = _attention_report()
    page = _Page(report.html_page(record))
    assert "script" not in page.tags
    text = "".join(page.text)
    for shown in (f"finding {HOSTILE}", f"activation={HOSTILE}", f"KeyError: {HOSTILE}", f"keras-conformance 0.1.0: {HOSTILE}"):
        assert shown.replace("0.1.0", report.__version__) in text


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)")
def test_html_report_opens_with_the_worst_status_per_area_then_what_to_act_on(tmp_path):
    record, must, should = _attention_report()
    page = report.write_html(tmp_path / "attention.html", record)
    url = page.resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    positions = [dom.index(f'id="{name}"') for name in ("grid", "failures", "findings", "errors", "matrix")]
    assert positions == sorted(positions), "the page reads: grid, failures, findings, kit errors, then the matrix"
    grid = dom[positions[0] : dom.index("</table>", positions[0])]
    row = re.search(rf"<tr><th>{must.area}</th>(.*?)</tr>", grid, re.S).group(1)
    squares = re.findall(r'<td class="([^"]*)"[^>]*>(.*?)</td>', row)  # columns: any, CPU:0, GPU:0
    assert squares[1] == ("cell s-failed", "1 FAIL<br>1 pass"), "a square mixing pass and FAIL shows FAIL's colour"
    assert squares[2] == ("cell s-error", "1 ERROR")
    findings = dom[positions[2] : dom.index("</div>", positions[2])]
    assert should.statement in html.unescape(findings)
    for shown in (f"activation={HOSTILE}", f"activation={HOSTILE!r}", "seed 7", f"--contracts {should.id}"):
        assert html.escape(shown, quote=False) in findings
    assert findings.count("<details") == 2 and "<script" not in dom[dom.index("<body") :].replace("&lt;script", "")
    screenshot = tmp_path / "attention.png"
    subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--screenshot={screenshot}", "--window-size=1000,700", url], capture_output=True, timeout=120)
    colours = _png_pixels(screenshot.read_bytes())
    assert {(0xCF, 0x22, 0x2E), (0x82, 0x50, 0xDF)} <= colours, "no red FAIL or purple ERROR square in the first screen"
