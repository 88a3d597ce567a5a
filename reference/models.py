"""Sequential: a stack of layers with compile / fit / evaluate / predict."""
import math
import time

import numpy as np
import tensorflow as tf

from reference import losses, metrics as metrics_module, optimizers
from reference.layers import Layer, shape_tuple


class History:
    """What `fit` returns: `history` maps `loss`, each metric and their `val_` keys to one float per epoch.

    Attributes: `history`, `epoch` (the epoch indices that ran), `params` (`verbose`, `epochs` and `steps`
    per epoch) and `model`.
    """

    def __init__(self, model, params):
        self.model, self.params, self.epoch, self.history = model, params, [], {}

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)


def _as_array(value, argument, floating):
    """Returns a private NumPy copy of `value`: float32 if floating, else numeric."""
    try:
        array = np.array(value, copy=True)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{argument} must be a numeric array, got {type(value).__name__}") from error
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{argument} must be numeric, got an array of dtype {array.dtype}")
    if floating and array.dtype.kind != "f":
        raise TypeError(f"{argument} must be floating point, got dtype {array.dtype}; "
                        f"cast it first, e.g. {argument}.astype('float32')")
    if array.ndim == 0:
        raise ValueError(f"{argument} must have a batch dimension, got a scalar")
    return array.astype(np.float32) if array.dtype.kind in "fb" else array


def _as_data(method, x, y, sample_weight=None):
    """Returns `(x, y, sample_weight)` as tensors after checking types and lengths."""
    arrays = [_as_array(x, "x", True), _as_array(y, "y", False)]
    arrays.append(np.ones(len(arrays[0]), np.float32) if sample_weight is None
                  else _as_array(sample_weight, "sample_weight", False).astype(np.float32))
    sizes = {name: len(array) for name, array in zip(("x", "y", "sample_weight"), arrays)}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{method}: x, y and sample_weight must have the same number of samples, got {sizes}")
    if sizes["x"] == 0:
        raise ValueError(f"{method}: x and y are empty; there is nothing to {method} on")
    return tuple(tf.constant(array) for array in arrays)


def _check_int(value, argument, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argument} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{argument} must be >= {minimum}, got {value!r}")
    return int(value)


def _check_verbose(verbose):
    if verbose != "auto" and (isinstance(verbose, bool) or verbose not in (0, 1, 2)):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return 1 if verbose == "auto" else verbose


# Row indices of a batch of any size: one trace of a step serves every batch of an epoch, the partial
# last one included (tracing, not computing, is most of a small model's fit).
ANY_BATCH = tf.TensorSpec([None], tf.int32)


def _batches(num_samples, batch_size, order):
    """Splits the index tensor `order` into consecutive batches; the last may be partial."""
    sizes = [batch_size] * (num_samples // batch_size)
    return tf.split(order, sizes + [num_samples % batch_size] if num_samples % batch_size else sizes)


def _format_value(value):
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _format_step_time(seconds):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    return f"{seconds * 1e3:.0f}ms/step" if seconds >= 1e-3 else f"{seconds * 1e6:.0f}us/step"


class _ProgressBar:
    """Keras-style epoch progress: a bar redrawn in place (verbose=1) or one line at the end (verbose=2).

    `update` redraws during the epoch; `finish(logs)` prints the final line, which in `fit`
    carries the `val_` logs too, as Keras's does.
    """

    def __init__(self, steps, verbose):
        self.steps, self.verbose, self.start, self.drawn, self.width = steps, verbose, time.time(), 0.0, 0

    def update(self, step, logs_fn):
        now = time.time()
        if self.verbose == 2 or step == self.steps or now - self.drawn < 0.1:
            return  # reading the metrics back waits for the step, so redraw at most 10 times a second
        self.drawn = now
        eta = (now - self.start) / step * (self.steps - step)
        self._draw(step, f"{eta:.0f}s", logs_fn(), end="")

    def finish(self, logs):
        elapsed = time.time() - self.start
        if self.verbose == 2:
            fields = [f"{self.steps}/{self.steps}", f"{elapsed:.0f}s", _format_step_time(elapsed / self.steps)]
            print(" - ".join(fields + [f"{name}: {_format_value(value)}" for name, value in logs.items()]))
        else:
            self._draw(self.steps, f"{elapsed:.0f}s", logs, end="\n")

    def _draw(self, step, seconds, logs, end):
        bar = ("\u2501" * int(20 * step / self.steps)).ljust(20)
        time_per_step = _format_step_time((time.time() - self.start) / step)
        line = f"{step:>{len(str(self.steps))}}/{self.steps} {bar} {seconds} {time_per_step}" + "".join(
            f" - {name}: {_format_value(value)}" for name, value in logs.items())
        print("\r" + line.ljust(self.width), end=end, flush=True)
        self.width = len(line)


class Sequential(Layer):
    """A linear stack of layers: each layer's output is the next layer's input.

    Args:
        layers: Optional list of layers; more can be added with `add`.
        name: Model name.

    Input shape:
        Whatever the first layer takes.

    Output shape:
        Whatever the last layer returns.
    """

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self.layers, self.optimizer, self.loss, self.history = [], None, None, None
        self._loss_tracker = self._metric_specs = self._weighted_metric_specs = None
        self._metrics = self._weighted_metrics = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Appends a layer to the stack."""
        if not isinstance(layer, Layer):
            raise TypeError(f"{self.name}: add expects a reference.layers.Layer, got {layer!r}")
        self.layers.append(layer)

    def build(self, input_shape):
        """Builds every layer by tracing one call on `input_shape` (batch dim may be None)."""
        if not self.layers:
            raise ValueError(f"{self.name}: cannot build a Sequential with no layers; call model.add(layer) first")
        self.input_shape = shape_tuple(input_shape)
        tf.function(self.call).get_concrete_function(tf.TensorSpec(self.input_shape, self.dtype))

    def call(self, inputs):
        for layer in self.layers:
            inputs = layer(inputs)
        return inputs

    @property
    def weights(self):
        """All weights of all layers, in layer order."""
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights] if self.trainable else []

    def summary(self, print_fn=print):
        """Prints one row per layer (name, type, output shape, parameters) and the totals."""
        print_fn(f'Model: "{self.name}"\n{"Layer (type)":<32}{"Output Shape":<24}{"Param #":>10}')
        shape = getattr(self, "input_shape", None)
        for layer in self.layers:
            try:
                shape = layer.compute_output_shape((None,) + shape[1:])
            except (NotImplementedError, TypeError, ValueError):  # not built, or no compute_output_shape
                shape = None
            print_fn(f"{f'{layer.name} ({type(layer).__name__})':<32}{str(shape or '?'):<24}{layer.count_params():>10}")
        trainable = int(sum(np.prod(w.shape) for w in self.trainable_weights))
        print_fn(f"Total params: {self.count_params()}\nTrainable params: {trainable}\n"
                 f"Non-trainable params: {self.count_params() - trainable}")

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, weighted_metrics=None):
        """Sets the optimizer, the loss and the metrics that `fit` and `evaluate` use.

        Args:
            optimizer: `"sgd"`, `"rmsprop"`, `"adam"` (any case) or an optimizer.
            loss: A loss name (`"mse"`, `"binary_crossentropy"`, ...), a `Loss`
                or a `(y_true, y_pred)` callable.
            metrics: A list of metric names, metric objects or callables; they
                ignore `sample_weight`, as in Keras.
            weighted_metrics: Metrics like `metrics`, weighted by `sample_weight`;
                one named like a metric in `metrics` is logged as `weighted_<name>`.
        """
        if loss is None:
            raise ValueError(f"{self.name}: compile needs a loss, got loss=None")
        for argument, specs in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if specs is not None and not isinstance(specs, (list, tuple)):
                raise ValueError(f"{self.name}: {argument} must be a list or tuple, got "
                                 f"{argument}={specs!r}; write {argument}=[{specs!r}]")
            for metric in specs or []:
                metrics_module.check(metric)
        self.optimizer, self.loss = optimizers.get(optimizer), losses.get(loss)
        self._metric_specs, self._weighted_metric_specs = list(metrics or []), list(weighted_metrics or [])
        self._metrics = self._weighted_metrics = None
        self._loss_tracker = metrics_module.Mean("loss")
        self._train_function = self._test_function = None

    @property
    def metrics_names(self):
        return [name for name, _ in self._named_metrics()]

    def _named_metrics(self):
        """Returns `(log name, metric)` for the loss, the metrics, then the weighted metrics."""
        named = [("loss", self._loss_tracker)] + [(m.name, m) for m in self._metrics or []]
        taken = {name for name, _ in named}
        return named + [(f"weighted_{m.name}" if m.name in taken else m.name, m) for m in self._weighted_metrics or []]

    def _prepare(self, method, x, y):
        """Builds the model, the optimizer slots and the metrics before any step runs."""
        if self.loss is None:
            raise ValueError(f"{self.name}: call compile() before {method}()")
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))
        self.optimizer.build(self.trainable_weights)
        if self._metrics is None:
            y_pred_shape = tuple(self(x[:1]).shape)
            self._metrics, self._weighted_metrics = (
                [metrics_module.get(spec, tuple(y.shape), y_pred_shape) for spec in specs]
                for specs in (self._metric_specs, self._weighted_metric_specs))
            # The steps have no tensor-dependent Python control flow, so autograph would only add
            # conversion time (60% of each trace, measured with cProfile on the conformance suite).
            self._train_function = tf.function(self._train_step, reduce_retracing=True, autograph=False)
            self._test_function = tf.function(self._test_step, reduce_retracing=True, autograph=False)

    def _update_metrics(self, y, y_pred, sample_weight, loss):
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(y_pred)[0])
        for metric in self._metrics:
            metric.update_state(y, y_pred)  # Keras weighs only the weighted_metrics
        for metric in self._weighted_metrics:
            metric.update_state(y, y_pred, sample_weight)

    def _train_step(self, data, batch_indices):
        """One tape step on a batch: loss before the update, then `apply_gradients`."""
        x, y, sample_weight = (tf.gather(tensor, batch_indices) for tensor in data)
        with tf.GradientTape() as tape:
            y_pred = self(x)
            loss = self.loss(y, y_pred, sample_weight)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        self._update_metrics(y, y_pred, sample_weight, loss)

    def _test_step(self, data, batch_indices):
        x, y, sample_weight = (tf.gather(tensor, batch_indices) for tensor in data)
        y_pred = self(x)
        self._update_metrics(y, y_pred, sample_weight, self.loss(y, y_pred, sample_weight))

    def _logs(self, prefix=""):
        return {prefix + name: float(metric.result()) for name, metric in self._named_metrics()}

    def _run_epoch(self, step_function, data, batch_size, order, verbose):
        """Runs `step_function` on every batch; returns the progress bar (None if silent) for the final line."""
        for _, metric in self._named_metrics():
            metric.reset_state()
        batches = _batches(int(data[0].shape[0]), batch_size, order)
        step_function.get_concrete_function(data, ANY_BATCH)
        progress = _ProgressBar(len(batches), verbose) if verbose else None
        for step, batch_indices in enumerate(batches, start=1):
            step_function(data, batch_indices)
            if progress:
                progress.update(step, self._logs)
        return progress

    def fit(self, x, y, batch_size=None, epochs=1, verbose="auto", validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, validation_freq=1, sample_weight=None):
        """Trains for `epochs` passes over `(x, y)` and returns a `History`.

        Each epoch draws a fresh permutation (if `shuffle`), runs
        `ceil(N / batch_size)` tape steps (the last batch may be partial) and
        logs the batch-size-weighted mean of the pre-update batch losses and
        metrics. `validation_split=f` holds out the last `N - floor(N * (1 - f))`
        rows before shuffling; `validation_data=(x, y[, sample_weight])` wins
        over it. Validation runs after the epoch's steps (every
        `validation_freq` epochs, counted from 1) and logs `val_` keys.

        Raises:
            ValueError / TypeError: for any invalid argument, before any step runs.
        """
        batch_size = _check_int(32 if batch_size is None else batch_size, "batch_size", 1)
        epochs, initial_epoch = _check_int(epochs, "epochs", 0), _check_int(initial_epoch, "initial_epoch", 0)
        verbose = _check_verbose(verbose)
        if isinstance(validation_freq, (list, tuple)):
            for value in validation_freq:
                _check_int(value, "validation_freq entries", 1)
        else:
            _check_int(validation_freq, "validation_freq", 1)
        data, val_data = _as_data("fit", x, y, sample_weight), None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(f"validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight), "
                                 f"got {validation_data!r}")
            val_data = _as_data("validation", *validation_data)
        elif validation_split:
            if not isinstance(validation_split, (int, float)) or not 0 < validation_split < 1:
                raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
            num_samples = int(data[0].shape[0])
            split_at = math.floor(num_samples * (1.0 - validation_split))
            if split_at in (0, num_samples):
                raise ValueError(f"validation_split={validation_split} leaves an empty "
                                 f"{'training' if split_at == 0 else 'validation'} set from {num_samples} samples")
            data, val_data = tuple(t[:split_at] for t in data), tuple(t[split_at:] for t in data)
        self._prepare("fit", data[0], data[1])
        if val_data is not None:  # trace validation now, so targets or weights it cannot take raise before training
            self._test_function.get_concrete_function(val_data, ANY_BATCH)
        num_samples = int(data[0].shape[0])
        self.history = History(self, {"verbose": verbose, "epochs": epochs,
                                      "steps": math.ceil(num_samples / batch_size)})
        for epoch in range(initial_epoch, epochs):
            if verbose and epochs > 1:
                print(f"Epoch {epoch + 1}/{epochs}")
            order = tf.random.shuffle(tf.range(num_samples)) if shuffle else tf.range(num_samples)
            progress = self._run_epoch(self._train_function, data, batch_size, order, verbose)
            logs = self._logs()
            validate = (epoch + 1 in validation_freq if isinstance(validation_freq, (list, tuple))
                        else (epoch + 1) % validation_freq == 0)
            if val_data is not None and validate:
                self._run_epoch(self._test_function, val_data, batch_size, tf.range(int(val_data[0].shape[0])), 0)
                logs.update(self._logs("val_"))
            if progress:
                progress.finish(logs)
            self.history.append(epoch, logs)
        return self.history

    def evaluate(self, x, y, batch_size=None, verbose="auto", sample_weight=None, return_dict=False):
        """Returns the loss (and metrics) on `(x, y)`, averaged over all samples.

        Returns:
            The loss if there are no metrics, else `[loss, *metrics]`, or a dict
            keyed by name when `return_dict=True`.
        """
        batch_size = _check_int(32 if batch_size is None else batch_size, "batch_size", 1)
        verbose = _check_verbose(verbose)
        data = _as_data("evaluate", x, y, sample_weight)
        self._prepare("evaluate", data[0], data[1])
        progress = self._run_epoch(self._test_function, data, batch_size, tf.range(int(data[0].shape[0])), verbose)
        logs = self._logs()
        if progress:
            progress.finish(logs)
        if return_dict:
            return logs
        return list(logs.values()) if len(logs) > 1 else logs["loss"]

    def predict(self, x, batch_size=None, verbose="auto"):
        """Returns the model outputs for `x` as a NumPy array, computed batch by batch."""
        batch_size = _check_int(32 if batch_size is None else batch_size, "batch_size", 1)
        _check_verbose(verbose)
        x = tf.constant(_as_array(x, "x", True))
        if x.shape[0] == 0:
            raise ValueError("predict: x is empty")
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))
        if getattr(self, "_predict_function", None) is None:
            self._predict_function = tf.function(self.__call__, reduce_retracing=True, autograph=False)
        batches = _batches(int(x.shape[0]), batch_size, tf.range(int(x.shape[0])))
        self._predict_function.get_concrete_function(tf.TensorSpec((None,) + tuple(x.shape[1:]), x.dtype))
        return tf.concat([self._predict_function(tf.gather(x, indices)) for indices in batches], axis=0).numpy()
