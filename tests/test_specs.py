"""Layer specs: three equal ways in (CLI, TOML, Python), validation that names the spec and the field,
and inputs drawn as the spec says."""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conformance import pipeline, specs
from conformance.cli import main
from conformance.specs import LayerSpec

CONV = LayerSpec("keras.layers:Conv1D", kwargs={"filters": 2, "kernel_size": 3}, input_shape=(8, 3))


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(layer="Conv1D"), "layer must be 'module:Class' or a class"),
        (dict(layer="m:C", kwargs=[1]), "kwargs must be a dict"),
        (dict(layer="m:C", input_shape=()), "input_shape must be a non-empty tuple"),
        (dict(layer="m:C", input_shape=(3, 0)), "input_shape must be a non-empty tuple of positive ints or None"),
        (dict(layer="m:C", input_shape=((8,), ())), "or a non-empty tuple of such shapes (alternatives)"),
        (dict(layer="m:C", input_shape=((8,), 4)), "input_shape must be a non-empty tuple"),
        (dict(layer="m:C", input_dtype="float8"), "input_dtype must be one of"),
        (dict(layer="m:C", input_range=(2, 1)), "input_range must be (low, high) with finite low < high"),
        (dict(layer="m:C", input_dtype="int32", input_range=(0, 2.5)), "input_range of int32 inputs must be integers"),
        (dict(layer="m:C", deterministic="yes"), "deterministic must be true or false"),
    ],
)
def test_a_bad_spec_is_an_error_naming_the_spec_and_the_field(fields, message):
    with pytest.raises(ValueError) as error:
        LayerSpec(**fields)
    assert message in str(error.value) and "layer spec" in str(error.value)


@settings(max_examples=30, database=None)
@given(data=st.data())
def test_inputs_follow_the_spec(data):
    spec = LayerSpec("m:C", input_shape=(None, 3), input_dtype="int32", input_range=(0, 20))
    x = data.draw(spec.examples())
    assert x.dtype == np.int32 and x.ndim == 3 and x.shape[2] == 3 and 1 <= x.shape[1] <= specs.MAX_VARIABLE_DIM
    assert x.min(initial=0) >= 0 and x.max(initial=0) < 20
    floats = data.draw(CONV.examples())
    assert floats.dtype == np.float32 and floats.shape[1:] == (8, 3) and np.all(np.abs(floats) <= 2)


RANKS = LayerSpec("keras.layers:LayerNormalization", input_shape=((3,), (None, 3), (2, None, 3)))


@settings(max_examples=60, database=None)
@given(data=st.data())
def test_inputs_of_a_spec_with_alternative_shapes_take_one_of_them(data):
    x = data.draw(RANKS.examples())
    assert x.shape[1:] in {(3,)} | {(d, 3) for d in range(1, 5)} | {(2, d, 3) for d in range(1, 5)}


def test_every_alternative_shape_is_drawn():
    from hypothesis import find

    for rank in (2, 3, 4):
        assert find(RANKS.examples(), lambda array: array.ndim == rank).ndim == rank


def test_alternative_shapes_are_the_same_spec_from_every_way_in(tmp_path):
    assert RANKS.input_shapes == ((3,), (None, 3), (2, None, 3)) and CONV.input_shapes == ((8, 3),)
    assert LayerSpec("keras.layers:LayerNormalization", input_shape=[[3], [None, 3], [2, None, 3]]) == RANKS
    assert specs.from_cli("keras.layers:LayerNormalization", input_shape="3; None,3; 2,None,3") == RANKS
    (tmp_path / "ranks.toml").write_text('[[layer]]\nlayer = "keras.layers:LayerNormalization"\n'
                                          'input_shape = [[3], ["None", 3], [2, "None", 3]]\n')
    assert specs.load_file(tmp_path / "ranks.toml") == [RANKS]
    with pytest.raises(ValueError, match="--input-shape must be comma-separated numbers"):
        specs.from_cli("m:C", input_shape="3;x")


def test_the_command_line_way_in():
    spec = specs.from_cli("keras.layers:Embedding", '{"input_dim": 20, "output_dim": 3}', "None", "int32", "0,20")
    assert spec == LayerSpec("keras.layers:Embedding", {"input_dim": 20, "output_dim": 3}, (None,), "int32", (0.0, 20.0))
    with pytest.raises(ValueError, match="--layer-kwargs must be a JSON object"):
        specs.from_cli("m:C", "{filters: 4}")
    with pytest.raises(ValueError, match="--input-shape must be comma-separated numbers or None"):
        specs.from_cli("m:C", input_shape="16,x")


def test_the_toml_and_pyproject_ways_in(tmp_path):
    table = '[[{key}]]\nlayer = "keras.layers:Conv1D"\nkwargs = {{ filters = 2, kernel_size = 3 }}\ninput_shape = [8, 3]\n'
    (tmp_path / "layers.toml").write_text(table.format(key="layer") + '\n[[layer]]\nlayer = "keras.layers:LayerNormalization"\ninput_shape = ["None", 4]\n')
    first, second = specs.load_file(tmp_path / "layers.toml")
    assert first == CONV and second.input_shape == (None, 4)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n' + table.format(key="tool.keras-conformance.layer"))
    assert specs.load_file(tmp_path / "pyproject.toml") == [CONV]
    (tmp_path / "bad.toml").write_text('[[layer]]\nlayer = "keras.layers:Conv1D"\nkwarg = {}\n')
    with pytest.raises(ValueError, match=r"bad.toml, layer 1: unknown field 'kwarg'"):
        specs.load_file(tmp_path / "bad.toml")
    (tmp_path / "empty.toml").write_text("")
    with pytest.raises(ValueError, match=r"no \[\[layer\]\] tables"):
        specs.load_file(tmp_path / "empty.toml")


def test_the_pipeline_decides_between_a_dense_like_layer_and_a_spec(tmp_path):
    assert pipeline.layer_specs("examples.book.simple_dense:SimpleDense") == []
    assert pipeline.layer_specs("keras.layers:Conv1D", '{"filters": 2, "kernel_size": 3}', "8,3") == [CONV]
    with pytest.raises(pipeline.UsageError, match="give --layer too"):
        pipeline.layer_specs(input_shape="8,3")


def test_a_spec_layer_is_checked_by_name_and_the_dense_contracts_do_not_apply(tmp_path, capsys):
    report = tmp_path / "conv.json"
    argv = ["run", "--impl", "keras", "--layer", "keras.layers:Conv1D", "--layer-kwargs", '{"filters": 2, "kernel_size": 3}',
            "--input-shape", "8,3", "--contracts", "GENERIC-EXPLICIT-BUILD", "DENSE-SHAPE-2D", "--profile", "quick",
            "--report-json", str(report), "--in-process"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "layer keras.layers:Conv1D" in out
    record = json.loads(report.read_text())
    statuses = {r["contract_id"]: r["status"] for r in record["results"]}
    assert statuses == {"GENERIC-EXPLICIT-BUILD": "passed", "DENSE-SHAPE-2D": "not_applicable"}
    dense, = [r for r in record["results"] if r["contract_id"] == "DENSE-SHAPE-2D"]
    assert "comes from a layer spec, not a Dense-like class" in dense["message"]


def test_a_spec_whose_layer_cannot_be_constructed_is_one_usage_error(capsys):
    argv = ["run", "--impl", "keras", "--layer", "keras.layers:Conv1D", "--layer-kwargs", '{"filters": 2, "nope": 3}',
            "--input-shape", "8,3"]
    assert main(argv) == 4
    err = capsys.readouterr().err
    assert "layer spec 'Conv1D': Conv1D(**{'filters': 2, 'nope': 3}) raised" in err and "Traceback" not in err


def test_a_spec_file_checks_every_layer_in_it(tmp_path, capsys):
    (tmp_path / "layers.toml").write_text(
        '[[layer]]\nlayer = "keras.layers:Conv1D"\nkwargs = { filters = 2, kernel_size = 3 }\ninput_shape = [8, 3]\n\n'
        '[[layer]]\nlayer = "keras.layers:LayerNormalization"\ninput_shape = [4]\n'
    )
    argv = ["run", "--impl", "keras", "--layer-spec", str(tmp_path / "layers.toml"), "--contracts", "DENSE-SHAPE-2D", "--profile", "quick",
            "--in-process"]  # what is checked here does not depend on where cells run: spares a worker's start
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "layer keras.layers:Conv1D" in out and "layer keras.layers:LayerNormalization" in out and "all 2 layers:" in out


# -- real signatures: several inputs, nested inputs, constant call arguments, masks --------------------

MHA = LayerSpec("keras.layers:MultiHeadAttention", kwargs={"num_heads": 2, "key_dim": 4},
                inputs={"query": {"shape": (5, 8)}, "value": {"shape": (7, 8)}}, call_kwargs={"use_causal_mask": False})
CONCAT = LayerSpec("keras.layers:Concatenate", kwargs={"axis": -1}, inputs=[{"shape": (3,)}, {"shape": (5,)}])


def test_inputs_are_the_same_spec_from_every_way_in(tmp_path):
    (tmp_path / "layers.toml").write_text(
        '[[layer]]\nlayer = "keras.layers:MultiHeadAttention"\nkwargs = { num_heads = 2, key_dim = 4 }\n'
        'inputs = { query = { shape = [5, 8] }, value = { shape = [7, 8] } }\ncall_kwargs = { use_causal_mask = false }\n\n'
        '[[layer]]\nlayer = "keras.layers:Concatenate"\nkwargs = { axis = -1 }\ninputs = [ { shape = [3] }, { shape = [5] } ]\n')
    assert specs.load_file(tmp_path / "layers.toml") == [MHA, LayerSpec("keras.layers:Concatenate", kwargs={"axis": -1},
                                                                        inputs=[{"shape": [3]}, {"shape": [5]}])]
    assert specs.from_cli("keras.layers:MultiHeadAttention", '{"num_heads": 2, "key_dim": 4}',
                          inputs='{"query": {"shape": [5, 8]}, "value": {"shape": [7, 8]}}',
                          call_kwargs='{"use_causal_mask": false}') == MHA
    assert pipeline.layer_specs("keras.layers:Concatenate", '{"axis": -1}', inputs='[{"shape": [3]}, {"shape": [5]}]') == [
        LayerSpec("keras.layers:Concatenate", kwargs={"axis": -1}, inputs=[{"shape": [3]}, {"shape": [5]}])]
    assert MHA.inputs["query"] == specs.Leaf((5, 8))
    nested = LayerSpec("m:C", inputs={"inputs": {"user": {"shape": ["None", 8], "dtype": "int32", "range": [0, 9]}}})
    assert nested.inputs == {"inputs": {"user": specs.Leaf((None, 8), "int32", (0, 9))}}
    with pytest.raises(ValueError, match="--inputs must be a JSON object or list"):
        specs.from_cli("m:C", inputs="[{shape")


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(inputs={"query": {"shape": [5], "size": 3}}), "inputs.query: unknown field 'size' of an input"),
        (dict(inputs={"query": {"shape": [0]}}), "inputs.query: shape must be a list of positive ints or None"),
        (dict(inputs=[{"shape": [3], "dtype": "float8"}]), "inputs[0]: dtype must be one of"),
        (dict(inputs=[{"shape": [3], "dtype": "int32", "range": [0, 2.5]}]), "inputs[0]: range of int32 inputs must be integers"),
        (dict(inputs=[]), "expected an input"),
        (dict(inputs={}), "inputs must name at least one input"),
        (dict(inputs={"not a name": {"shape": [3]}}), "input names must be identifiers"),
        (dict(inputs=[{"shape": [3]}], input_shape=(3,)), "inputs replaces input_shape"),
        (dict(call_kwargs={"training": True}), "call_kwargs must not set 'training'"),
        (dict(call_kwargs=[1]), "call_kwargs must be a dict"),
        (dict(setup="adapt"), "setup must be 'module:function'"),
    ],
)
def test_a_bad_inputs_spec_is_an_error_naming_the_spec_and_the_field(fields, message):
    with pytest.raises(ValueError) as error:
        LayerSpec("m:C", **fields)
    assert message in str(error.value) and "layer spec 'C'" in str(error.value)


@settings(max_examples=40, database=None)
@given(data=st.data())
def test_every_input_follows_its_leaf_and_shares_the_batch(data):
    spec = LayerSpec("m:C", inputs={"ids": {"shape": [None], "dtype": "int32", "range": [0, 5]},
                                    "features": [{"shape": [2, 3]}, {"shape": [4], "range": [0, 1]}]})
    call = data.draw(spec.examples())
    assert call.args == () and set(call.kwargs) == {"ids", "features"}
    ids, (first, second) = call.kwargs["ids"], call.kwargs["features"]
    assert len(ids) == len(first) == len(second) and ids.dtype == np.int32 and 0 <= ids.min() and ids.max() < 5
    assert first.shape[1:] == (2, 3) and second.shape[1:] == (4,) and np.all((0 <= second) & (second <= 1))
    listed = data.draw(CONCAT.examples())
    assert len(listed.args) == 1 and [a.shape[1:] for a in listed.args[0]] == [(3,), (5,)]


@settings(max_examples=40, database=None)
@given(data=st.data())
def test_a_drawn_mask_keeps_a_position_of_every_row_of_every_input(data):
    spec = LayerSpec("keras.layers:Attention", inputs=[{"shape": [5, 4]}, {"shape": [None, 4]}])
    call = data.draw(spec.examples(mask=True))
    masks = call.kwargs["mask"]
    assert [m.shape for m in masks] == [a.shape[:2] for a in call.args[0]]
    assert all(m.dtype == bool and m.any(axis=1).all() for m in masks)
    assert "mask" not in data.draw(spec.examples(mask=False)).kwargs
    assert "mask" not in data.draw(LayerSpec("m:C", inputs=[{"shape": [4]}]).examples(mask=True)).kwargs  # no time axis


class TwoInputs:
    def call(self, query, value, mask=None, training=None, use_causal_mask=False):
        return query


class Flexible:
    def call(self, inputs, **kwargs):
        return inputs


@pytest.mark.parametrize(
    "layer, fields, problem",
    [
        (TwoInputs(), dict(), "requires argument 'value', and the spec gives no input for it"),
        (TwoInputs(), dict(inputs={"query": {"shape": [3]}}), "requires argument 'value'"),
        (TwoInputs(), dict(inputs={"query": {"shape": [3]}, "key": {"shape": [3]}}), "input 'key' is not an argument of call(query, value"),
        (TwoInputs(), dict(inputs={"query": {"shape": [3]}, "value": {"shape": [3]}}, call_kwargs={"causal": True}),
         "call_kwargs entry 'causal' is not an argument"),
        (TwoInputs(), dict(inputs={"query": {"shape": [3]}, "value": {"shape": [3]}}, call_kwargs={"use_causal_mask": True}), None),
        (Flexible(), dict(inputs={"inputs": {"shape": [3]}}, call_kwargs={"anything": 1}), None),
        (Flexible(), dict(inputs=[{"shape": [3]}, {"shape": [4]}]), None),
    ],
)
def test_a_spec_that_does_not_match_the_call_signature_says_which_argument(layer, fields, problem):
    found = LayerSpec("m:C", **fields).signature_problem(layer.call)
    assert found is None if problem is None else problem in found


@settings(max_examples=30, database=None)
@given(names=st.lists(st.sampled_from(["query", "value", "key", "extra"]), min_size=1, max_size=4, unique=True))
def test_exactly_the_inputs_that_call_takes_and_requires_are_accepted(names):
    spec = LayerSpec("m:C", inputs={name: {"shape": [2]} for name in names})
    problem = spec.signature_problem(TwoInputs().call)
    fits = set(names) <= {"query", "value"} and {"query", "value"} <= set(names)
    assert (problem is None) == fits


def test_a_spec_that_does_not_match_the_layer_is_a_usage_error_before_any_contract(capsys):
    argv = ["run", "--impl", "keras", "--layer", "keras.layers:MultiHeadAttention", "--layer-kwargs",
            '{"num_heads": 2, "key_dim": 4}', "--input-shape", "5,8", "--contracts", "generic", "--profile", "quick"]
    assert main(argv) == 4
    error = capsys.readouterr().err
    assert "layer spec 'MultiHeadAttention'" in error and "'value'" in error
    argv[7:9] = ["--inputs", '{"query": {"shape": [5, 8]}, "valu": {"shape": [7, 8]}}']
    assert main(argv) == 4
    assert "input 'valu' is not an argument of call(" in capsys.readouterr().err


def _from_command_line(options):
    import shlex

    words = shlex.split(options)
    given = dict(zip(words[::2], words[1::2]))
    names = {"--layer-kwargs": "kwargs", "--input-shape": "input_shape", "--input-dtype": "input_dtype",
             "--input-range": "input_range", "--inputs": "inputs", "--call-kwargs": "call_kwargs"}
    return specs.from_cli(given.pop("--layer"), **{names[flag]: value for flag, value in given.items()})


@pytest.mark.parametrize("spec", [MHA, CONCAT, RANKS, CONV, LayerSpec("keras.layers:Embedding", {"input_dim": 5, "output_dim": 2},
                                  (None, 3), "int32", (0, 5)), LayerSpec("m:C", inputs={"x": {"shape": [None, 2], "range": [0, 1]}})])
def test_a_replay_command_gives_back_the_same_spec(spec):
    from types import SimpleNamespace

    from conformance import runner

    assert _from_command_line(spec.command_line()) == spec
    impl = SimpleNamespace(name="keras", label=f"keras+{spec.label}", layer_name=spec.layer, dense_like=False, spec=spec)
    assert f"--impl keras {spec.command_line()} --contracts C --seed 1" in runner.reproduce_command(impl, "C", 1, "quick")


def test_a_spec_the_command_line_cannot_say_has_no_command_line():
    assert LayerSpec("m:C", setup="m:adapt").command_line() is None
    assert LayerSpec("m:C", deterministic=False).command_line() is None


def test_a_snippet_of_a_spec_layer_loads_the_spec_not_a_dense_like_layer():
    from conformance import outcomes, reproduce

    result = outcomes.Result("GENERIC-DETERMINISTIC-INFERENCE", "generic", "MUST", "keras+MultiHeadAttention", "default",
                             outcomes.FAILED, seed=1, extra={"example": {"flag": True}})
    snippet = reproduce.snippet_for(result, "keras", MHA.layer, "keras", spec=MHA)
    compile(snippet, "snippet", "exec")
    assert "adapters.load('keras', spec=LayerSpec(layer='keras.layers:MultiHeadAttention'" in snippet
    assert "from conformance.specs import Leaf" in snippet and "call_kwargs={'use_causal_mask': False}" in snippet
