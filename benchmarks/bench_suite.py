"""How long the conformance suite takes, and how much of that is the kit rather than the framework.

    python benchmarks/bench_suite.py [--impl reference] [--areas layer|all] [--profiles quick default]
    python benchmarks/bench_suite.py --compare-jobs 2 [--profiles default quick]
    python benchmarks/bench_suite.py --compare-isolation [--profiles quick]
    python benchmarks/bench_suite.py --impl keras --compare-reuse [--areas fit|all] [--profiles default]

For each profile it runs the selected contracts once (after a warm-up run that pays for imports and
graph tracing) and prints the wall time. While the suite runs, a sampling thread looks at the main
thread's stack every millisecond: the time since the previous sample counts as framework time when
the stack passes through the framework (tensorflow, keras, tf_keras, torch, jax, reference), as kit
time otherwise
(hypothesis drawing, oracles, bookkeeping). The kit's overhead is reported as kit / framework.
Ratios, not absolute times, are what to compare across machines.

With ``--compare-jobs N`` it instead runs ``keras-conformance run`` on every contract, once serially in
one process (``--in-process``) and once with ``--jobs N`` (same seed), each as a fresh process so both
pay their imports as a user does; it checks the two reports agree cell for cell and prints both wall
times and their ratio (the target for N = 2 on two cores: at most 0.65). ``--compare-isolation`` does
the same for ``--in-process`` against the default, every cell in one isolated worker process: what
isolation costs.

With ``--compare-reuse`` it runs the selected contracts in this process twice, each time on a freshly
loaded implementation: first making every compiled model afresh, then reusing traced models across
examples (``Implementation.reuse_models``); it prints both wall times, their ratio, how many models were
made and reused, and whether the two runs agree cell for cell (status, examples, first message line).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_CONFORMANCE_LOGICAL_CPUS", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from conformance import adapters, catalog, outcomes, pipeline, registry, runner  # noqa: E402

LAYER_AREAS = ["generic", "lifecycle", "shapes", "numerics", "gradients", "sequential"]
FIT_AREAS = list(registry.FIT_AREAS)
FRAMEWORK_PACKAGES = ("tensorflow", "keras", "tf_keras", "torch", "jax", "jaxlib", "reference")


class StackSampler:
    """Counts main-thread samples inside and outside framework code."""

    def __init__(self, interval=0.001):
        self.interval = interval
        self.framework = 0
        self.kit = 0
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _in_framework(self, frame) -> bool:
        while frame is not None:
            path = frame.f_code.co_filename
            if any(f"{os.sep}{package}{os.sep}" in path for package in FRAMEWORK_PACKAGES):
                return True
            frame = frame.f_back
        return False

    def _sample(self):
        # Each sample stands for the time since the previous one: pure-Python kit code holds the
        # GIL for up to the switch interval (5 ms) while framework kernels release it, so counting
        # samples instead of time would under-report the kit.
        last = time.perf_counter()
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self._main)
            now = time.perf_counter()
            elapsed, last = now - last, now
            if frame is None:
                continue
            if self._in_framework(frame):
                self.framework += elapsed
            else:
                self.kit += elapsed

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def cell_table(report):
    """What must not depend on --jobs or on reusing models, cell by cell."""
    return [(r["contract_id"], r["device"], r["status"], r["seed"], r["examples"], r["message"].split("\n")[0])
            for r in report["results"]]


def agreement(first, second) -> tuple[bool, str]:
    """Whether two cell tables are equal, and a few words saying so (or the first differences)."""
    if first == second:
        return True, f"equal ({len(first)} cells)"
    return False, "DIFFERENT: " + str([pair for pair in zip(first, second) if pair[0] != pair[1]][:3])


def run_suite(impl, areas, profile, seed) -> list:
    """Results of the contracts of ``areas`` (None: every contract) on the loaded ``impl``, in this process."""
    return pipeline.open_session(impl=impl, contracts=areas, profile=profile, seed=seed).run()


def compare_reuse(impl_name, areas, profiles, seed) -> bool:
    """Time the contracts with every model made afresh against reused traced models; whether each pair agreed."""
    run_suite(adapters.load(impl_name), FIT_AREAS, "quick", seed)  # warm-up: imports, TensorFlow's first traces
    agreed = True
    print(f"{impl_name}: contracts of {areas or 'every area'}, seed {seed}, in this process, each run on a freshly "
          "loaded implementation")
    print(f"{'profile':<10}{'fresh s':>10}{'reused s':>10}{'ratio':>8}{'cpu s (fresh / reused)':>24}{'ratio':>8}"
          f"{'models made / reused':>22}  results")
    for profile in profiles:
        walls, cpus, tables = [], [], []
        for reuse in (False, True):
            impl = adapters.load(impl_name)
            impl.reuse_models = impl.reuse_models and reuse
            started, used = time.perf_counter(), time.process_time()
            results = run_suite(impl, areas, profile, seed)
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - used)  # all threads: less sensitive than wall time to a busy machine
            tables.append(cell_table({"results": [result.to_record() for result in results]}))
        same, verdict = agreement(*tables)
        agreed = agreed and same
        cpu, models = f"{cpus[0]:.0f} / {cpus[1]:.0f}", f"{impl.models.made} / {impl.models.reused}"
        print(f"{profile:<10}{walls[0]:>10.1f}{walls[1]:>10.1f}{walls[1] / walls[0]:>7.2f}x{cpu:>24}{cpus[1] / cpus[0]:>7.2f}x"
              f"{models:>22}  {verdict}", flush=True)
    print_load()
    return agreed


def print_load():
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall ratios need an otherwise idle machine)")


def compare_runs(impl, profiles, seed, baseline, variant) -> bool:
    """Time ``run`` with the options ``baseline`` against ``run`` with ``variant`` per profile; whether
    every pair agreed cell for cell."""
    import json
    import subprocess
    import tempfile

    agreed = True
    names = [" ".join(options) or "(default)" for options in (baseline, variant)]
    print(f"{impl}: every contract, seed {seed}, wall time of `keras-conformance run` as a fresh process")
    print(f"{'profile':<10}{names[0] + ' s':>16}{names[1] + ' s':>16}{'ratio':>8}{'cpu s':>14}  results")
    for profile in profiles:
        walls, cpus, tables = [], [], []
        for options in (baseline, variant):
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, "report.json")
                command = [sys.executable, "-m", "conformance", "run", "--impl", impl, "--profile", profile, "--seed", str(seed),
                           *options, "--report-json", path]
                started, used = time.perf_counter(), _children_cpu()
                subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                walls.append(time.perf_counter() - started)
                cpus.append(_children_cpu() - used)  # the run and its workers (reaped descendants count)
                with open(path) as stream:
                    tables.append(cell_table(json.load(stream)))
        same, verdict = agreement(*tables)
        agreed = agreed and same
        cpu = f"{cpus[0]:.0f} / {cpus[1]:.0f}"
        print(f"{profile:<10}{walls[0]:>16.1f}{walls[1]:>16.1f}{walls[1] / walls[0]:>7.2f}x{cpu:>14}  {verdict}", flush=True)
    print_load()
    return agreed


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="reference")
    parser.add_argument("--areas", default="layer", choices=("layer", "fit", "all"))
    parser.add_argument("--profiles", nargs="+", default=["quick", "default"])
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--compare-jobs", type=int, default=None, metavar="N",
                        help="time every contract serially in process against --jobs N instead (see above)")
    parser.add_argument("--compare-isolation", action="store_true",
                        help="time every contract in process (--in-process) against isolated in one worker (the default)")
    parser.add_argument("--compare-reuse", action="store_true",
                        help="time the selected contracts with fresh models against reused traced models instead (see above)")
    args = parser.parse_args(argv)
    areas = {"layer": LAYER_AREAS, "fit": FIT_AREAS, "all": None}[args.areas]
    if args.compare_jobs:
        return 0 if compare_runs(args.impl, args.profiles, args.seed, ["--in-process"], ["--jobs", str(args.compare_jobs)]) else 1
    if args.compare_isolation:
        return 0 if compare_runs(args.impl, args.profiles, args.seed, ["--in-process"], []) else 1
    if args.compare_reuse:
        return 0 if compare_reuse(args.impl, areas, args.profiles, args.seed) else 1

    impl = adapters.load(args.impl)
    contracts = catalog.select(areas)
    run_suite(impl, areas, "quick", args.seed)  # warm-up: imports, tracing
    print(f"{args.impl}: {len(contracts)} contracts ({args.areas}), devices {runner.device_matrix(impl)}")
    print(f"{'profile':<10}{'wall s':>10}{'framework %':>14}{'kit/framework':>15}{'failed':>8}")
    for profile in args.profiles:
        started = time.perf_counter()
        with StackSampler() as sampler:
            results = run_suite(impl, areas, profile, args.seed)
        wall = time.perf_counter() - started
        total = max(1e-9, sampler.framework + sampler.kit)
        overhead = sampler.kit / max(1e-9, sampler.framework)
        failed = outcomes.counts(results)[outcomes.FAILED]
        print(f"{profile:<10}{wall:>10.1f}{100 * sampler.framework / total:>13.0f}%{overhead:>14.0%}{failed:>8}")


if __name__ == "__main__":
    sys.exit(main())
