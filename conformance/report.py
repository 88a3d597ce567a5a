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

from conformance import __version__, outcomes
from conformance.outcomes import (BLOCKED, ERROR, NOT_APPLICABLE, PASSED, SKIPPED, STATUSES, XFAILED, XPASSED, Result, Status,
                                  counts)

SCHEMA_VERSION = 2  # 2: error, timeout and blocked statuses; interrupted, fail_on and exit_status
SCORE_DEFINITION = (
    "passed / scored, where scored counts every cell that was decided (passed, failed, timeout, xfailed, "
    "xpassed) plus cells skipped by an expected-failures entry; not-applicable and blocked cells, kit "
    "errors and devices absent from the machine are left out, so skipping a failing contract never "
    "raises the score"
)


def failure_text(result, contract) -> str:
    """What a person needs to act on a failure: statement, expected against actual, the shrunk
    counterexample, the seed, the command that replays it and a self-contained snippet."""
    lines = [
        f"{result.contract_id} [{result.level}] {result.status} on {result.impl} / {result.device}",
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


def score(results) -> float | None:
    """Fraction of scored cells that passed (see :data:`SCORE_DEFINITION`); ``None`` when none is scored."""
    undecided = (SKIPPED, NOT_APPLICABLE, BLOCKED, ERROR)
    scored = [r for r in results if r.status not in undecided or "expected" in r.extra]
    if not scored:
        return None
    return sum(r.status in (PASSED, XPASSED) for r in scored) / len(scored)


def build(results, impl_info, devices, profile, seed, duration=None, stale=(), interrupted=False, fail_on="must",
          exit_status=None, shard=None) -> dict:
    """The JSON-ready report of a run.

    ``impl_info`` is ``Implementation.describe()``; ``stale`` the expected-failure entries that
    matched no cell; ``interrupted`` whether Ctrl-C stopped the run (``results`` are then the cells
    that finished); ``fail_on`` which levels fail the run, which the JUnit report follows; ``shard``
    ``(K, N)`` when the run was one shard of N (recorded as ``"K/N"``).
    """
    by_level = {level: counts([r for r in results if r.level == level]) for level in outcomes.LEVELS}
    if exit_status is None:
        exit_status = outcomes.exit_status(results, fail_on, interrupted)
    return {
        "schema_version": SCHEMA_VERSION,
        "kit": {"name": "keras-conformance", "version": __version__},
        "implementation": dict(impl_info),
        "devices": list(devices),
        "profile": profile,
        "seed": seed,
        "shard": None if shard is None else f"{shard[0]}/{shard[1]}",
        "duration_s": None if duration is None else round(duration, 3),
        "interrupted": interrupted,
        "fail_on": fail_on,
        "exit_status": exit_status,
        "counts": counts(results),
        "counts_by_level": by_level,
        "score": score(results),
        "score_definition": SCORE_DEFINITION,
        "must_failures": outcomes.failing_contracts(results, "must"),
        "run_failures": outcomes.failing_contracts(results, fail_on),
        "stale_expected_failures": [{"source": e.source, "contract": e.contract, "reason": e.reason} for e in stale],
        "results": [_record(r) for r in results],
    }


def _record(result) -> dict:
    from conformance.reproduce import literal

    record = result.to_record()
    example = result.extra.get("example")
    if example is not None:  # the drawn values as Python source, which JSON can hold
        record["example"] = {name: _safe_literal(literal, value) for name, value in example.items()}
    return record


def _safe_literal(literal, value):
    try:
        return literal(value)
    except TypeError:
        return repr(value)


# -- writers -------------------------------------------------------------------------------------


def write_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    The file gets the mode a plain ``open(path, "w")`` would give it: an existing file's mode, else
    0666 less the umask (a temporary file is created 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    current = os.umask(0)  # the only way to read it is to set it; set it straight back
    os.umask(current)
    return current


def check_writable(path, option) -> None:
    """Raise ValueError naming ``option`` unless a report can be written at ``path``: checked before a
    run, so a bad path costs no run and never stops the other reports."""
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{option}={path!r}: is a directory; expected a file path")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # write_atomic creates missing folders: the nearest existing one decides
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=folder)
    except OSError as error:
        raise ValueError(f"{option}={path!r}: cannot write in {str(folder)!r} ({error.strerror})") from None
    os.close(handle)
    os.unlink(probe)


def requested(*, json=None, junit=None, html=None) -> dict:
    """``{--report-x: path}`` for the reports asked for: a path per format, ``None`` for one not wanted."""
    paths = {"--report-json": json, "--report-junit": junit, "--report-html": html}
    return {option: path for option, path in paths.items() if path}


def write_json(path, report: dict) -> Path:
    return write_atomic(path, json.dumps(report, indent=2, sort_keys=False) + "\n")


def junit_xml(report: dict) -> str:
    """JUnit XML: one testsuite for the implementation, one testcase per contract cell.

    It agrees with the exit status: a cell is a ``failure`` only when it fails the run (``fail_on``), a
    kit error is an ``error``, and a finding that does not fail the run (a SHOULD contract by default)
    is ``skipped`` with the finding as its message.
    """
    impl = report["implementation"]
    fail_on = report.get("fail_on", "must")
    records = report["results"]
    failing = [r for r in records if _fails_run(r, fail_on)]
    errors = [r for r in records if r["status"] == ERROR]
    suite = ET.Element(
        "testsuite",
        name=f"keras-conformance {impl['name']}",
        tests=str(len(records)),
        failures=str(len(failing)),
        errors=str(len(errors)),
        skipped=str(len(records) - len(failing) - len(errors) - sum(r["status"] in (PASSED, XPASSED) for r in records)),
        time=f"{sum(r['duration'] for r in records):.3f}",
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
        ("fail_on", fail_on),
        ("interrupted", report.get("interrupted", False)),
        ("exit_status", report.get("exit_status")),
    ):
        ET.SubElement(properties, "property", name=name, value=str(value))
    for record in records:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"keras_conformance.{record['area']}",
            name=f"{record['contract_id']}[{record['impl']}-{outcomes.column(record['device'])}]",
            time=f"{record['duration']:.3f}",
        )
        status, message = Status(record["status"]), record["message"]
        first_line = message.splitlines()[0] if message else status
        details = "\n\n".join(filter(None, [message, record["counterexample"], record.get("snippet", ""), record.get("traceback", "")]))
        if _fails_run(record, fail_on):
            failure = ET.SubElement(case, "failure", message=first_line, type=f"{record['level']} {status}")
            failure.text = details
        elif status == ERROR:
            error = ET.SubElement(case, "error", message=first_line, type="keras-conformance kit error")
            error.text = details
        elif status in outcomes.FAILING:
            finding = ET.SubElement(case, "skipped", message=f"{record['level']} finding, does not fail the run: {first_line}")
            finding.text = details
        elif status not in (PASSED, XPASSED):
            ET.SubElement(case, "skipped", message=f"{status.words}: {message.splitlines()[0] if message else ''}".strip())
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _fails_run(record: dict, fail_on) -> bool:
    return outcomes.fails_run(Result.from_record(record), fail_on)


def write_junit(path, report: dict) -> Path:
    return write_atomic(path, junit_xml(report))


def html_page(report: dict) -> str:
    """One self-contained page (inline CSS, no scripts, no external resources) that opens with what needs
    attention: a grid of areas by column, each square coloured by its most telling cell, then the failures,
    SHOULD findings and kit errors with what it takes to act on each, then the full matrix."""
    escape = html.escape
    impl = report["implementation"]
    results = [Result.from_record(record) for record in report["results"]]
    columns = report.get("columns") or [outcomes.ANY_COLUMN] + report["devices"]  # a --matrix merge: implementation x device
    score, tally = report["score"], report["counts"]
    sections = outcomes.attention(results, report.get("fail_on", "must"))
    sections["expected"] = [r for r in results if r.status == XFAILED]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>keras-conformance: {escape(impl['name'])}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#1f2328}"
        "table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:3px 8px;font-size:14px}"
        "td.cell{text-align:center;font-weight:600;min-width:4em}pre{background:#f6f8fa;padding:8px;overflow-x:auto}"
        ".badge{padding:1px 6px;border-radius:3px;font-weight:600}section.entry{border-top:1px solid #d0d7de;margin-top:1em}"
        "summary{cursor:pointer}#legend{font-size:13px;color:#57606a}"
        + "".join(f".s-{status.value}{{{status.style}}}" for status in STATUSES) + "</style></head><body>",
        f"<h1>keras-conformance {escape(report['kit']['version'])}: {escape(impl['name'])} {escape(str(impl.get('version', '')))}</h1>",
        '<p id="interrupted"><b>Interrupted: only the cells that finished are shown.</b></p>' if report.get("interrupted") else "",
        '<p id="summary">'
        + f"backend {escape(str(impl.get('backend', '')))}, layer {escape(str(impl.get('layer', '')))}; "
        + f"profile {escape(str(report['profile']))}, seed {escape(str(report['seed']))}<br>"
        + ", ".join(f"{tally[s]} {s.words}" for s in STATUSES)
        + f"<br>score: <b id=\"score\">{'n/a' if score is None else f'{score:.1%}'}</b> ({escape(SCORE_DEFINITION)})</p>",
        '<p id="legend">' + " &nbsp; ".join(f'<span class="badge s-{s.value}">{escape(s.label)}</span> {escape(s.meaning)}'
                                          for s in STATUSES) + "</p>",
    ]
    out += _grid(results, columns)
    statements = _statements()
    anchored = set()  # the matrix links a contract to its first entry
    for key, title in SECTIONS.items():
        if sections[key]:
            out.append(f'<h2>{escape(title)}</h2><div id="{key}">')
            out += [_entry(result, statements.get(result.contract_id, ""), anchored) for result in sections[key]]
            out.append("</div>")
    out += _matrix(results, columns)
    if report["stale_expected_failures"]:
        out.append("<h2>Unused expected failures</h2><ul>")
        out += [f"<li>{escape(e['source'])}: {escape(e['contract'])} matched no cell of this run</li>" for e in report["stale_expected_failures"]]
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# The page's sections of cells to act on, in order (see outcomes.attention), then the expected failures.
SECTIONS = {
    "failures": "Failures (these fail the run)",
    "findings": "SHOULD findings (reported, not failing the run)",
    "errors": "Kit errors (the kit raised; not the implementation's failure)",
    "expected": "Expected failures (failed, as the expected-failures file says)",
}


def _column_of(result) -> str:
    return result.extra.get("column") or outcomes.column(result.device)


def _grid(results, columns) -> list[str]:
    """Areas by column: each square coloured by its most telling status, with the cells per status."""
    escape = html.escape
    squares = {}
    for result in results:
        squares.setdefault(result.area, {}).setdefault(_column_of(result), []).append(result.status)
    out = ['<h2>By area</h2><table id="grid"><thead><tr><th>area</th>' + "".join(f"<th>{escape(c)}</th>" for c in columns)
           + "</tr></thead><tbody>"]
    for area, row in squares.items():
        out.append(f"<tr><th>{escape(area)}</th>")
        for column in columns:
            statuses = row.get(column, [])
            if not statuses:
                out.append('<td class="cell"></td>')
                continue
            present = sorted(set(statuses), key=lambda status: status.precedence)
            text = "<br>".join(f"{statuses.count(s)} {escape(s.label)}" for s in present)
            title = escape(", ".join(f"{statuses.count(s)} {s.words}" for s in present))
            out.append(f'<td class="cell s-{present[0].value}" title="{title}">{text}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return out


def _entry(result, statement, anchored) -> str:
    """One cell to act on: the contract's statement, the message, the counterexample and the snippet
    (collapsible), the seed and the command that replays it."""
    escape = html.escape
    anchor = "" if result.contract_id in anchored else f' id="{escape(result.contract_id)}"'
    anchored.add(result.contract_id)
    parts = [f'<section class="entry"{anchor}><h3><span class="badge s-{result.status.value}">{escape(result.status.label)}</span> '
             f"{escape(result.contract_id)} [{escape(result.level)}] on {escape(result.impl)} / {escape(result.device)}</h3>"]
    if statement:
        parts.append(f'<p class="statement">{escape(statement)}</p>')
    parts.append(f"<pre>{escape(result.message)}</pre>")
    for summary, text, is_open in (("shrunk counterexample (hypothesis)", result.counterexample, True),
                                   ("reproduce in Python", result.extra.get("snippet"), False),
                                   ("where the kit raised (please report it as a keras-conformance bug)", result.extra.get("traceback"), False)):
        if text:
            parts.append(f"<details{' open' * is_open}><summary>{summary}</summary><pre>{escape(text)}</pre></details>")
    where = ([f"seed {escape(str(result.seed))}"] if result.seed is not None else []) + (
        [f"replay: <code>{escape(result.reproduce)}</code>"] if result.reproduce else [])
    parts.append(f"<p>{'; '.join(where)}</p></section>")
    return "\n".join(parts)


def _statements() -> dict:
    """Contract id -> statement, for the contracts of this kit (a report may name others)."""
    from conformance import catalog

    return {contract.id: contract.statement for contract in catalog.all_contracts()}


def _matrix(results, columns) -> list[str]:
    """Every cell: a row per contract, a column per device (per implementation and device in a merge)."""
    escape = html.escape
    rows = {}
    for result in results:
        rows.setdefault((result.contract_id, result.level, result.area), {})[_column_of(result)] = result
    out = ['<h2>Every contract</h2><table id="matrix"><thead><tr><th>contract</th><th>level</th><th>area</th>'
           + "".join(f"<th>{escape(c)}</th>" for c in columns) + "</tr></thead><tbody>"]
    for (contract_id, level, area), cells in rows.items():
        out.append(f'<tr><td><a href="#{escape(contract_id)}">{escape(contract_id)}</a></td><td>{escape(level)}</td><td>{escape(area)}</td>')
        for column in columns:
            result = cells.get(column)
            if result is None:
                out.append('<td class="cell"></td>')
                continue
            title = escape(result.message.splitlines()[0] if result.message else result.status.words)
            out.append(f'<td class="cell s-{result.status.value}" title="{title}">{escape(result.status.label)}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return out


def write_html(path, report: dict) -> Path:
    return write_atomic(path, html_page(report))


def write_requested(paths, results, impls, devices, seed, duration, *, expected=None, interrupted=False, fail_on="must",
                    exit_status=None, profile=None, shard=None) -> tuple[list[str], list[str]]:
    """Write the reports of a run to ``paths`` (``{--report-x: path}``, see :func:`requested`); ``impls``
    is the Implementation, or a list of them when several layers were checked (the report then names
    every layer); ``profile`` is recorded when no cell ran; ``shard`` is ``(K, N)`` for one shard of N.

    Returns ``(lines, problems)`` for the terminal: a line per file written (and per unused
    expected-failure entry), and a line per report that could not be written. One report failing
    never stops the others.
    """
    stale = expected.stale() if expected is not None else []
    lines = [f"unused expected failure: {e.source}: contract {e.contract!r} matched no cell of this run" for e in stale]
    if not paths:
        return lines, []
    impls = impls if isinstance(impls, list) else [impls]
    info = dict(impls[0].describe())
    if len(impls) > 1:
        info["layer"] = ", ".join(impl.describe()["layer"] for impl in impls)
    profile = results[0].profile if results else profile
    record = build(results, info, devices, profile, seed, duration, stale, interrupted, fail_on, exit_status, shard)
    written, problems = write_reports(paths, record)
    return lines + written, problems


def write_reports(paths, report: dict) -> tuple[list[str], list[str]]:
    """Write ``report`` to each of ``paths`` (``{--report-x: path}``): ``(lines, problems)``, a line per
    file written and one per report that could not be written. One report failing never stops the others."""
    writers = {"--report-json": write_json, "--report-junit": write_junit, "--report-html": write_html}
    lines, problems = [], []
    for option, path in paths.items():
        try:
            lines.append(f"report written: {writers[option](path, report)}")
        except OSError as error:
            problems.append(f"{option}={path!r}: could not write the report ({error.strerror or error})")
    return lines, problems


# -- merging shard reports -------------------------------------------------------------------------

# What every report of one merge must agree on; a --matrix merge lets the implementation differ.
MERGE_FIELDS = ("kit version", "implementation", "seed", "profile", "fail_on")


def load(path) -> dict:
    """The JSON report at ``path``; ValueError naming the file when it cannot be read or is not a report."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read a JSON report ({getattr(error, 'strerror', None) or error})") from None
    if not isinstance(report, dict) or not isinstance(report.get("results"), list) or "kit" not in report:
        raise ValueError(f"{path}: not a keras-conformance JSON report (no kit or results)")
    return report


def _merge_key(report, field):
    impl = report["implementation"]
    return {
        "kit version": report["kit"]["version"],
        "implementation": tuple(impl.get(k) for k in ("name", "version", "backend", "layer")),
        "seed": report["seed"],
        "profile": report["profile"],
        "fail_on": report.get("fail_on", "must"),
    }[field]


def merge(paths, matrix=False) -> dict:
    """One report from the reports at ``paths`` (shards of one run, or with ``matrix`` the runs of
    several implementations or backends), counts and exit status recomputed from the merged cells.

    Raises ValueError, one line naming the files and the field, when the reports disagree on a field of
    :data:`MERGE_FIELDS` (the implementation may differ under ``matrix``) or two hold the same cell.
    Cells come in report order: each implementation's, by contract in catalog order, then device.
    """
    from conformance import catalog

    reports = [load(path) for path in paths]
    first = reports[0]
    for path, report in zip(paths[1:], reports[1:]):
        for field in MERGE_FIELDS:
            if field == "implementation" and matrix:
                continue
            if _merge_key(report, field) != _merge_key(first, field):
                raise ValueError(f"cannot merge {paths[0]} and {path}: their {field} differs "
                                 f"({_merge_key(first, field)} against {_merge_key(report, field)})")
    position = {c.id: index for index, c in enumerate(catalog.all_contracts())}
    devices = list(dict.fromkeys(d for report in reports for d in report["devices"]))
    device_order = {d: i for i, d in enumerate([outcomes.DEFAULT_DEVICE] + devices)}
    owners, records, group = {}, [], {}
    for index, (path, report) in enumerate(zip(paths, reports)):
        impl = report["implementation"]
        for record in report["results"]:
            record = dict(record)
            if matrix:
                record["impl"] = f"{record['impl']}@{impl.get('backend', '')}"
                record["column"] = f"{record['impl']} {outcomes.column(record['device'])}"
            cell = (record["impl"], record["contract_id"], record["device"])
            if cell in owners:
                raise ValueError(f"cannot merge {owners[cell]} and {path}: both hold the cell {record['contract_id']} "
                                 f"on {record['device']} of {record['impl']}")
            owners[cell] = path
            group.setdefault(record["impl"], index if matrix else 0)
            records.append(record)
    records.sort(key=lambda r: (group[r["impl"]], position.get(r["contract_id"], len(position)),
                                r["contract_id"], device_order.get(r["device"], len(device_order))))
    results = [Result.from_record(r) for r in records]
    infos = list({json.dumps(r["implementation"], sort_keys=True): r["implementation"] for r in reports}.values())
    info = dict(first["implementation"]) if len(infos) == 1 else {
        key: ", ".join(dict.fromkeys(str(i.get(key, "")) for i in infos)) for key in ("name", "module", "version", "backend", "layer")}
    stale_everywhere = set.intersection(*({json.dumps(e, sort_keys=True) for e in r["stale_expected_failures"]} for r in reports))
    stale = [e for e in first["stale_expected_failures"] if json.dumps(e, sort_keys=True) in stale_everywhere]
    interrupted = any(r.get("interrupted") for r in reports)
    durations = [r.get("duration_s") for r in reports]
    merged = build(results, info, devices, first["profile"], first["seed"], None if None in durations else sum(durations),
                   (), interrupted, first.get("fail_on", "must"))
    merged["stale_expected_failures"] = stale
    merged["results"] = records
    merged["merged_from"] = [str(path) for path in paths]
    if matrix:
        merged["implementations"] = infos
        present = {r["column"] for r in records}  # per implementation: any, then the devices
        merged["columns"] = [column for impl in sorted(group, key=group.get) for column in
                             (f"{impl} {outcomes.column(device)}" for device in device_order) if column in present]
    return merged
