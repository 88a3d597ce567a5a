"""Fit throughput (samples/s) of `reference` against Keras 3 on the same models and data.

Run: `PYTHONPATH=. python benchmarks/bench_fit.py [--epochs 3] [--repeats 3]`.
Each framework is warmed up for one epoch (tracing excluded), then timed over
`--epochs` epochs, `--repeats` times; the median is reported.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import keras  # noqa: E402
import reference  # noqa: E402


def two_clouds(num_per_class=1000, seed=0):
    """Returns the book's chapter-3 problem: two 2-D Gaussian clouds, labels 0 / 1."""
    rng = np.random.default_rng(seed)
    cov = [[1, 0.5], [0.5, 1]]
    negative = rng.multivariate_normal([0, 3], cov, size=num_per_class)
    positive = rng.multivariate_normal([3, 0], cov, size=num_per_class)
    x = np.vstack([negative, positive]).astype("float32")
    y = np.vstack([np.zeros((num_per_class, 1)), np.ones((num_per_class, 1))]).astype("float32")
    return x, y


def synthetic_mnist(num_samples=10_000, seed=0):
    """Returns MNIST-shaped random data: 784 features in [0, 1), 10 integer classes."""
    rng = np.random.default_rng(seed)
    return rng.random((num_samples, 784), dtype=np.float32), rng.integers(0, 10, num_samples)


CASES = {
    "two clouds 2000x2, Dense(1, sigmoid)": (
        two_clouds, lambda lib: [lib.layers.Dense(1, activation="sigmoid")],
        "binary_crossentropy"),
    "MLP 784-512-10, 10k samples": (
        synthetic_mnist,
        lambda lib: [lib.layers.Dense(512, activation="relu"),
                     lib.layers.Dense(10, activation="softmax")],
        "sparse_categorical_crossentropy"),
}


def samples_per_second(lib, make_layers, loss, x, y, epochs, repeats, batch_size=128):
    """Returns the median fit throughput over `repeats` timed runs of `epochs` epochs."""
    model = lib.Sequential(make_layers(lib))
    model.compile(optimizer="rmsprop", loss=loss, metrics=["accuracy"])
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)  # warm-up: tracing
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
        rates.append(len(x) * epochs / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'case':<40}{'reference/s':>14}{'keras 3/s':>14}{'ratio':>8}")
    for case, (make_data, make_layers, loss) in CASES.items():
        x, y = make_data()
        rates = [samples_per_second(lib, make_layers, loss, x, y, args.epochs, args.repeats)
                 for lib in (reference, keras)]
        print(f"{case:<40}{rates[0]:>14,.0f}{rates[1]:>14,.0f}{rates[0] / rates[1]:>8.2f}")


if __name__ == "__main__":
    main()
