#!/usr/bin/env bash
# CI job of the example project: install the kit and this project into the current (fresh)
# environment, then run the project's tests, which include the conformance contracts.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install --quiet -e ../.. -e .
python -m pytest "$@"
