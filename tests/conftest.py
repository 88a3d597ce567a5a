"""Shared test setup: TensorFlow split into two logical CPUs before anything touches it, so the
device matrix and the cross-device contracts really run on machines without a GPU."""

from conformance import adapters

adapters.prepare_environment(2)
# TensorFlow's native start-up lines (CUDA probing, oneDNN notices) would otherwise reach the terminal
# from every xdist worker, after pytest's summary.
with adapters.quiet_native_start():
    import conformance.adapters.tensorflow as tensorflow_backend

    tensorflow_backend.configure(2)
