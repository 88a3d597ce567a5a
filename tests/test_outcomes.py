"""The status vocabulary: members read as their plain strings, Results go to and from report records."""

import json

import pytest

from conformance import outcomes
from conformance.outcomes import FAILED, PASSED, SKIPPED, Result, Status


def test_a_status_reads_as_its_plain_string_in_code_json_and_text():
    assert FAILED == "failed" and Status("failed") is FAILED and "failed" in {FAILED: 1}
    assert (str(FAILED), f"{FAILED}", f"{FAILED:>7}") == ("failed", "failed", " failed")
    assert json.dumps({FAILED: [FAILED]}) == '{"failed": ["failed"]}'
    assert outcomes.STATUSES == tuple(Status) and len({s.label for s in Status}) == len(Status)


def test_a_group_of_cells_is_shown_by_its_most_telling_status():
    assert outcomes.worst(["passed", "failed", "skipped"]) is FAILED
    assert outcomes.worst([PASSED, SKIPPED, "not_applicable"]) is PASSED


def test_a_result_goes_to_a_json_record_and_back():
    result = Result("GRAD-KERNEL", "gradients", "MUST", "keras", "CPU:0", "failed", message="off", seed=7, duration=0.123456)
    result.extra.update(snippet="import numpy as np\n", example={"case": object()})
    record = json.loads(json.dumps(result.to_record()))
    assert type(result.to_record()["status"]) is str and record["duration"] == 0.1235 and "example" not in record
    again = Result.from_record(record)
    assert again.status is FAILED and (again.message, again.seed, again.extra) == ("off", 7, {"snippet": "import numpy as np\n"})
    with pytest.raises(ValueError, match="'fail'"):
        Result.from_record({**record, "status": "fail"})


def test_the_any_column_holds_device_independent_cells():
    assert outcomes.column(outcomes.DEFAULT_DEVICE) == outcomes.ANY_COLUMN and outcomes.column("GPU:0") == "GPU:0"
