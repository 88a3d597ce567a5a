"""distribution: a model built, called and fit data-parallel over several devices (tf.distribute's
MirroredStrategy, Keras 3's DataParallel on JAX) behaves as on one device with the same global batch.

Each check runs inside ``impl.distribution()``; an implementation without such an API (the
reference, Keras 3 on torch) or a machine with one device gives NotApplicable with the reason.
The one-device behaviour is the float64 oracle the training contracts hold one device to, so the
same interval decides both. Why it fits data parallelism too: the oracle bounds a sum of n terms by
gamma(n) * sum|terms|, whatever the order of the terms, so per-replica partial sums combined by an
all-reduce stay inside it; dividing by the replica batch and then by the replica count instead of by
the global batch adds two roundings, at most 2u|mean|, which is below the gamma(n) >= n*u term of a
batch of n >= 2 rows and inside the oracle's safety factor of 2.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from conformance import oracles, strategies
from conformance.fixtures import require
from conformance.fixtures.training import (
    assert_weights_match,
    compiled_linear,
    fit,
    history_values,
    linear_model,
    trace_epochs,
)
from conformance.oracles import DenseParams
from conformance.registry import BUILDS, MUST, WEIGHT_LAYOUT, contract
from conformance.strategies import fixed_regression_case


# Pinned for every profile: two batches per epoch and a last batch of half the size, each split
# evenly over the replicas, and data of rank 3.
TWO_BATCHES = fixed_regression_case(rows=5, batch_size=2)
RANK_3 = fixed_regression_case(rows=3, batch_size=1, inner=(2,))


def evenly_split(case, replicas):
    """``case`` with every batch, the last one included, a multiple of ``replicas`` rows: the batch size
    times ``replicas`` (each replica gets the batch size it was drawn with) and the rows cycled up to a
    multiple of ``replicas``.

    Why: Keras averages the loss per replica and divides by the replica count, which equals the global
    mean only when every replica gets as many rows; an uneven last batch trains differently on both TF
    Keras versions (and JAX refuses it), a known limitation this contract does not cover."""
    rows = replicas * math.ceil(len(case.x) / replicas)
    return dataclasses.replace(
        case,
        x=np.resize(case.x, (rows, *case.x.shape[1:])),
        y=np.resize(case.y, (rows, *case.y.shape[1:])),
        batch_size=replicas * case.batch_size,
    )


@contract(
    "DIST-WEIGHTS-ON-EVERY-DEVICE",
    level=MUST,
    statement="A Sequential built under a data-parallel distribution holds a copy of every weight on every "
    "device of the distribution.",
    rationale="A model that leaves its weights on one device while the distribution is active trains on one "
    "device: its results match the one-device ones, so only the placement shows that nothing was distributed.",
)
def check_weights_on_every_device(impl):
    """Build a one-layer Sequential inside impl.distribution(); read the devices holding each weight."""
    case = TWO_BATCHES
    with impl.distribution() as devices:
        model = compiled_linear(impl, case)
        placed = {f"weight {i}": sorted(impl.replica_devices(w)) for i, w in enumerate(model.weights)}
    wrong = {what: where for what, where in placed.items() if where != sorted(devices)}
    require(not wrong, f"expected a copy of every weight on each of {sorted(devices)}, found {wrong}")


@contract(
    "DIST-PREDICT-MATCHES-ONE-DEVICE",
    level=MUST,
    statement="predict under a data-parallel distribution returns every row, in order, with the one-device "
    "value within the float32 error bound, for global batches that split evenly over the replicas.",
    rationale="Each replica predicts its slice of every batch and the slices are gathered back; a gather in "
    "replica order instead of row order, or one that drops a replica's rows, scrambles predictions only "
    "when more than one device is used.",
    given={"case": strategies.regression_cases(), "activation": strategies.activations},
    rests_on=(BUILDS, WEIGHT_LAYOUT, "TRAIN-PREDICT-BATCHWISE"),
    examples=(dict(case=TWO_BATCHES, activation="relu"), dict(case=RANK_3, activation="softmax")),
)
def check_predict_matches_one_device(impl, case, activation):
    """predict(x, batch_size) of a Sequential with known weights built under impl.distribution(), against
    the float64 forward oracle of the one-device computation."""
    with impl.distribution() as devices:
        case = evenly_split(case, len(devices))
        model = linear_model(impl, case, activation)
        predicted = model.predict(case.x, batch_size=case.batch_size, verbose=0)
    expected = oracles.forward([DenseParams(case.kernel, case.bias, activation)], case.x)
    oracles.assert_within(f"predict(batch_size={case.batch_size}) over {len(devices)} devices", predicted, expected)


@contract(
    "DIST-FIT-MATCHES-ONE-DEVICE",
    level=MUST,
    statement="An unshuffled SGD fit under a data-parallel distribution gives the weights and History['loss'] "
    "of one device with the same global batch, for global batches that split evenly over the replicas.",
    rationale="Data parallelism must not change what is learned: each replica's gradient is taken on its "
    "share of the global batch and the shares are combined into the global-batch gradient. Summing instead "
    "of averaging, scaling the loss twice, or skipping a replica's rows trains a different model as soon as "
    "a second device is used, and only an exact comparison shows it.",
    given={"case": strategies.regression_cases(), "epochs": strategies.epoch_counts},
    rests_on=(BUILDS, WEIGHT_LAYOUT, "TRAIN-SGD-EPOCH-EQUALS-STEPS", "TRAIN-EPOCH-LOSS-WEIGHTED-MEAN"),
    examples=(dict(case=TWO_BATCHES, epochs=2), dict(case=RANK_3, epochs=1)),
)
def check_fit_matches_one_device(impl, case, epochs):
    """fit(batch_size, epochs, shuffle=False) with SGD inside impl.distribution(); the weights and each
    History loss against the float64 oracle of the one-device batch steps."""
    with impl.distribution() as devices:
        case = evenly_split(case, len(devices))
        model = compiled_linear(impl, case)
        history = fit(model, case.x, case.y, batch_size=case.batch_size, epochs=epochs, shuffle=False)
        traces = trace_epochs(case, epochs)
        where = f"over {len(devices)} devices, global batch size {case.batch_size}"
        assert_weights_match(impl, model, traces[-1], f"weights after fit {where}")
    logged = history_values(history, "loss", epochs)
    for epoch, trace in enumerate(traces):
        oracles.assert_within(f"History['loss'][{epoch}] {where}", logged[epoch], trace.epoch_loss)
