#!/usr/bin/env bash
# Installs what only the TESTS need, on top of scripts/setup.sh (which it runs first): tshark (the
# oracle), nginx/wrk/Go/Node/Java traffic, kube-apiserver + etcd + helm builds, image tooling,
# Chromium + Playwright, Presidio, PostgreSQL. Every part in scripts/setup.d/ (not run/) is a
# test-time part. Idempotent and cached outside the clone: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck source=scripts/setup-lib.sh
. scripts/setup-lib.sh
apt_install tcpdump tshark kcat ethtool iptables nginx-light psmisc $(cat scripts/setup.d/*.apt 2>/dev/null)
pip_install -e '.[test]'
run_parts scripts/setup.d
echo "setup-tests: done"
