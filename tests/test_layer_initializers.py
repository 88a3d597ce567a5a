"""LAYER-INIT-KERNEL reads the initializer a layer declares (a name or an object of Keras, tf_keras or
the reference, with its parameters) and holds the kernel to that law, not to an assumed one."""

import keras
import pytest
import tf_keras

import conformance.adapters.tensorflow as tensorflow_backend
from conformance import adapters, catalog, outcomes, runner
from conformance.adapters.base import Implementation

CONTRACT = catalog.get("LAYER-INIT-KERNEL")


def _cell(module, initializer):
    """LAYER-INIT-KERNEL on ``module``'s Dense built with ``kernel_initializer=initializer``."""

    def layer_class(units, activation=None, **kwargs):
        return module.layers.Dense(units, activation=activation, kernel_initializer=initializer, **kwargs)

    impl = Implementation(module.__name__, module, tensorflow_backend, layer_class=layer_class, layer_name="Dense")
    return runner.run_cell(CONTRACT, impl, runner.DEFAULT_DEVICE, "quick", seed=1)


def _declared(module):
    init = module.initializers
    return [
        "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
        "random_normal", "random_uniform", "truncated_normal", "zeros", "ones", "GlorotUniform",
        init.RandomNormal(mean=0.5, stddev=0.2), init.RandomUniform(minval=-0.3, maxval=0.1),
        init.TruncatedNormal(mean=-0.1, stddev=0.3), init.HeNormal(), init.LecunUniform(),
        init.VarianceScaling(scale=3.0, mode="fan_out", distribution="untruncated_normal"),
        init.VarianceScaling(scale=0.5, mode="fan_avg", distribution="uniform"), init.Constant(0.25),
    ]


@pytest.mark.parametrize("module", [keras, tf_keras], ids=lambda m: m.__name__)
def test_every_declared_initializer_passes_on_the_framework_that_draws_it(module):
    results = {repr(initializer): _cell(module, initializer) for initializer in _declared(module)}
    failing = {name: f"{r.status}: {r.message}" for name, r in results.items() if r.status != outcomes.PASSED}
    assert not failing, failing


@pytest.mark.parametrize("module", [keras, tf_keras], ids=lambda m: m.__name__)
def test_an_initializer_the_kit_does_not_know_is_not_applicable(module):
    result = _cell(module, module.initializers.Orthogonal())
    assert result.status == outcomes.NOT_APPLICABLE and "Orthogonal" in result.message


def test_the_reference_dense_and_simple_dense_pass():
    impl = adapters.load("reference")
    for layer_name in ("Dense", "SimpleDense"):
        layer_class = getattr(impl.module.layers, layer_name)
        result = runner.run_cell(CONTRACT, Implementation("reference", impl.module, impl.backend, layer_class=layer_class), runner.DEFAULT_DEVICE, "quick", 1)
        assert result.status == outcomes.PASSED, f"{layer_name}: {result.message}"


class _DeclaresOneDrawsAnother(keras.layers.Dense):
    """Builds its kernel with ``drawn``, then declares ``declared`` in kernel_initializer."""

    def __init__(self, units, declared, drawn, **kwargs):
        super().__init__(units, kernel_initializer=drawn, **kwargs)
        self.declared = declared

    def build(self, input_shape):
        super().build(input_shape)
        self.kernel_initializer = keras.initializers.get(self.declared)


@pytest.mark.parametrize(
    "declared, drawn",
    [
        ("he_normal", "glorot_uniform"),  # scale and law
        ("he_uniform", "lecun_uniform"),  # a factor sqrt(2): fan_in counted, scale forgotten
        ("glorot_normal", "he_normal"),  # fan_avg against fan_in on a non-square kernel
        ("random_uniform", "truncated_normal"),  # same support, another law
        ("zeros", "ones"),
    ],
)
def test_a_kernel_that_does_not_follow_its_declared_initializer_fails(declared, drawn):
    def layer_class(units, activation=None, **kwargs):
        return _DeclaresOneDrawsAnother(units, declared, drawn, activation=activation, **kwargs)

    impl = Implementation("keras", keras, tensorflow_backend, layer_class=layer_class, layer_name="Dense")
    result = runner.run_cell(CONTRACT, impl, runner.DEFAULT_DEVICE, "quick", seed=1)
    assert result.status == outcomes.FAILED, f"{declared} declared, {drawn} drawn: {result.status} {result.message}"
    assert "initial kernel" in result.message and declared in result.message
