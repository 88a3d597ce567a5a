"""keras-conformance: the Keras layer contracts as code, checked by hypothesis properties.

Importing this package imports no TensorFlow and no other backend.
"""

__version__ = "0.1.0"
