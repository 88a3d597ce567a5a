"""A short Python snippet that rebuilds a failed contract's shrunk counterexample.

The snippet replays the contract's own check on the drawn example through the kit, and, when the
example is one dense layer with weights (a :class:`~conformance.strategies.DenseCase`), it first
rebuilds the case in the plain framework: the layer, ``set_weights`` with the counterexample arrays,
the call, and a float64 numpy comparison, so a framework maintainer can run it without the kit.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from conformance import agreement
from conformance.options import LOGICAL_CPUS_VARIABLE
from conformance.outcomes import DEFAULT_DEVICE, FAILED

# The name under which an example carries the seed its framework was seeded with (conformance.runner).
FRAMEWORK_SEED = "framework_seed"

# float64 numpy expression of each activation of the strategies, applied to ``z``.
NUMPY_ACTIVATIONS = {
    None: "z",
    "linear": "z",
    "relu": "np.maximum(z, 0.0)",
    "sigmoid": "1.0 / (1.0 + np.exp(-z))",
    "tanh": "np.tanh(z)",
    "softmax": "np.exp(z - z.max(-1, keepdims=True)) / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)",
}


class DrawLog:
    """Wraps hypothesis's ``st.data()`` object for a check and records every value drawn from it, so
    a failure's example can be written down and replayed (:class:`Replayed`)."""

    def __init__(self, data):
        self._data = data
        self.values = []
        self.labels = []

    def draw(self, strategy, label=None):
        value = self._data.draw(strategy, label=label)
        self.values.append(value)
        self.labels.append(label)
        return value

    def __repr__(self):
        return f"Replayed({self.values!r})"


class Replayed:
    """Stands in for ``st.data()`` in a reproduction: gives back the recorded values in order."""

    def __init__(self, values):
        self.values = list(values)
        self._next = 0

    def draw(self, strategy=None, label=None):
        if self._next >= len(self.values):
            raise IndexError(f"the check drew more than the {len(self.values)} recorded values")
        self._next += 1
        return self.values[self._next - 1]


def recording(drawn: dict) -> dict:
    """``drawn`` with each ``st.data()`` object wrapped in a :class:`DrawLog`."""
    return {name: DrawLog(value) if type(value).__name__ == "DataObject" else value for name, value in drawn.items()}


def literal(value, imports: set | None = None) -> str:
    """Python source that evaluates to ``value`` exactly (arrays bit for bit); adds needed imports."""
    imports = set() if imports is None else imports
    if isinstance(value, DrawLog):
        imports.add("from conformance.reproduce import Replayed")
        return f"Replayed({literal(value.values, imports)})"
    if isinstance(value, np.ndarray):
        imports.add("import numpy as np")
        body = np.array2string(value, separator=", ", threshold=sys.maxsize, floatmode="unique", max_line_width=100)
        return f"np.array({body}, dtype='{value.dtype}').reshape({value.shape})"
    if isinstance(value, np.generic):
        imports.add("import numpy as np")
        return f"np.{value.dtype.name}({value.item()!r})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        imports.add(f"from {cls.__module__} import {cls.__qualname__}")
        fields = ", ".join(f"{f.name}={literal(getattr(value, f.name), imports)}" for f in dataclasses.fields(value))
        return f"{cls.__qualname__}({fields})"
    if isinstance(value, tuple):
        items = [literal(v, imports) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v, imports) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k, imports)}: {literal(v, imports)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise TypeError(f"cannot write a literal for {type(value).__name__} {value!r}")


def snippet(result, impl) -> str:
    """The reproduction snippet for a failed ``result`` (a runner.Result with ``extra['example']``)
    of the Implementation ``impl``; empty when the runner kept no example. A comparison of backends has
    no one-process snippet (each backend is its own process): its replay command stands in."""
    if isinstance(impl, agreement.Backends):
        return f"# the backends run in separate processes: replay with: {result.reproduce}\n"
    layer = impl.layer_name if impl.label != impl.name else None
    return snippet_for(result, impl.name, layer, impl.describe()["module"], spec=None if impl.dense_like else impl.spec)


def snippet_for(result, impl_name: str, layer: str | None, module_name: str | None = None, spec=None) -> str:
    """:func:`snippet` from names: ``impl_name`` and ``layer`` as given to ``--impl``/``--layer``,
    ``module_name`` the Keras-like module's import name (``impl_name`` for the built-ins), ``spec`` the
    LayerSpec of a layer that is not Dense-like (the replay loads it, not a Dense-like ``layer``)."""
    example = result.extra.get("example")
    if example is None:
        return ""
    module_name = module_name or {"reference": "reference", "keras": "keras", "tf_keras": "tf_keras"}.get(impl_name, impl_name.partition(":")[0])
    header = [
        f"# Reproduces {result.contract_id} on {result.impl} ({result.device}); seed {result.seed}.",
    ]
    sections = []
    case = _single_dense_case(example)
    if case is not None:
        sections.append(_plain_framework(case, module_name, layer, result.device))
    sections.append(_kit_replay(result, example, impl_name, layer, spec))
    imports = set()
    for section_imports, _ in sections:
        imports |= section_imports
    if result.device.startswith("CPU:") and result.device != "CPU:0":
        # the kit splits the CPU into logical devices only when asked, before TensorFlow starts
        header += ["import os", f"os.environ[{LOGICAL_CPUS_VARIABLE!r}] = '{int(result.device[4:]) + 1}'"]
    lines = header + sorted(imports, key=lambda line: (not line.startswith("import"), line)) + [""]
    for number, (_, body) in enumerate(sections, 1):
        if len(sections) > 1:  # number the steps only when there is more than one
            body = [body[0].replace("# ", f"# {number}. ", 1)] + body[1:]
        lines += body + [""]
    return "\n".join(lines).rstrip() + "\n"


def _single_dense_case(example):
    from conformance.strategies import DenseCase

    values = [value for name, value in example.items() if name != FRAMEWORK_SEED]
    if len(values) != 1:
        return None
    case = values[0]
    if isinstance(case, tuple) and case and isinstance(case[0], DenseCase):
        case = case[0]
    if isinstance(case, DenseCase) and case.kernel is not None and case.activation in NUMPY_ACTIVATIONS:
        return case
    return None


def _layer_source(module_name, layer):
    """(import lines, expression) for the layer class under test."""
    if layer:
        layer_module, _, attribute = layer.partition(":")
        if attribute:
            top = attribute.split(".")[0]
            return {f"from {layer_module} import {top}"}, attribute
        return {f"import {layer_module}"}, layer_module
    return set(), f"{module_name}.layers.Dense"


def _plain_framework(case, module_name, layer, device):
    imports = {"import numpy as np", f"import {module_name}"}
    layer_imports, layer_class = _layer_source(module_name, layer)
    imports |= layer_imports
    activation = "None" if case.activation is None else f"{module_name}.activations.{case.activation}"
    body = [
        f"# The case in plain {module_name}: build, load the counterexample weights, call, compare.",
        f"x = {literal(case.x)}",
        f"kernel = {literal(case.kernel)}",
        f"bias = {literal(case.bias)}",
        f"layer = {layer_class}({case.units}, activation={activation})",
        "layer.build(x.shape)",
        "layer.set_weights([kernel, bias])",
        "actual = np.asarray(layer(x))",
        "z = x.astype(np.float64) @ kernel.astype(np.float64) + bias.astype(np.float64)",
        f"expected = {NUMPY_ACTIVATIONS[case.activation]}",
        "print('actual  ', actual.tolist())",
        "print('expected', expected.tolist())",
        "print('largest difference', np.max(np.abs(actual - expected), initial=0.0))",
    ]
    if device not in (DEFAULT_DEVICE, "CPU:0"):
        body.insert(1, f"# the failure was seen on {device}; run the lines below under that device")
    return imports, body


def _kit_replay(result, example, impl_name, layer, spec=None):
    imports = {"from conformance import adapters, catalog"}
    example = dict(example)
    framework_seed = example.pop(FRAMEWORK_SEED, None)
    values = {name: literal(value, imports) for name, value in example.items()}
    layer_argument = f", spec={literal(spec, imports)}" if spec is not None else f", {layer!r}" if layer else ""
    device = None if result.device == DEFAULT_DEVICE else result.device
    body = [
        "# The contract's own check on the same example (raises AssertionError while the bug is there).",
        f"impl = adapters.load({impl_name!r}{layer_argument})",
        f"contract = catalog.get({result.contract_id!r})",
    ]
    body += [f"{name} = {source}" for name, source in values.items()]
    if framework_seed is not None:  # the example's initial weights and dropout masks
        body.append(f"impl.seed_example({framework_seed!r})")
    arguments = ", ".join(f"{name}={name}" for name in values)
    body += [f"with impl.on_device({device!r}):", f"    contract.check(impl, {arguments})"]
    return imports, body


def attach(results, impl) -> None:
    """Store the snippet of every failed result of ``impl`` under ``result.extra['snippet']``."""
    for result in results:
        if result.status == FAILED and "example" in result.extra:
            try:
                result.extra["snippet"] = snippet(result, impl)
            except TypeError as error:  # a drawn value with no literal: the replay command still reproduces it
                result.extra["snippet"] = f"# no Python snippet: {error}; replay with: {result.reproduce}\n"
