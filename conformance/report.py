"""Reports of a run: failure text for people, JSON for machines, JUnit XML for CI, one HTML page.

Every file is written atomically (a temporary file in the target folder, then ``os.replace``), so an
interrupted run leaves the previous report or none, never a truncated one.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from conformance import __version__

SCHEMA_VERSION = 1
STATUSES = ("passed", "failed", "skipped", "not_applicable", "xfailed", "xpassed")
SCORE_DEFINITION = (
    "passed / scored, where scored counts every cell that ran (passed, failed, xfailed, xpassed) plus "
    "cells skipped by an expected-failures entry; not-applicable cells and devices absent from the "
    "machine are left out, so skipping a failing contract never raises the score"
)


def failure_text(result, contract) -> str:
    """What a person needs to act on a failure: statement, expected against actual, the shrunk
    counterexample, the seed, the command that replays it and a self-contained snippet."""
    lines = [
        f"{result.contract_id} [{result.level}] failed on {result.impl} / {result.device}",
        f"contract:  {contract.statement}",
        f"checked:   {contract.how_checked}",
        "",
        result.message,
    ]
    if result.counterexample:
        lines += ["", "shrunk counterexample (hypothesis):", _indent(result.counterexample)]
    lines += ["", f"seed: {result.seed}   profile: {result.profile}"]
    if result.reproduce:
        lines.append(f"replay: {result.reproduce}")
    snippet = result.extra.get("snippet")
    if snippet:
        lines += ["", "reproduce in Python:", _indent(snippet.rstrip())]
    return "\n".join(lines)


def _indent(text, prefix="    "):
    return "\n".join(prefix + line if line else line for line in text.splitlines())


# -- the record ------------------------------------------------------------------------------------


def counts(results) -> dict:
    tally = {status: 0 for status in STATUSES}
    for result in results:
        tally[result.status] += 1
    return tally


def score(results) -> float | None:
    """Fraction of scored cells that passed (see :data:`SCORE_DEFINITION`); ``None`` when none is scored."""
    scored = [r for r in results if r.status not in ("skipped", "not_applicable") or "expected" in r.extra]
    if not scored:
        return None
    return sum(r.status in ("passed", "xpassed") for r in scored) / len(scored)


def build(results, impl_info, devices, profile, seed, duration=None, stale=()) -> dict:
    """The JSON-ready report of a run.

    ``impl_info`` is ``Implementation.describe()``; ``stale`` the expected-failure entries that
    matched no contract.
    """
    by_level = {level: counts([r for r in results if r.level == level]) for level in ("MUST", "SHOULD")}
    return {
        "schema_version": SCHEMA_VERSION,
        "kit": {"name": "keras-conformance", "version": __version__},
        "implementation": dict(impl_info),
        "devices": list(devices),
        "profile": profile,
        "seed": seed,
        "duration_s": None if duration is None else round(duration, 3),
        "counts": counts(results),
        "counts_by_level": by_level,
        "score": score(results),
        "score_definition": SCORE_DEFINITION,
        "must_failures": sorted({r.contract_id for r in results if r.level == "MUST" and r.status == "failed"}),
        "stale_expected_failures": [{"source": e.source, "contract": e.contract, "reason": e.reason} for e in stale],
        "results": [_record(r) for r in results],
    }


def _record(result) -> dict:
    from conformance.reproduce import literal

    record = {k: v for k, v in result.to_dict().items() if k != "extra"}
    record["duration"] = round(result.duration, 4)
    extra = dict(result.extra)
    example = extra.pop("example", None)
    if example is not None:
        record["example"] = {name: _safe_literal(literal, value) for name, value in example.items()}
    record.update({k: v for k, v in extra.items() if _is_json(v)})
    return record


def _safe_literal(literal, value):
    try:
        return literal(value)
    except TypeError:
        return repr(value)


def _is_json(value) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


# -- writers -------------------------------------------------------------------------------------


def write_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_json(path, report: dict) -> Path:
    return write_atomic(path, json.dumps(report, indent=2, sort_keys=False) + "\n")


def junit_xml(report: dict) -> str:
    """JUnit XML: one testsuite for the implementation, one testcase per contract cell."""
    impl = report["implementation"]
    tally = report["counts"]
    suite = ET.Element(
        "testsuite",
        name=f"keras-conformance {impl['name']}",
        tests=str(len(report["results"])),
        failures=str(tally["failed"]),
        errors="0",
        skipped=str(tally["skipped"] + tally["not_applicable"] + tally["xfailed"]),
        time=f"{sum(r['duration'] for r in report['results']):.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("kit_version", report["kit"]["version"]),
        ("implementation", impl["name"]),
        ("implementation_version", impl.get("version", "")),
        ("backend", impl.get("backend", "")),
        ("layer", impl.get("layer", "")),
        ("profile", report["profile"]),
        ("seed", report["seed"]),
        ("score", report["score"]),
    ):
        ET.SubElement(properties, "property", name=name, value=str(value))
    for record in report["results"]:
        device = "any" if record["device"] == "default" else record["device"]
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"keras_conformance.{record['area']}",
            name=f"{record['contract_id']}[{record['impl']}-{device}]",
            time=f"{record['duration']:.3f}",
        )
        status, message = record["status"], record["message"]
        if status == "failed":
            failure = ET.SubElement(case, "failure", message=message.splitlines()[0] if message else "failed", type=record["level"])
            failure.text = "\n\n".join(filter(None, [message, record["counterexample"], record.get("snippet", "")]))
        elif status in ("skipped", "not_applicable", "xfailed"):
            label = {"not_applicable": "not applicable", "xfailed": "expected failure"}.get(status, "skipped")
            ET.SubElement(case, "skipped", message=f"{label}: {message.splitlines()[0] if message else ''}".strip())
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def write_junit(path, report: dict) -> Path:
    return write_atomic(path, junit_xml(report))


CELL_STYLE = {
    "passed": ("pass", "#1a7f37", "#dafbe1"),
    "failed": ("FAIL", "#ffffff", "#cf222e"),
    "skipped": ("skip", "#57606a", "#eaeef2"),
    "not_applicable": ("n/a", "#57606a", "#f6f8fa"),
    "xfailed": ("xfail", "#6e4c00", "#fff1c2"),
    "xpassed": ("XPASS", "#ffffff", "#bf8700"),
}


def html_page(report: dict) -> str:
    """One self-contained page (inline CSS, no scripts, no external resources) with the matrix."""
    impl = report["implementation"]
    columns = ["any"] + report["devices"]
    rows = {}
    for record in report["results"]:
        column = "any" if record["device"] == "default" else record["device"]
        rows.setdefault((record["contract_id"], record["level"], record["area"]), {})[column] = record
    escape = html.escape
    score = report["score"]
    tally = report["counts"]
    css = "".join(
        f".s-{status}{{color:{fg};background:{bg}}}" for status, (_, fg, bg) in CELL_STYLE.items()
    )
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>keras-conformance: {escape(impl['name'])}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#1f2328}"
        "table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:3px 8px;font-size:14px}"
        "td.cell{text-align:center;font-weight:600;min-width:4em}pre{background:#f6f8fa;padding:8px;overflow-x:auto}"
        f"{css}</style></head><body>",
        f"<h1>keras-conformance {escape(report['kit']['version'])}: {escape(impl['name'])} {escape(str(impl.get('version', '')))}</h1>",
        '<p id="summary">'
        + f"backend {escape(str(impl.get('backend', '')))}, layer {escape(str(impl.get('layer', '')))}; "
        + f"profile {escape(str(report['profile']))}, seed {escape(str(report['seed']))}<br>"
        + ", ".join(f"{tally[s]} {s.replace('_', ' ')}" for s in STATUSES)
        + f"<br>score: <b id=\"score\">{'n/a' if score is None else f'{score:.1%}'}</b> ({escape(SCORE_DEFINITION)})</p>",
        '<table id="matrix"><thead><tr><th>contract</th><th>level</th><th>area</th>'
        + "".join(f"<th>{escape(c)}</th>" for c in columns)
        + "</tr></thead><tbody>",
    ]
    for (contract_id, level, area), cells in rows.items():
        out.append(f'<tr><td><a href="#{escape(contract_id)}">{escape(contract_id)}</a></td><td>{level}</td><td>{area}</td>')
        for column in columns:
            record = cells.get(column)
            if record is None:
                out.append('<td class="cell"></td>')
                continue
            label = CELL_STYLE[record["status"]][0]
            title = escape(record["message"].splitlines()[0] if record["message"] else record["status"])
            out.append(f'<td class="cell s-{record["status"]}" title="{title}">{label}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    problems = [r for r in report["results"] if r["status"] in ("failed", "xpassed", "xfailed")]
    if problems:
        out.append('<h2>Failures and expected failures</h2><div id="failures">')
        anchored = set()
        for record in problems:
            anchor = "" if record["contract_id"] in anchored else f' id="{escape(record["contract_id"])}"'
            anchored.add(record["contract_id"])
            out.append(
                f'<section{anchor} class="failure"><h3>{escape(record["contract_id"])} '
                f'[{record["level"]}] {escape(record["status"])} on {escape(record["impl"])} / {escape(record["device"])}</h3>'
                f"<pre>{escape(record['message'])}</pre>"
            )
            if record["counterexample"]:
                out.append(f"<p>shrunk counterexample:</p><pre>{escape(record['counterexample'])}</pre>")
            out.append(f"<p>seed {record['seed']}; replay: <code>{escape(record['reproduce'])}</code></p>")
            if record.get("snippet"):
                out.append(f"<p>reproduce in Python:</p><pre>{escape(record['snippet'])}</pre>")
            out.append("</section>")
        out.append("</div>")
    if report["stale_expected_failures"]:
        out.append("<h2>Stale expected failures</h2><ul>")
        out += [f"<li>{escape(e['source'])}: {escape(e['contract'])} matches no contract</li>" for e in report["stale_expected_failures"]]
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_html(path, report: dict) -> Path:
    return write_atomic(path, html_page(report))


def write_requested(args, results, impl, devices, seed, duration, expected=None) -> list[str]:
    """Write the reports ``keras-conformance run`` was asked for; one line per file (and per stale
    expected-failure entry) for the terminal."""
    stale = expected.stale() if expected is not None else []
    lines = [f"stale expected failure: {e.source}: contract {e.contract!r} matches no contract" for e in stale]
    wanted = [(args.report_json, write_json), (args.report_junit, write_junit), (args.report_html, write_html)]
    if not any(path for path, _ in wanted):
        return lines
    record = build(results, impl.describe(), devices, results[0].profile if results else None, seed, duration, stale)
    for path, writer in wanted:
        if path:
            lines.append(f"report written: {writer(path, record)}")
    return lines
