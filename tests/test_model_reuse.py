"""A compiled model reused by a later example (Implementation.reused_model) computes exactly what a fresh
one computes: the same bits for the weights, the optimizer's variables, every History value, evaluate
and predict, and the same shuffled row order after set_random_seed. And the pool never hands one model
to two places at once, nor gives back a model whose example or fit raised."""

from __future__ import annotations

import numpy as np
import pytest

from conformance import adapters, oracles
from conformance.adapters.base import ModelPool
from conformance.fixtures.training import compiled_linear, decode_steps, fit, loss_weights, recorder, recorder_data
from conformance.strategies import fixed_regression_case, fixed_split_case


@pytest.fixture(scope="module", params=["keras", "tf_keras"])
def impl(request):
    framework = adapters.load(request.param)
    if not framework.reuse_models:
        pytest.skip(f"{request.param} runs on {framework.backend.name} here; its models are reused on TensorFlow only")
    return framework


def _assert_identical(fresh, reused):
    for name in fresh:
        a, b = fresh[name], reused[name]
        if name == "history":
            assert a == b, f"History differs: fresh {a}, reused {b}"
        elif isinstance(a, list):
            assert len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b)), f"{name} differs: {a} vs {b}"
        else:
            assert np.array_equal(a, b), f"{name} differs: {a} vs {b}"


SPLIT = fixed_split_case(rows=5, batch_size=2, validation_rows=3, inner=(2,))
# (optimizer, hyperparameters, metrics, fit arguments): the fit arguments of the training, validation
# and distribution contracts that take compiled_linear models.
FITS = [
    ("sgd", {}, None, dict(epochs=2, shuffle=False)),
    ("sgd", {"momentum": 0.9}, ["mae"], dict(epochs=3, initial_epoch=1, shuffle=False)),
    ("rmsprop", {}, list(oracles.METRICS), dict(epochs=2, shuffle=False, validation_data=SPLIT[1:])),
    ("adam", {}, None, dict(epochs=2, shuffle=False, validation_split=0.4)),
    ("adam", {}, ["mae"], dict(epochs=1, shuffle=False, sample_weight="loss_weights",
                               validation_data=(*SPLIT[1:], loss_weights(SPLIT[1])), validation_freq=[1])),
]


def _fit(impl, case, name, hyperparameters, metrics, arguments):
    model = compiled_linear(impl, case, name, metrics=metrics, **hyperparameters)
    if arguments.get("sample_weight") == "loss_weights":
        arguments = {**arguments, "sample_weight": loss_weights(case.x)}
    history = fit(model, case.x, case.y, batch_size=case.batch_size, **arguments)
    return model, {
        "weights": impl.weights(model),
        "optimizer": [impl.numpy(v) for v in model.optimizer.variables],
        "history": (history.history, list(history.epoch)),
        "evaluate": np.array(model.evaluate(case.x, case.y, batch_size=case.batch_size, verbose=0)),
        "predict": np.asarray(model.predict(case.x, batch_size=case.batch_size, verbose=0)),
    }


@pytest.mark.parametrize("name, hyperparameters, metrics, arguments", FITS)
def test_a_reused_model_fits_bit_for_bit_like_a_fresh_one(impl, name, hyperparameters, metrics, arguments):
    case = SPLIT[0]
    # Another example first: other rows, batch size, learning rate and weights, so the reused model
    # comes back trained, with optimizer slots and metrics filled and functions traced for other batches.
    earlier = fixed_regression_case(rows=7, batch_size=3, inner=(2,), learning_rate=0.05)
    earlier.kernel[:] = -earlier.kernel
    _, fresh = _fit(impl, case, name, hyperparameters, metrics, arguments)  # outside an example: fresh
    with impl.on_device(None):
        used, _ = _fit(impl, earlier, name, hyperparameters, metrics, arguments)
    with impl.on_device(None):
        model, reused = _fit(impl, case, name, hyperparameters, metrics, arguments)
    assert model is used, "the second example did not get the first one's model back"
    _assert_identical(fresh, reused)


def test_a_model_reused_under_a_distribution_fits_bit_for_bit_like_a_fresh_one(impl):
    # Batches that split evenly over the two logical CPUs (see contracts/distribution.py).
    case, earlier = (fixed_regression_case(rows=rows, batch_size=batch_size) for rows, batch_size in ((6, 2), (8, 4)))
    arguments = ("sgd", {}, None, dict(epochs=2, shuffle=False))
    with impl.distribution():
        _, fresh = _fit(impl, case, *arguments)
    with impl.on_device(None), impl.distribution():
        used, _ = _fit(impl, earlier, *arguments)
    with impl.on_device(None):
        assert compiled_linear(impl, case) is not used, "a model made under a distribution was reused outside it"
    with impl.on_device(None), impl.distribution():
        model, reused = _fit(impl, case, *arguments)
    assert model is used
    _assert_identical(fresh, reused)


def test_a_reused_recorder_shuffles_in_the_order_a_fresh_one_does(impl):
    x, y = recorder_data(5)

    def order(seed):
        impl.set_random_seed(seed)
        model = recorder(impl, 5)
        fit(model, x, y, batch_size=1, epochs=2, shuffle=True)
        return model, decode_steps(impl, model)

    _, fresh = order(3)
    with impl.on_device(None):
        used, _ = order(11)
    with impl.on_device(None):
        model, reused = order(3)
    assert model is used
    assert reused == fresh


def test_a_model_is_reused_only_on_the_devices_it_was_made_on(impl):
    case = SPLIT[0]
    with impl.on_device("CPU:0"):
        on_cpu0 = compiled_linear(impl, case)
    with impl.on_device("CPU:1"):
        assert compiled_linear(impl, case) is not on_cpu0
    with impl.on_device("CPU:0"):
        assert compiled_linear(impl, case) is on_cpu0


def test_a_model_whose_predict_raised_on_wider_data_still_computes_like_a_fresh_one(impl):
    """ERR-FEATURE-SIZE-CHANGED's predict raises inside the contract, so its model goes back to the pool,
    with a predict function traced for any feature size."""
    case = fixed_regression_case(rows=5, batch_size=2, inner=(2,))
    arguments = ("sgd", {}, None, dict(epochs=2, shuffle=False))
    _, fresh = _fit(impl, case, *arguments)
    with impl.on_device(None):
        used, _ = _fit(impl, fixed_regression_case(rows=7, batch_size=3, inner=(2,)), *arguments)
        with pytest.raises(Exception):
            used.predict(np.concatenate([case.x, case.x], axis=-1), verbose=0)
    with impl.on_device(None):
        model, reused = _fit(impl, case, *arguments)
    assert model is used
    _assert_identical(fresh, reused)


def test_a_model_whose_fit_raised_is_not_reused(impl):
    case = fixed_regression_case(rows=4, batch_size=2, units=1)
    with impl.on_device(None):
        failed = compiled_linear(impl, case)
        with pytest.raises(Exception):
            fit(failed, np.concatenate([case.x, case.x], axis=-1), case.y)
    with impl.on_device(None):
        assert compiled_linear(impl, case) is not failed


def test_a_users_layer_the_reference_and_a_mutant_make_every_model_afresh(impl):
    from tests.mutants.layers import keras_with_sequential

    assert not adapters.load(impl.name, layer="tests.mutants.layers:TransposedKernel").reuse_models
    assert not adapters.load("reference").reuse_models
    assert not adapters.Implementation("keras", keras_with_sequential(impl.module.Sequential), impl.backend).reuse_models


# -- the pool itself, with plain objects ---------------------------------------------------------


def _take(pool, key, resets):
    return pool.take(key, lambda: (object(), "state"), lambda model, state: resets.append(model))


def test_one_example_never_gets_the_same_model_twice_and_the_next_gets_them_back_reset():
    pool, resets = ModelPool(), []
    with pool.example():
        first, second = _take(pool, "k", resets), _take(pool, "k", resets)
    assert first is not second
    with pool.example():
        again = {_take(pool, "k", resets), _take(pool, "k", resets), _take(pool, "k", resets)}
    assert {first, second} < again and set(resets) == {first, second}


def test_models_of_an_example_that_raised_or_were_discarded_are_not_given_back():
    pool, resets = ModelPool(), []
    with pytest.raises(ZeroDivisionError), pool.example():
        raised = _take(pool, "k", resets)
        1 / 0
    with pool.example():
        discarded = _take(pool, "k", resets)
        ModelPool.discard(discarded)
        with pool.example():  # nested: still the same example
            kept = _take(pool, "k", resets)
    with pool.example():
        assert _take(pool, "k", resets) is kept
        assert _take(pool, "k", resets) not in (raised, discarded)


def test_the_pool_keeps_the_most_recently_given_back_models_up_to_its_capacity():
    pool, resets = ModelPool(), []
    pool.capacity = 2
    with pool.example():
        models = [_take(pool, key, resets) for key in ("a", "b", "c")]
    with pool.example():
        assert [_take(pool, key, resets) for key in ("c", "b", "a")][:2] == models[:0:-1]
    assert resets == models[:0:-1]
