#!/usr/bin/env bash
# Real-traffic tests and bench/replay: the Go test app (tests/interceptor/tools/goapp) and atheris (coverage-guided fuzzing of the core; a manylinux wheel
# on PyPI, nothing to compile). Optional: the test that uses it skips when it is missing, so a failed
# install is reported and tolerated. The bench capture cache lives in /var/cache/privacy-sensor/bench
# (made by bench/replay.py on first use). Idempotent: nothing is downloaded once atheris imports.
set -uo pipefail
mkdir -p /var/cache/privacy-sensor/bench
if ! python3 -c "import atheris" 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check atheris 2>&1 | grep -v "Running pip as the 'root'" \
    || true
  python3 -c "import atheris" 2>/dev/null || echo "setup realtraffic: atheris not installed (fuzz test will skip)" >&2
fi
# The Go client/server of the real-traffic tests (standard library only; cached by source hash).
if [ -x /usr/local/go/bin/go ] || command -v go >/dev/null; then
  python3 -c "from tests.interceptor.tools.realtraffic import goapp_binary; goapp_binary()" \
    || echo "setup realtraffic: goapp build failed (the Go test will build or skip)" >&2
fi
exit 0
