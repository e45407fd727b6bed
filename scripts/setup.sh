#!/usr/bin/env bash
# Installs everything a fresh Debian 12 machine lacks for the sensor and its tests.
# Idempotent: a second run installs nothing new. Each component adds a part in scripts/setup.d/.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
APT_PACKAGES="tcpdump tshark kcat libpcap-dev ethtool iptables iproute2 curl nginx-light psmisc"
missing=""
for p in $APT_PACKAGES $(cat scripts/setup.d/*.apt 2>/dev/null); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: apt-get install$missing"
  apt-get update -q >/dev/null
  apt-get install -y -q $missing >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "Running pip as the 'root'" || true
for part in scripts/setup.d/*.sh; do
  [ -e "$part" ] || continue
  echo "setup: $part"
  bash "$part"
done
echo "setup: done"
