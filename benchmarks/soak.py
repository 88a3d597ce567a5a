"""Soak run: correct implementations over many fresh seeds must never be told FAILED.

    python benchmarks/soak.py [--seeds 5] [--impls reference keras tf_keras] [--profile default]
                              [--thorough 'TRAIN-*-MATCHES-ORACLE' TRAIN-SGD-EPOCH-EQUALS-STEPS] [--out soak.json]

For each fresh seed and each implementation it runs every contract on ``--profile``, then the
``--thorough`` contracts (the optimizer oracles, whose bounds are the most delicate) on the thorough
profile. The reference, Keras 3 and tf_keras are correct implementations of what the kit checks, so
every MUST cell that fails, errors or times out is a bug of the kit (a contract or an oracle that is
wrong), printed with its seed and replay command. SHOULD findings are counted, not judged: the
documented ones (docs/findings.md) are Keras's real behaviour. Exit status 1 when anything a correct
implementation must pass did not. Not a timed test: it takes tens of minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from conformance import adapters, outcomes  # noqa: E402

adapters.prepare_environment()

from conformance import catalog, runner  # noqa: E402
from conformance.pipeline import Session  # noqa: E402

DEFAULT_THOROUGH = ["TRAIN-*-MATCHES-ORACLE", "TRAIN-SGD-STEP-EQUALS-TAPE", "TRAIN-SGD-EPOCH-EQUALS-STEPS"]
WRONG = (outcomes.FAILED, outcomes.ERROR, outcomes.TIMEOUT)


def soak(impls, seeds, profile, thorough, timeout):
    """``{"runs": [...], "problems": [...]}``: one run per (seed, implementation, profile)."""
    loaded = {name: adapters.load(name) for name in impls}
    everything, delicate = catalog.select(None), catalog.select(thorough)
    runs, problems = [], []
    for seed in seeds:
        for name, impl in loaded.items():
            # The thorough pass runs on the first device only: the other CPU devices take the same code path,
            # and the device contracts are in the default-profile pass.
            for run_profile, contracts, devices in ((profile, everything, None), ("thorough", delicate, runner.device_matrix(impl)[:1])):
                started = time.perf_counter()
                results = Session(impl, contracts, profile=run_profile, seed=seed, timeout=timeout, devices=devices).run()
                tally = outcomes.counts(results)
                must_wrong = [r for r in results if r.level == outcomes.MUST and r.status in WRONG]
                errors = [r for r in results if r.status in (outcomes.ERROR, outcomes.TIMEOUT)]
                runs.append({
                    "impl": name, "seed": seed, "profile": run_profile, "cells": len(results),
                    "seconds": round(time.perf_counter() - started, 1), "counts": tally,
                    "should_findings": sorted({r.contract_id for r in results if r.level == outcomes.SHOULD and r.status == outcomes.FAILED}),
                })
                for result in must_wrong + [r for r in errors if r.level == outcomes.SHOULD]:
                    problems.append({k: getattr(result, k) for k in ("contract_id", "impl", "device", "status", "seed", "profile", "message", "reproduce")})
                print(f"seed {seed:>10}  {name:<9} {run_profile:<8} {len(results):>4} cells  "
                      f"{tally['passed']:>4} passed  {len(must_wrong)} MUST wrong  {len(errors)} error/timeout  "
                      f"({runs[-1]['seconds']} s)", flush=True)
    return {"runs": runs, "problems": problems}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="how many fresh random seeds (default 5)")
    parser.add_argument("--seed-list", type=int, nargs="+", default=None, help="replay these seeds instead")
    parser.add_argument("--impls", nargs="+", default=["reference", "keras", "tf_keras"])
    parser.add_argument("--profile", default="default", choices=tuple(runner.PROFILES))
    parser.add_argument("--thorough", nargs="+", default=DEFAULT_THOROUGH, metavar="PATTERN",
                        help="contracts also run on the thorough profile (default: the optimizer and SGD oracles)")
    parser.add_argument("--timeout", type=float, default=runner.DEFAULT_TIMEOUT)
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    seeds = args.seed_list or [runner.new_seed() for _ in range(args.seeds)]
    started = time.perf_counter()
    record = soak(args.impls, seeds, args.profile, args.thorough, args.timeout)
    runs, problems = record["runs"], record["problems"]
    cells = sum(r["cells"] for r in runs)
    must_failures = sum(1 for p in problems if p["status"] == outcomes.FAILED)
    errors = sum(1 for p in problems if p["status"] == outcomes.ERROR)
    timeouts = sum(1 for p in problems if p["status"] == outcomes.TIMEOUT)
    print(f"\nsoak: {len(runs)} runs, {cells} cells, seeds {seeds}, {time.perf_counter() - started:.0f} s")
    print(f"MUST failures on correct implementations: {must_failures}   kit errors: {errors}   timeouts: {timeouts}")
    for name in args.impls:
        findings = sorted({f for r in runs if r["impl"] == name for f in r["should_findings"]})
        print(f"  {name} SHOULD findings: {', '.join(findings) or 'none'}")
    for problem in problems:
        print(f"\n{problem['status'].upper()} {problem['contract_id']} on {problem['impl']} / {problem['device']} "
              f"(seed {problem['seed']}, {problem['profile']})\n  {problem['message'][:600]}\n  replay: {problem['reproduce']}")
    if args.out:
        from conformance.report import write_json

        write_json(args.out, {"seeds": seeds, "profile": args.profile, "thorough": args.thorough, **record})
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
