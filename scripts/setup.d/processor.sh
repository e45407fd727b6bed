#!/usr/bin/env bash
# The processor's extras: Playwright's Node library (driving Debian's chromium, no browser download)
# for the web page test, and Presidio's analyzer for the detection benchmark's comparison (its pattern
# recognizers only: no spaCy model is downloaded or needed). npm's tree lives outside the clone, so a
# second run installs nothing. psycopg and Debian's PostgreSQL server: the map store's PostgreSQL test.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${PROCESSOR_CACHE:-/var/cache/privacy-sensor/processor}"
PLAYWRIGHT_VERSION=1.65.1
PRESIDIO_VERSION=2.2.366

# shellcheck source=scripts/setup-lib.sh
. scripts/setup-lib.sh
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm_cached processor playwright-core "$PLAYWRIGHT_VERSION" "$CACHE/npm"

if python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('presidio-analyzer') != '$PRESIDIO_VERSION')" 2>/dev/null; then
  echo "processor: presidio-analyzer $PRESIDIO_VERSION installed"
else
  echo "processor: pip install presidio-analyzer==$PRESIDIO_VERSION (pattern recognizers; no model download)"
  nice python3 -m pip install -q --disable-pip-version-check "presidio-analyzer==$PRESIDIO_VERSION" 2>&1 | grep -v "Running pip as the 'root'" || true
fi
PSYCOPG_VERSION=3.3.9
if python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('psycopg') != '$PSYCOPG_VERSION')" 2>/dev/null; then
  echo "processor: psycopg $PSYCOPG_VERSION installed"
else
  echo "processor: pip install psycopg[binary]==$PSYCOPG_VERSION (the map store on PostgreSQL)"
  nice python3 -m pip install -q --disable-pip-version-check "psycopg[binary]==$PSYCOPG_VERSION" 2>&1 | grep -v "Running pip as the 'root'" || true
fi
command -v chromium >/dev/null || { echo "processor: chromium missing (scripts/setup.d/processor.apt)" >&2; exit 1; }
