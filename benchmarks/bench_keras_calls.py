"""What one fit, evaluate and predict of a tiny model cost in the framework itself: the floor under the
training, validation, compile and errors areas, whose examples each make a few such calls.

    python benchmarks/bench_keras_calls.py [--impl keras tf_keras] [--repeats 5]

For each framework it times, on 5 rows of 3 features in batches of 2 (the size the contracts draw):
a fresh Sequential([Dense(2)]) compiled and fitted two epochs (what an example pays when its model is new:
tracing included), then the same calls on a model that has already run them (what a reused model pays,
:meth:`conformance.adapters.base.Implementation.reused_model`), and an eager call for scale. Milliseconds,
the median of ``--repeats``; compare the ratios, not the absolute times, across machines.
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", nargs="+", default=["keras", "tf_keras"], help="framework modules to time")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per figure (the median is shown)")
    arguments = parser.parse_args(argv)
    for name in arguments.impl:
        figures = measure(name, arguments.repeats)
        fresh = figures["fresh model, compile, fit"]
        print(f"{name}:")
        for what, ms in figures.items():
            print(f"  {what:28s} {ms:8.1f} ms  ({ms / fresh:.2f}x a fresh fit)")


if __name__ == "__main__":
    main()
