"""Forward numerics: output = activation(x @ kernel + bias), checked against a float64 oracle."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from conformance import oracles, strategies
from conformance.fixtures import require
from conformance.fixtures.layers import loaded_dense, params_of
from conformance.registry import MUST, SHOULD, contract


def _forward_examples(activation):
    """Rank 2 with units == input_dim (a transposed kernel shows), rank 4 with a batch of one,
    saturating magnitudes, and for relu the kink."""
    cases = [
        strategies.example_case((2, 3), 3, activation),
        strategies.example_case((1, 2, 2, 3), 2, activation),
        strategies.example_case((3, 2), 4, activation, scale=1e30),
    ]
    if activation == "relu":
        cases.append(strategies.kink_case())
    return [dict(case=case) for case in cases]


def _forward(activation):
    """One variant of the forward family: the layer with ``activation``."""
    return dict(
        id=f"DENSE-FORWARD-{activation.upper()}",
        statement=f"With activation {activation!r}, the output equals {activation}(x @ kernel + bias) "
        "within the float32 error bound" + (", softmax taken over the last axis." if activation == "softmax" else "."),
        given={"case": strategies.dense_cases(2, 4, activation=st.just(activation))},
        examples=_forward_examples(activation),
        activation=activation,
    )


@contract(
    level=MUST,
    rationale="The forward pass is the layer; a transposed kernel, a missing bias or an activation over "
    "the wrong axis gives plausible-looking numbers that no shape check catches.",
    per_device=True,
    variants=[_forward(activation) for activation in strategies.ACTIVATIONS],
)
def check_forward(impl, case, activation):
    """Load drawn weights, call on the drawn input, compare each entry with the float64 oracle
    within the rounding-error bound of a length-d dot product plus the activation's ulps."""
    layer = loaded_dense(impl, case)
    _, output = impl.call(layer, case.x)
    expected = oracles.forward([params_of(impl, layer, case.activation)], case.x)
    oracles.assert_within(f"output of {activation} dense layer", output, expected)


@contract(
    "DENSE-SATURATION",
    level=MUST,
    statement="For finite inputs of any magnitude up to float32's largest, the output is finite and "
    "saturates as the exact function does (sigmoid to 0 and 1, tanh to -1 and 1, softmax to a one-hot "
    "row, never NaN); linear and relu give the pre-activation itself, +-inf only where it exceeds float32's range.",
    rationale="Large pre-activations are routine (unnormalised features, exploding logits early in training); "
    "an activation written as exp(z) / (1 + exp(z)), a softmax without the max shift or a float16 "
    "intermediate returns NaN or inf there and poisons every later step, while small inputs look right.",
    given={"case": strategies.dense_cases(2, 3, scales=st.sampled_from(strategies.EXTREME_SCALES))},
    per_device=True,
    examples=[
        dict(case=make(activation))
        for activation in strategies.ACTIVATIONS
        for make in (strategies.saturation_case, strategies.overflow_case)
        if not (activation == "softmax" and make is strategies.overflow_case)  # an inf logit makes softmax NaN anywhere
    ],
)
def check_saturation(impl, case):
    """Load drawn weights, call on inputs scaled up to 3e38, compare with the float64 oracle, which
    says where float32 may overflow (only there is +-inf or NaN right) and bounds saturated values exactly."""
    layer = loaded_dense(impl, case)
    _, output = impl.call(layer, case.x)
    expected = oracles.forward([params_of(impl, layer, case.activation)], case.x)
    largest = float(np.max(np.abs(case.x.astype(np.float64) @ case.kernel + case.bias)))
    oracles.assert_within(f"output of {case.activation} dense layer at |pre-activation| up to {largest:.3g}", output, expected)


@contract(
    "DENSE-BATCH-INDEPENDENCE",
    level=MUST,
    statement="Each output row depends only on its own input row: permuting the batch permutes the output, "
    "and a sub-batch gives the same rows as the full batch.",
    rationale="Batch-coupled outputs (a normalisation over the wrong axis, softmax over the batch) make "
    "predictions depend on what else is in the batch.",
    given={"case": strategies.dense_cases(2, 4), "order_seed": st.integers(0, 2**16)},
    per_device=True,
    examples=[
        dict(case=strategies.example_case((4, 3), 2, "softmax"), order_seed=1),
        dict(case=strategies.example_case((3, 2, 3), 3, "tanh", scale=1e30), order_seed=2),
    ],
)
def check_batch_independence(impl, case, order_seed):
    """Compare layer(x[rows]) with layer(x)[rows] within the float32 error bound, for a permutation of
    the batch and for its first half: a permutation alone cannot see a coupling that is symmetric in
    the rows (subtracting the batch mean)."""
    layer = loaded_dense(impl, case)
    permutation = np.random.default_rng(order_seed).permutation(case.x.shape[0])
    _, output = impl.call(layer, case.x)
    expected = oracles.forward([params_of(impl, layer, case.activation)], case.x)
    for rows in (permutation, permutation[: max(1, len(permutation) // 2)]):
        _, part = impl.call(layer, case.x[rows])
        oracles.assert_within(
            f"layer(x[{rows.tolist()}]) against layer(x)[{rows.tolist()}]",
            part,
            oracles.Interval(output[rows].astype(np.float64), 2 * expected.radius[rows]),
        )


@contract(
    "DENSE-OUTPUT-DTYPE",
    level=MUST,
    statement="Float inputs of any width come out in the layer's compute dtype (float32 by default).",
    rationale="Keras autocasts float inputs; a float64 batch leaking through doubles memory and silently "
    "changes the dtype of everything downstream.",
    given={
        "case": strategies.dense_cases(2, 3, with_weights=False, scales=strategies.SMALL),  # float16 overflows past 65504
        "dtype": st.sampled_from(("float16", "float64")),
    },
    per_device=True,
    examples=[dict(case=strategies.example_case((2, 3), 2, "relu"), dtype=dtype) for dtype in ("float16", "float64")],
)
def check_output_dtype(impl, case, dtype):
    """Call a float32 layer with a float16 or float64 input and read the output dtype."""
    layer = impl.dense(case.units, case.activation)
    output, _ = impl.call(layer, case.x.astype(dtype))
    got = impl.dtype_name(output)
    require(got == "float32", f"a {dtype} input gave a {got} output, expected float32")


@contract(
    "DENSE-ACTIVATION-BY-NAME",
    level=SHOULD,
    statement="An activation given by name ('relu', ...) behaves exactly like the framework's activation function.",
    rationale="Keras accepts activation names everywhere; a layer that only takes callables breaks "
    "configs and models written for Keras.",
    given={"case": strategies.dense_cases(2, 3)},
    examples=[dict(case=strategies.example_case((2, 3), 3, activation)) for activation in ("relu", "softmax")],
)
def check_activation_by_name(impl, case):
    """Build one layer with activation=<name> and one with the callable; load the same weights; compare."""
    by_name = impl.layer_class(case.units, activation=case.activation)
    by_callable = impl.dense(case.units, case.activation)
    for layer in (by_name, by_callable):
        layer.build(case.x.shape)
        layer.set_weights([case.kernel, case.bias])
    _, a = impl.call(by_name, case.x)
    _, b = impl.call(by_callable, case.x)
    require(np.array_equal(a, b), f"activation={case.activation!r} and its callable give different outputs")


def requires_float64(impl, device):
    """Why float64 contracts do not apply to ``impl`` (``None`` when they do)."""
    return None if impl.supports_float64() else f"{impl.layer_name} cannot be built in float64"


@contract(
    "DENSE-FLOAT64-PRECISION",
    level=SHOULD,
    statement="A layer built with dtype='float64' computes in float64: its output equals the float64 oracle "
    "within the float64 error bound.",
    rationale="float64 is what gradient checks and scientific users rely on; a layer that stores float64 "
    "weights but multiplies in float32 returns float64 tensors with float32 accuracy, silently.",
    given={"case": strategies.dense_cases(2, 3, dtype=np.float64, scales=strategies.SMALL)},  # digits, not range
    per_device=True,
    requires=requires_float64,
    examples=[dict(case=strategies.example_case((2, 3), 3, "sigmoid").astype(np.float64))],
)
def check_float64_precision(impl, case):
    """Load float64 weights, call on a float64 input, compare with the oracle's float64 bound."""
    layer = loaded_dense(impl, case, dtype="float64")
    _, output = impl.call(layer, case.x)
    require(output.dtype == np.float64, f"a float64 layer returned {output.dtype}")
    expected = oracles.forward([params_of(impl, layer, case.activation)], case.x, dtype="float64")
    oracles.assert_within("output of float64 dense layer", output, expected)
