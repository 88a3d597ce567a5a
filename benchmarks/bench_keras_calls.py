"""What one fit, evaluate and predict of a tiny model cost in the framework itself: the floor under the
training, validation, compile and errors areas, whose examples each make a few such calls.

    python benchmarks/bench_keras_calls.py [--impl keras tf_keras] [--repeats 5]
    python benchmarks/bench_keras_calls.py --whole-run [--profile default] [--seed 7]

For each framework it times, on 5 rows of 3 features in batches of 2 (the size the contracts draw):
a fresh Sequential([Dense(2)]) compiled and fitted two epochs (what an example pays when its model is new:
tracing included), then the same calls on a model that has already run them (what a reused model pays,
:meth:`conformance.adapters.base.Implementation.reused_model`), and an eager call for scale. Milliseconds,
the median of ``--repeats``; compare the ratios, not the absolute times, across machines.

With ``--whole-run`` it instead runs every contract on Keras 3 (serially, in this process) with ``Model.fit``,
``evaluate`` and ``predict`` timed, and prints how many calls each made and what share of the run they took: what
no scheduling of the kit's own work can remove.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def _median_ms(call, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def measure(module_name, repeats):
    framework = importlib.import_module(module_name)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)).astype("float32"), rng.normal(size=(5, 2)).astype("float32")

    def model():
        made = framework.Sequential([framework.layers.Dense(2)])
        made.compile(optimizer="sgd", loss="mse")
        return made

    def fit(on):
        on.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)

    traced = model()
    fit(traced)
    traced.evaluate(x, y, batch_size=2, verbose=0)
    traced.predict(x, batch_size=2, verbose=0)
    return {
        "fresh model, compile, fit": _median_ms(lambda: fit(model()), repeats),
        "traced model: fit": _median_ms(lambda: fit(traced), repeats),
        "traced model: evaluate": _median_ms(lambda: traced.evaluate(x, y, batch_size=2, verbose=0), repeats),
        "traced model: predict": _median_ms(lambda: traced.predict(x, batch_size=2, verbose=0), repeats),
        "eager call": _median_ms(lambda: traced(x), repeats),
    }


def whole_run(profile, seed):
    """Every contract on Keras 3, serially; prints the time inside Keras's fit, evaluate and predict."""
    import collections
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("KERAS_CONFORMANCE_LOGICAL_CPUS", "2")
    from conformance import pipeline
    import keras

    spent, calls, depth = collections.Counter(), collections.Counter(), [0]

    def timed(name, original):
        def call(self, *args, **kwargs):
            if depth[0]:  # fit's own evaluate on validation data counts as fit
                return original(self, *args, **kwargs)
            depth[0] += 1
            started = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                depth[0] -= 1
                spent[name] += time.perf_counter() - started
                calls[name] += 1
        return call

    for name in ("fit", "evaluate", "predict"):
        setattr(keras.Model, name, timed(name, getattr(keras.Model, name)))
    session = pipeline.open_session(impl="keras", profile=profile, seed=seed)
    started = time.perf_counter()
    results = session.run()
    total = time.perf_counter() - started
    print(f"keras {keras.__version__}, every contract ({len(results)} cells), {profile} profile, seed {seed}: {total:.1f} s")
    for name in spent:
        print(f"  {name:9s} {calls[name]:5d} calls {spent[name]:7.1f} s  {1000 * spent[name] / calls[name]:6.0f} ms each")
    inside = sum(spent.values())
    print(f"  inside Keras's fit, evaluate and predict: {inside:.1f} s, {inside / total:.0%} of the run")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", nargs="+", default=["keras", "tf_keras"], help="framework modules to time")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per figure (the median is shown)")
    parser.add_argument("--whole-run", action="store_true", help="time Keras's calls during a run of every contract")
    parser.add_argument("--profile", default="default", help="the whole run's profile")
    parser.add_argument("--seed", type=int, default=7, help="the whole run's seed")
    arguments = parser.parse_args(argv)
    if arguments.whole_run:
        whole_run(arguments.profile, arguments.seed)
        return
    for name in arguments.impl:
        figures = measure(name, arguments.repeats)
        fresh = figures["fresh model, compile, fit"]
        print(f"{name}:")
        for what, ms in figures.items():
            print(f"  {what:28s} {ms:8.1f} ms  ({ms / fresh:.2f}x a fresh fit)")


if __name__ == "__main__":
    main()
