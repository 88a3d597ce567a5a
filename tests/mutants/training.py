"""Training and validation mutants: the reference with one realistic training-loop bug each.

Each mutant is a module-like object exposing the Keras API (the reference's, with ``Sequential`` or an
optimizer replaced) and declares the contract that must kill it. ``tests/test_training_contracts.py``
runs every mutant against its target and asserts the contract fails.
"""

from __future__ import annotations

import math
import types

import numpy as np
import tensorflow as tf

import reference
from reference import metrics as metrics_module
from reference import models, optimizers


class _Base(models.Sequential):
    """The reference Sequential; mutants override one behaviour each."""


def _split_last(x, y, split):
    keep = math.floor(len(x) * (1 - split))
    return (x[:keep], y[:keep]), (x[keep:], y[keep:])


class SplitFromFront(_Base):
    """validation_split holds out the first rows instead of the last."""

    target = "VAL-SPLIT-TAKES-LAST-ROWS"
    symptom = 'with the last 3 rows as validation_data'

    def fit(self, x, y, validation_split=0.0, validation_data=None, **kwargs):
        if validation_split and validation_data is None:
            held = len(x) - math.floor(len(x) * (1 - validation_split))
            validation_data, x, y = (x[:held], y[:held]), x[held:], y[held:]
        return super().fit(x, y, validation_data=validation_data, **kwargs)


class TrainsOnValidationData(_Base):
    """The validation rows are appended to the training rows."""

    target = "VAL-DOES-NOT-CHANGE-TRAINING"
    symptom = 'the weights after fit differ when validation_data is added'

    def fit(self, x, y, validation_data=None, **kwargs):
        if validation_data is not None:
            x, y = np.concatenate([x, validation_data[0]]), np.concatenate([y, validation_data[1]])
        return super().fit(x, y, validation_data=validation_data, **kwargs)


class ValLossOnTrainingData(_Base):
    """val_loss is computed on the training rows."""

    target = "VAL-LOSS-AT-END-OF-EPOCH"
    symptom = "History['val_loss']"

    def fit(self, x, y, validation_data=None, **kwargs):
        if validation_data is not None:
            validation_data = (x, y)
        return super().fit(x, y, validation_data=validation_data, **kwargs)


class ValLossBeforeLastUpdate(_Base):
    """val_loss is evaluated before the epoch's training steps instead of after them."""

    target = "VAL-LOSS-AT-END-OF-EPOCH"
    symptom = "History['val_loss']"

    def fit(self, x, y, epochs=1, validation_data=None, **kwargs):
        if validation_data is None:
            return super().fit(x, y, epochs=epochs, **kwargs)
        history = models.History(self, {})
        x_val, y_val, *weights = validation_data
        for epoch in range(epochs):
            val_loss = self.evaluate(x_val, y_val, sample_weight=weights[0] if weights else None, verbose=0)
            logs = {key: values[0] for key, values in super().fit(x, y, epochs=1, **kwargs).history.items()}
            history.append(epoch, {**logs, "val_loss": val_loss})
        return history


class DropsLastPartialBatch(_Base):
    """Rows after the last full batch are never trained on."""

    target = "TRAIN-SGD-EPOCH-EQUALS-STEPS"
    symptom = 'SGD steps of batch size'

    def fit(self, x, y, batch_size=None, **kwargs):
        if batch_size and len(x) > batch_size:
            full = len(x) // batch_size * batch_size
            x, y = x[:full], y[:full]
        return super().fit(x, y, batch_size=batch_size, **kwargs)


class UnweightedEpochMean(_Base):
    """The epoch loss averages batch losses without weighting by batch size."""

    target = "TRAIN-EPOCH-LOSS-WEIGHTED-MEAN"
    symptom = "History['loss']"

    def _update_metrics(self, y, y_pred, sample_weight, loss):
        self._loss_tracker.update_state(loss)
        for metric in self._metrics:
            metric.update_state(y, y_pred, sample_weight)


class LossOverRowsOnly(_Base):
    """The loss reduction divides the summed loss by the number of rows instead of the number of loss
    values: right for 2D data, ``steps`` times too large (and so are the gradients) for data of shape
    (rows, steps, features)."""

    target = "TRAIN-SGD-STEP-EQUALS-TAPE"
    symptom = 'weights after one full-batch SGD step'

    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics)
        mean_loss = self.loss

        def summed_over_inner_positions(y_true, y_pred, sample_weight=None):
            positions = tf.size(y_pred) // (tf.shape(y_pred)[0] * tf.shape(y_pred)[-1])
            return mean_loss(y_true, y_pred, sample_weight) * tf.cast(positions, tf.float32)

        self.loss = summed_over_inner_positions


class MetricsFromLastBatch(_Base):
    """Each compiled metric restarts at every batch, so History holds the last batch's value, not the epoch's."""

    target = "TRAIN-EPOCH-METRICS-MATCH-BATCHES"
    symptom = "History['mae']"

    def _update_metrics(self, y, y_pred, sample_weight, loss):
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(y_pred)[0])
        for metric in self._metrics:
            metric.reset_state()
            metric.update_state(y, y_pred, sample_weight)


class MetricMeanOfBatchMeans(_Base):
    """Each compiled metric averages the batch means unweighted, over-counting a partial last batch."""

    target = "TRAIN-EPOCH-METRICS-MATCH-BATCHES"
    symptom = "History['mae']"

    def _update_metrics(self, y, y_pred, sample_weight, loss):
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(y_pred)[0])
        for metric in self._metrics:
            batch_mean = tf.reduce_mean(tf.cast(metric.fn(y, y_pred), tf.float32))
            metrics_module.Mean.update_state(metric, tf.reshape(batch_mean, [1]))


class EpochsOffByOne(_Base):
    """fit(epochs=n) runs n - 1 epochs."""

    target = "TRAIN-HISTORY-ONE-FLOAT-PER-EPOCH"
    symptom = 'History.epoch is'

    def fit(self, x, y, epochs=1, **kwargs):
        return super().fit(x, y, epochs=max(epochs - 1, 0), **kwargs)


class ShuffleBeforeSplit(_Base):
    """The rows are shuffled before validation_split takes the last ones."""

    target = "VAL-SPLIT-BEFORE-SHUFFLE"
    symptom = 'expected each of rows'

    def fit(self, x, y, validation_split=0.0, shuffle=True, **kwargs):
        if validation_split and shuffle:
            order = tf.random.shuffle(tf.range(len(x))).numpy()
            x, y = np.asarray(x)[order], np.asarray(y)[order]
        return super().fit(x, y, validation_split=validation_split, shuffle=shuffle, **kwargs)


class ValidationAdvancesOptimizer(_Base):
    """Each validation batch counts as an optimizer step (Adam's bias correction moves on)."""

    target = "VAL-DOES-NOT-CHANGE-TRAINING"
    symptom = 'the weights after fit differ when validation_data is added'

    def _test_step(self, data, batch_indices):
        super()._test_step(data, batch_indices)
        self.optimizer.iterations.assign_add(1)


class SwallowsErrors(_Base):
    """Any error in fit is caught and an empty History returned."""

    target = "ERR-LENGTH-MISMATCH"
    symptom = 'no error was raised'

    def fit(self, x, y, **kwargs):
        try:
            return super().fit(x, y, **kwargs)
        except Exception:  # noqa: BLE001  (the bug under test)
            return models.History(self, {})


class MutatesInputs(_Base):
    """fit standardises the caller's x in place."""

    target = "TRAIN-INPUTS-UNCHANGED"
    symptom = "the caller's arrays"

    def fit(self, x, y, **kwargs):
        x -= x.mean(axis=0)
        return super().fit(x, y, **kwargs)


class ValidatesAfterTraining(_Base):
    """fit trains an epoch before it checks its arguments, so a failing fit has already updated the weights."""

    target = "ERR-FAILED-FIT-KEEPS-WEIGHTS"
    symptom = 'raised but weights'

    def fit(self, x, y, epochs=1, batch_size=None, **kwargs):
        try:
            super().fit(x[:, : self.layers[0].kernel.shape[0]], y[: len(x)], epochs=1, batch_size=batch_size, verbose=0)
        except Exception:  # noqa: BLE001  (the eager partial update is the bug; the real call below raises)
            pass
        return super().fit(x, y, epochs=epochs, batch_size=batch_size, **kwargs)


class ShufflesOncePerFit(_Base):
    """shuffle=True permutes the rows once and reuses that order every epoch."""

    target = "TRAIN-SHUFFLE-NEW-ORDER-EACH-EPOCH"
    symptom = 'all three epochs used the same order'

    def fit(self, x, y, shuffle=True, **kwargs):
        if shuffle:
            order = tf.random.shuffle(tf.range(len(x))).numpy()
            x, y = np.asarray(x)[order], np.asarray(y)[order]
        return super().fit(x, y, shuffle=False, **kwargs)


class SamplesWithReplacement(_Base):
    """shuffle=True draws rows with replacement (some rows twice, some never)."""

    target = "TRAIN-SHUFFLE-PERMUTES-EACH-EPOCH"
    symptom = 'not a permutation'

    def fit(self, x, y, shuffle=True, **kwargs):
        if shuffle and len(x) > 1:
            rows = tf.random.uniform((len(x),), 0, len(x), dtype=tf.int32).numpy()
            rows[0] = rows[1]  # at least one repeat, so the bug shows on every draw
            x, y = np.asarray(x)[rows], np.asarray(y)[rows]
        return super().fit(x, y, shuffle=shuffle, **kwargs)


class ValidationFreqZeroBased(_Base):
    """validation_freq=k validates 0-based epochs 0, k, 2k... (the first epoch always)."""

    target = "VAL-FREQ-SELECTS-EPOCHS"
    symptom = 'expected the values of epochs'

    def fit(self, x, y, epochs=1, validation_freq=1, **kwargs):
        if isinstance(validation_freq, int):
            validation_freq = [e + 1 for e in range(epochs) if e % validation_freq == 0]
        else:
            validation_freq = [e - 1 for e in validation_freq if e > 1] or [1]
        return super().fit(x, y, epochs=epochs, validation_freq=validation_freq, **kwargs)


class SplitWinsOverData(_Base):
    """With both given, validation_split is applied and validation_data ignored."""

    target = "VAL-DATA-WINS-OVER-SPLIT"
    symptom = "History['loss'] changed"

    def fit(self, x, y, validation_split=0.0, validation_data=None, **kwargs):
        if validation_split:
            validation_data = None
        return super().fit(x, y, validation_split=validation_split, validation_data=validation_data, **kwargs)


class UnknownOptimizerFallsBack(_Base):
    """An unknown optimizer name silently becomes SGD."""

    target = "ERR-UNKNOWN-OPTIMIZER"
    symptom = 'no error was raised'

    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        try:
            optimizers.get(optimizer)
        except ValueError:
            optimizer = "sgd"
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics)


class AdamWithoutBiasCorrection(optimizers.Adam):
    """Adam that forgets the 1 - beta^t bias correction."""

    symptom = 'weights after fit with Adam'

    def update_step(self, gradient, variable, learning_rate, slots):
        m, v = slots["momentum"], slots["velocity"]
        m.assign_add((gradient - m) * (1 - self.beta_1))
        v.assign_add((tf.square(gradient) - v) * (1 - self.beta_2))
        variable.assign_sub(m * learning_rate / (tf.sqrt(v) + self.epsilon))


def _module(name, sequential=None, **optimizer_overrides):
    """A copy of the reference's public namespace with ``Sequential`` and optimizers replaced."""
    module = types.ModuleType(f"mutant_{name}")
    for attribute in reference.__all__:
        setattr(module, attribute, getattr(reference, attribute))
    if sequential is not None:
        module.Sequential = sequential
    if optimizer_overrides:
        module.optimizers = types.SimpleNamespace(**{**vars(optimizers), **optimizer_overrides})
    return module


_SEQUENTIAL_MUTANTS = [
    SplitFromFront, TrainsOnValidationData, ValLossOnTrainingData, ValLossBeforeLastUpdate, DropsLastPartialBatch,
    UnweightedEpochMean, LossOverRowsOnly, MetricsFromLastBatch, MetricMeanOfBatchMeans, EpochsOffByOne,
    ShuffleBeforeSplit, ValidationAdvancesOptimizer, SwallowsErrors, MutatesInputs, ValidatesAfterTraining,
    ShufflesOncePerFit, SamplesWithReplacement, ValidationFreqZeroBased, SplitWinsOverData, UnknownOptimizerFallsBack,
]

# name -> (module-like object, target contract id)
MUTANTS = {cls.__name__: (_module(cls.__name__, sequential=cls), cls.target) for cls in _SEQUENTIAL_MUTANTS}
MUTANTS["AdamWithoutBiasCorrection"] = (_module("AdamWithoutBiasCorrection", Adam=AdamWithoutBiasCorrection), "TRAIN-ADAM-MATCHES-ORACLE")
# name -> a fragment of the failure message a user reads: a kill for another reason (a crash in setup)
# would not contain it
SYMPTOMS = {cls.__name__: cls.symptom for cls in (*_SEQUENTIAL_MUTANTS, AdamWithoutBiasCorrection)}
