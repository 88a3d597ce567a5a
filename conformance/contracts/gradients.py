"""Gradients: tape (or autograd) gradients against float64 analytic gradients and finite differences."""

from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from conformance import oracles, strategies
from conformance.fixtures import require
from conformance.fixtures.layers import loaded_dense, params_of
from conformance.registry import MUST, contract

AREA = "gradients"


@st.composite
def _vjp_cases(draw, dtype=np.float32, activation=strategies.activations, scales=strategies.input_scales):
    case = draw(strategies.dense_cases(2, 4, activation=activation, dtype=dtype, scales=scales))
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
    area=AREA,
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
    area=AREA,
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
    area=AREA,
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
    "GRAD-EVERY-TRAINABLE-WEIGHT",
    area=AREA,
    level=MUST,
    statement="Every trainable weight receives a gradient of its own shape.",
    rationale="A weight the tape cannot see (created outside add_weight, or cut by stop_gradient) is "
    "never trained, and optimizers skip it without a word.",
    given={"example": _vjp_cases()},
    per_device=True,
    examples=_VJP_EXAMPLES,
)
def check_every_trainable_weight(impl, example):
    """Ask for gradients w.r.t. all trainable_weights; none may be None or differently shaped."""
    case, cotangent = example
    layer = loaded_dense(impl, case)
    _, grads = impl.vjp(layer, case.x, cotangent)
    require(len(grads) == len(layer.trainable_weights) > 0, "the layer has no trainable weights to differentiate")
    for index, (weight, grad) in enumerate(zip(layer.trainable_weights, grads)):
        require(grad is not None, f"trainable weight {index} (shape {tuple(weight.shape)}) gets no gradient")
        require(tuple(grad.shape) == tuple(weight.shape), f"gradient {index} has shape {grad.shape}, weight {tuple(weight.shape)}")


@contract(
    "GRAD-FROZEN-LAYER",
    area=AREA,
    level=MUST,
    statement="Setting trainable = False leaves no trainable weights and moves both to non_trainable_weights; "
    "setting it back restores them.",
    rationale="Freezing is how transfer learning keeps pretrained weights; a frozen layer that still "
    "exposes trainable weights is updated by fit.",
    given={"shape": strategies.input_shapes(2, 3), "units": strategies.units},
    examples=[dict(shape=(2, 3), units=3), dict(shape=(1, 2, 3), units=1)],
)
def check_frozen_layer(impl, shape, units):
    """Build, freeze, read trainable_weights and non_trainable_weights, unfreeze, read again."""
    layer = impl.dense(units)
    layer.build(shape)
    layer.trainable = False
    require(len(layer.trainable_weights) == 0, f"frozen layer still has {len(layer.trainable_weights)} trainable weights")
    require(len(layer.non_trainable_weights) == 2, f"frozen layer has {len(layer.non_trainable_weights)} non-trainable weights, expected 2")
    layer.trainable = True
    require(len(layer.trainable_weights) == 2, "unfreezing did not restore the 2 trainable weights")


# Central differences in float64: h = cbrt(eps) balances truncation O(h^2) against rounding
# O(eps/h) (conformance-kits notes, section 4); the tolerance leaves three orders of magnitude for
# the float64 forward pass and still catches any gradient error above 1e-6 of the loss scale.
FD_STEP = float(np.finfo(np.float64).eps) ** (1 / 3)
FD_RTOL = 1e-6
FD_DIRECTIONS = 3


def requires_float64(impl, device):
    """Why float64 contracts do not apply to ``impl`` (``None`` when they do)."""
    return None if impl.supports_float64() else f"{impl.layer_name} cannot be built in float64"


def _requires_precise_float64(impl, device):
    reason = requires_float64(impl, device)
    if reason is None and not impl.float64_computes_in_float64():
        reason = "a float64 layer, or tanh of float64, computes at float32 precision (see DENSE-FLOAT64-PRECISION)"
    return reason


@contract(
    "GRAD-FINITE-DIFFERENCE",
    area=AREA,
    level=MUST,
    statement="In float64, tape gradients agree with central finite differences of the layer's own forward pass.",
    rationale="The analytic check compares with the textbook formula; this one checks that the backward "
    "pass differentiates the forward pass the layer actually computes (custom gradients, fused ops).",
    # Small inputs only: one finite-difference step for inputs and weights alike needs them on one scale.
    given={"example": _vjp_cases(dtype=np.float64, scales=strategies.SMALL), "direction_seed": st.integers(0, 2**16)},
    per_device=True,
    requires=_requires_precise_float64,
    examples=[
        dict(example=(case.astype(np.float64), strategies.example_cotangent(case.output_shape).astype(np.float64)), direction_seed=0)
        for case in (strategies.example_case((2, 3), 3, "tanh"), strategies.example_case((1, 2, 2), 2, "softmax"))
    ],
)
def check_finite_difference(impl, example, direction_seed):
    """For 3 random unit directions v over (x, kernel, bias): (L(p + h v) - L(p - h v)) / 2h against <grad, v>,
    with h = cbrt(eps) * max(1, |p|), away from ReLU kinks by more than the step."""
    case, cotangent = example
    layer = loaded_dense(impl, case, dtype="float64")
    z = case.x @ case.kernel + case.bias
    if case.activation == "relu":
        assume(np.min(np.abs(z)) > 10 * FD_STEP * (1 + np.abs(case.x).sum(axis=-1, keepdims=True).max()))
    grad_x, grad_weights = impl.vjp(layer, case.x, cotangent)
    parameters = [case.x, case.kernel, case.bias]
    gradients = [_present("input", grad_x)] + [_present("weight", g) for g in grad_weights]

    def loss(values):
        layer.set_weights(values[1:])
        _, output = impl.call(layer, values[0])
        return float(np.sum(output * cotangent))

    rng = np.random.default_rng(direction_seed)
    scale = max(1.0, max(float(np.abs(p).max()) for p in parameters))
    step = FD_STEP * scale
    for _ in range(FD_DIRECTIONS):
        direction = [rng.standard_normal(p.shape) for p in parameters]
        norm = np.sqrt(sum(float(np.sum(d * d)) for d in direction))
        direction = [d / norm for d in direction]
        plus = loss([p + step * d for p, d in zip(parameters, direction)])
        minus = loss([p - step * d for p, d in zip(parameters, direction)])
        numeric = (plus - minus) / (2 * step)
        analytic = sum(float(np.sum(g * d)) for g, d in zip(gradients, direction))
        tolerance = FD_RTOL * max(1.0, abs(plus), abs(minus), abs(analytic))
        require(
            abs(numeric - analytic) <= tolerance,
            f"directional derivative: finite differences {numeric!r}, tape {analytic!r} (tolerance {tolerance:.2g})",
        )


@contract(
    "GRAD-SATURATION",
    area=AREA,
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
