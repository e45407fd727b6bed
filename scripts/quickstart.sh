#!/usr/bin/env bash
# The main job on this machine, with local defaults.
#
# Live (default, as root): `interceptor demo` — a node of pods as network namespaces running real
# services (plain HTTP, HTTPS through OpenSSL, a meshed pod, an external vendor), captured live by the
# real agent → Kafka on 127.0.0.1:9092 → processor → map service; it prints the map URL and token and
# keeps traffic flowing until Ctrl-C (120 s when not on a terminal), then removes all it made.
#
# --replay [CAPTURE] (no root needed): a real Kafka broker on 127.0.0.1:9092 → the interceptor replays
#   a bundled capture into topic `pairs` → kcat shows a message → the processor finds personal data
#   (topic `detections`) → the map service builds the data-flow map and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--replay" ]; then
  if [ "$(id -u)" = 0 ]; then
    if [ -t 0 ]; then exec interceptor demo; else exec interceptor demo --duration "${DEMO_DURATION:-120}"; fi
  fi
  echo "quickstart: not root, so no live demo; replaying the bundled capture instead (--replay)"
else
  shift
fi
BOOTSTRAP=127.0.0.1:${KAFKA_PORT:-9092}
CAPTURE=${1:-examples/sample.pcap}
MAP_DB=${MAP_DB:-/tmp/privacy-sensor-quickstart-map.db}
RUN=$(date +%s)

echo "== 1. Kafka broker"
bash scripts/kafka.sh start

echo "== 2. interceptor replay $CAPTURE → Kafka topic pairs"
interceptor replay "$CAPTURE" --kafka "$BOOTSTRAP" --topic pairs

echo "== 3. one pair record, read back by kcat (an independent consumer)"
kcat -C -b "$BOOTSTRAP" -t pairs -o -1 -e -q -c 1 | python3 -c '
import json, sys
r = json.loads(sys.stdin.readline())
for half in ("request", "response"):
    r[half]["body"] = r[half]["body"][:120] + ("…" if len(r[half]["body"]) > 120 else "")
print(json.dumps(r, indent=1)[:1800])'

echo "== 4. processor: pairs → detections"
processor consume --bootstrap "$BOOTSTRAP" --group "quickstart-$RUN" --exit-when-idle 5 --stats-interval 0

echo "== 5. map service: detections → data-flow map"
rm -f "$MAP_DB"
processor map --bootstrap "$BOOTSTRAP" --group "quickstart-map-$RUN" --db "sqlite:///$MAP_DB" \
  --listen 127.0.0.1:0 --port-file /tmp/privacy-sensor-quickstart.port --exit-when-idle 5 --stats-interval 0 &
MAP=$!
trap 'kill $MAP 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s /tmp/privacy-sensor-quickstart.port ] && break; sleep 0.1; done
sleep 4
PORT=$(cat /tmp/privacy-sensor-quickstart.port)
curl -fsS "http://127.0.0.1:$PORT/api/edges" | python3 scripts/print_map.py
echo "The map page: processor map --no-kafka --db sqlite:///$MAP_DB --listen 127.0.0.1:8080, then open http://127.0.0.1:8080/"
wait $MAP || true
echo "== done. Stop the broker with: bash scripts/kafka.sh stop"
