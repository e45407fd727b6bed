#!/usr/bin/env bash
# A single-node Apache Kafka 4.x broker (KRaft, broker+controller in one JVM) on 127.0.0.1,
# run from the Maven Central jars that scripts/setup.d/run/kafka.sh caches outside the clone.
#
#   scripts/kafka.sh start                    format the data dir once, start, wait until it answers
#   scripts/kafka.sh stop                     SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT_S
#   scripts/kafka.sh kill                     SIGKILL (what a crash looks like; tests use it)
#   scripts/kafka.sh status                   running / answering / stopped (exit 0 only when answering)
#   scripts/kafka.sh create-topic NAME [PARTITIONS] [MAX_MESSAGE_BYTES]
#   scripts/kafka.sh logs [N]                 the last N lines of the broker log
#
# Environment (all optional):
#   KAFKA_PORT=9092               PLAINTEXT listener
#   KAFKA_CONTROLLER_PORT=PORT+1  KRaft controller listener
#   KAFKA_SASL_PORT=              a second listener, SASL_PLAINTEXT with mechanism PLAIN (empty: none)
#   KAFKA_SASL_USER=sensor KAFKA_SASL_PASSWORD=sensor-secret   the one user that listener accepts
#   KAFKA_DATA_DIR=/tmp/privacy-sensor-kafka-PORT   logs, config, pid file, broker.log
#   KAFKA_CACHE=/var/cache/privacy-sensor/kafka     where the jars are
#   KAFKA_HEAP=-Xms128m -Xmx512m  KAFKA_JVM_OPTS=... (replaces the fast-start defaults)
#   KAFKA_START_TIMEOUT_S=90 KAFKA_STOP_TIMEOUT_S=20
#   KAFKA_NO_CDS=1                no class-data-sharing archive (see cds_opts)
# A restart on the same data dir keeps the topics and messages (the crash/restart tests rely on it).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PORT="${KAFKA_PORT:-9092}"
CPORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
SASL_PORT="${KAFKA_SASL_PORT:-}"
SASL_USER="${KAFKA_SASL_USER:-sensor}"
SASL_PASSWORD="${KAFKA_SASL_PASSWORD:-sensor-secret}"
DATA="${KAFKA_DATA_DIR:-/tmp/privacy-sensor-kafka-$PORT}"
CACHE="${KAFKA_CACHE:-/var/cache/privacy-sensor/kafka}"
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/kafka/pom.xml")"
LIB="$CACHE/lib-$VERSION"
PIDFILE="$DATA/broker.pid"
LOG="$DATA/broker.log"
CONF="$DATA/server.properties"
START_TIMEOUT="${KAFKA_START_TIMEOUT_S:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT_S:-20}"
# Fast start on small shared machines: C1 only, serial GC, small heap, class data sharing.
JVM_OPTS="${KAFKA_JVM_OPTS:-${KAFKA_HEAP:--Xms128m -Xmx512m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k -XX:-UsePerfData -Djava.awt.headless=true}"

die() { echo "kafka.sh: $*" >&2; exit 1; }

# Class data sharing: the first broker that stops cleanly dumps the classes it loaded into an
# archive in the cache; later JVMs map it and start ~3x faster (4 s -> 1.3 s here). The archive is
# tied to the JVM build and the jar set, so both are in its name; a stale one is ignored by the JVM.
CDS_ARCHIVE=""
cds_archive() {
  [ -n "${KAFKA_NO_CDS:-}" ] && return 0
  CDS_ARCHIVE="$CACHE/cds-$VERSION-$(java -version 2>&1 | cksum | cut -d' ' -f1).jsa"
}

cds_opts() {
  local archive="$CDS_ARCHIVE"
  [ -z "$archive" ] && return 0
  if [ -f "$archive" ]; then
    echo "-XX:SharedArchiveFile=$archive"
  elif [ -w "$CACHE" ]; then
    # Dumped at the JVM's exit into a private file; stop() moves it into place (atomic rename).
    echo "$archive" >"$DATA/cds-target"
    echo "-XX:ArchiveClassesAtExit=$DATA/cds.jsa"
  fi
}

publish_cds() {
  if [ -f "$DATA/cds-target" ] && [ -s "$DATA/cds.jsa" ]; then
    mv -f "$DATA/cds.jsa" "$(cat "$DATA/cds-target")" 2>/dev/null || true
  fi
  rm -f "$DATA/cds-target" "$DATA/cds.jsa"
}

pid_alive() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

# One metadata round trip with the project's own client: true when a broker answers.
answers() {
  python3 - "127.0.0.1:$PORT" <<'PY' 2>/dev/null
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0}).list_topics(timeout=2)
sys.exit(0 if md.brokers else 1)
PY
}

write_config() {
  local listeners="PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT"
  local advertised="PLAINTEXT://127.0.0.1:$PORT"
  local protomap="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [ -n "$SASL_PORT" ]; then
    listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT"
    advertised="$advertised,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT"
    protomap="$protomap,SASL_PLAINTEXT:SASL_PLAINTEXT"
  fi
  cat >"$CONF" <<EOF
# Written by scripts/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=$protomap
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$DATA/logs
num.partitions=1
# Topics are created explicitly (the sink with kafka.create_topics, or create-topic below), so an
# unknown topic is an error the producer reports, not a silently auto-created default topic.
auto.create.topics.enable=false
# Room for a 1 MB body plus its JSON envelope (the sink's default cap is 5 MB).
message.max.bytes=5242880
replica.fetch.max.bytes=5242880
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
# After a SIGKILL the controller refuses the restarted broker's registration until the old
# session expires (9 s by default); a short session makes a crash/restart take seconds.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=1
log.segment.bytes=67108864
EOF
  if [ -n "$SASL_PORT" ]; then
    cat >>"$CONF" <<EOF
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";
EOF
  fi
}

ensure_jars() {
  if [ ! -f "$LIB/.complete" ]; then
    echo "kafka.sh: jars of Kafka $VERSION not in $LIB; fetching them (scripts/setup.d/run/kafka.sh)" >&2
    bash "$HERE/setup.d/run/kafka.sh" >&2
  fi
}

format_once() {
  [ -f "$DATA/logs/meta.properties" ] && return 0
  local id
  id="$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
  mkdir -p "$DATA/logs"
  # shellcheck disable=SC2086
  local cds=""
  [ -n "$CDS_ARCHIVE" ] && [ -f "$CDS_ARCHIVE" ] && cds="-XX:SharedArchiveFile=$CDS_ARCHIVE"
  if ! java $JVM_OPTS $cds -Xshare:auto -cp "$LIB/*" kafka.tools.StorageTool format -t "$id" -c "$CONF" >"$DATA/format.log" 2>&1; then
    tail -n 30 "$DATA/format.log" >&2
    die "formatting $DATA/logs failed (log above, full text in $DATA/format.log)"
  fi
}

start() {
  if pid_alive; then
    answers && { echo "kafka.sh: already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT"; return 0; }
    die "a broker process (pid $(cat "$PIDFILE")) exists but does not answer on 127.0.0.1:$PORT; run: $0 stop"
  fi
  command -v java >/dev/null || die "java not found (Java 17+ is needed)"
  # Something else on our ports would answer the readiness check in the broker's place.
  local p
  for p in "$PORT" "$CPORT" $SASL_PORT; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      die "port 127.0.0.1:$p is already in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_SASL_PORT)"
    fi
  done
  ensure_jars
  mkdir -p "$DATA"
  write_config
  cds_archive
  format_once
  : >"$LOG"
  local cds
  cds="$(cds_opts)"
  # setsid: the broker gets its own session, so a test runner's Ctrl-C does not hit it half-way.
  # shellcheck disable=SC2086
  setsid java $JVM_OPTS $cds -Xshare:auto -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.log.kafka.server.KafkaConfig=warn \
    -Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.config.AbstractConfig=warn \
    -cp "$LIB/*" kafka.Kafka "$CONF" >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local deadline=$((SECONDS + START_TIMEOUT)) turn=0
  while [ $SECONDS -lt $deadline ]; do
    if ! pid_alive; then
      tail -n 40 "$LOG" >&2
      die "the broker exited during start-up (log above, full text in $LOG)"
    fi
    turn=$((turn + 1))
    # The log line is a cheap hint polled every 0.1 s; a real metadata answer is the proof
    # (asked every second too, in case a Kafka version words the line differently).
    if { grep -q "Kafka Server started" "$LOG" || [ $((turn % 10)) -eq 0 ]; } && answers; then
      echo "kafka.sh: Kafka $VERSION answers on 127.0.0.1:$PORT${SASL_PORT:+ (SASL_PLAINTEXT on 127.0.0.1:$SASL_PORT)} (pid $(cat "$PIDFILE"), data $DATA)"
      return 0
    fi
    sleep 0.1
  done
  tail -n 40 "$LOG" >&2
  stop >/dev/null 2>&1 || true
  die "the broker did not answer on 127.0.0.1:$PORT within ${START_TIMEOUT}s (log above, full text in $LOG)"
}

stop() {
  if ! pid_alive; then
    rm -f "$PIDFILE"
    echo "kafka.sh: not running (data $DATA)"
    return 0
  fi
  local pid
  pid="$(cat "$PIDFILE")"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "kafka.sh: no exit within ${STOP_TIMEOUT}s of SIGTERM; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$DATA/cds.jsa"  # possibly cut short
  fi
  rm -f "$PIDFILE"
  publish_cds
  echo "kafka.sh: stopped (pid $pid)"
}

killnow() {
  pid_alive || die "not running (no live pid in $PIDFILE)"
  local pid
  pid="$(cat "$PIDFILE")"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$PIDFILE" "$DATA/cds.jsa" "$DATA/cds-target"
  echo "kafka.sh: killed (SIGKILL, pid $pid)"
}

status() {
  if ! pid_alive; then echo "stopped (data $DATA)"; return 3; fi
  if answers; then echo "answering on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"), data $DATA)"; return 0; fi
  echo "running but not answering on 127.0.0.1:$PORT (pid $(cat "$PIDFILE")); log: $LOG"
  return 1
}

create_topic() {
  [ $# -ge 1 ] || die "usage: $0 create-topic NAME [PARTITIONS] [MAX_MESSAGE_BYTES]"
  python3 - "127.0.0.1:$PORT" "$1" "${2:-10}" "${3:-5242880}" <<'PY'
import sys
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap, name, parts, max_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
admin = AdminClient({"bootstrap.servers": bootstrap})
topic = NewTopic(name, num_partitions=parts, replication_factor=1, config={"max.message.bytes": max_bytes})
try:
    admin.create_topics([topic], operation_timeout=10)[name].result(timeout=15)
    print(f"kafka.sh: created topic {name} ({parts} partitions, max.message.bytes={max_bytes})")
except KafkaException as e:
    if e.args[0].code() == e.args[0].TOPIC_ALREADY_EXISTS:
        print(f"kafka.sh: topic {name} exists")
    else:
        sys.exit(f"kafka.sh: creating topic {name} on {bootstrap} failed: {e.args[0].str()}")
PY
}

cmd="${1:-}"
shift || true
case "$cmd" in
  start) start ;;
  stop) stop ;;
  kill) killnow ;;
  status) status ;;
  create-topic) create_topic "$@" ;;
  logs) tail -n "${1:-50}" "$LOG" ;;
  *) die "usage: $0 start|stop|kill|status|create-topic NAME [PARTITIONS] [MAX_MESSAGE_BYTES]|logs [N]" ;;
esac
