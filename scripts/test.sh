#!/usr/bin/env bash
# The test command of the README: installs what the tests need (scripts/setup-tests.sh, cached and
# idempotent), then ruff, then the whole suite (real-component tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-tests.sh
python3 -m ruff check interceptor processor tests bench
python3 -m pytest -q -rs "$@"
