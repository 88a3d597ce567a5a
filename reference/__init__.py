"""reference: a small, exact implementation of the Keras core on plain TensorFlow.

`import reference as keras` runs the covered subset of Keras code unchanged:
layers (Layer, Dense, the book's SimpleDense), Sequential with compile/fit/evaluate/predict,
the SGD/RMSprop/Adam optimizers, common losses and metrics.
"""
from reference import activations, initializers, layers, losses, metrics, models, optimizers, utils
from reference.models import Sequential

__version__ = "0.1.0"
__all__ = ["activations", "initializers", "layers", "losses", "metrics", "models", "optimizers",
           "utils", "Sequential", "__version__"]
