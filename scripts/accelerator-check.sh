#!/usr/bin/env bash
# accelerator-check.sh: the conformance matrix of Keras 3 on this machine's GPUs, one merged report.
#
# Runs `keras-conformance run --impl keras` once per Keras 3 backend, JAX and torch, and TensorFlow
# when its GPU build is installed, over the layer, device and distribution contracts; each run writes
# a JSON report, and `keras-conformance merge --matrix` joins them into one matrix (HTML and JSON).
# The GPU:0 column is the device contracts' (GENERIC-DEVICE-PLACEMENT, GENERIC-DEVICE-AGREES-WITH-CPU: CPU-vs-GPU
# parity within the float32 error bound); the distribution contracts spread over every GPU (over the CPU
# devices on a machine with fewer than two GPUs). On a machine without a GPU the same commands run and
# the GPU:0 cells are reported skipped, with the reason.
#
# Usage:
#   scripts/accelerator-check.sh [--install] [--out DIR] [--seed N] [--backends "jax torch tensorflow"]
#                                [-- ARGUMENTS FOR EVERY RUN]
#   --install    first pip-install the pinned GPU builds into the Python in use: jax[cuda12]==$JAX_VERSION
#                and torch==$TORCH_VERSION from $TORCH_INDEX (TensorFlow is never installed: it runs only
#                when its GPU build is already there)
#   --out DIR    where the reports go (default: accelerator-reports): keras-<backend>.json per backend,
#                accelerator.json and accelerator.html merged
#   --seed N     the hypothesis seed of every run (default 0); merge refuses reports of different seeds
#   --backends   which backends to try (default: all three); one whose framework does not import, and
#                TensorFlow without a GPU build, is skipped with the reason
#   after --      passed to every run, after the defaults: e.g. `-- --contracts GENERIC-DEVICE-PLACEMENT --profile quick`
#                (a later --contracts replaces the default selection)
# Environment: PYTHON (default .venv/bin/python when present, else python3); JAX_VERSION, TORCH_VERSION,
# TORCH_INDEX override the pins of --install.
# Exit status: the largest of the runs' and the merge's exit statuses (see `keras-conformance run --help`:
# 0 every counted contract passed, 1 a MUST contract failed, 3 the kit raised, 4 a usage error).

set -u

JAX_VERSION="${JAX_VERSION:-0.10.2}"          # the CPU jax the kit is tested with, here with its CUDA 12 plugin
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"      # pyproject.toml's torch extra, here as a CUDA wheel
TORCH_INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cu128}"
LAYER_DEVICE_AND_DISTRIBUTION_AREAS=(lifecycle shapes numerics gradients GENERIC-DEVICE-PLACEMENT GENERIC-DEVICE-AGREES-WITH-CPU distribution)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi
install=0
out=accelerator-reports
seed=0
backends="jax torch tensorflow"
run_arguments=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --install) install=1; shift ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --seed) seed="${2:?--seed needs a number}"; shift 2 ;;
    --backends) backends="${2:?--backends needs a list such as \"jax torch\"}"; shift 2 ;;
    --) shift; run_arguments=("$@"); break ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "accelerator-check.sh: unknown argument $1 (see --help)" >&2; exit 4 ;;
  esac
done
for backend in $backends; do
  case "$backend" in jax|torch|tensorflow) ;; *) echo "accelerator-check.sh: --backends: unknown backend $backend (jax, torch, tensorflow)" >&2; exit 4 ;; esac
done
mkdir -p "$out" || exit 4

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  nvidia-smi -L
else
  echo "no GPU visible (nvidia-smi found none): the GPU:0 cells will be skipped with their reason"
fi

if [[ $install == 1 ]]; then
  "$PYTHON" -m pip install -q "jax[cuda12]==$JAX_VERSION" || exit 4
  "$PYTHON" -m pip install -q "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX" || exit 4
fi

# Why a backend does not run here, or nothing when it does.
skip_reason() {
  case "$1" in
    jax|torch) "$PYTHON" -c "import $1" 2>/dev/null || echo "$1 does not import (install it, or pass --install)" ;;
    tensorflow) "$PYTHON" -c "import sys, tensorflow as tf; sys.exit(0 if tf.test.is_built_with_cuda() else 1)" 2>/dev/null \
                  || echo "no TensorFlow GPU build installed" ;;
  esac
}

status=0
reports=()
for backend in $backends; do
  reason="$(skip_reason "$backend")"
  if [[ -n "$reason" ]]; then
    echo "== keras on $backend: skipped: $reason"
    continue
  fi
  report="$out/keras-$backend.json"
  echo "== keras on $backend -> $report"
  # Two XLA CPU devices, so the distribution contracts also run on a machine without a GPU; JAX does not
  # grab most of the GPU's memory up front, which would starve the next backend's run.
  KERAS_BACKEND="$backend" \
  XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=2" \
  XLA_PYTHON_CLIENT_PREALLOCATE=false \
    "$PYTHON" -m conformance run --impl keras --contracts "${LAYER_DEVICE_AND_DISTRIBUTION_AREAS[@]}" \
      --seed "$seed" --report-json "$report" "${run_arguments[@]}"
  code=$?
  (( code > status )) && status=$code
  [[ -f "$report" ]] && reports+=("$report")
done

if [[ ${#reports[@]} -eq 0 ]]; then
  echo "accelerator-check.sh: no backend ran, nothing to merge" >&2
  exit 4
fi
echo "== merged matrix -> $out/accelerator.html, $out/accelerator.json"
"$PYTHON" -m conformance merge --matrix "${reports[@]}" --report-html "$out/accelerator.html" --report-json "$out/accelerator.json"
code=$?
(( code > status )) && status=$code
exit $status
