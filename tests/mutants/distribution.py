"""Distribution mutants: Keras 3 (TensorFlow backend) with one realistic data-parallel bug each.

Each bug shows only when more than one replica runs: on one device every mutant is plain Keras 3.
Each mutant is a module-like copy of ``keras`` with ``Sequential`` replaced, and declares the contract
that must kill it and the symptom its failure message shows. ``tests/test_distribution_contracts.py``
runs every mutant against its target and asserts the contract fails.
"""

from __future__ import annotations

import threading
import types

import keras
import numpy as np
import tensorflow as tf


def _replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync


class SumsReplicaGradients(keras.Sequential):
    """Each replica's mean loss is not divided by the replica count, so the all-reduce sums the
    per-replica gradients instead of averaging them: the step is num_replicas times too large."""

    target = "DIST-FIT-MATCHES-ONE-DEVICE"
    symptom = "weights after fit over 2 devices"

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        return loss * _replicas()


class GathersPredictionsByReplica(keras.Sequential):
    """predict concatenates each replica's slices of every batch, replica after replica, instead of
    putting each batch's slices back in row order."""

    target = "DIST-PREDICT-MATCHES-ONE-DEVICE"
    symptom = "over 2 devices"

    def predict(self, x, batch_size=None, **kwargs):
        outputs = super().predict(x, batch_size=batch_size, **kwargs)
        replicas = self.distribute_strategy.num_replicas_in_sync
        batch_size = batch_size or 32
        by_replica = [[] for _ in range(replicas)]
        for start in range(0, len(outputs), batch_size):
            for replica, rows in enumerate(np.array_split(outputs[start : start + batch_size], replicas)):
                by_replica[replica].append(rows)
        return np.concatenate([rows for slices in by_replica for rows in slices])


class BuildsOutsideTheStrategy(keras.Sequential):
    """The weights are created where no strategy is in scope (here: a worker thread, as for a model
    built before entering ``strategy.scope()``), so they live on one device only."""

    target = "DIST-WEIGHTS-ON-EVERY-DEVICE"
    symptom = "expected a copy of every weight on each of"

    def build(self, input_shape=None):
        worker = threading.Thread(target=super().build, args=(input_shape,))
        worker.start()
        worker.join()


def _module(sequential):
    """A copy of ``keras``'s public namespace with ``Sequential`` replaced."""
    module = types.ModuleType(f"mutant_{sequential.__name__}")
    for attribute in dir(keras):
        if not attribute.startswith("_"):
            setattr(module, attribute, getattr(keras, attribute))
    module.__version__ = keras.__version__
    module.Sequential = sequential
    return module


_MUTANTS = [SumsReplicaGradients, GathersPredictionsByReplica, BuildsOutsideTheStrategy]

# name -> (module-like object, target contract id)
MUTANTS = {cls.__name__: (_module(cls), cls.target) for cls in _MUTANTS}
# name -> a fragment of the failure message a user reads: a kill for another reason would not contain it
SYMPTOMS = {cls.__name__: cls.symptom for cls in _MUTANTS}
