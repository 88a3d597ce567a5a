"""Shared fixtures for the reference tests: data, and Keras 3 / tf_keras for differential tests."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # retracing warnings from many small models are expected here


@pytest.fixture(scope="session")
def keras3():
    return pytest.importorskip("keras")


@pytest.fixture(scope="session")
def tf_keras():
    return pytest.importorskip("tf_keras")


@pytest.fixture
def regression_data():
    """Ten rows of 3 features and one float target, fixed seed."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(10, 3)).astype("float32"), rng.normal(size=(10, 1)).astype("float32")
