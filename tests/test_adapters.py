"""Every backend module implements the Backend protocol, with the declared signatures."""

import importlib
import importlib.util
import inspect

import pytest

from conformance.adapters.backend import Backend


@pytest.mark.parametrize("name", ["tensorflow", "torch", "jax"])
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
