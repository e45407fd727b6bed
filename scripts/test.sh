#!/usr/bin/env bash
# The test command of the README: ruff, then the whole suite (real-component tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m ruff check interceptor processor tests bench
python3 -m pytest -q -rs "$@"
