"""``keras-conformance``: run the contracts against an implementation and print the matrix.

Exit status: 0 when every MUST contract passed (SHOULD failures are findings, not errors),
1 when a MUST contract failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from conformance import __version__

STATUS_CELL = {
    "passed": "pass",
    "failed": "FAIL",
    "skipped": "skip",
    "not_applicable": "n/a",
    "xfailed": "xfail",
    "xpassed": "XPASS",
}


def _add_run_arguments(parser):
    parser.add_argument("--impl", default="reference", help="reference, keras, tf_keras, a module, or module:attribute (default: reference)")
    parser.add_argument("--layer", default=None, help="module:Class of a Dense-like layer to test inside --impl")
    parser.add_argument("--contracts", nargs="+", default=None, metavar="PATTERN", help="contract ids (wildcards allowed) or areas")
    parser.add_argument("--profile", default="default", choices=("quick", "default", "thorough"))
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed; printed in the header when not given")
    parser.add_argument(
        "--logical-cpus",
        type=int,
        default=int(os.environ.get("KERAS_CONFORMANCE_LOGICAL_CPUS", "2")),
        help="split the CPU into this many logical TensorFlow devices so the cross-device contracts run without a GPU (default 2)",
    )
    parser.add_argument("--xfail", default=None, metavar="FILE", help="expected-failures TOML file (see docs/plugin.md)")
    parser.add_argument("--strict", action="store_true", help="an expected failure that passes counts as a failure")
    parser.add_argument("--report-json", default=None, metavar="PATH", help="write the JSON report here")
    parser.add_argument("--report-junit", default=None, metavar="PATH", help="write a JUnit XML report here")
    parser.add_argument("--report-html", default=None, metavar="PATH", help="write the HTML matrix here")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keras-conformance", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"keras-conformance {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the contracts and print the conformance matrix")
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

    from conformance import docs

    docs.add_arguments(commands.add_parser("docs", help="generate docs/contracts/*.md and docs/findings.md from the registry"))
    return parser


def _prepare_environment(args):
    if args.logical_cpus < 1:
        raise SystemExit(f"keras-conformance: --logical-cpus must be >= 1, got {args.logical_cpus}")
    os.environ["KERAS_CONFORMANCE_LOGICAL_CPUS"] = str(args.logical_cpus)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def format_matrix(results, devices) -> str:
    """Rows: contracts (id, level); columns: ``any`` for device-independent contracts, then devices."""
    columns = ["any"] + list(devices)
    rows = {}
    for result in results:
        key = (result.contract_id, result.level)
        column = "any" if result.device == "default" else result.device
        rows.setdefault(key, {})[column] = STATUS_CELL[result.status]
    width = max(len(k[0]) for k in rows) if rows else 10
    lines = [f"{'contract':<{width}}  level   " + "  ".join(f"{c:>6}" for c in columns)]
    lines.append("-" * len(lines[0]))
    for (contract_id, level), cells in rows.items():
        lines.append(f"{contract_id:<{width}}  {level:<6}  " + "  ".join(f"{cells.get(c, ''):>6}" for c in columns))
    return "\n".join(lines)


def format_failure(result, contract) -> str:
    lines = [
        f"{result.status.upper()} {result.contract_id} [{result.level}] on {result.impl} / {result.device}",
        f"  contract: {contract.statement}",
        "  " + result.message.replace("\n", "\n  "),
    ]
    if result.counterexample:
        lines.append("  minimal counterexample (hypothesis):")
        lines.append("    " + result.counterexample.replace("\n", "\n    "))
    lines.append(f"  seed: {result.seed}   reproduce: {result.reproduce}")
    if result.extra.get("snippet"):
        lines.append("  reproduce in Python:")
        lines.append("    " + result.extra["snippet"].rstrip().replace("\n", "\n    "))
    return "\n".join(lines)


def summary_line(tally) -> str:
    return (
        f"{tally['passed']} passed, {tally['failed']} failed, {tally['skipped']} skipped, "
        f"{tally['not_applicable']} not applicable, {tally['xfailed']} xfailed, {tally['xpassed']} xpassed"
    )


def command_run(args) -> int:
    _prepare_environment(args)
    from conformance import adapters, registry, report, reproduce, runner, xfail

    try:
        impl = adapters.load(args.impl, args.layer)
        contracts = registry.select(args.contracts)
        expected = xfail.load(args.xfail, strict=args.strict)
    except ValueError as error:
        print(f"keras-conformance: {error}", file=sys.stderr)
        return 2
    seed = runner.new_seed() if args.seed is None else args.seed
    devices = runner.device_matrix(impl)
    info = impl.describe()
    print(f"keras-conformance {__version__}: {info['name']} {info['version']} ({info['backend']} backend), layer {info['layer']}")
    print(f"devices: {', '.join(devices)}   profile: {args.profile}   seed: {seed}   contracts: {len(contracts)}")
    started = time.perf_counter()
    results = runner.run(impl, contracts, profile=args.profile, seed=seed, devices=devices, on_result=_progress, expected=expected)
    elapsed = time.perf_counter() - started
    reproduce.attach(results, impl)
    print("\n")
    print(format_matrix(results, devices))
    by_id = {c.id: c for c in contracts}
    problems = [r for r in results if r.status in ("failed", "xpassed")]
    if problems:
        print("\nFailures:\n")
        print("\n\n".join(format_failure(r, by_id[r.contract_id]) for r in problems))
    tally = runner.counts(results)
    must = runner.must_failures(results)
    print()
    print(f"MUST contracts failing: {len(must)}" + (f" ({', '.join(sorted({r.contract_id for r in must}))})" if must else ""))
    print(f"conformance: {summary_line(tally)} in {elapsed:.1f}s")
    for line in report.write_requested(args, results, impl, devices, seed, elapsed, expected):
        print(line)
    return 1 if must else 0


def _progress(result):
    print(STATUS_CELL[result.status][0] if result.status != "failed" else "F", end="", flush=True)


def command_diff(args) -> int:
    os.environ.setdefault("KERAS_CONFORMANCE_LOGICAL_CPUS", "1")
    from conformance import adapters, diff

    try:
        left, right = adapters.load(args.impl), adapters.load(args.against)
    except ValueError as error:
        print(f"keras-conformance: {error}", file=sys.stderr)
        return 2
    print(f"keras-conformance diff: {left.label} vs {right.label}   profile: {args.profile}   seed: {args.seed}")
    report = diff.run(left, right, profile=args.profile, seed=args.seed, probes=args.probes or diff.PROBES)
    print(diff.format_report(report))
    return 1 if report.diverged else 0


def command_list(args) -> int:
    from conformance import registry

    try:
        contracts = registry.select(args.contracts)
    except ValueError as error:
        print(f"keras-conformance: {error}", file=sys.stderr)
        return 2
    for c in contracts:
        print(f"{c.id:<40} {c.level:<6} {c.area:<11} {c.statement}")
    return 0


def command_docs(args) -> int:
    from conformance import docs

    return docs.command(args)


COMMANDS = {"run": command_run, "list": command_list, "docs": command_docs, "diff": command_diff}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
