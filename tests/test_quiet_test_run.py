"""The README's test command ends with pytest's summary: TensorFlow's native start-up lines (CUDA
probing, oneDNN notices) from the xdist workers must not be printed after it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_an_xdist_run_ends_with_pytests_summary_and_no_native_start_up_lines():
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "1", "-q", "-p", "no:cacheprovider",
                          "tests/test_registry.py::test_ids_are_unique_and_read_as_area_what"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = (run.stdout + run.stderr).strip().splitlines()
    assert run.returncode == 0, "\n".join(output[-20:])
    noise = [line for line in output if "cuda" in line.lower() or "oneDNN" in line or "absl::InitializeLog" in line]
    assert not noise, "\n".join(noise)
    assert "passed" in output[-1]
