#!/usr/bin/env bash
# Installs what RUNNING the sensor needs on a fresh Debian 12 machine, and nothing else: capture
# (libpcap, iproute2), eBPF TLS (BCC, kernel headers), the Python package, the local Kafka broker's
# jars, kcat for the quickstart's look at a record. What only the tests need (API server and etcd
# builds, helm, image tooling, Chromium, PostgreSQL, tshark, Go...) is installed by
# scripts/setup-tests.sh, which the test command runs itself.
# Idempotent: a second run installs nothing new. Runtime parts live in scripts/setup.d/run/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup-lib.sh
. scripts/setup-lib.sh
# shellcheck disable=SC2046 # word splitting of the package lists is meant
apt_install libpcap-dev iproute2 ethtool curl psmisc openssl $(python_needs) $(cat scripts/setup.d/run/*.apt 2>/dev/null)
echo "setup: Debian packages ready (${SECONDS} s)"
# The Kafka jars (Maven Central, ~45 s on a fresh machine) download while pip installs from PyPI
# (~60 s): both mostly wait on the network. run_parts below finds them cached.
jars_log=$(mktemp)
bash scripts/setup.d/run/kafka.sh >"$jars_log" 2>&1 &
jars=$!
trap 'kill "$jars" 2>/dev/null || true; rm -f "$jars_log"' EXIT
# [demo]: grpcio, for the live demo's gRPC pod. --no-compile: no .pyc for every installed file up
# front (the kubernetes client alone is ~1,500 modules); Python compiles what is imported, once.
# Measured in a fresh Debian 12 container, alternating: 104 s, 68 s without, 100 s (load ~5).
pip_install --no-compile -e '.[demo]'
echo "setup: the Python package installed (${SECONDS} s)"
wait "$jars" || { cat "$jars_log" >&2; echo "setup: the Kafka jars failed" >&2; exit 1; }
echo "setup: the Kafka jars ready (${SECONDS} s)"
run_parts scripts/setup.d/run
echo "setup: done (${SECONDS} s)"
