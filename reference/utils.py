"""Seeding."""
import random

import numpy as np
import tensorflow as tf


def set_random_seed(seed):
    """Seeds Python's `random`, NumPy and TensorFlow, so initial weights and `fit` shuffles repeat exactly."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"set_random_seed: seed must be an int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
