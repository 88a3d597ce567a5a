"""Shared test setup: one TensorFlow split into two logical CPUs, done before anything touches TF,
so the device matrix and the cross-device contracts really run on machines without a GPU."""

import os

os.environ.setdefault("KERAS_CONFORMANCE_LOGICAL_CPUS", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import conformance.adapters.tensorflow  # noqa: E402,F401  (configures TF before any test runs)
