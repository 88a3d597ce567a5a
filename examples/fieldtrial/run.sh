#!/usr/bin/env bash
# The field trial as CI runs it: the generic contracts on KerasHub's layers (layers.toml), strictly against the
# confirmed findings (expected-failures.toml), so the run exits 0 while keras-hub behaves as findings.md says
# and fails on anything new, or on a finding keras-hub has fixed.
#
#   examples/fieldtrial/run.sh                     # the CI selection, about a minute on 2 cores
#   CONTRACTS=generic examples/fieldtrial/run.sh   # every generic contract (about 30 minutes on 2 cores)
#   PYTHON=.venv/bin/python SEED=7 examples/fieldtrial/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
python="${PYTHON:-python}"
seed="${SEED:-0}"
# The contracts that are quick on every layer (no fit, no compiled step, no finite differences), the ones of every
# finding among them.
contracts="${CONTRACTS:-GENERIC-UNBUILT-AT-INIT GENERIC-EXPLICIT-BUILD GENERIC-OUTPUT-SHAPE GENERIC-WEIGHTS-PARTITION \
GENERIC-MIXED-PRECISION GENERIC-CONFIG-ROUND-TRIP-SAME-LAYER GENERIC-CONFIG-SERIALIZABLE}"

if ! "$python" -c "import keras_hub" 2>/dev/null; then
    # --no-deps: keras-hub's requirements include tensorflow-text, which pins its own TensorFlow; importing its
    # layers needs only these two besides Keras.
    "$python" -m pip install --quiet --no-deps "keras-hub==0.32.0" regex tokenizers
fi

# shellcheck disable=SC2086  # the contracts are one word each
exec "$python" -m conformance run --impl keras --layer-spec "$here/layers.toml" --contracts $contracts \
    --profile quick --seed "$seed" --jobs 2 --xfail "$here/expected-failures.toml" --strict "$@"
