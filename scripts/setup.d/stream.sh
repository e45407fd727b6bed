#!/usr/bin/env bash
# The live stream's test client: wscat (npm), the websocket CLI Kubeshark's docs use against
# /api/wsFull. npm's tree lives outside the clone (cached); a second run installs nothing.
set -euo pipefail
CACHE="${STREAM_CACHE:-/var/cache/privacy-sensor/stream}"
WSCAT_VERSION=6.1.0
if ! command -v npm >/dev/null; then
  echo "stream: apt-get install npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >/dev/null
fi
mkdir -p "$CACHE/npm"
if [ "$(node -p "try{require('$CACHE/npm/node_modules/wscat/package.json').version}catch(e){''}" 2>/dev/null)" = "$WSCAT_VERSION" ]; then
  echo "stream: wscat $WSCAT_VERSION cached in $CACHE/npm"
else
  echo "stream: npm install wscat@$WSCAT_VERSION into $CACHE/npm"
  (cd "$CACHE/npm" && [ -f package.json ] || echo '{"private": true}' > package.json)
  nice npm install --prefix "$CACHE/npm" --no-audit --no-fund --silent "wscat@$WSCAT_VERSION"
fi
