#!/usr/bin/env bash
# The test command of the README: installs what the tests need (scripts/setup-tests.sh, cached and
# idempotent), then ruff, then the whole suite (real-component tests included).
#
# Without arguments the suite runs as two pytest processes at once: the real-component tests
# (marker `slow`: they mostly wait on brokers, servers, kernels and the network) beside the rest
# (CPU-bound unit, property and fuzz tests), so the waits of the one overlap the work of the other
# on a 2-core machine. The second one's report is printed after the first's; the exit status is
# the first failure. TEST_SHARDS=1 (or any argument, e.g. a path or -k) runs one process as before.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-tests.sh
python3 -m ruff check interceptor processor tests bench
if [ $# -gt 0 ] || [ "${TEST_SHARDS:-2}" = 1 ]; then
  exec python3 -m pytest -q -rs "$@"
fi
log="$(mktemp -t privacy-sensor-tests.XXXXXX)"
trap 'rm -f "$log"' EXIT
python3 -m pytest -q -rs -m "not slow" -p no:cacheprovider >"$log" 2>&1 &
fast=$!
trap 'kill "$fast" 2>/dev/null || true; exit 130' INT TERM
rc=0
python3 -m pytest -q -rs -m slow || rc=$?
wait "$fast" || { r=$?; [ "$rc" -ne 0 ] || rc=$r; }
echo "---- the tests not marked slow (run beside the slow ones) ----"
cat "$log"
exit "$rc"
