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

from conformance import __version__, outcomes

STATUS_CELL = {
    outcomes.PASSED: "pass",
    outcomes.FAILED: "FAIL",
    outcomes.ERROR: "ERROR",
    outcomes.TIMEOUT: "TIME",
    outcomes.BLOCKED: "blocked",
    outcomes.SKIPPED: "skip",
    outcomes.NOT_APPLICABLE: "n/a",
    outcomes.XFAILED: "xfail",
    outcomes.XPASSED: "XPASS",
}
LEGEND = (
    "pass: passed   FAIL: the implementation broke the contract   ERROR: the kit itself raised   "
    "TIME: over the time limit\nblocked: a contract it rests on did not pass   skip: not run   "
    "n/a: needs a feature the implementation lacks   xfail/XPASS: listed in the expected-failures file"
)


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit status 4."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2; a usage error here is 4, as in pytest
        self.print_usage(sys.stderr)
        self.exit(outcomes.EXIT_USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _positive_seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _add_run_arguments(parser):
    from conformance.runner import DEFAULT_TIMEOUT

    parser.add_argument("--impl", default="reference", help="reference, keras, tf_keras, a module, or module:attribute (default: reference)")
    parser.add_argument("--layer", default=None,
                        help="module:Class of the layer to test inside --impl: Dense-like alone, any layer with --layer-kwargs/--input-shape")
    parser.add_argument("--layer-kwargs", default=None, metavar="JSON", help='constructor arguments of --layer, e.g. \'{"filters": 4, "kernel_size": 3}\'')
    parser.add_argument("--input-shape", default=None, metavar="D1,D2,...",
                        help="input shape of --layer without the batch axis, e.g. 16,3; None marks a dimension the kit may vary; "
                        "alternative shapes (several ranks) separated by ';', e.g. '8;4,8'")
    parser.add_argument("--input-dtype", default=None, help="dtype of the inputs of --layer (default float32; int32 for embeddings)")
    parser.add_argument("--input-range", default=None, metavar="LOW,HIGH", help="range of the input values of --layer (default -2,2)")
    parser.add_argument("--layer-spec", default=None, metavar="FILE",
                        help="TOML file of [[layer]] specs, or a pyproject.toml with [[tool.keras-conformance.layer]]: check each layer")
    parser.add_argument("--contracts", nargs="+", default=None, metavar="PATTERN", help="contract ids (wildcards allowed) or areas")
    parser.add_argument("--profile", default="default", choices=("quick", "default", "thorough"))
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed; printed in the header when not given")
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"time limit per cell; a cell past it is reported as timeout and the run goes on (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--fail-on",
        default="must",
        choices=outcomes.FAIL_ON,
        help="which failures make the exit status 1: must (default; SHOULD findings are only reported) or should",
    )
    parser.add_argument(
        "--logical-cpus",
        type=int,
        default=int(os.environ.get("KERAS_CONFORMANCE_LOGICAL_CPUS", "2")),
        help="split the CPU into this many logical TensorFlow devices so the cross-device contracts run without a GPU (default 2)",
    )
    parser.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                        help="run the cells in N worker processes, each loading the implementation once; 'auto': one "
                        "per usable CPU (default 1: in this process). The results are those of --jobs 1")
    parser.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                        help="run only the K-th of N stable shares of the contracts (by a checksum of the id); "
                        "join the shards' --report-json files with `keras-conformance merge`")
    parser.add_argument("--xfail", default=None, metavar="FILE", help="expected-failures TOML file (see docs/plugin.md)")
    parser.add_argument("--strict", action="store_true", help="an expected failure that passes counts as a failure")
    _add_report_arguments(parser)


def _add_report_arguments(parser):
    parser.add_argument("--report-json", default=None, metavar="PATH", help="write the JSON report here")
    parser.add_argument("--report-junit", default=None, metavar="PATH", help="write a JUnit XML report here")
    parser.add_argument("--report-html", default=None, metavar="PATH", help="write the HTML matrix here")


def _jobs(text):
    from conformance import pipeline

    try:
        return pipeline.resolve_jobs(text)
    except pipeline.UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _shard(text):
    from conformance import runner

    try:
        return runner.parse_shard(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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
    diff.add_argument("--profile", default="default", choices=("quick", "default", "thorough"))
    diff.add_argument("--seed", type=int, default=0, help="hypothesis seed for the drawn examples (default 0)")
    diff.add_argument("--probes", nargs="+", default=None, choices=("outputs", "gradients", "history"),
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
    columns = ["any"] + list(devices)
    rows = {}
    for result in results:
        column = "any" if result.device == outcomes.DEFAULT_DEVICE else result.device
        rows.setdefault((result.contract_id, result.level), {})[column] = STATUS_CELL[result.status]
    width = max(len(k[0]) for k in rows) if rows else 10
    lines = [f"{'contract':<{width}}  level   " + "  ".join(f"{c:>7}" for c in columns)]
    lines.append("-" * len(lines[0]))
    for (contract_id, level), row in rows.items():
        lines.append(f"{contract_id:<{width}}  {level:<6}  " + "  ".join(f"{row.get(c, ''):>7}" for c in columns))
    return "\n".join(lines)


def format_failure(result, contract) -> str:
    label = {outcomes.ERROR: "KIT ERROR", outcomes.TIMEOUT: "TIMEOUT"}.get(result.status, result.status.upper())
    lines = [
        f"{label} {result.contract_id} [{result.level}] on {result.impl} / {result.device}",
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
    return ", ".join(f"{tally[status]} {status.replace('_', ' ')}" for status in shown)


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
        lines.append(f"  {status.replace('_', ' ')}, {_plural(len(ids), 'cell')}: {reason}  [{named}]")
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
            where = "any" if device == outcomes.DEFAULT_DEVICE else device
            self._write_tty(f"[{len(self.done) + 1}/{self.total}] {contract.id} on {where}   {self._counts()}")

    def finish(self, result):
        self.done.append(result)

    def close(self):
        if self.tty:
            self._write_tty("")
        elif self.area is not None:
            self._area_line()

    def _counts(self, results=None):
        tally = outcomes.counts(self.done if results is None else results)
        return ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in tally.items() if n) or "starting"

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
    """The run's sessions, one per layer spec (one for a Dense-like layer), and the worker pool of
    ``--jobs`` (None for one job): report paths probed first, then everything the pipeline checks. The
    pool starts before this process imports the framework, so the imports overlap."""
    from conformance import parallel, pipeline, report

    for option, path in report.requested(args).items():
        try:
            report.check_writable(path, option)
        except ValueError as error:
            raise pipeline.UsageError(str(error)) from None
    specs = pipeline.layer_specs(args.layer, args.layer_kwargs, args.input_shape, args.input_dtype, args.input_range, args.layer_spec)
    layer = None if specs else args.layer
    pool = parallel.Pool(args.jobs, warm=pipeline.Recipe(args.impl, layer, args.logical_cpus, (specs or [None])[0])) if args.jobs > 1 else None
    try:
        sessions = [
            pipeline.open_session(args.impl, layer, args.contracts, args.profile, args.seed, args.xfail,
                                  args.strict, args.timeout, args.fail_on, args.logical_cpus, spec, args.shard)
            for spec in (specs or [None])
        ]
    except BaseException:
        if pool is not None:
            pool.close(kill=True)
        raise
    return sessions, pool


def command_run(args) -> int:
    from conformance import pipeline, report

    try:
        sessions, pool = _open_sessions(args)
    except pipeline.NothingSelected as error:
        print(f"keras-conformance: {error}", file=sys.stderr)
        return outcomes.EXIT_NO_CONTRACTS
    except pipeline.UsageError as error:
        print(f"keras-conformance: {error}", file=sys.stderr)
        return outcomes.EXIT_USAGE_ERROR
    results, interrupted, elapsed = [], False, 0.0
    try:
        for session in sessions:
            found, interrupted, seconds = _run_session(session, args.jobs, pool)
            results, elapsed = results + found, elapsed + seconds
            if interrupted:
                break
    finally:
        if pool is not None:
            pool.close(kill=interrupted)
    first = sessions[0]
    status = outcomes.exit_status(results, first.fail_on, interrupted)
    if not interrupted and results and all(r.status == outcomes.SKIPPED for r in results):
        status = outcomes.EXIT_NO_CONTRACTS
    if len(sessions) > 1:
        print(f"\nall {len(sessions)} layers: {summary_line(outcomes.counts(results))} in {elapsed:.1f}s")
    written, failed = report.write_requested(args, results, [s.impl for s in sessions], first.devices, first.seed, elapsed,
                                             first.expected, interrupted=interrupted, fail_on=first.fail_on, exit_status=status)
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
    print(f"devices: {', '.join(devices)}" + (f" ({', '.join(absent)} not visible: skipped)" if absent else "")
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
        left = pipeline.load_implementation(args.impl, logical_cpus=int(os.environ.get("KERAS_CONFORMANCE_LOGICAL_CPUS", "1")))
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
        for option, path in report.requested(args).items():
            report.check_writable(path, option)
        merged = report.merge(args.reports, matrix=args.matrix)
    except ValueError as error:
        print(f"keras-conformance merge: {error}", file=sys.stderr)
        return outcomes.EXIT_USAGE_ERROR
    fields = ("contract_id", "area", "level", "impl", "device", "status", "message", "counterexample", "seed", "profile",
              "examples", "reproduce")
    results = [outcomes.Result(**{k: r[k] for k in fields}, extra={k: r[k] for k in ("snippet", "traceback") if k in r})
               for r in merged["results"]]
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
    status = merged["exit_status"]
    wanted = {"--report-json": report.write_json, "--report-junit": report.write_junit, "--report-html": report.write_html}
    for option, path in report.requested(args).items():
        try:
            print(f"report written: {wanted[option](path, merged)}")
        except OSError as error:
            print(f"keras-conformance: {option}={path!r}: could not write the report ({error.strerror or error})", file=sys.stderr)
            status = outcomes.EXIT_INTERNAL_ERROR if status == outcomes.EXIT_OK else status
    print(f"exit status {status}: {_EXIT_MEANING[status]}")
    return status


COMMANDS = {"run": command_run, "list": command_list, "docs": command_docs, "diff": command_diff, "merge": command_merge}


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:  # before or after the run; during it, command_run reports the finished cells
        print("\nkeras-conformance: interrupted", file=sys.stderr)
        return outcomes.EXIT_INTERRUPTED
    except Exception:  # a bug of the kit's own: say so, with what a bug report needs
        traceback.print_exc()
        print(f"keras-conformance {__version__}: internal error; please report it with the traceback above", file=sys.stderr)
        return outcomes.EXIT_INTERNAL_ERROR


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
