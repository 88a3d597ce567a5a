"""The generic contracts: every one passes on correct Keras layers, and each fails the broken layer it exists for."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from conformance import adapters, catalog, reproduce
from conformance.outcomes import FAILED, NOT_APPLICABLE, PASSED, SKIPPED
from conformance.runner import run_cell
from conformance.specs import LayerSpec

GENERIC = [c for c in catalog.all_contracts() if c.area == "generic"]
SEED = 20260601

CORRECT_LAYERS = {
    "Conv1D": LayerSpec("keras.layers:Conv1D", kwargs={"filters": 2, "kernel_size": 3}, input_shape=(8, 3)),
    "Conv2D": LayerSpec("keras.layers:Conv2D", kwargs={"filters": 2, "kernel_size": 2}, input_shape=(5, 5, 2)),
    "LayerNormalization": LayerSpec("keras.layers:LayerNormalization", input_shape=(None, 4)),
    "Embedding": LayerSpec("keras.layers:Embedding", kwargs={"input_dim": 20, "output_dim": 3}, input_shape=(None,),
                           input_dtype="int32", input_range=(0, 20)),
    "GRU": LayerSpec("keras.layers:GRU", kwargs={"units": 3}, input_shape=(4, 2)),
    "BatchNormalization": LayerSpec("keras.layers:BatchNormalization", input_shape=(4,)),
    "Dropout": LayerSpec("keras.layers:Dropout", kwargs={"rate": 0.5}, input_shape=(4,), stochastic_in_training=True),
}
# Keras's own layers pass every generic contract in the layer table (docs/keras-layers.md), which CI reruns fresh
# (`keras-conformance docs --confirm`), and each framework's Dense in tests/test_frameworks_conform.py; here the layers
# some tests use below.
MASKS_AND_STATE = {"GENERIC-MASK-PROPAGATED-AS-COMPUTED", "GENERIC-MASKED-POSITIONS-IGNORED", "GENERIC-RNN-STATE-CONTINUES"}


def test_generic_contracts_are_registered_with_the_build_root():
    ids = {c.id for c in GENERIC}
    assert {"GENERIC-EXPLICIT-BUILD", "GENERIC-UNBUILT-AT-INIT", "GENERIC-GRAD-FINITE-DIFFERENCE", "GENERIC-COMPILED-EQUALS-EAGER"} <= ids
    for c in GENERIC:
        expected = () if c.id in ("GENERIC-EXPLICIT-BUILD", "GENERIC-UNBUILT-AT-INIT") else ("GENERIC-EXPLICIT-BUILD",)
        assert c.rests_on == expected, c.id
        assert c.how_checked, f"{c.id} has no docstring saying how it is checked"


# -- broken layers, each caught by the contract it targets --------------------------------------------


class WeightInCall(tf_keras.layers.Dense):
    """Adds a fresh weight on every call after the first (tf_keras, unlike Keras 3, lets call() add weights)."""

    def call(self, inputs):
        self._calls = getattr(self, "_calls", 0) + 1
        if self._calls > 1:
            self.add_weight(name=f"extra_{self._calls}", shape=(1,), initializer="zeros")
        return super().call(inputs)


class CentredOnBatch(keras.layers.Dense):
    """Subtracts the batch mean at inference too."""

    def call(self, inputs):
        outputs = super().call(inputs)
        return outputs - keras.ops.mean(outputs, axis=0, keepdims=True)


class HalfGradient(keras.layers.Dense):
    """Its backward pass passes on half of the true input gradient."""

    def call(self, inputs):
        @tf.custom_gradient
        def halve_gradient(values):
            return tf.identity(values), lambda upstream: upstream / 2

        return super().call(halve_gradient(inputs))


class ForgetsActivation(keras.layers.Dense):
    """get_config drops the activation, so a copy comes back linear."""

    def get_config(self):
        config = super().get_config()
        config["activation"] = "linear"
        return config


class NoisyAtInference(keras.layers.Dense):
    """Adds fresh noise on every call, training or not."""

    def call(self, inputs):
        return super().call(inputs) + keras.random.normal((1, self.units), stddev=1e-3)


class WrongOutputShape(keras.layers.Dense):
    """Declares one unit more than it outputs."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units + 1,)


BROKEN = [
    (WeightInCall, {}, "GENERIC-NO-WEIGHTS-IN-CALL"),
    (CentredOnBatch, {}, "GENERIC-BATCH-INDEPENDENCE"),
    (HalfGradient, {}, "GENERIC-GRAD-FINITE-DIFFERENCE"),
    (ForgetsActivation, {"activation": "tanh"}, "GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER"),
    (NoisyAtInference, {}, "GENERIC-DETERMINISTIC-INFERENCE"),
    (WrongOutputShape, {}, "GENERIC-OUTPUT-SHAPE"),
]


@pytest.mark.parametrize("layer_class, kwargs, contract_id", BROKEN, ids=lambda v: getattr(v, "__name__", str(v)))
def test_each_broken_layer_fails_its_contract(layer_class, kwargs, contract_id):
    framework = "tf_keras" if issubclass(layer_class, tf_keras.layers.Layer) else "keras"
    impl = adapters.load(framework, spec=LayerSpec(layer_class, kwargs={"units": 3, **kwargs}, input_shape=(None,)))
    result = run_cell(catalog.get(contract_id), impl, "default", "quick", SEED)
    assert result.status == FAILED, f"{contract_id} on {layer_class.__name__}: {result.status} {result.message}"
    if layer_class is not NoisyAtInference:  # the root compares outputs of two calls too
        assert run_cell(catalog.get("GENERIC-EXPLICIT-BUILD"), impl, "default", "quick", SEED).status == PASSED


class CountsTrainingCalls(keras.layers.Dense):
    """Keeps a non-trainable count of its training calls, even while frozen."""

    def build(self, input_shape):
        super().build(input_shape)
        self.training_calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="training_calls")

    def call(self, inputs, training=None):
        if training:
            self.training_calls.assign_add(1.0)
        return super().call(inputs)


def test_a_frozen_layer_that_keeps_updating_fails_the_freeze_contract():
    impl = adapters.load("keras", spec=LayerSpec(CountsTrainingCalls, kwargs={"units": 3}))
    result = run_cell(catalog.get("GENERIC-TRAINABLE-FALSE-FREEZES"), impl, "default", "quick", SEED)
    assert result.status == FAILED, result.message


def test_compiled_call_matches_eager_on_a_plain_dense():
    impl = adapters.load("keras")
    layer = impl.new_layer()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    eager = impl.numpy(layer(impl.tensor(x)))
    assert np.array_equal(impl.compiled_call(layer, x), eager)


def test_vjp_densifies_embedding_gradients():
    """A gather's gradient is a tf.IndexedSlices; vjp must still give a dense array of the weight's shape."""
    impl = adapters.load("keras", spec=CORRECT_LAYERS["Embedding"])
    layer = impl.new_layer()
    x = np.array([[1, 2, 2]], np.int32)
    layer(impl.tensor(x))
    _, (gradient,) = impl.vjp(layer, x, np.ones((1, 3, 3), np.float32))
    assert gradient.shape == (20, 3) and gradient.dtype == np.float32
    assert gradient[2].tolist() == [2.0, 2.0, 2.0] and gradient[1].tolist() == [1.0, 1.0, 1.0] and gradient[0].tolist() == [0.0] * 3


def test_torch_backend_says_it_compiles_nothing():
    pytest.importorskip("torch")
    from conformance.adapters import torch as torch_backend
    from conformance.registry import NotApplicable

    with pytest.raises(NotApplicable, match="eagerly"):
        torch_backend.compiled_call(None, np.zeros((1, 2), np.float32))


class FailsUnderMixedPrecision(keras.layers.Dense):
    """Raises in call whenever it computes in float16."""

    def call(self, inputs):
        if self.compute_dtype == "float16":
            raise RuntimeError("no float16 kernel")
        return super().call(inputs)


@pytest.mark.parametrize("impl_name, module", [("keras", keras), ("tf_keras", tf_keras)])
def test_the_mixed_precision_check_restores_the_policy_whatever_happens(impl_name, module):
    layer_class = FailsUnderMixedPrecision if impl_name == "keras" else tf_keras.layers.Dense
    impl = adapters.load(impl_name, spec=LayerSpec(layer_class, kwargs={"units": 2}))
    result = run_cell(catalog.get("GENERIC-MIXED-PRECISION"), impl, "default", "quick", SEED)
    assert result.status == (FAILED if impl_name == "keras" else PASSED), result.message
    assert module.mixed_precision.global_policy().name == "float32"


def test_the_reference_has_no_keras_format_and_no_dtype_policy():
    impl = adapters.load("reference")
    for contract_id, reason in [("GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER", "no .keras format"),
                                ("GENERIC-MIXED-PRECISION", "no mixed_precision.set_global_policy")]:
        result = run_cell(catalog.get(contract_id), impl, "default", "quick", SEED)
        assert result.status == NOT_APPLICABLE and reason in result.message, result.message


def test_per_device_contracts_run_on_other_devices_and_compare_with_cpu0():
    impl = adapters.load("keras", spec=CORRECT_LAYERS["Conv1D"])
    agreement = catalog.get("GENERIC-DEVICE-AGREES-WITH-CPU")
    assert agreement.per_device and catalog.get("GENERIC-DEVICE-PLACEMENT").per_device
    assert run_cell(agreement, impl, "CPU:0", "quick", SEED).status == NOT_APPLICABLE
    assert run_cell(agreement, impl, "CPU:1", "quick", SEED).status == PASSED
    assert run_cell(agreement, impl, "GPU:7", "quick", SEED).status == SKIPPED


def test_a_spec_with_alternative_ranks_passes_every_generic_contract_on_a_correct_layer():
    spec = LayerSpec("keras.layers:LayerNormalization", input_shape=((4,), (None, 4), (2, None, 4)))
    impl = adapters.load("keras", spec=spec)
    results = {c.id: run_cell(c, impl, "CPU:1" if c.per_device else "default", "quick", SEED) for c in GENERIC}
    # the training-flag contracts do not apply: LayerNormalization's call takes no training argument; nor do the
    # mask and state contracts: it is drawn no mask, makes none and returns no state
    bad = {cid: f"{r.status}: {r.message}" for cid, r in results.items()
           if r.status != PASSED and not (r.status == NOT_APPLICABLE and ("takes no training argument" in r.message
                                                                          or cid in MASKS_AND_STATE))}
    assert not bad, bad


class ArgmaxIndex(keras.layers.Layer):
    """The index of each row's largest feature: an integer output under any dtype policy."""

    def call(self, inputs):
        return keras.ops.argmax(inputs, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape[:-1]


def test_mixed_precision_asks_float16_of_float_outputs_only():
    impl = adapters.load("keras", spec=LayerSpec(ArgmaxIndex, input_shape=(3,)))
    result = run_cell(catalog.get("GENERIC-MIXED-PRECISION"), impl, "default", "quick", SEED)
    assert result.status == PASSED, result.message


def test_a_layer_that_cannot_be_rebuilt_from_its_config_is_a_should_finding_only():
    """The book's SimpleDense takes no **kwargs, so from_config and load_model raise: a missing capability
    (GENERIC-CONFIG-SERIALIZABLE), not a layer rebuilt wrong (GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER)."""
    impl = adapters.load("keras", "examples.book.simple_dense:SimpleDense")
    serializable = run_cell(catalog.get("GENERIC-CONFIG-SERIALIZABLE"), impl, "default", "quick", SEED)
    same_layer = run_cell(catalog.get("GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER"), impl, "default", "quick", SEED)
    assert serializable.status == FAILED and "cannot be rebuilt from its config" in serializable.message, serializable.message
    assert same_layer.status == NOT_APPLICABLE and "GENERIC-CONFIG-SERIALIZABLE reports it" in same_layer.message, same_layer.message


class _RefusesDeepcopy(list):
    """A list that deepcopy refuses, as LayerNormalization's axis (a TrackedList whose tracker holds OpenVINO
    outputs) is on Keras's OpenVINO backend."""

    def __deepcopy__(self, memo):
        raise TypeError("Cannot deepcopy 'openvino.Output' object.")


@keras.saving.register_keras_serializable(package="conformance_tests")
class ConfigRefusesDeepcopy(keras.layers.Dense):
    """A Dense whose config holds such a list: from_config(get_config()) and .keras saving work."""

    def __init__(self, units, axes=(-1,), **kwargs):
        super().__init__(units, **kwargs)
        self.axes = list(axes)

    def get_config(self):
        return {**super().get_config(), "axes": _RefusesDeepcopy(self.axes)}


def test_a_config_the_kit_cannot_deep_copy_is_not_the_layers_failure():
    impl = adapters.load("keras", spec=LayerSpec(ConfigRefusesDeepcopy, kwargs={"units": 3}))
    for contract_id in ("GENERIC-CONFIG-SERIALIZABLE", "GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER"):
        result = run_cell(catalog.get(contract_id), impl, "default", "quick", SEED)
        assert result.status == PASSED, f"{contract_id}: {result.status} {result.message}"


class Float32InsideBatchNudge(keras.layers.Layer):
    """Computes in float32 whatever its dtype (as keras-hub's LlamaLayerNorm does) and scales its output by
    1 + nudge when its batch has more than one row: a batch dependence of about nudge * 2^23 float32 ulps."""

    def __init__(self, nudge=2.0**-20, **kwargs):
        super().__init__(**kwargs)
        self.nudge = nudge

    def call(self, inputs):
        values = keras.ops.cast(inputs, "float32")
        factor = 1.0 + self.nudge if inputs.shape[0] > 1 else 1.0
        return keras.ops.cast(values * factor, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "nudge": self.nudge}


@pytest.mark.parametrize("nudge, expected", [(2.0**-20, NOT_APPLICABLE), (2.0**-12, FAILED)])
def test_a_float64_twin_that_computes_in_float32_cannot_judge_a_gap_of_a_few_ulps_but_judges_a_larger_one(nudge, expected):
    """8 float32 ulps between a row alone and in its batch: rounding or a bug, and without a float64 reference the
    kit cannot tell (n/a, saying why); 2048 ulps is no rounding (failed)."""
    impl = adapters.load("keras", spec=LayerSpec(Float32InsideBatchNudge, kwargs={"nudge": nudge}, input_shape=(4,)))
    result = run_cell(catalog.get("GENERIC-BATCH-INDEPENDENCE"), impl, "default", "quick", SEED)
    assert result.status == expected, result.message
    assert ("computes in float32 inside" in result.message) == (expected == NOT_APPLICABLE), result.message


class LogOfInput(keras.layers.Layer):
    """log(x): nan for negative inputs and -inf at 0, in float32 and float64, eager and compiled alike."""

    def call(self, inputs):
        return keras.ops.log(inputs)


class LogOfInputFiniteWhenTraced(keras.layers.Layer):
    """log(x) eagerly, log(|x|) inside a traced function: finite where the eager call gives nan."""

    def call(self, inputs):
        return keras.ops.log(inputs if tf.executing_eagerly() else keras.ops.abs(inputs))


COMPARES_OUTPUTS = ["GENERIC-COMPILED-EQUALS-EAGER", "GENERIC-COMPILED-UNKNOWN-BATCH", "GENERIC-BATCH-INDEPENDENCE",
                    "GENERIC-EXPLICIT-BUILD", "GENERIC-LOSSES-ONCE-PER-CALL", "GENERIC-DEVICE-AGREES-WITH-CPU"]


@pytest.mark.parametrize("contract_id", COMPARES_OUTPUTS)
def test_nan_and_infinite_outputs_agree_when_both_computations_give_them(contract_id):
    """Where the float64 twin is nan or infinite it bounds nothing: there both float32 results must be of one kind
    (nan, the same infinity, or finite), and the finite entries are judged as before."""
    impl = adapters.load("keras", spec=LayerSpec(LogOfInput, input_shape=(3,)))
    device = "CPU:1" if catalog.get(contract_id).per_device else "default"
    result = run_cell(catalog.get(contract_id), impl, device, "quick", SEED)
    assert result.status in (PASSED, NOT_APPLICABLE) and "nan" not in result.message, result.message


def test_a_nan_on_one_path_only_fails():
    """One comparison stands for all: they share the judge, and a failing compiled-model contract shrinks for 30 s."""
    impl = adapters.load("keras", spec=LayerSpec(LogOfInputFiniteWhenTraced, input_shape=(3,)))
    result = run_cell(catalog.get("GENERIC-COMPILED-EQUALS-EAGER"), impl, "default", "quick", SEED)
    assert result.status == FAILED and "both must be the same" in result.message, result.message


class WrongWhenTracedForSomeWeights(keras.layers.Layer):
    """x * w eagerly; inside a traced function it adds 1 when its random initial w[0] is above 0.03 (one
    initialization in five): a bug that only some initial weights show."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_uniform")

    def call(self, inputs):
        output = inputs * self.w
        if tf.executing_eagerly():
            return output
        return output + keras.ops.cast(self.w[0] > 0.03, output.dtype)


def test_a_failure_that_only_some_initial_weights_show_is_replayed_with_those_weights():
    """Each example seeds the framework with a drawn framework_seed, shrunk and printed with the example and
    written into the snippet: the failure replays exactly, and is never reported as 'not deterministic'."""
    layer = f"{WrongWhenTracedForSomeWeights.__module__}:{WrongWhenTracedForSomeWeights.__name__}"
    impl = adapters.load("keras", spec=LayerSpec(layer, input_shape=(2,)))
    result = run_cell(catalog.get("GENERIC-COMPILED-EQUALS-EAGER"), impl, "default", "default", SEED)
    assert result.status == FAILED and "not deterministic" not in result.message, result.message
    assert "framework_seed=" in result.counterexample, result.counterexample
    reproduce.attach([result], impl)
    assert "impl.seed_example(" in result.extra["snippet"], result.extra["snippet"]
    with pytest.raises(AssertionError, match="the compiled output"):
        exec(result.extra["snippet"], {})


def test_a_layer_whose_training_call_updates_statistics_differs_between_modes_by_design():
    """BatchNormalization normalizes with the batch's statistics in training and updates its moving ones: no
    randomness, yet its two modes differ; the update is what tells it from a layer that silently does."""
    impl = adapters.load("keras", spec=CORRECT_LAYERS["BatchNormalization"])
    result = run_cell(catalog.get("GENERIC-NO-RANDOMNESS-SAME-IN-BOTH-MODES"), impl, "default", "quick", SEED)
    assert result.status == NOT_APPLICABLE and "updates its weights" in result.message, result.message


def test_dropout_is_reproducible_under_set_random_seed_and_a_gru_is_the_same_in_both_modes():
    dropout = adapters.load("keras", spec=CORRECT_LAYERS["Dropout"])
    gru = adapters.load("keras", spec=CORRECT_LAYERS["GRU"])
    assert run_cell(catalog.get("GENERIC-TRAINING-REPRODUCIBLE-UNDER-SEED"), dropout, "default", "quick", SEED).status == PASSED
    assert run_cell(catalog.get("GENERIC-NO-RANDOMNESS-SAME-IN-BOTH-MODES"), dropout, "default", "quick", SEED).status == NOT_APPLICABLE
    assert run_cell(catalog.get("GENERIC-NO-RANDOMNESS-SAME-IN-BOTH-MODES"), gru, "default", "quick", SEED).status == PASSED


# -- masks and returned states on Keras's own layers ---------------------------------------------------

# (spec fields, the statuses of GENERIC-MASK-PROPAGATED-AS-COMPUTED, -MASKED-POSITIONS-IGNORED, -RNN-STATE-CONTINUES).
# A spec with `inputs` is drawn a mask where call takes one; the one-input shorthand is not.
MASK_AND_STATE_LAYERS = {
    "Embedding(mask_zero)": (dict(layer="Embedding", kwargs={"input_dim": 6, "output_dim": 3, "mask_zero": True},
                                  input_shape=(None,), input_dtype="int32", input_range=(0, 6)),
                             (PASSED, NOT_APPLICABLE, NOT_APPLICABLE)),
    "Masking": (dict(layer="Masking", input_shape=(None, 3)), (PASSED, NOT_APPLICABLE, NOT_APPLICABLE)),
    "LSTM(masked, return_sequences, return_state)": (
        dict(layer="LSTM", kwargs={"units": 2, "return_sequences": True, "return_state": True}, inputs={"shape": (None, 3)}),
        (PASSED, PASSED, PASSED)),
    "GRU(masked, return_state)": (dict(layer="GRU", kwargs={"units": 3, "return_state": True}, inputs={"shape": (5, 2)}),
                                  (PASSED, PASSED, PASSED)),
    "SimpleRNN(return_state)": (dict(layer="SimpleRNN", kwargs={"units": 3, "return_state": True}, input_shape=(6, 4)),
                                (NOT_APPLICABLE, NOT_APPLICABLE, PASSED)),
    "Attention(masked)": (dict(layer="Attention", inputs=[{"shape": (5, 4)}, {"shape": (7, 4)}]),
                          (PASSED, PASSED, NOT_APPLICABLE)),
}


@pytest.mark.parametrize("impl_name", ["keras", "tf_keras"])
@pytest.mark.parametrize("name", MASK_AND_STATE_LAYERS)
def test_keras_layers_that_take_make_or_carry_masks_and_states_pass_those_contracts(impl_name, name):
    fields, expected = MASK_AND_STATE_LAYERS[name]
    spec = LayerSpec(**{**fields, "layer": f"{impl_name}.layers:{fields['layer']}"})
    impl = adapters.load(impl_name, spec=spec)
    results = [run_cell(catalog.get(cid), impl, "default", "quick", SEED) for cid in sorted(MASKS_AND_STATE)]
    assert [r.status for r in results] == list(expected), [(r.contract_id, r.status, r.message) for r in results]


def test_multi_head_attention_is_drawn_no_mask_and_returns_no_state():
    """MultiHeadAttention takes query_mask/value_mask, not `mask`: the kit draws none, so nothing is compared."""
    spec = LayerSpec("keras.layers:MultiHeadAttention", kwargs={"num_heads": 2, "key_dim": 4},
                     inputs={"query": {"shape": (5, 8)}, "value": {"shape": (7, 8)}})
    impl = adapters.load("keras", spec=spec)
    messages = {cid: run_cell(catalog.get(cid), impl, "default", "quick", SEED) for cid in MASKS_AND_STATE}
    assert all(r.status == NOT_APPLICABLE for r in messages.values()), messages
    assert "call takes no mask argument" in messages["GENERIC-MASKED-POSITIONS-IGNORED"].message
    assert "returns no state" in messages["GENERIC-RNN-STATE-CONTINUES"].message
