"""scripts/accelerator-check.sh runs on a machine without a GPU through the same path as on one: every
installed Keras 3 backend (JAX, torch) writes its report, and the merged matrix has a GPU:0 column
whose cells say why they were skipped. One script run, on one contract, quick profile."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "accelerator-check.sh"
BACKENDS = [name for name in ("jax", "torch") if importlib.util.find_spec(name) is not None]


def _gpu_visible() -> bool:
    smi = shutil.which("nvidia-smi")
    return smi is not None and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


def _script(*arguments, **environment):
    return subprocess.run(["bash", str(SCRIPT), *arguments], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHON": sys.executable, **environment})


def test_unknown_argument_is_a_usage_error_naming_it():
    completed = _script("--gpus", "2")
    assert completed.returncode == 4
    assert "unknown argument --gpus" in completed.stderr


@pytest.mark.skipif(not BACKENDS, reason="neither jax nor torch is installed: no Keras 3 backend for the script to run")
def test_merged_report_has_a_gpu_column_skipped_with_its_reason_on_a_cpu_machine(tmp_path):
    completed = _script("--backends", " ".join(BACKENDS), "--out", str(tmp_path), "--",
                        "--contracts", "GENERIC-DEVICE-PLACEMENT", "--profile", "quick")
    output = completed.stdout[-4000:] + completed.stderr[-4000:]
    assert completed.returncode == 0, output
    for backend in BACKENDS:
        assert (tmp_path / f"keras-{backend}.json").is_file(), f"no report for {backend}: {output}"
    assert (tmp_path / "accelerator.html").is_file()
    results = json.loads((tmp_path / "accelerator.json").read_text())["results"]
    gpu_cells = {r["impl"]: r for r in results if r["device"] == "GPU:0"}
    assert set(gpu_cells) == {f"keras@{backend}" for backend in BACKENDS}, results
    for impl, cell in gpu_cells.items():
        if _gpu_visible():
            assert cell["status"] == "passed", f"{impl} on GPU:0: {cell}"
        else:
            assert cell["status"] == "skipped" and "GPU:0 is not visible" in cell["message"], f"{impl} on GPU:0: {cell}"
    cpu_cells = [r for r in results if r["device"] == "CPU:0"]
    assert len(cpu_cells) == len(BACKENDS) and all(r["status"] == "passed" for r in cpu_cells), cpu_cells
