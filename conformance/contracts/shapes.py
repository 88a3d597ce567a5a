"""Output shapes: a dense layer contracts the last axis of any input of rank >= 2."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from conformance import oracles, strategies
from conformance.fixtures import assert_same_shape, require
from conformance.fixtures.layers import loaded_dense, params_of
from conformance.registry import MUST, SHOULD, contract


def _check_output_shape(impl, shape, units):
    layer = impl.dense(units)
    _, output = impl.call(layer, np.zeros(shape, np.float32))
    assert_same_shape(f"output for input {shape}", output.shape, shape[:-1] + (units,))


def _per_rank(contract_id, rank_low, rank_high, level, statement, examples):
    """One variant of the shape family: inputs of rank ``rank_low`` to ``rank_high``."""
    return dict(id=contract_id, level=level, statement=statement,
                given={"shape": strategies.input_shapes(rank_low, rank_high), "units": strategies.units},
                examples=[dict(shape=shape, units=n_units) for shape, n_units in examples])


# Pinned: a batch of one and of several, units both equal to and different from the input size,
# and leading axes of different lengths (so merging or swapping them changes the shape).
@contract(
    rationale="Sequence (3D) and image-like (4D) inputs go through the same Dense as tabular data; "
    "a layer that only handles 2D breaks every model that is not a plain MLP.",
    variants=[
        _per_rank("DENSE-SHAPE-2D", 2, 2, MUST, "A 2D input (batch, d) gives an output of shape (batch, units).",
                  [((1, 3), 2), ((4, 3), 3)]),
        _per_rank("DENSE-SHAPE-3D", 3, 3, MUST, "A 3D input (batch, t, d) gives an output of shape (batch, t, units).",
                  [((2, 3, 4), 2), ((1, 1, 3), 3)]),
        _per_rank("DENSE-SHAPE-4D", 4, 4, MUST, "A 4D input (batch, h, w, d) gives an output of shape (batch, h, w, units).",
                  [((2, 3, 1, 2), 4), ((1, 2, 2, 3), 3)]),
        _per_rank("DENSE-SHAPE-ND", 5, 6, SHOULD, "Inputs of rank 5 and 6 give shape[:-1] + (units,) as well.",
                  [((2, 1, 3, 1, 2), 3), ((1, 2, 1, 2, 1, 3), 1)]),
    ],
)
def check_output_shape(impl, shape, units):
    """Call a fresh layer on zeros of the drawn shape and compare the output shape."""
    _check_output_shape(impl, shape, units)


@contract(
    "DENSE-REJECT-LOW-RANK",
    level=SHOULD,
    statement="An input of rank 0 or 1 is rejected with an exception, whether or not the layer is built.",
    rationale="A vector has no batch axis; treating it as one sample or as a batch of scalars silently "
    "changes the meaning of the data. Keras's Dense rejects it through its input_spec; a layer that "
    "computes on it (keras.ops.matmul accepts a vector) is stricter than needed to fail, not wrong.",
    given={"features": strategies.feature_sizes, "units": strategies.units, "rank": st.sampled_from((0, 1))},
    examples=[dict(features=3, units=2, rank=1), dict(features=1, units=1, rank=0)],
)
def check_reject_low_rank(impl, features, units, rank):
    """Call a fresh layer, then a layer built on (2, features), with an input of rank 0 or 1."""
    bad = np.ones((features,) if rank == 1 else (), np.float32)
    fresh, built = impl.dense(units), impl.dense(units)
    built.build((2, features))
    for name, layer in (("fresh", fresh), ("built", built)):
        try:
            layer(impl.tensor(bad))
        except Exception:
            continue
        raise AssertionError(f"a {name} layer accepted an input of rank {rank} (shape {bad.shape})")


def _compute_output_shape_missing(impl, device):
    layer = impl.dense(1)
    try:
        layer.compute_output_shape((None, 2))
    except (NotImplementedError, AttributeError):
        return f"{impl.layer_name} does not implement compute_output_shape"
    return None


@contract(
    "DENSE-COMPUTE-OUTPUT-SHAPE",
    level=MUST,
    statement="compute_output_shape(input_shape) gives the shape of the real output and does not build the layer.",
    rationale="Keras uses compute_output_shape to infer shapes of symbolic models; a wrong answer breaks "
    "summary() and functional models, and a side-effect build fixes the input size too early.",
    given={"shape": strategies.input_shapes(2, 4), "units": strategies.units},
    requires=_compute_output_shape_missing,
    examples=[dict(shape=(2, 3), units=3), dict(shape=(1, 2, 3, 4), units=2)],
)
def check_compute_output_shape(impl, shape, units):
    """Ask compute_output_shape for (None,) + shape[1:], check the layer is still unbuilt, then call it."""
    layer = impl.dense(units)
    predicted = tuple(layer.compute_output_shape((None,) + tuple(shape[1:])))
    require(layer.built is False, "compute_output_shape built the layer")
    _, output = impl.call(layer, np.zeros(shape, np.float32))
    assert_same_shape("compute_output_shape", predicted, (None,) + output.shape[1:])


@contract(
    "DENSE-RANK-RESHAPE-EQUIVALENCE",
    level=MUST,
    statement="Applying the layer to a rank-k input equals reshaping it to 2D, applying, and reshaping back.",
    rationale="This is what 'contracts the last axis' means; a layer that mixes leading axes (or adds the "
    "bias to the wrong axis on 3D/4D inputs) passes every 2D check and is still wrong.",
    given={"case": strategies.dense_cases(3, 4)},
    examples=[
        dict(case=strategies.example_case((2, 3, 3), 3, "relu")),
        dict(case=strategies.example_case((1, 2, 3, 2), 4, "softmax", scale=1e30)),
    ],
)
def check_rank_reshape_equivalence(impl, case):
    """Compare layer(x) with layer(x.reshape(-1, d)).reshape(...) within the float32 error bound."""
    layer = loaded_dense(impl, case)
    _, full = impl.call(layer, case.x)
    _, flat = impl.call(layer, case.x.reshape(-1, case.x.shape[-1]))
    expected = oracles.forward([params_of(impl, layer, case.activation)], case.x)
    oracles.assert_within(
        "layer(x) against layer(x as 2D) reshaped back",
        full,
        oracles.Interval(flat.reshape(full.shape).astype(np.float64), 2 * expected.radius),
    )


@contract(
    "DENSE-EMPTY-BATCH",
    level=SHOULD,
    statement="A batch of zero rows gives an empty output of shape (0, ..., units).",
    rationale="Empty batches occur at the end of filtered pipelines; Keras 3 and tf_keras both return an "
    "empty output instead of failing.",
    given={"shape": strategies.input_shapes(2, 4, min_batch=0).map(lambda s: (0,) + s[1:]), "units": strategies.units},
    examples=[dict(shape=(0, 3), units=2), dict(shape=(0, 2, 3), units=3)],
)
def check_empty_batch(impl, shape, units):
    """Call a layer built on one row with an input whose batch dimension is 0."""
    layer = impl.dense(units)
    layer.build((1,) + shape[1:])
    _check_output_shape(impl, shape, units)
