#!/usr/bin/env bash
# The test command of the README: installs what the tests need (scripts/setup-tests.sh, cached and
# idempotent), then ruff, then the whole suite (real-component tests included).
#
# Without arguments the suite runs as two pytest processes at once, so the waits of the one overlap
# the work of the other on a 2-core machine: the real-component tests on network namespaces, eBPF,
# the API server or the Kafka broker (one after the other, as before: they mostly wait on servers,
# the kernel and the network) beside the rest (the CPU-bound unit, property and fuzz tests, the
# image build, PostgreSQL, Chromium). The two marker expressions are complements: every test runs
# exactly once, and each process starts its own session fixtures (only the first one starts Kafka
# or the API server). The second process's report is printed after the first's; the exit status
# is the first failure. TEST_SHARDS=1 (or any argument, e.g. a path or -k) runs one process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-tests.sh
python3 -m ruff check interceptor processor tests bench
if [ $# -gt 0 ] || [ "${TEST_SHARDS:-2}" = 1 ]; then
  exec python3 -m pytest -q -rs "$@"
fi
log="$(mktemp -t privacy-sensor-tests.XXXXXX)"
trap 'rm -f "$log"' EXIT
live="slow and (netns or ebpf or k8s or kafka)"
python3 -m pytest -q -rs -m "not ($live)" -p no:cacheprovider >"$log" 2>&1 &
other=$!
trap 'kill "$other" 2>/dev/null || true; exit 130' INT TERM
rc=0
python3 -m pytest -q -rs -m "$live" || rc=$?
wait "$other" || { r=$?; [ "$rc" -ne 0 ] || rc=$r; }
echo "---- the other tests (run beside those above: not ($live)) ----"
cat "$log"
exit "$rc"
