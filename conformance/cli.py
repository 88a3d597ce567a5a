"""``keras-conformance``: run the contracts against an implementation and print the matrix.

Exit status, numbered as pytest numbers its own:
  0  every MUST contract passed (SHOULD failures are findings, reported but not failing the run,
     unless --fail-on should)
  1  a MUST contract failed or timed out
  2  interrupted (Ctrl-C); the cells that finished are printed and written to the reports
  3  internal error of the kit: a cell where the kit itself raised, or a report it could not write
  4  usage error: bad arguments, an unwritable report path, a module that cannot be imported, a
     layer that cannot be constructed
  5  nothing selected: no contract matches, or every selected cell is skipped
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import warnings

from conformance import __version__, options, outcomes

# What each matrix cell means: the verdicts, then the cells not decided, then the expected failures.
LEGEND = "\n".join("   ".join(f"{status.label}: {status.meaning}" for status in line)
                   for line in (outcomes.STATUSES[:4], outcomes.STATUSES[4:7], outcomes.STATUSES[7:]))


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2; a usage error here is 4, as in pytest
        self.print_usage(sys.stderr)
        self.exit(outcomes.EXIT_USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _add_run_arguments(parser):
    from conformance import options

    options.add_to_argparse(parser, "cli")
    _add_report_arguments(parser)


def _add_report_arguments(parser):
    parser.add_argument("--report-json", default=None, metavar="PATH", help="write the JSON report here")
    parser.add_argument("--report-junit", default=None, metavar="PATH", help="write a JUnit XML report here")
    parser.add_argument("--report-html", default=None, metavar="PATH", help="write the HTML matrix here")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="keras-conformance",
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"keras-conformance {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run the contracts and print the conformance matrix",
                              epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_run_arguments(run)

    listing = commands.add_parser("list", help="list the contracts: id, level, area, statement")
    listing.add_argument("--contracts", nargs="+", default=None, metavar="PATTERN")

    diff = commands.add_parser("diff", help="run the same training examples through two implementations and report divergences")
    diff.add_argument("--impl", default="reference", help="the implementation under test (default: reference)")
    diff.add_argument("--against", default="keras", help="the implementation to compare with (default: keras)")
    diff.add_argument("--profile", default="default", choices=tuple(options.PROFILES))
    diff.add_argument("--seed", type=int, default=0, help="hypothesis seed for the drawn examples (default 0)")
    diff.add_argument("--probes", nargs="+", default=None, choices=options.DIFF_PROBES,
                      help="what to compare (default: all)")

    merge = commands.add_parser("merge", help="combine the JSON reports of shards (or, with --matrix, of several implementations) into one",
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    merge.add_argument("reports", nargs="+", metavar="REPORT.json", help="--report-json files of `keras-conformance run`")
    merge.add_argument("--matrix", action="store_true",
                       help="the reports are of different implementations or backends (same kit version and seed): one column per implementation and device")
    _add_report_arguments(merge)

    from conformance import docs

    docs.add_arguments(commands.add_parser("docs", help="generate docs/contracts/*.md and docs/findings.md from the registry"))
    return parser


# -- the terminal ------------------------------------------------------------------------------------


def format_matrix(results, devices) -> str:
    """Rows: contracts (id, level); columns: ``any`` for device-independent contracts, then devices."""
    columns = [outcomes.ANY_COLUMN] + list(devices)
    rows = {}
    for result in results:
        rows.setdefault((result.contract_id, result.level), {})[outcomes.column(result.device)] = result.status.label
    width = max(len(k[0]) for k in rows) if rows else 10
    lines = [f"{'contract':<{width}}  level   " + "  ".join(f"{c:>7}" for c in columns)]
    lines.append("-" * len(lines[0]))
    for (contract_id, level), row in rows.items():
        lines.append(f"{contract_id:<{width}}  {level:<6}  " + "  ".join(f"{row.get(c, ''):>7}" for c in columns))
    return "\n".join(lines)


def format_backend_matrix(results, sessions) -> str:
    """Rows: contracts (id, level); columns: each session's implementation (a backend, or the agreement
    between them), each entry the worst status of that contract's cells there."""
    columns = list(dict.fromkeys(session.impl.label for session in sessions))
    cells = {}
    for result in results:
        cells.setdefault((result.contract_id, result.level), {}).setdefault(result.impl, []).append(result.status)
    width = max([len(k[0]) for k in cells] + [8])
    lines = [f"{'contract':<{width}}  level   " + "  ".join(f"{'(' + str(i + 1) + ')':>7}" for i in range(len(columns)))]
    lines.append("-" * len(lines[0]))
    for (contract_id, level), row in cells.items():
        lines.append(f"{contract_id:<{width}}  {level:<6}  "
                     + "  ".join(f"{outcomes.worst(row[c]).label if c in row else '':>7}" for c in columns))
    lines += [f"({i + 1}) {column}" for i, column in enumerate(columns)]
    return "\n".join(lines)


def format_failure(result, contract) -> str:
    lines = [
        f"{result.status.heading} {result.contract_id} [{result.level}] on {result.impl} / {result.device}",
        f"  contract: {contract.statement}",
        "  " + result.message.replace("\n", "\n  "),
    ]
    if result.counterexample:
        lines.append("  minimal counterexample (hypothesis):")
        lines.append("    " + result.counterexample.replace("\n", "\n    "))
    if result.status == outcomes.ERROR and result.extra.get("traceback"):
        lines.append("  where the kit raised (please report this as a keras-conformance bug):")
        lines.append("    " + result.extra["traceback"].rstrip().replace("\n", "\n    "))
    if result.reproduce:
        lines.append(f"  seed: {result.seed}   reproduce: {result.reproduce}")
    if result.extra.get("snippet"):
        lines.append("  reproduce in Python:")
        lines.append("    " + result.extra["snippet"].rstrip().replace("\n", "\n    "))
    return "\n".join(lines)


def summary_line(tally) -> str:
    """Cell counts in one unit: passed and failed always, the other statuses when they occur."""
    shown = [s for s in outcomes.STATUSES if tally[s] or s in (outcomes.PASSED, outcomes.FAILED)]
    return ", ".join(f"{tally[status]} {status.words}" for status in shown)


def format_not_run(results) -> str:
    """Skipped, not-applicable and blocked cells grouped by reason, with the contracts concerned."""
    groups = {}
    for result in results:
        if result.status in (outcomes.SKIPPED, outcomes.NOT_APPLICABLE, outcomes.BLOCKED):
            reason = result.message.splitlines()[0] if result.message else "(no reason given)"
            groups.setdefault((result.status, reason), []).append(result.contract_id)
    lines = []
    for (status, reason), ids in groups.items():
        unique = list(dict.fromkeys(ids))
        named = ", ".join(unique[:4]) + (f" and {len(unique) - 4} more" if len(unique) > 4 else "")
        lines.append(f"  {status.words}, {_plural(len(ids), 'cell')}: {reason}  [{named}]")
    return "\n".join(lines)


def _plural(count, noun):
    return f"{count} {noun}{'s' * (count != 1)}"


class Progress:
    """One updating line on a terminal (cells done/total, current contract, counts); one line per
    finished area elsewhere (CI logs)."""

    def __init__(self, total, stream=None):
        self.total = total
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.done = []
        self.area = None
        self.area_started = time.perf_counter()

    def start(self, contract, device):
        if not self.tty and self.area is not None and contract.area != self.area:
            self._area_line()
        if contract.area != self.area:
            self.area, self.area_started = contract.area, time.perf_counter()
        if self.tty:
            self._write_tty(f"[{len(self.done) + 1}/{self.total}] {contract.id} on {outcomes.column(device)}   {self._counts()}")

    def finish(self, result):
        self.done.append(result)

    def close(self):
        if self.tty:
            self._write_tty("")
        elif self.area is not None:
            self._area_line()

    def _counts(self, results=None):
        tally = outcomes.counts(self.done if results is None else results)
        return ", ".join(f"{n} {outcomes.Status(s).words}" for s, n in tally.items() if n) or "starting"

    def _area_line(self):
        cells = [r for r in self.done if r.area == self.area]
        elapsed = time.perf_counter() - self.area_started
        print(f"[{len(self.done)}/{self.total}] {self.area}: {_plural(len(cells), 'cell')}, {self._counts(cells)} ({elapsed:.1f} s)",
              file=self.stream, flush=True)

    def _write_tty(self, text):
        self.stream.write("\r\x1b[2K" + text[: os.get_terminal_size(self.stream.fileno()).columns - 1])
        self.stream.flush()


# -- commands --------------------------------------------------------------------------------------


def _open_sessions(args):
    """``(runs, pools)``: the run's sessions, each with the pool that runs it (``None``: in this process),
    one per layer spec (one for a Dense-like layer) and backend, then one per layer spec comparing the
    backends of ``--backends``; and the worker pools (``{backend: pool}``, empty with ``--in-process``),
    which the caller closes. Cells run isolated in a worker pool unless ``--in-process``: a native crash
    of the implementation costs its cell, not the run. Report paths are probed first, then everything
    the pipeline checks. The pools start before this process imports the framework, so the imports overlap."""
    from conformance import catalog, parallel, pipeline, report

    for option, path in _report_paths(args).items():
        try:
            report.check_writable(path, option)
        except ValueError as error:
            raise pipeline.UsageError(str(error)) from None
    if args.in_process and args.jobs > 1:
        raise pipeline.UsageError(f"--in-process runs every cell in this process: it cannot be combined with --jobs {args.jobs}")
    if args.backends and (args.impl != "keras" or args.in_process):
        raise pipeline.UsageError("--backends compares Keras 3 backends, each in its own worker processes: it needs --impl keras "
                                  "and no --in-process")
    specs = pipeline.layer_specs(args.layer, args.layer_kwargs, args.input_shape, args.input_dtype, args.input_range, args.layer_spec,
                                 args.inputs, args.call_kwargs)
    layer = None if specs else args.layer
    chosen = {option.name: getattr(args, option.name) for option in options.RUN_OPTIONS
              if "api" in option.where and option.name not in ("layer", "jobs")}
    selected = catalog.select(args.contracts)  # NothingSelected goes through: exit status 5
    on_each = [c.id for c in selected if c.area != "agreement"]
    across = [c.id for c in selected if c.area == "agreement"]
    if not args.backends and not on_each:
        raise pipeline.NothingSelected("contracts: the agreement contracts compare Keras backends; run them with --impl keras "
                                       "--backends tensorflow,jax,torch")
    pools = {}
    try:
        recipe = pipeline.Recipe(args.impl, layer, args.logical_cpus, (specs or [None])[0])
        for backend in [] if args.in_process else (args.backends or [None]):
            pools[backend] = parallel.Pool(args.jobs, warm=recipe, backend=backend)
        runs = [(pipeline.open_session(**{**chosen, "contracts": on_each}, layer=layer, spec=spec, pool=pool), pool)
                for pool in (pools.values() or [None]) if on_each for spec in specs or [None]]
        if args.backends and across:
            seed = runs[0][0].seed if runs else chosen["seed"]
            runs += [(pipeline.open_session(**{**chosen, "contracts": across, "seed": seed,
                                               "impl": pipeline.across_backends(pools, spec or pipeline.dense_spec(layer))}), None)
                     for spec in specs or [None]]
    except BaseException:
        for pool in pools.values():
            pool.close(kill=True)
        raise
    return runs, pools


def _report_paths(args) -> dict:
    """``{--report-x: path}`` for the reports the command line asks for."""
    from conformance import report

    return report.requested(json=args.report_json, junit=args.report_junit, html=args.report_html)


def command_run(args) -> int:
    from conformance import pipeline, report

    try:
        runs, pools = _open_sessions(args)
    except pipeline.NothingSelected as error:
        print(f"keras-conformance: {error}", file=sys.stderr)
        return outcomes.EXIT_NO_CONTRACTS
    except pipeline.UsageError as error:
        print(f"keras-conformance: {error}", file=sys.stderr)
        return outcomes.EXIT_USAGE_ERROR
    results, interrupted, elapsed = [], False, 0.0
    try:
        for session, pool in runs:
            # A session without a pool runs here: --in-process, or the comparison across the backends' pools.
            found, interrupted, seconds = _run_session(session, args.jobs if pool else 1, pool)
            results, elapsed = results + found, elapsed + seconds
            if interrupted:
                break
    finally:
        for pool in pools.values():
            pool.close(kill=interrupted)
    sessions = [session for session, _ in runs]
    first = sessions[0]
    status = outcomes.exit_status(results, first.fail_on, interrupted)
    if not interrupted and results and all(r.status == outcomes.SKIPPED for r in results):
        status = outcomes.EXIT_NO_CONTRACTS
    if args.backends:
        print(f"\nacross backends:\n{format_backend_matrix(results, sessions)}")
    if len(sessions) > 1:
        print(f"\nall {_plural(len(sessions), 'layer' if not args.backends else 'session')}: {summary_line(outcomes.counts(results))} in {elapsed:.1f}s")
    written, failed = report.write_requested(_report_paths(args), results, [s.impl for s in sessions], first.devices, first.seed,
                                             elapsed, expected=first.expected, interrupted=interrupted, fail_on=first.fail_on,
                                             exit_status=status, profile=args.profile, shard=args.shard)
    return _reports_written(written, failed, status)


def _reports_written(written, failed, status) -> int:
    """Print what writing the reports gave, then the exit status: a report that could not be written
    turns a clean run into an internal error."""
    for line in written:
        print(line)
    for line in failed:
        print(f"keras-conformance: {line}", file=sys.stderr)
    if failed and status == outcomes.EXIT_OK:
        status = outcomes.EXIT_INTERNAL_ERROR
    print(f"exit status {status}: {_EXIT_MEANING[status]}")
    return status


def _run_session(session, jobs=1, pool=None):
    """Run one session (in ``jobs`` worker processes) with progress, print its outcome;
    ``(results, interrupted, seconds)``."""
    from conformance import runner

    impl, devices = session.impl, session.devices
    info = impl.describe()
    cell_count = len(session.cells())
    absent = [d for d in devices if d not in impl.devices()]
    print(f"keras-conformance {__version__}: {info['name']} {info['version']} ({info['backend']} backend), layer {info['layer']}")
    print(f"devices: {', '.join(devices) or 'any (the backends compared run on their own CPU)'}"
          + (f" ({', '.join(absent)} not visible: skipped)" if absent else "")
          + f"   profile: {session.profile}   seed: {session.seed}   timeout: {session.timeout:g} s per cell"
          + (f"   shard: {session.shard[0]}/{session.shard[1]}" if session.shard else "")
          + (f"   jobs: {jobs}" if jobs > 1 else ""))
    print(f"{_plural(len(session.contracts), 'contract')}, {_plural(cell_count, 'cell')} (a cell is one contract on one device)", flush=True)
    progress = Progress(cell_count)
    started = time.perf_counter()
    interrupted = False
    try:
        results = session.run(on_start=progress.start, on_result=progress.finish, jobs=jobs, pool=pool)
    except runner.RunInterrupted as stop:
        results, interrupted = stop.results, True
    progress.close()
    elapsed = time.perf_counter() - started
    _print_outcome(results, devices, session.contracts, session.fail_on)
    if interrupted:
        print(f"\nINTERRUPTED after {len(results)} of {cell_count} cells; the reports hold the finished ones")
    run_contracts = len({r.contract_id for r in results})
    print(f"conformance: {summary_line(outcomes.counts(results))} (cells of {_plural(run_contracts, 'contract')}) in {elapsed:.1f}s")
    return results, interrupted, elapsed


_EXIT_MEANING = {
    outcomes.EXIT_OK: "every contract that counts passed",
    outcomes.EXIT_FAILED: "a contract that counts failed or timed out",
    outcomes.EXIT_INTERRUPTED: "interrupted",
    outcomes.EXIT_INTERNAL_ERROR: "the kit itself failed (see KIT ERROR above); the implementation is not blamed",
    outcomes.EXIT_NO_CONTRACTS: "nothing ran: every selected cell was skipped",
}


def _print_outcome(results, devices, contracts, fail_on):
    by_id = {c.id: c for c in contracts}
    print("\n")
    print(format_matrix(results, devices))
    print(LEGEND)
    failing = [r for r in results if outcomes.fails_run(r, fail_on) or r.status == outcomes.XPASSED]
    errors = [r for r in results if r.status == outcomes.ERROR]
    findings = outcomes.findings(results, fail_on)
    for title, chosen in (
        ("Failures (these fail the run)", failing),
        (f"Findings ({'SHOULD' if fail_on == 'must' else 'other'} contracts: reported, not failing the run)", findings),
        ("Kit errors (the kit raised; not the implementation's failure)", errors),
    ):
        if chosen:
            print(f"\n{title}:\n")
            print("\n\n".join(format_failure(r, by_id[r.contract_id]) for r in chosen))
    not_run = format_not_run(results)
    if not_run:
        print("\nNot run or not decided, by reason:")
        print(not_run)
    must = outcomes.failing_contracts(results, "must")
    must_cells = sum(1 for r in results if outcomes.fails_run(r, "must"))
    print()
    print(f"MUST contracts failing: {len(must)}" + (f" ({must_cells} cells): {', '.join(must)}" if must else ""))


def command_diff(args) -> int:
    from conformance import diff, pipeline

    try:
        left = pipeline.load_implementation(args.impl)
        right = pipeline.load_implementation(args.against)
    except pipeline.UsageError as error:
        print(f"keras-conformance: {error}", file=sys.stderr)
        return outcomes.EXIT_USAGE_ERROR
    print(f"keras-conformance diff: {left.label} vs {right.label}   profile: {args.profile}   seed: {args.seed}")
    report = diff.run(left, right, profile=args.profile, seed=args.seed, probes=args.probes or diff.PROBES)
    print(diff.format_report(report))
    return outcomes.EXIT_FAILED if report.diverged else outcomes.EXIT_OK


def command_list(args) -> int:
    from conformance import catalog, registry

    try:
        contracts = catalog.select(args.contracts)
    except registry.NothingSelected as error:
        print(f"keras-conformance: {error}", file=sys.stderr)
        return outcomes.EXIT_NO_CONTRACTS
    for c in contracts:
        print(f"{c.id:<40} {c.level:<6} {c.area:<11} {c.statement}")
    return outcomes.EXIT_OK


def command_docs(args) -> int:
    from conformance import docs

    return docs.command(args)


def command_merge(args) -> int:
    """Merge shard reports: print the matrix and summary as ``run`` does, write the reports asked for;
    the exit status is computed from the merged cells as ``run`` computes it."""
    from conformance import catalog, report

    try:
        for option, path in _report_paths(args).items():
            report.check_writable(path, option)
        merged = report.merge(args.reports, matrix=args.matrix)
    except ValueError as error:
        print(f"keras-conformance merge: {error}", file=sys.stderr)
        return outcomes.EXIT_USAGE_ERROR
    results = [outcomes.Result.from_record(record) for record in merged["results"]]
    info = merged["implementation"]
    print(f"keras-conformance {__version__} merge of {_plural(len(args.reports), 'report')}: {info['name']} {info['version']} "
          f"({info['backend']} backend), layer {info['layer']}   profile: {merged['profile']}   seed: {merged['seed']}")
    groups = list(dict.fromkeys(r.impl for r in results)) if args.matrix else [None]
    for group in groups:
        chosen = [r for r in results if group is None or r.impl == group]
        if group is not None:
            print(f"\n{group}:")
        _print_outcome(chosen, merged["devices"], catalog.all_contracts(), merged["fail_on"])
    print(f"conformance: {summary_line(outcomes.counts(results))} (cells of {_plural(len({r.contract_id for r in results}), 'contract')})")
    written, failed = report.write_reports(_report_paths(args), merged)
    return _reports_written(written, failed, merged["exit_status"])


COMMANDS = {"run": command_run, "list": command_list, "docs": command_docs, "diff": command_diff, "merge": command_merge}


def main(argv=None) -> int:
    from conformance import registry

    try:
        args = build_parser().parse_args(argv)
        with warnings.catch_warnings():  # a retired id the user named: one line, however often it resolves
            warnings.simplefilter("once", registry.DeprecatedId)
            warnings.showwarning = _note_retired_id
            return COMMANDS[args.command](args)
    except KeyboardInterrupt:  # before or after the run; during it, command_run reports the finished cells
        print("\nkeras-conformance: interrupted", file=sys.stderr)
        return outcomes.EXIT_INTERRUPTED
    except Exception:  # a bug of the kit's own: say so, with what a bug report needs
        traceback.print_exc()
        print(f"keras-conformance {__version__}: internal error; please report it with the traceback above", file=sys.stderr)
        return outcomes.EXIT_INTERNAL_ERROR


def _note_retired_id(message, category, filename, lineno, file=None, line=None):
    print(f"keras-conformance: note: {message}", file=sys.stderr)


def entry_point():
    """The ``keras-conformance`` command: :func:`main`'s status as the process's exit status.

    After Ctrl-C the process ends with ``os._exit``: a KeyboardInterrupt that passed through a framework's
    embedded ``PyRun_*`` call leaves the interpreter marked "interrupted", and Python would then end by
    killing itself with SIGINT (status -2, 130 in a shell) instead of exiting with 2 as pytest does.
    The reports are written and closed by then; the output is flushed first."""
    status = main()
    if status == outcomes.EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    entry_point()
