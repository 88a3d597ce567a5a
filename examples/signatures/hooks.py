"""Setup hooks for layer specs: ``setup = "examples.signatures.hooks:adapt"`` calls them on every new layer."""


def adapt(layer, data):
    """Fit a preprocessing layer's state (Normalization's mean and variance) to the spec's setup data."""
    layer.adapt(data)
