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
    x = data.draw(spec.inputs())
    assert x.dtype == np.int32 and x.ndim == 3 and x.shape[2] == 3 and 1 <= x.shape[1] <= specs.MAX_VARIABLE_DIM
    assert x.min(initial=0) >= 0 and x.max(initial=0) < 20
    floats = data.draw(CONV.inputs())
    assert floats.dtype == np.float32 and floats.shape[1:] == (8, 3) and np.all(np.abs(floats) <= 2)


RANKS = LayerSpec("keras.layers:LayerNormalization", input_shape=((3,), (None, 3), (2, None, 3)))


@settings(max_examples=60, database=None)
@given(data=st.data())
def test_inputs_of_a_spec_with_alternative_shapes_take_one_of_them(data):
    x = data.draw(RANKS.inputs())
    assert x.shape[1:] in {(3,)} | {(d, 3) for d in range(1, 5)} | {(2, d, 3) for d in range(1, 5)}


def test_every_alternative_shape_is_drawn():
    from hypothesis import find

    for rank in (2, 3, 4):
        assert find(RANKS.inputs(), lambda array: array.ndim == rank).ndim == rank


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
            "--report-json", str(report)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "layer keras.layers:Conv1D" in out
    record = json.loads(report.read_text())
    assert {r["status"] for r in record["results"]} == {"not_applicable"}
    assert "comes from a layer spec, not a Dense-like class" in record["results"][0]["message"]


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
    argv = ["run", "--impl", "keras", "--layer-spec", str(tmp_path / "layers.toml"), "--contracts", "DENSE-SHAPE-2D", "--profile", "quick"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "layer keras.layers:Conv1D" in out and "layer keras.layers:LayerNormalization" in out and "all 2 layers:" in out


def test_every_keras_layer_spec_of_the_table_constructs_and_runs_once():
    """docs/keras-layers.toml: at least 30 of Keras 3's own layers, each constructible from its spec
    (wrappers get their inner layer from a {class_name, config} kwarg) and callable on one input."""
    from pathlib import Path

    from hypothesis import find

    from conformance import adapters

    table = specs.load_file(Path(__file__).parents[1] / "docs" / "keras-layers.toml")
    assert len(table) >= 30 and len({s.label for s in table}) == len(table)
    for spec in table:
        impl = adapters.load("keras", spec=spec)
        x = find(spec.inputs(), lambda array: True)  # the simplest input the spec allows
        output = impl.new_layer()(impl.tensor(x))
        assert output.shape[0] == x.shape[0], spec.label
