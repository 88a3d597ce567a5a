"""How many mutants of the two zoos their target contracts kill, per profile, over fresh seeds.

    python benchmarks/bench_zoo.py [--profiles quick default] [--seeds 3] [--zoos layers training]

The tests run each mutant once, at the quick profile and one fixed seed, so a contract that kills a
mutant only on lucky draws passes them. This script runs every mutant of tests/mutants/layers.py and
tests/mutants/training.py against its target contract, exactly as tests/test_layer_mutants.py and
tests/test_training_contracts.py do, once per profile and per fresh seed, and prints per profile the
runs (mutant x seed), how many were killed, the kill rate, and every survivor with its seed, so that
``keras-conformance run ... --seed`` replays it. The target is 100% at quick.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from conformance import adapters, catalog, outcomes, runner  # noqa: E402

adapters.prepare_environment(2)  # WeightsPinnedToCPU0 runs on CPU:1
from conformance.adapters.base import Implementation  # noqa: E402


def layer_zoo():
    """``(name, implementation, contract, device)`` for every layer and Sequential mutant."""
    from tests.test_layer_mutants import MUTANTS, implementation_for

    for mutant in MUTANTS:
        contract = catalog.get(mutant.targets)
        device = getattr(mutant, "device", "CPU:0") if contract.per_device else runner.DEFAULT_DEVICE
        yield mutant.__name__, implementation_for(mutant), contract, device


def training_zoo():
    """``(name, implementation, contract, device)`` for every training mutant (on the reference's backend)."""
    from tests.mutants.training import MUTANTS

    backend = adapters.load("reference").backend
    for name, (module, target) in sorted(MUTANTS.items()):
        contract = catalog.get(target)
        yield name, Implementation(name, module, backend), contract, "CPU:0" if contract.per_device else runner.DEFAULT_DEVICE


ZOOS = {"layers": layer_zoo, "training": training_zoo}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["quick", "default"], choices=list(runner.PROFILES))
    parser.add_argument("--seeds", type=int, default=3, help="fresh seeds per profile (default 3)")
    parser.add_argument("--zoos", nargs="+", default=list(ZOOS), choices=list(ZOOS))
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be a positive int, got {args.seeds}")

    mutants = [(zoo, *entry) for zoo in args.zoos for entry in ZOOS[zoo]()]
    all_killed = True
    for profile in args.profiles:
        seeds = [runner.new_seed() for _ in range(args.seeds)]
        started = time.perf_counter()
        killed, survivors = {zoo: 0 for zoo in args.zoos}, []
        for seed in seeds:
            for zoo, name, impl, contract, device in mutants:
                result = runner.run_cell(contract, impl, device, profile, seed)
                if result.status == outcomes.FAILED:
                    killed[zoo] += 1
                else:
                    survivors.append(f"  {zoo}/{name} survived {contract.id} on {device} with seed {seed}: {result.status} {result.message}".rstrip())
        elapsed = time.perf_counter() - started
        print(f"profile {profile}: seeds {', '.join(map(str, seeds))} ({elapsed:.0f} s)")
        for zoo in args.zoos:
            runs = sum(1 for entry in mutants if entry[0] == zoo) * len(seeds)
            print(f"  {zoo:<9} mutants {runs // len(seeds):>3}  runs {runs:>4}  killed {killed[zoo]:>4}  kill rate {killed[zoo] / runs:7.1%}")
        print("\n".join(survivors) if survivors else "  survivors: none")
        all_killed &= not survivors
    return 0 if all_killed else 1


if __name__ == "__main__":
    sys.exit(main())
