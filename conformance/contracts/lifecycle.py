"""Dense weights: what a built layer holds, how it starts, and that its input size is fixed once built.

When a layer builds (unbuilt at init, built once, build(shape) like a first call) and the weight round
trip are the generic area's, checked on the Dense spec like on any layer."""

from __future__ import annotations

import math
import re

import numpy as np
from hypothesis import strategies as st

from conformance import oracles, strategies
from conformance.fixtures import require
from conformance.fixtures.layers import kernel_and_bias
from conformance.registry import MUST, SHOULD, NotApplicable, contract


@contract(
    "LAYER-WEIGHT-LAYOUT",
    level=MUST,
    statement="A built layer holds exactly [kernel, bias]: kernel (input_dim, units), bias (units,), both trainable.",
    rationale="get_weights/set_weights, checkpoints and the book's manual training loops all rely on this "
    "order and these shapes; a transposed kernel still runs when input_dim == units and hides the bug.",
    given={"shape": strategies.input_shapes(2, 4), "units": strategies.units},
    # units != input_dim, or a transposed kernel has the same shape.
    examples=[dict(shape=(2, 3), units=2), dict(shape=(1, 2, 4), units=5)],
)
def check_weight_layout(impl, shape, units):
    """Build with the full input shape (what a first call passes) and read weights, trainable_weights
    and the weight shapes; building without calling lets a wrong layout be reported as one instead of
    as the matmul error it would cause."""
    layer = impl.dense(units)
    layer.build(shape)
    shapes = [tuple(w.shape) for w in layer.weights]
    require(shapes == [(shape[-1], units), (units,)], f"weight shapes {shapes}, expected [{(shape[-1], units)}, {(units,)}]")
    require(
        [id(w) for w in layer.trainable_weights] == [id(w) for w in layer.weights],
        "trainable_weights is not [kernel, bias]",
    )


def _changed_dim_call(impl, shape, units, delta):
    layer = impl.dense(units)
    layer(impl.tensor(np.ones(shape, np.float32)))
    before = [np.array(w) for w in layer.get_weights()]
    wrong = shape[:-1] + (shape[-1] + delta,)
    raised = None
    try:
        layer(impl.tensor(np.ones(wrong, np.float32)))
    except Exception as error:  # the contract is that *something* is raised; the type is checked separately
        raised = error
    after = layer.get_weights()
    require(
        len(before) == len(after) and all(np.array_equal(a, b) for a, b in zip(before, after)),
        f"calling a layer built for last dimension {shape[-1]} with {wrong} changed its weights",
    )
    return wrong, raised


_changed_dims = {
    "shape": strategies.input_shapes(2, 4),
    "units": strategies.units,
    "delta": st.integers(1, 3),
}
_CHANGED_DIM_EXAMPLES = [dict(shape=(2, 3), units=3, delta=1), dict(shape=(1, 2, 2), units=1, delta=2)]


@contract(
    "LAYER-REJECT-CHANGED-DIM",
    level=MUST,
    statement="A built layer called with another last dimension raises and leaves its weights untouched.",
    rationale="Silently accepting (or silently rebuilding for) a new feature size hides data-pipeline bugs "
    "and throws away trained weights.",
    given=_changed_dims,
    examples=_CHANGED_DIM_EXAMPLES,
)
def check_reject_changed_dim(impl, shape, units, delta):
    """Build on `shape`, call with the last dimension grown by `delta`; expect an exception and equal weights."""
    wrong, raised = _changed_dim_call(impl, shape, units, delta)
    require(raised is not None, f"a layer built for last dimension {shape[-1]} accepted an input of shape {wrong}")


@contract(
    "LAYER-REJECT-CHANGED-DIM-VALUEERROR",
    level=SHOULD,
    statement="The error for a changed last dimension is a ValueError raised before any computation.",
    rationale="Keras's own Dense checks its input_spec and raises ValueError; a layer without a spec fails "
    "later inside the matmul with a backend-specific error that names no layer.",
    given=_changed_dims,
    examples=_CHANGED_DIM_EXAMPLES,
)
def check_reject_changed_dim_valueerror(impl, shape, units, delta):
    """As LAYER-REJECT-CHANGED-DIM, and the exception must be a ValueError."""
    wrong, raised = _changed_dim_call(impl, shape, units, delta)
    require(
        isinstance(raised, ValueError),
        f"input of shape {wrong} raised {type(raised).__name__ if raised else 'nothing'}, expected ValueError",
    )


# --- initial values -------------------------------------------------------------------------------

FALSE_ALARM_RATE = 1e-6  # per check; the DKW inequality makes this an upper bound, not an estimate
# (input_dim, units): 4608 kernel entries detect a sqrt(2) scale error with certainty, and unequal
# fans tell fan_in from fan_out.
INIT_SAMPLE_SHAPE = (96, 48)
# Parameters Keras's, tf_keras's and the reference's initializer objects keep as attributes.
INITIALIZER_PARAMETERS = ("mean", "stddev", "minval", "maxval", "value", "scale", "mode", "distribution", "input_axes", "output_axes")
_ALIASES = {"normal": "random_normal", "uniform": "random_uniform", "zero": "zeros", "one": "ones"}


def declared_kernel_initializer(layer):
    """``(name, params)`` of the initializer the layer declares in ``kernel_initializer`` (a name, a
    Keras config dict or an initializer object), ``name`` in ``oracles.INITIALIZERS``; raises
    NotApplicable when the layer declares none or one the kit does not know."""
    if not hasattr(layer, "kernel_initializer"):
        raise NotApplicable(
            f"{type(layer).__name__} has no kernel_initializer attribute, so the distribution its kernel "
            "should start from is unknown (Keras's Dense keeps the initializer it was given there)"
        )
    declared = layer.kernel_initializer
    if isinstance(declared, str):
        name, params = declared, {}
    elif isinstance(declared, dict) and "class_name" in declared:
        name, params = declared["class_name"], dict(declared.get("config") or {})
    else:
        name = type(declared).__name__
        params = {key: getattr(declared, key) for key in INITIALIZER_PARAMETERS if hasattr(declared, key)}
    canonical = _snake_case(name)
    canonical = _ALIASES.get(canonical, canonical)
    if canonical not in oracles.INITIALIZERS:
        raise NotApplicable(f"kernel_initializer {declared!r} is not one of {', '.join(oracles.INITIALIZERS)}")
    return canonical, params


def _snake_case(name):
    """``GlorotUniform`` and ``glorot_uniform`` both give ``glorot_uniform``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@contract(
    "LAYER-INIT-KERNEL",
    level=MUST,
    statement="The initial kernel follows the initializer the layer declares in kernel_initializer, with "
    "that initializer's parameters and Keras's fan computation (glorot_uniform for Keras's Dense, "
    "random_normal N(0, 0.05) where a layer declares it).",
    rationale="A wrong initial scale (stddev 1 instead of 0.05, a fan computed from the batch size) trains "
    "badly or not at all, and no shape check can see it. A layer that declares no initializer is not "
    "judged against an assumed one.",
)
def check_init_kernel(impl):
    """Kolmogorov-Smirnov distance of 4608 initial kernel entries from the declared initializer's CDF
    (a constant initializer: every entry equal), against the Dvoretzky-Kiefer-Wolfowitz bound
    sqrt(ln(2/alpha) / 2n) at a false-alarm rate alpha = 1e-6."""
    layer = impl.dense(INIT_SAMPLE_SHAPE[1])
    layer.build((1, INIT_SAMPLE_SHAPE[0]))
    name, params = declared_kernel_initializer(layer)
    kernel, _ = kernel_and_bias(impl, layer)
    law = oracles.initial_distribution(name, kernel.shape, **params)
    if law.constant is not None:
        differing = kernel[kernel != np.float32(law.constant)]
        require(differing.size == 0, f"initial kernel is not {law.description}: {differing.size} of {kernel.size} entries differ, e.g. {differing[:3]}")
        return
    sample = np.sort(kernel.astype(np.float64).ravel())
    n = sample.size
    expected = law.cdf(sample)
    distance = max(np.max(np.arange(1, n + 1) / n - expected), np.max(expected - np.arange(n) / n))
    bound = math.sqrt(math.log(2 / FALSE_ALARM_RATE) / (2 * n))
    require(
        distance <= bound,
        f"initial kernel does not follow {law.description}: KS distance {distance:.4f} > {bound:.4f} "
        f"(sample mean {sample.mean():.4g}, std {sample.std():.4g})",
    )


@contract(
    "LAYER-INIT-BIAS-ZEROS",
    level=MUST,
    statement="The initial bias is all zeros.",
    rationale="Both the book's SimpleDense and Keras's Dense start the bias at zero; a random bias shifts "
    "every unit and changes what the first training steps do.",
    given={"shape": strategies.input_shapes(2, 2), "units": strategies.units},
    examples=[dict(shape=(1, 3), units=4)],
)
def check_init_bias_zeros(impl, shape, units):
    """Build the layer and compare its bias with zeros exactly."""
    layer = impl.dense(units)
    layer.build(shape)
    _, bias = kernel_and_bias(impl, layer)
    require(np.all(bias == 0), f"initial bias is {bias}, expected zeros")
