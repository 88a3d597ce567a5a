"""Sequential: lazy building, composition in order, weights in order, and the chain rule."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from conformance import oracles, strategies
from conformance.fixtures import require
from conformance.fixtures.layers import loaded_stack
from conformance.registry import MUST, contract


# Equal widths (a reversed or skipped layer still runs and only the values show it), widths that
# change (3 -> 2 -> 4) on a rank-3 input, and a large input through relu and sigmoid.
_STACK_EXAMPLES = (
    strategies.example_stack((2, 3), [(3, "tanh"), (3, "linear"), (3, "relu")]),
    strategies.example_stack((2, 2, 3), [(2, "relu"), (4, "softmax")]),
    strategies.example_stack((1, 3), [(2, "relu"), (2, "sigmoid")], scale=1e30),
)


@contract(
    "SEQ-UNBUILT-UNTIL-USED",
    level=MUST,
    statement="A Sequential without an Input is unbuilt after construction and after compile; the first "
    "call, or build(shape), builds it and every layer in it.",
    rationale="compile only configures training; a model that builds (or fails) at compile time cannot be "
    "declared before its data is known, which is the book's whole workflow.",
    given={"shape": strategies.input_shapes(2, 2), "units": st.lists(strategies.units, min_size=1, max_size=3),
           "how": st.sampled_from(("call", "build"))},
    examples=[dict(shape=(2, 3), units=[2, 3], how=how) for how in ("call", "build")],
)
def check_unbuilt_until_used(impl, shape, units, how):
    """Construct, compile with sgd/mse, read built; then call on zeros or build(shape) and read built again."""
    model = impl.sequential([impl.dense(n) for n in units])
    require(model.built is False, "a Sequential without Input is built right after construction")
    model.compile(optimizer="sgd", loss="mse")
    require(model.built is False, "compile() built the model")
    if how == "call":
        model(impl.tensor(np.zeros(shape, np.float32)))
    else:
        model.build(shape)
    require(model.built is True, f"the model is not built after {how}")
    unbuilt = [i for i, layer in enumerate(model.layers) if not layer.built]
    require(not unbuilt, f"layers {unbuilt} are not built after the model's {how}")


@contract(
    "SEQ-LAYERS-IN-ORDER",
    level=MUST,
    statement="model.layers lists the given layers in order, whether passed as a list or with add().",
    rationale="Code that inspects or freezes model.layers[i] relies on this order.",
    given={"units": st.lists(strategies.units, min_size=1, max_size=4)},
    examples=[dict(units=[1, 2, 3]), dict(units=[2, 2])],
)
def check_layers_in_order(impl, units):
    """Compare model.layers with the layers given, by identity, for Sequential(list) and for add()."""
    given = [impl.dense(n) for n in units]
    listed = impl.sequential(list(given))
    added = impl.sequential([])
    added_layers = [impl.dense(n) for n in units]
    for layer in added_layers:
        added.add(layer)
    require([id(l) for l in listed.layers] == [id(l) for l in given], "Sequential(list).layers is not the given list in order")
    require([id(l) for l in added.layers] == [id(l) for l in added_layers], "layers added with add() are not listed in order")


@contract(
    "SEQ-WEIGHTS-IN-LAYER-ORDER",
    level=MUST,
    statement="model.weights is the concatenation of the layers' weights, layer by layer, the same objects.",
    rationale="get_weights/set_weights on a model and checkpoint loading assume this order.",
    given={"case": strategies.stack_cases()},
    examples=[dict(case=case) for case in _STACK_EXAMPLES],
)
def check_weights_in_layer_order(impl, case):
    """Build the stack and compare model.weights with [w for layer in layers for w in layer.weights] by identity."""
    model, _ = loaded_stack(impl, case)
    expected = [w for layer in model.layers for w in layer.weights]
    require(
        len(model.weights) == len(expected) and all(a is b for a, b in zip(model.weights, expected)),
        "model.weights is not the layers' weights in layer order",
    )


@contract(
    "SEQ-FORWARD-COMPOSITION",
    level=MUST,
    statement="The output of a Sequential equals its layers applied in order.",
    rationale="Applying layers out of order (or skipping one) still gives an output of the right shape "
    "whenever widths match.",
    given={"case": strategies.stack_cases()},
    per_device=True,
    examples=[dict(case=case) for case in _STACK_EXAMPLES],
)
def check_forward_composition(impl, case):
    """Compare model(x) with the float64 oracle of the layer chain, within the propagated error bound."""
    model, params = loaded_stack(impl, case)
    _, output = impl.call(model, case.x)
    oracles.assert_within("Sequential output", output, oracles.forward(params, case.x))


@st.composite
def _stack_vjp_cases(draw):
    case = draw(strategies.stack_cases())
    cotangent = draw(strategies.cotangents(case.x.shape[:-1] + (case.layers[-1][0],)), label="cotangent")
    return case, cotangent


@contract(
    "SEQ-GRAD-CHAIN-RULE",
    level=MUST,
    statement="Gradients through a Sequential follow the chain rule for every layer's kernel and bias and for the input.",
    rationale="Each layer can be right on its own while the stack is wrong (a gradient cut between layers, "
    "weights shared by mistake).",
    given={"example": _stack_vjp_cases()},
    per_device=True,
    examples=[
        dict(example=(case, strategies.example_cotangent(case.x.shape[:-1] + (case.layers[-1][0],))))
        for case in _STACK_EXAMPLES
    ],
)
def check_grad_chain_rule(impl, example):
    """Tape gradients of sum(model(x) * g) w.r.t. x and model.trainable_weights against the oracle chain."""
    case, cotangent = example
    model, params = loaded_stack(impl, case)
    grad_x, grads = impl.vjp(model, case.x, cotangent)
    expected = oracles.vjp(params, case.x, cotangent)
    require(len(grads) == len(expected.weights), f"{len(grads)} weight gradients, expected {len(expected.weights)}")
    require(grad_x is not None, "no gradient reaches the model input")
    oracles.assert_within("gradient w.r.t. model input", grad_x, expected.inputs)
    for index, (grad, want) in enumerate(zip(grads, expected.weights)):
        require(grad is not None, f"no gradient reaches weight {index}")
        oracles.assert_within(f"gradient w.r.t. weight {index} (layer {index // 2}, {'kernel' if index % 2 == 0 else 'bias'})", grad, want)
