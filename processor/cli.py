"""``processor``: detect personal data in pair records and build the data-flow map.

    processor consume [--bootstrap B]                 Kafka group: pairs topic -> detections topic
    processor map [--bootstrap B] [--db URL]          Kafka group: detections -> map store + web page
    processor map --no-kafka [--from-file F]          serve a map store (optionally loading detections JSONL)
    processor detect [PAIRS.jsonl|-] [-o OUT|-]       offline: pair records in, detections records out
    processor hub [--listen H:P]                      the live stream for the cluster (ws://HUB:8899/api/wsFull)
    processor tail 'QUERY' [--hub URL|--node HOST]    print the live stream's records matching a KFL query

Settings come from ``--config`` (the ``processor:`` section) and ``SENSOR__PROCESSOR__*`` variables;
flags override both.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

import orjson

from interceptor.config import Config, ConfigError, load_config, redact_url
from interceptor.counters import Counters
from interceptor.kafkaclient import processor_bootstrap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        full = load_config(args.config)
        _override(full, args)
        return args.func(full, args)
    except (ConfigError, ValueError) as e:
        print(f"processor: {e}", file=sys.stderr)
        return 2
    except ConnectionError as e:  # the map store unreachable at start-up: one line (no password in it)
        print(f"processor: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # Kafka unreachable at start-up and the like: one line, not a traceback
        if type(e).__module__.startswith("confluent_kafka") or type(e).__name__ == "KafkaException":
            print(f"processor: Kafka at {getattr(args, 'bootstrap_servers', None) or 'kafka.bootstrap_servers'}: {e}",
                  file=sys.stderr)
            return 1
        raise
    except KeyboardInterrupt:
        return 130


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="processor", description="Find personal data in HTTP pairs and build the data-flow map.")
    p.add_argument("--config", metavar="PATH", help="YAML configuration file (section 'processor')")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("consume", help="consumer group: pairs topic -> detections topic")
    _kafka_args(c)
    c.add_argument("--group", dest="group_id")
    c.add_argument("--pairs-topic")
    c.add_argument("--detections-topic")
    c.add_argument("--metrics-listen", metavar="HOST:PORT", help="serve /metrics (Prometheus) and /healthz here")
    c.set_defaults(func=cmd_consume)

    m = sub.add_parser("map", help="consume detections, keep the map, serve the API and web page")
    _kafka_args(m)
    m.add_argument("--group", dest="map_group_id")
    m.add_argument("--detections-topic")
    m.add_argument("--db", dest="map_db", help="sqlite:///path/map.db (default) or postgresql://...")
    m.add_argument("--listen", dest="map_listen", help="host:port for the HTTP API and page (port 0: any free)")
    m.add_argument("--no-kafka", action="store_true", help="do not consume; only serve (and --from-file)")
    m.add_argument("--from-file", metavar="JSONL", help="apply detections records from a file first")
    m.add_argument("--coverage-file", metavar="JSONL", help="apply connections aggregates (replay --coverage) first")
    m.add_argument("--port-file", metavar="PATH", help="write the bound HTTP port here (for scripts and tests)")
    m.set_defaults(func=cmd_map)

    d = sub.add_parser("detect", help="offline: pair records (JSONL) in, detections records (JSONL) out")
    d.add_argument("input", nargs="?", default="-")
    d.add_argument("-o", "--output", default="-")
    d.set_defaults(func=cmd_detect)

    h = sub.add_parser("hub", help="the cluster's live stream of pairs over websocket (docs/stream.md)")
    h.add_argument("--bootstrap", dest="bootstrap_servers", metavar="HOST:PORT")
    h.add_argument("--listen", help="host:port (default: stream.hub_listen, 0.0.0.0:8899)")
    h.add_argument("--port-file", metavar="PATH", help="write the bound port here (for scripts and tests)")
    h.set_defaults(func=cmd_hub)

    t = sub.add_parser("tail", help="print the live stream's records that match a KFL query")
    t.add_argument("query", nargs="?", default="", help="KFL, e.g. 'response.status > 300' (empty: all)")
    t.add_argument("--hub", default="ws://127.0.0.1:8899", help="hub URL (ws:// or wss://)")
    t.add_argument("--node", metavar="HOST[:PORT]", help="one node's agent instead (ws://HOST:18954/ws)")
    t.add_argument("--token", help="bearer token (default: $SENSOR_STREAM_TOKEN, then the auth config)")
    t.add_argument("--compact", action="store_true", help="one short line per record")
    t.add_argument("-n", "--count", type=int, default=0, help="stop after N records")
    t.add_argument("--timeout", type=float, default=0.0, metavar="S", help="stop after S seconds")
    t.add_argument("--cafile", help="CA bundle for wss://")
    t.set_defaults(func=cmd_tail)
    return p


def _kafka_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", dest="bootstrap_servers", metavar="HOST:PORT")
    p.add_argument("--exit-when-idle", type=float, default=0.0, metavar="S", help="stop after S seconds without messages")
    p.add_argument("--stats-interval", type=float, default=30.0, metavar="S", help="print counters to stderr every S seconds (0: never)")


def _override(full: Config, args: argparse.Namespace) -> None:
    """Flags win over the file and the environment. ``--bootstrap`` sets the one broker address,
    ``kafka.bootstrap_servers``, which every Kafka client (with the section's SASL/TLS) uses."""
    if getattr(args, "bootstrap_servers", None):
        full.kafka.bootstrap_servers = args.bootstrap_servers
    cfg = full.processor
    for name in ("group_id", "map_group_id", "pairs_topic", "detections_topic", "map_db", "map_listen"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(cfg, name, value)


def _stats_printer(counters: Counters, interval: float, stop: threading.Event) -> None:
    def run() -> None:
        while not stop.wait(interval):
            print(orjson.dumps(counters.snapshot()).decode(), file=sys.stderr, flush=True)
    if interval > 0:
        threading.Thread(target=run, name="stats", daemon=True).start()


def cmd_consume(full: Config, args: argparse.Namespace) -> int:
    from processor.kafkaio import BatchLoop, consumer_config, ensure_topic
    from processor.service import DetectService

    cfg = full.processor
    counters = Counters()
    service = DetectService(cfg, counters, kafka=full.kafka)  # compiles custom types: config errors surface here
    ensure_topic(full.kafka, cfg.detections_topic, cfg.detections_partitions, timeout_s=cfg.flush_timeout_s)
    loop = BatchLoop(consumer_config(full.kafka, cfg.group_id, cfg.session_timeout_ms), [cfg.pairs_topic],
                     service, counters, cfg.batch_size, name="processor")
    loop.install_signal_handlers()
    _stats_printer(counters, args.stats_interval, loop.stop)
    if args.metrics_listen:
        from processor.metrics import serve_metrics
        serve_metrics(args.metrics_listen, counters.snapshot)
    print(f"processor: consuming {cfg.pairs_topic} as group {cfg.group_id} on {processor_bootstrap(full.kafka)} "
          f"({full.kafka.security_protocol}) -> {cfg.detections_topic}",
          file=sys.stderr, flush=True)
    loop.run(idle_exit_s=args.exit_when_idle)
    service.producer.flush(cfg.flush_timeout_s)
    print("processor: stopped " + orjson.dumps(counters.snapshot()).decode(), file=sys.stderr, flush=True)
    return 0


def cmd_map(full: Config, args: argparse.Namespace) -> int:
    from processor.mapstore import MapStore
    from processor.server import MapServer
    from processor.service import MapService, parse_detections

    cfg = full.processor
    counters = Counters()
    store = MapStore(cfg.map_db, cfg.map_seen_retention_s)
    service = MapService(store, counters)
    from processor.coverage import CoverageService, CoverageStore

    coverage = CoverageService(CoverageStore(store), counters)
    if args.coverage_file:
        with open(args.coverage_file, "rb") as f:
            coverage.apply_raw([line for line in f if line.strip()])
    if args.from_file:
        records: list[dict[str, Any]] = []
        with _open_in(args.from_file) as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    rec = parse_detections(line)
                    if isinstance(rec, str):
                        counters.drop(f"map.{rec}")
                        print(f"processor map: {args.from_file}:{n}: skipped ({rec})", file=sys.stderr)
                    else:
                        records.append(rec)
        service.apply_records(records)
    from interceptor.webauth import BearerAuth, load_token

    token = load_token(full.auth, service="processor map")  # generated: printed once
    server = MapServer(store, cfg.map_listen, counters.snapshot, auth=BearerAuth(token, counters),
                       allowed_hosts=cfg.map_allowed_hosts, max_connections=cfg.map_max_connections,
                       timeout_s=cfg.map_timeout_s, counters=counters, coverage=coverage.store).start()
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(f"{server.port}\n")
    print(f"processor map: serving http://{cfg.map_listen.rpartition(':')[0]}:{server.port}/ from {redact_url(cfg.map_db)}",
          file=sys.stderr, flush=True)
    stop = threading.Event()
    try:
        if args.no_kafka:
            import signal
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            stop.wait(args.exit_when_idle or None)
        else:
            from processor.kafkaio import BatchLoop, consumer_config
            topics = [cfg.detections_topic] + ([cfg.connections_topic] if cfg.connections_topic else [])

            def handle(batch: list[Any]) -> None:  # the coverage account rides on the same consumer
                coverage.apply_raw([m.value() or b"" for m in batch if m.topic() == cfg.connections_topic])
                service([m for m in batch if m.topic() != cfg.connections_topic])

            loop = BatchLoop(consumer_config(full.kafka, cfg.map_group_id, cfg.session_timeout_ms), topics,
                             handle, counters, cfg.batch_size, name="map")
            loop.install_signal_handlers()
            _stats_printer(counters, args.stats_interval, loop.stop)
            loop.run(idle_exit_s=args.exit_when_idle)
    finally:
        server.stop()
        store.close()
    print("processor map: stopped " + orjson.dumps(counters.snapshot()).decode(), file=sys.stderr, flush=True)
    return 0


def cmd_detect(full: Config, args: argparse.Namespace) -> int:
    from processor.core import Poison, Processor

    cfg = full.processor
    counters = Counters()
    core = Processor(cfg, counters, full_schema=cfg.full_schema_check)
    out = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")  # noqa: SIM115
    try:
        with _open_in(args.input) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    res = core.handle(line.encode() if isinstance(line, str) else line)
                except Poison as e:
                    counters.drop(f"processor.{e.reason}")
                    print(f"processor detect: {args.input}:{n}: skipped: {e}", file=sys.stderr)
                    continue
                out.write(res.value + b"\n")
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    print("processor detect: " + orjson.dumps(counters.snapshot()).decode(), file=sys.stderr)
    return 0


def cmd_hub(full: Config, args: argparse.Namespace) -> int:
    from processor.hub import run_hub

    return run_hub(full, args.listen or full.stream.hub_listen, args.port_file or "")


def cmd_tail(full: Config, args: argparse.Namespace) -> int:
    from processor.tail import client_token, stream_url, tail

    url = stream_url(args.hub, args.node, args.query)
    return tail(url, client_token(full, args.token), args.compact, args.count, cafile=args.cafile,
                timeout_s=args.timeout)


def _open_in(path: str) -> Any:
    if path == "-":
        import contextlib
        return contextlib.nullcontext(sys.stdin)
    try:
        return open(path, encoding="utf-8")
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror}") from None


if __name__ == "__main__":
    sys.exit(main())
