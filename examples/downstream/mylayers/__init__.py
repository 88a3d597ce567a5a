"""Our layers: the Keras book's chapter-3 SimpleDense on Keras 3."""

from mylayers.simple_dense import SimpleDense

__all__ = ["SimpleDense"]
