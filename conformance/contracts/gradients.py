"""Gradients: tape (or autograd) gradients against float64 analytic gradients (finite differences of any
layer's own forward pass are the generic area's GENERIC-GRAD-FINITE-DIFFERENCE)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from conformance import oracles, strategies
from conformance.fixtures import require
from conformance.fixtures.layers import loaded_dense, params_of
from conformance.registry import MUST, contract


@st.composite
def _vjp_cases(draw, scales=strategies.input_scales):
    case = draw(strategies.dense_cases(2, 4, scales=scales))
    cotangent = draw(strategies.cotangents(case.output_shape), label="cotangent")
    return case, cotangent


def _pinned(*cases):
    return [dict(example=(case, strategies.example_cotangent(case.output_shape))) for case in cases]


# Rank 3 with units == input_dim (a transposed gradient still has the right shape), rank 4 with a
# batch of one, saturated sigmoid and softmax (slopes near 0), and the ReLU kink.
_VJP_EXAMPLES = _pinned(
    strategies.example_case((2, 2, 3), 3, "tanh"),
    strategies.example_case((1, 2, 1, 3), 2, "linear"),
    strategies.example_case((3, 2), 2, "sigmoid", scale=1e30),
    strategies.example_case((2, 3), 3, "softmax", scale=1e2),
    strategies.kink_case(),
)


def _gradients(impl, case, cotangent):
    layer = loaded_dense(impl, case)
    grad_x, grad_weights = impl.vjp(layer, case.x, cotangent)
    expected = oracles.vjp([params_of(impl, layer, case.activation)], case.x, cotangent)
    return grad_x, grad_weights, expected


def _present(what, value):
    require(value is not None, f"no gradient reaches the {what} (it came back as None)")
    return value


_RATIONALE = (
    "fit() is only as right as the gradients under it; a stopped, transposed or mis-scaled gradient trains "
    "slowly or wrongly without any error. Checked per entry against float64 analytic gradients with a "
    "rounding-error bound, so a mismatch is a bug, never noise."
)


@contract(
    "GRAD-KERNEL",
    level=MUST,
    statement="The gradient of sum(output * g) with respect to the kernel equals x^T (g * activation'(z)).",
    rationale=_RATIONALE,
    given={"example": _vjp_cases()},
    per_device=True,
    examples=_VJP_EXAMPLES,
)
def check_grad_kernel(impl, example):
    """Tape gradient w.r.t. trainable_weights[0] against the oracle, for a drawn upstream gradient g."""
    _, grad_weights, expected = _gradients(impl, *example)
    require(len(grad_weights) == 2, f"{len(grad_weights)} trainable weights, expected [kernel, bias]")
    oracles.assert_within("gradient w.r.t. kernel", _present("kernel", grad_weights[0]), expected.weights[0])


@contract(
    "GRAD-BIAS",
    level=MUST,
    statement="The gradient with respect to the bias equals the sum over all leading axes of g * activation'(z).",
    rationale=_RATIONALE,
    given={"example": _vjp_cases()},
    per_device=True,
    examples=_VJP_EXAMPLES,
)
def check_grad_bias(impl, example):
    """Tape gradient w.r.t. trainable_weights[1] against the oracle."""
    _, grad_weights, expected = _gradients(impl, *example)
    require(len(grad_weights) == 2, f"{len(grad_weights)} trainable weights, expected [kernel, bias]")
    oracles.assert_within("gradient w.r.t. bias", _present("bias", grad_weights[1]), expected.weights[1])


@contract(
    "GRAD-INPUT",
    level=MUST,
    statement="The gradient with respect to the input equals (g * activation'(z)) @ kernel^T.",
    rationale=_RATIONALE + " The input gradient is what earlier layers of a stack receive.",
    given={"example": _vjp_cases()},
    per_device=True,
    examples=_VJP_EXAMPLES,
)
def check_grad_input(impl, example):
    """Tape gradient w.r.t. the (watched) input tensor against the oracle."""
    grad_x, _, expected = _gradients(impl, *example)
    oracles.assert_within("gradient w.r.t. input", _present("input", grad_x), expected.inputs)


@contract(
    "GRAD-SATURATION",
    level=MUST,
    statement="For finite inputs of any magnitude up to float32's largest, the gradients with respect to the "
    "input, kernel and bias are finite wherever the exact gradient is representable, and equal it within the float32 error bound.",
    rationale="A saturated unit has a vanishing but finite gradient; a backward pass written as "
    "exp(-z) / (1 + exp(-z))^2 or through an overflowing intermediate returns NaN there, and one NaN "
    "gradient turns every weight into NaN at the next optimizer step.",
    given={"example": _vjp_cases(scales=st.sampled_from(strategies.EXTREME_SCALES))},
    per_device=True,
    examples=_pinned(*(strategies.saturation_case(activation) for activation in strategies.ACTIVATIONS)),
)
def check_saturation_gradients(impl, example):
    """Tape gradients w.r.t. the input, kernel and bias at inputs scaled up to 3e38 against the oracle,
    which says where float32 may overflow (only there is +-inf or NaN right)."""
    case, _ = example
    grad_x, grad_weights, expected = _gradients(impl, *example)
    require(len(grad_weights) == 2, f"{len(grad_weights)} trainable weights, expected [kernel, bias]")
    where = f"of {case.activation} dense layer at inputs up to {float(np.max(np.abs(case.x))):.3g}"
    oracles.assert_within(f"gradient w.r.t. input {where}", _present("input", grad_x), expected.inputs)
    oracles.assert_within(f"gradient w.r.t. kernel {where}", _present("kernel", grad_weights[0]), expected.weights[0])
    oracles.assert_within(f"gradient w.r.t. bias {where}", _present("bias", grad_weights[1]), expected.weights[1])
