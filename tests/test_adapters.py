"""Every backend module implements the Backend protocol, with the declared signatures."""

import importlib
import importlib.util
import inspect

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from conformance.adapters.backend import Backend


@pytest.mark.parametrize("name", ["tensorflow", "torch", "jax", "numpy", "openvino"])
def test_each_backend_module_implements_the_protocol(name):
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed here")
    module = importlib.import_module(f"conformance.adapters.{name}")
    assert isinstance(module, Backend), f"adapters/{name}.py lacks part of the Backend protocol"
    assert module.name == name
    for member, declared in inspect.getmembers(Backend, inspect.isfunction):
        if member.startswith("_"):
            continue
        expected = [p for p in inspect.signature(declared).parameters if p != "self"]
        assert list(inspect.signature(getattr(module, member)).parameters) == expected, f"{name}.{member}"


@pytest.mark.parametrize(
    "user_flags, expected",
    [
        (None, "--xla_force_host_platform_device_count=2"),
        ("--xla_cpu_enable_fast_math=false", "--xla_cpu_enable_fast_math=false --xla_force_host_platform_device_count=2"),
        ("--xla_force_host_platform_device_count=4", "--xla_force_host_platform_device_count=4"),
    ],
)
def test_prepare_environment_gives_jax_two_cpu_devices_keeping_the_users_xla_flags(monkeypatch, user_flags, expected):
    import os

    from conformance import adapters

    monkeypatch.delenv("KERAS_CONFORMANCE_LOGICAL_CPUS", raising=False)
    if user_flags is None:
        monkeypatch.delenv("XLA_FLAGS", raising=False)
    else:
        monkeypatch.setenv("XLA_FLAGS", user_flags)
    adapters.prepare_environment()
    adapters.prepare_environment()  # a second session in the same process adds nothing
    assert os.environ["XLA_FLAGS"] == expected


@given(hnp.arrays(st.sampled_from([np.float32, np.float64, np.int32]), hnp.array_shapes(min_dims=1, max_dims=3)))
def test_aligned_copy_holds_the_values_in_a_fresh_64_byte_aligned_buffer(values):
    # JAX's CPU client shares a numpy buffer instead of copying it exactly when the buffer is 64-byte
    # aligned, so the set_weights contracts hand over aligned arrays to see aliasing on every draw.
    from conformance.fixtures.layers import aligned_copy

    copied = aligned_copy(values)
    assert copied.ctypes.data % 64 == 0 and not np.shares_memory(copied, values)
    assert copied.dtype == values.dtype and copied.shape == values.shape
    np.testing.assert_array_equal(copied, values)


def test_float64_probe_rejects_a_framework_whose_tanh_narrows_float64_to_float32():
    # Keras 3 on JAX computes tanh of float64 in float32: its float64 layers are no float64 oracle.
    import types

    import tensorflow as tf

    from conformance import adapters

    impl = adapters.load("reference")
    assert impl.float64_computes_in_float64()
    narrowing = types.SimpleNamespace(**{**vars(impl.module.activations), "tanh": lambda x: tf.cast(tf.tanh(x), tf.float32)})
    impl.module = types.SimpleNamespace(**{**vars(impl.module), "activations": narrowing})
    assert not impl.float64_computes_in_float64()


def test_an_unknown_keras_backend_is_a_usage_error_naming_it(tmp_path, monkeypatch, capsys):
    # Driving a backend through another backend's adapter reported that adapter's errors as the implementation's.
    from conformance.cli import main

    (tmp_path / "mlxkeras.py").write_text(
        "import types\n"
        "layers = types.SimpleNamespace(Dense=object)\n"
        "Sequential = object\n"
        "backend = types.SimpleNamespace(backend=lambda: 'mlx')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["run", "--impl", "mlxkeras", "--contracts", "lifecycle"]) == 4
    error = capsys.readouterr().err
    assert "Keras backend 'mlx'" in error and "numpy, openvino" in error
