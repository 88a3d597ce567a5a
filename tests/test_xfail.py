"""Expected-failures files: parsing, error messages, matching, strict mode and stale entries."""

import pytest

from conformance import outcomes, runner
from conformance.registry import DeprecatedId
from conformance.xfail import ExpectedFailures, ExpectedFailuresError

GOOD = """
[[expected]]
contract = "DENSE-ACTIVATION-BY-NAME"
reason = "strings are not resolved"

[[expected]]
contract = "GRAD-*"
reason = "no tape"
mode = "skip"
impl = "tf_*"
"""


def _result(status, contract_id="DENSE-ACTIVATION-BY-NAME"):
    return runner.Result(contract_id, "errors", "SHOULD", "keras", "default", status, message="AssertionError: boom")


def test_entries_match_ids_patterns_and_implementations():
    expected = ExpectedFailures.parse(GOOD, path="x.toml")
    assert expected.match("DENSE-ACTIVATION-BY-NAME", "keras").reason == "strings are not resolved"
    assert expected.match("GRAD-KERNEL", "tf_keras", area="gradients").mode == "skip"
    assert expected.match("GRAD-KERNEL", "keras", area="gradients") is None  # impl pattern does not match
    assert expected.match("DENSE-SHAPE-2D", "keras", area="shapes") is None


def test_area_name_matches_every_contract_of_the_area():
    expected = ExpectedFailures.parse('[[expected]]\ncontract = "gradients"\nreason = "r"\n')
    assert expected.match("GRAD-BIAS", "keras", area="gradients") is not None
    assert expected.match("DENSE-SHAPE-2D", "keras", area="shapes") is None


def test_failure_becomes_xfailed_and_pass_becomes_xpassed():
    expected = ExpectedFailures.parse(GOOD, path="x.toml")
    entry = expected.match("DENSE-ACTIVATION-BY-NAME", "keras")
    failed, passed = _result(outcomes.FAILED), _result(outcomes.PASSED)
    expected.settle(failed, entry)
    expected.settle(passed, entry)
    assert failed.status == outcomes.XFAILED and "strings are not resolved" in failed.message and "boom" in failed.message
    assert passed.status == outcomes.XPASSED


def test_strict_mode_turns_an_unexpected_pass_into_a_failure():
    expected = ExpectedFailures.parse(GOOD, path="x.toml", strict=True)
    passed = _result(outcomes.PASSED)
    expected.settle(passed, expected.match("DENSE-ACTIVATION-BY-NAME", "keras"))
    assert passed.status == outcomes.FAILED
    assert "x.toml, entry 1" in passed.message and "strict" in passed.message


def test_an_entry_naming_no_contract_is_an_error_with_a_suggestion():
    # a typo would otherwise silently disable the entry, strict mode or not
    with pytest.raises(ExpectedFailuresError) as error:
        ExpectedFailures.parse('[[expected]]\ncontract = "DENSE-ACTIVATION-BY-NAM"\nreason = "r"\n', path="x.toml")
    assert str(error.value).startswith(
        "x.toml, entry 1: contract 'DENSE-ACTIVATION-BY-NAM' matches no contract id or area; did you mean DENSE-ACTIVATION-BY-NAME"
    )
    with pytest.raises(ExpectedFailuresError, match="'NOTHING-MATCHES-\\*' matches no contract id or area"):
        ExpectedFailures.parse('[[expected]]\ncontract = "NOTHING-MATCHES-*"\nreason = "r"\n', path="x.toml")


def test_an_entry_naming_a_retired_id_or_area_applies_to_its_successors_with_a_warning():
    with pytest.warns(DeprecatedId, match="'LAYER-SET-GET-WEIGHTS' is retired; the entry now applies to GENERIC-SET-GET-WEIGHTS"):
        expected = ExpectedFailures.parse('[[expected]]\ncontract = "LAYER-SET-GET-WEIGHTS"\nreason = "r"\n')
    assert expected.match("GENERIC-SET-GET-WEIGHTS", "keras", area="generic").reason == "r"
    assert expected.match("GENERIC-BUILD-ONCE", "keras", area="generic") is None
    with pytest.warns(DeprecatedId, match="GENERIC-DEVICE-AGREES-WITH-CPU, GENERIC-DEVICE-PLACEMENT"):
        devices = ExpectedFailures.parse('[[expected]]\ncontract = "devices"\nreason = "r"\n')
    assert devices.match("GENERIC-DEVICE-PLACEMENT", "keras", area="generic") is not None


def test_entries_that_matched_no_cell_are_reported_as_unused():
    expected = ExpectedFailures.parse(GOOD, path="x.toml")
    expected.match("DENSE-ACTIVATION-BY-NAME", "keras")
    assert [e.contract for e in expected.stale()] == ["GRAD-*"]


@pytest.mark.parametrize(
    "text, expected_message",
    [
        ('[[expected]]\nreason = "r"\n', "bad.toml, entry 1: field 'contract' must be a non-empty string"),
        ('[[expected]]\ncontract = "GRAD-BIAS"\n', "bad.toml, entry 1: field 'reason' must be a non-empty string"),
        ('[[expected]]\ncontract = "GRAD-BIAS"\nreason = "r"\n\n[[expected]]\ncontract = "GRAD-BIAS"\nreason = "r"\nmode = "xfial"\n',
         "bad.toml, entry 2: field 'mode' must be 'xfail' or 'skip', got 'xfial'"),
        ('[[expected]]\ncontract = "GRAD-BIAS"\nreason = "r"\nwhy = "x"\n', "bad.toml, entry 1: unknown field 'why'"),
        ('[[expected]]\ncontract = "GRAD-BIAS"\nreason = "r"\nimpl = 3\n', "bad.toml, entry 1: field 'impl' must be a non-empty string"),
        ('[[expected]]\ncontract = "dense-shape"\nreason = "r"\n', "bad.toml, entry 1: field 'contract' must be a contract id"),
        ("[[expected]\n", "bad.toml: not valid TOML"),
        ('expected = "A-B"\n', "bad.toml: 'expected' must be an array of tables"),
        ('[expectd]\ncontract = "A-B"\n', "bad.toml: unknown top-level key(s) 'expectd'"),
    ],
)
def test_bad_files_name_the_file_entry_and_field(text, expected_message):
    with pytest.raises(ExpectedFailuresError) as error:
        ExpectedFailures.parse(text, path="bad.toml")
    assert expected_message in str(error.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ExpectedFailuresError, match="expected-failures file .*nope.toml: cannot read it"):
        ExpectedFailures.load(tmp_path / "nope.toml")


def test_the_example_project_file_is_valid_and_current():
    from pathlib import Path

    path = Path(__file__).parents[1] / "examples" / "downstream" / "expected-failures.toml"
    expected = ExpectedFailures.load(path)  # every entry names a registered contract, or this raises
    assert expected.entries
