#!/usr/bin/env bash
# The live stream's test client: wscat (npm), the websocket CLI Kubeshark's docs use against
# /api/wsFull. npm's tree lives outside the clone (cached); a second run installs nothing.
set -euo pipefail
CACHE="${STREAM_CACHE:-/var/cache/privacy-sensor/stream}"
WSCAT_VERSION=6.1.0
# shellcheck source=scripts/setup-lib.sh
. "$(dirname "$0")/../setup-lib.sh"
npm_cached stream wscat "$WSCAT_VERSION" "$CACHE/npm"
