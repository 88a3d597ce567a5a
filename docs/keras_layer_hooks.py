"""Setup hooks and layer factories for the Keras layer table (docs/keras-layers.toml).

A spec names them as ``docs.keras_layer_hooks:NAME`` (the kit puts the working directory on
``sys.path``, so run it from the repository root): ``setup = ...`` for a hook called as
``hook(layer, data)`` on every new layer, ``layer = ...`` for a function that returns a new layer where
the table needs one that TOML cannot write (a Python function, a small composition).
"""

import keras


def adapt(layer, data):
    """Fit a preprocessing layer's state (Normalization's mean and variance, Discretization's bin
    boundaries) to the spec's setup data, as a user calls ``adapt`` before training."""
    layer.adapt(data)


def scaled_tanh(x):
    """Lambda's function: a named one, so the layer's config names it instead of holding bytecode."""
    return 2.0 * keras.ops.tanh(x)


def lambda_layer():
    """``Lambda(scaled_tanh)``: a layer from a plain function, no weights."""
    return keras.layers.Lambda(scaled_tanh)


def masked_embedding_lstm():
    """``Embedding(mask_zero=True)`` feeding an ``LSTM``: token 0 is padding, so the embedding's mask
    reaches the LSTM, which skips those steps (the usual text-model front end)."""
    return keras.Sequential([keras.layers.Embedding(10, 3, mask_zero=True), keras.layers.LSTM(2)])
