"""Every counter, drop reason and gauge name the interceptor and the processor report, with its meaning.

``Counters`` takes any string (its hot path is a plain dict update); this table is where a name is
declared. tests/test_counter_names.py fails when the code uses a name (or an f-string family) not
declared here, and when a declared name is no longer used; the metrics endpoint takes its help text
from here; the README's drop list and docs/counters.md are generated from it
(``python3 -m interceptor.counternames --write``; a test checks they are current).

A family is declared with ``{placeholder}`` parts, each standing for one dot-free word
(``k8s.{resource}.events``: ``k8s.pods.events``, ``k8s.services.events`` ...).
"""

from __future__ import annotations

import re
import sys
from functools import cache
from pathlib import Path

# Counts: ``counts[name]``, /metrics ``interceptor_<name>_total``.
COUNTS: dict[str, str] = {
    # capture and packets
    "packets": "packets fed to the pipeline (replay: read from the file)",
    "packets.skipped.{reason}": "packets that are not traffic we read (not_ip, not_tcp, unsupported_linktype): not drops",
    "capture.packets": "packets read from the live taps",
    "capture.tap_opened": "taps (interfaces in namespaces) opened",
    "capture.tap_closed": "taps closed because their interface or namespace went away or was deselected",
    "capture.tap_open_failed": "taps that could not be opened (logged once each)",
    "capture.tap_vanished": "taps whose interface disappeared while open",
    "workers.died": "capture workers that exited unexpectedly (the agent stops)",
    "workers.killed": "capture workers killed after not stopping in time",
    "discovery.scans": "discovery passes over the node's network namespaces",
    "discovery.failed": "discovery passes that failed (the previous taps stay)",
    # TCP
    "flows": "TCP connections tracked",
    "flows.midstream": "connections joined after their handshake (capture started mid-connection)",
    "flows.idle_expired": "connections forgotten after the idle timeout",
    "tcp.payload_bytes": "TCP payload bytes seen",
    "tcp.gaps": "holes in a TCP byte stream the capture lost (skipped, proven by ACKs or bounds)",
    "tcp.gap_bytes": "bytes in those holes",
    "tcp.out_of_order_segments": "segments that arrived ahead of a hole and waited",
    "tcp.retransmitted_segments": "segments whose bytes were already delivered",
    "tcp.overlapping_segments": "segments partly overlapping delivered bytes (the new part kept)",
    "tcp.deferred_segments": "segments held until the other direction's acknowledged bytes arrived",
    "tcp.deferred_released_unmet": "held segments released without those bytes (bound or timeout)",
    "tcp.after_close_segments": "a second tap's copies of a closed connection's packets, recognised and ignored",
    # HTTP/1
    "http.requests": "requests parsed (HTTP/1 and HTTP/2)",
    "http.responses": "responses parsed (HTTP/1 and HTTP/2)",
    "http.interim_responses": "1xx responses (skipped for pairing)",
    "http.non_http_streams": "TCP directions that are not HTTP/1 (not followed further)",
    "http.upgraded_connections": "connections that switched protocols (101, CONNECT): followed no further as HTTP/1",
    "http.bodiless_by_content": "responses without framing taken as bodiless because the next bytes start a response",
    "http.incomplete_bodies": "bodies the capture lost bytes of (emitted partial or dropped, core.on_gap)",
    "http.resyncs": "times the HTTP/1 parser found a message start again after loss",
    "http.resync_skipped_bytes": "bytes skipped while resynchronising",
    "http.content_decode_errors": "bodies whose Content-Encoding did not decode (kept as sent)",
    "http.unknown_content_encoding": "bodies with an encoding we do not decode (kept as sent)",
    "http.decompression_limit_hits": "decoded bodies cut at the message bound",
    "http.reanchored": "pairings re-anchored after loss by a response's ACK position",
    "http.order_contradicted": "responses whose ACK position contradicted order pairing (the position won)",
    "http.responses_to_failed_requests": "responses answering a request that failed to parse (both dropped)",
    "http.responses_failed_too": "responses that failed to parse after a failed request",
    # HTTP/2 and gRPC
    "h2.connections": "HTTP/2 connections followed from their preface",
    "h2.connections_joined_late": "HTTP/2 connections joined mid-way (HPACK state unknown)",
    "h2.upgrades": "HTTP/1 connections upgraded to h2c",
    # protocol layers (interceptor/layers.py)
    "layer.tls": "TCP connections read as TLS: only their hellos' facts (SNI, ALPN, version), nothing decrypted",
    "layer.tls.hellos": "TLS hellos read (ClientHello, ServerHello)",
    "layer.tls.hellos_unread": "TLS directions whose hello could not be read (joined after it, cut, malformed)",
    "layer.opaque": "connections not read further after an HTTP/1 tunnel or protocol switch (CONNECT, WebSocket)",
    "h2.frames": "HTTP/2 frames read (added every 1024 frames of a connection and at its end)",
    "h2.exchanges": "HTTP/2 request/response exchanges completed",
    "h2.interim_responses": "HTTP/2 1xx header blocks (replaced by the final response)",
    "h2.push_promises": "PUSH_PROMISE frames seen",
    "h2.pushed_streams": "frames on server-pushed streams (not paired)",
    "h2.goaway": "GOAWAY frames",
    "h2.streams_reset": "streams ended by RST_STREAM",
    "h2.protocol_errors": "frames that break the HTTP/2 framing rules",
    "h2.oversized_frames": "frames above the frame size bound (skipped)",
    "h2.gaps": "losses inside an HTTP/2 connection",
    "h2.resyncs": "times the frame reader found frame boundaries again after loss",
    "h2.resync_skipped_bytes": "bytes skipped while resynchronising",
    "h2.hpack_errors": "header blocks that did not decode",
    "h2.hpack_state_lost": "connections whose HPACK table can no longer be followed",
    "h2.header_fields_unknown": "header fields referring to table entries never seen (left out)",
    "h2.headers_incomplete": "exchanges emitted with headers_incomplete",
    "h2.data_unfollowed_bytes": "DATA bytes of streams not followed",
    "grpc.calls": "gRPC calls completed (before the filters)",
    "grpc.calls_named": "gRPC calls whose messages were named from a descriptor set",
    "grpc.messages": "gRPC messages decoded (of calls made into records)",
    "grpc.messages_cut": "gRPC messages cut by the body bound",
    "grpc.messages_over_bound": "gRPC messages past http2.grpc_max_messages in one half (left out, in messages_omitted)",
    "grpc.streams_cut": "gRPC streams whose body was cut",
    "grpc.not_protobuf": "gRPC messages that are not protobuf (kept as base64)",
    "grpc.decompress_errors": "compressed gRPC messages that did not decompress",
    "grpc.decompression_limit_hits": "gRPC messages cut at the decompression bound",
    "grpc.unknown_encoding": "gRPC messages in an encoding we do not decode",
    # pairs and output
    "pairs.matched": "request/response pairs made, before bounds and filters",
    "pairs.emitted": "pairs that passed the bounds and filters, given to the sinks",
    "sink.jsonl.written": "pairs written as JSON Lines",
    "sink.kafka.accepted": "pairs the Kafka sink accepted",
    "sink.kafka.delivered": "pairs the broker acknowledged",
    "sink.kafka.spooled": "pairs written to the disk spool while the broker was away",
    "sink.kafka.respooled": "spooled pairs spooled again after a failed resend",
    "sink.kafka.replayed": "spooled pairs sent again",
    "sink.kafka.spool_recovered": "pairs found in the spool at start (from a previous run)",
    "sink.kafka.heartbeats_delivered": "heartbeat records delivered",
    "sink.kafka.heartbeats_failed": "heartbeat records that failed",
    "sink.kafka.side_sent": "side-topic records sent (connections account)",
    "sink.kafka.errors.{reason}": "client-wide Kafka errors, by reason (logged; pairs wait or spool)",
    # enrichment
    "enrich.pairs": "pairs given Kubernetes names",
    "enrich.meta_stale": "pairs named while the cluster index was not in sync (meta_stale)",
    "enrich.dst_known": "pairs whose server is a known pod or service",
    "k8s.owner_fetches": "owner objects fetched (workload names)",
    "k8s.owner_fetch_errors": "owner fetches that failed",
    "k8s.{resource}.lists": "LIST calls per watched resource",
    "k8s.{resource}.events": "watch events per resource",
    "k8s.{resource}.errors": "watch errors per resource (retried)",
    "k8s.{resource}.relist_gone": "watches restarted by 410 Gone",
    "k8s.{resource}.watch_empty": "watches that ended without events",
    "k8s.{resource}.watch_resumed": "watches resumed from the last resource version",
    # TLS plaintext (eBPF, Java agent)
    "tls.{kind}.bytes": "plaintext bytes read from a TLS library (openssl, gotls, gnutls, nss, java...)",
    "tls.{kind}.streams": "plaintext streams opened",
    "tls.{kind}.gaps": "losses in plaintext streams",
    "tls.{kind}.muted_streams": "plaintext streams no longer followed (not HTTP)",
    "tls.{kind}.{what}": "samples the eBPF ring lost or could not read (lost_samples, unreadable_samples)",
    "tls.addresses_from_kernel": "plaintext streams whose addresses came from the kernel",
    "tls.addresses_from_proc": "plaintext streams whose addresses came from /proc",
    "tls.addresses_late": "plaintext streams whose addresses were found after the first record",
    "tls.unresolved_addresses": "plaintext streams with no address found",
    "tls.attach_failures": "uprobe attachments that failed",
    "tls.boringssl.no_signature": "grpcio files whose stripped BoringSSL matched no signature for sure (nothing attached)",
    "tls.linked_resolved": "executables whose linked TLS libraries were looked up (cached per file)",
    "tls.linked_attached": "TLS libraries found linked into an executable and probed",
    "tls.held_programs": "processes held back for attaching",
    "tls.held_notices_lost": "held processes continued from the kernel's table because their exec notice was lost",
    "tls.held_released_on_close": "held processes continued when the TLS source closed",
    "tls.excluded_records": "plaintext records of excluded processes",
    "tls.unavailable.start_failed": "the eBPF source did not start",
    "tls.unavailable.{code}": "the eBPF source is unavailable, by reason",
    "tls.java.attached": "JVMs the Java agent attached to",
    "tls.java.attach_retries": "Java attach retries",
    "tls.java.attach_failed.{reason}": "Java attaches that failed, by reason",
    "tls.java.unavailable.agent_not_built": "the Java agent jar is not built",
    # the plaintext stream (/ws) and its hub
    "stream.bytes": "plaintext stream bytes fed to the core",
    "stream.gaps": "losses in plaintext streams seen by the core",
    "stream.mirrored": "plaintext streams mirrored into a packet capture",
    "stream.mirrored_bytes": "bytes mirrored",
    "stream.idle_expired": "plaintext streams forgotten after the idle timeout",
    "stream.alpn_from_packets": "plaintext streams whose layer the packet view's TLS handshake (ALPN) chose",
    "streams": "plaintext streams followed by the core",
    "stream.connections": "live-stream clients connected",
    "stream.disconnected": "live-stream clients gone",
    "stream.records_sent": "records sent to live-stream clients",
    "stream.queries_rejected": "live-stream queries that did not compile",
    "stream.refused.max_clients": "live-stream clients refused at the client bound",
    "stream.joined": "hub: pairs joined with their detections",
    "stream.join_timeout": "hub: pairs sent without detections after the join timeout",
    "stream.join_evicted": "hub: pairs sent without detections at the join bound",
    "stream.detections_unmatched": "hub: detections whose pair never came",
    "hub.messages": "hub: Kafka messages read",
    "hub.consume_errors": "hub: Kafka consume errors",
    "hub.kafka_errors": "hub: Kafka client errors",
    # coverage account, captures, guards, auth
    "coverage.records": "connections account records made",
    "coverage.keys_overflow": "connections folded into the overflow record (key bound)",
    "coverage.segments_after_close": "segments of already closed connections (account)",
    "coverage.process_scans": "scans of the node's processes (TLS attribution)",
    "coverage.processes_named": "processes named in the account",
    "coverage.connections.{verdict}": "connections in the account, by verdict",
    "coverage.bytes.{verdict}": "bytes in the account, by verdict",
    "coverage.applied": "processor: account records applied to the map",
    "coverage.duplicates": "processor: account records seen before",
    "captures.started": "on-demand captures started",
    "captures.trigger.{kind}": "on-demand captures started, by trigger",
    "captures.finished.{reason}": "on-demand captures finished, by reason",
    "captures.refused.{reason}": "on-demand captures refused, by reason",
    "captures.removed.{why}": "stored captures removed, by reason",
    "captures.extended": "captures whose end was extended",
    "captures.errors": "capture errors (logged)",
    "captures.packets": "packets written to on-demand captures",
    "captures.unavailable": "capture requests while captures are disabled",
    "captures.api.requests": "capture API requests",
    "captures.api.bad_request": "capture API requests refused as malformed",
    "captures.proxy.requests": "capture proxy requests",
    "captures.resolved_from_api": "capture targets resolved through the API server",
    "captures.routing.forwarded": "capture requests forwarded to the node's agent",
    "captures.routing.failed": "capture requests that could not be forwarded",
    "captures.routing.no_agent": "capture requests for a node without an agent",
    "captures.routing.api_error": "capture routing API errors",
    "captures.falco.alerts": "Falco alerts received",
    "captures.falco.started": "captures started by a Falco alert",
    "captures.falco.ignored": "Falco alerts not matching a capture rule",
    "captures.falco.no_target": "Falco alerts without a pod to capture",
    "captures.falco.not_found": "Falco alerts naming an unknown pod",
    "memory.limit_reached": "times the memory self-limit was hit",
    "cpu.limit_reached": "times the CPU limit was hit (new connections not followed)",
    "auth.rejected.{outcome}": "API requests rejected by authentication, by outcome",
    # processor and map
    "processor.pairs": "pairs the processor classified",
    "processor.pairs_with_detections": "pairs with at least one detection",
    "processor.produced": "detections records produced",
    "processor.delivery_failed": "detections records Kafka did not take",
    "processor.bounded.detections": "detections past the per-pair bound",
    "processor.bounded.{limit}": "pairs whose walk hit a bound (depth, leaves, array items, json_partial...)",
    "map.applied": "detections records applied to the map",
    "map.duplicates": "detections records seen before",
    "map.edges_merged": "map edges merged by path templating",
    "map.http.rejected.busy": "map HTTP requests refused while busy",
    "map.http.rejected.host": "map HTTP requests refused for their Host header",
    "{consumer}.committed": "processor Kafka consumer (processor, map): offsets committed",
    "{consumer}.commit_failed": "processor Kafka consumer: commits that failed",
    "{consumer}.batch_retries": "processor Kafka consumer: batches retried",
    "{consumer}.consume_errors": "processor Kafka consumer: consume errors",
    "{consumer}.kafka_errors": "processor Kafka consumer: client errors",
    "{consumer}.rebalance.assigned": "processor Kafka consumer: partitions assigned",
    "{consumer}.rebalance.revoked": "processor Kafka consumer: partitions revoked",
}

# Drop reasons: ``counts["dropped." + reason]``, /metrics ``interceptor_dropped_total{reason}``.
DROPS: dict[str, str] = {
    # packets and connections
    "decode_error": "a packet the decoder failed on (a bug: counted, never raised)",
    "truncated_link": "a frame shorter than its link header",
    "truncated_ip": "a packet shorter than its IP header",
    "truncated_tcp": "a packet shorter than its TCP header",
    "bad_ip": "a packet whose IP header is invalid",
    "ip_fragment": "an IP fragment (TCP almost never fragments; not reassembled)",
    "pipeline_error": "a live packet the pipeline failed on (a bug: counted, never raised)",
    "internal_error": "a connection the core failed on (a bug: the connection is dropped)",
    "flow_table_full": "a new connection past core.max_flows",
    "cpu_limit": "a new connection not followed while over the CPU limit",
    "memory_limit": "work shed at the memory self-limit",
    "memory_budget": "bytes that did not fit the shared buffer budget",
    "tcp_out_of_order_limit": "a hole given up on: too many segments waiting behind it",
    "capture_kernel": "packets the kernel dropped (a tap's buffer full)",
    "capture_interface": "packets the interface dropped",
    # HTTP messages
    "http_parse_error": "a message that is not valid HTTP/1 (the direction is resynchronised)",
    "header_too_large": "a head above the header bound",
    "request_too_large": "a request body above the message bound (core.oversize: drop)",
    "response_too_large": "a response body above the message bound (core.oversize: drop)",
    "decompression_limit": "a body whose decoding passed the bound (core.oversize: drop)",
    "head_incomplete_at_close": "a head cut by the end of the connection",
    "incomplete_at_close": "a message cut by the end of the connection",
    "body_incomplete": "a body the capture lost bytes of (core.on_gap: drop)",
    "chunked_framing_error": "a chunked body whose framing broke",
    "pipeline_depth": "a request past the per-connection pipelining bound",
    # pairing
    "no_response": "a request whose connection ended without its response",
    "response_timeout": "a request that waited longer than core.response_timeout_s",
    "response_without_request": "a response whose request was never seen",
    "ambiguous_after_loss": "a response that cannot be paired for sure after loss",
    "misframed_after_loss": "a message whose framing is unknown after loss",
    "upgraded_connection": "a request left waiting when its connection switched protocols",
    "connection_reset": "requests waiting when their connection was reset",
    "end_of_capture": "requests still waiting at the end of the capture",
    "flow_idle_timeout": "requests waiting when their connection went idle",
    "pair_too_large": "a pair above the pair bound (core.oversize: drop)",
    # HTTP/2
    "h2_too_many_streams": "a stream past http2.max_streams",
    "h2_role_unknown": "streams of a connection whose client side is unknown",
    "h2_status_unknown": "a response whose :status was not decodable",
    "h2_hpack_error": "a stream whose header block failed to decode",
    "h2_protocol_error": "a stream ended by a protocol error",
    "h2_stream_reset": "a stream reset before its response completed",
    # filters
    "filtered_content_type": "filters: content type not kept",
    "filtered_status": "filters: status dropped (filters.drop_statuses)",
    "filtered_url": "filters: path dropped (filters.drop_urls)",
    "filtered_user_agent": "filters: user agent dropped (probes)",
    "filtered_header": "filters: a request header marks it (filters.drop_request_headers)",
    "enrich_excluded_namespace": "enrichment: namespace excluded",
    "enrich_not_included_namespace": "enrichment: namespace not included",
    "enrich_excluded_pod": "enrichment: pod excluded",
    "enrich_not_included_pod": "enrichment: pod not included",
    "k8s_index_full": "cluster objects past the index bound",
    # sinks
    "output_error": "a pair a sink raised on",
    "sink_write_error": "a pair the JSON Lines sink could not write",
    "kafka_queue_full": "Kafka: the producer queue was full",
    "kafka_too_large": "Kafka: the record is above the message size limit",
    "kafka_unknown_topic": "Kafka: the topic does not exist",
    "kafka_timeout": "Kafka: delivery timed out",
    "kafka_auth": "Kafka: authentication or authorisation failed",
    "kafka_broker_down": "Kafka: all brokers down and no spool room",
    "kafka_purged": "Kafka: purged at shutdown, undelivered",
    "kafka_error": "Kafka: any other delivery error",
    "kafka_encode": "Kafka: the record did not serialise",
    "kafka_spool_full": "Kafka: the disk spool was full",
    "kafka_spool_corrupt": "Kafka: a spool file entry that does not read back",
    "kafka_side_failed": "Kafka: a side-topic record that failed",
    # TLS plaintext and streams
    "tls_bad_record": "an eBPF plaintext record that does not parse",
    "tls_record_error": "an eBPF plaintext record the core failed on",
    "tls_too_many_streams": "plaintext streams past the stream bound",
    "tls_{kind}_{what}": "eBPF ring samples lost or unreadable, by library",
    "tls_java_bad_frame": "a Java agent frame that does not parse",
    "tls_java_queue_full": "Java agent frames past the queue bound",
    "stream_budget": "pairs not streamed: the live stream's byte budget",
    "stream_backlog": "pairs not streamed: the dispatcher's backlog bound",
    "stream_error": "pairs the live stream failed on",
    "stream_eval_error": "records a live-stream query failed on",
    "stream_slow_client": "records not sent to a slow live-stream client",
    "stream_hub_overload": "hub: records past its bound",
    "stream_bad_message": "hub: a Kafka message that does not parse",
    "stream_bad_pair": "hub: a pair record that does not parse",
    # on-demand captures
    "capture_{reason}": "on-demand capture blocks not written, by bound (byte_cap, disk_budget...)",
    "plaintext_lost": "plaintext the capture lost (a gap in the synthesised packets)",
    "plaintext_unsynthesizable": "plaintext that could not be written as packets",
    # processor and map
    "processor.{reason}": "processor: pair messages refused (invalid_json, schema_mismatch)",
    "processor.internal_error": "processor: a pair the detection failed on",
    "map.{reason}": "map: detections messages refused (invalid_json, schema_mismatch)",
    "map.store_rejected": "map: records the store refused",
    "coverage.{reason}": "processor: account records refused (invalid_json, schema_mismatch)",
    "coverage.malformed": "processor: account records that do not fit the map",
}

# Gauges: ``gauges[name]``, /metrics ``interceptor_<name>``.
GAUGES: dict[str, str] = {
    "buffer.bytes": "bytes held in the shared buffer budget",
    "flows.tracked": "TCP connections tracked now",
    "capture.taps": "taps open now",
    "workers": "capture workers running",
    "discovery.last_scan_s": "seconds the last discovery pass took",
    "memory.rss_bytes": "resident memory",
    "memory.over_limit": "1 while over the memory self-limit",
    "cpu.cores_used": "cores used over the last interval",
    "cpu.over_limit": "1 while over the CPU limit",
    "sink.kafka.buffer_bytes": "bytes queued in the Kafka producer",
    "sink.kafka.in_flight": "records awaiting the broker's acknowledgement",
    "sink.kafka.spool_bytes": "bytes in the disk spool",
    "sink.kafka.spool_pending": "records in the disk spool",
    "k8s.{resource}.last_error_at": "when the resource's watch last failed (epoch s)",
    "tls.active": "1 while the eBPF source runs",
    "tls.processes": "processes with TLS probes attached",
    "tls.processes_pending": "processes waiting to be attached",
    "tls.attached_files": "library files with probes attached",
    "tls.streams": "plaintext streams open",
    "tls.last_hold_ms": "how long the last held process waited",
    "tls.max_hold_ms": "the longest a held process waited",
    "stream.clients": "live-stream clients connected",
    "stream.backlog": "pairs waiting for the live-stream dispatcher",
    "captures.running": "on-demand captures running",
    "captures.stored": "on-demand captures stored",
    "captures.disk_bytes": "bytes of stored captures",
    "coverage.records_written": "connections account records written",
}

TABLES = {"count": COUNTS, "drop": DROPS, "gauge": GAUGES}
_WORD = "[A-Za-z0-9_-]+"


@cache
def _families(kind: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    out = []
    for name in TABLES[kind]:
        if "{" in name:
            parts = re.split(r"\{[a-z_]+\}", name)
            out.append((re.compile(_WORD.join(re.escape(p) for p in parts)), name))
    return tuple(out)


def declared_as(kind: str, name: str) -> str | None:
    """The declared name (or family) ``name`` is, or None."""
    if name in TABLES[kind]:
        return name
    for pattern, family in _families(kind):
        if pattern.fullmatch(name):
            return family
    return None


def meaning(kind: str, name: str) -> str:
    """One line for the metrics' help text."""
    decl = declared_as(kind, name)
    return TABLES[kind][decl] if decl is not None else f"{kind} {name} (undeclared)"


def undeclared(snapshot: dict[str, object]) -> list[str]:
    """Names in a ``Counters.snapshot()`` (or a ``--stats`` file) that are not declared."""
    found = []
    for section, kind in (("counts", "count"), ("dropped", "drop"), ("gauges", "gauge")):
        for name in snapshot.get(section, {}) or {}:  # type: ignore[attr-defined]
            if declared_as(kind, name) is None:
                found.append(f"{section}: {name}")
    return found


# -- the generated documents -------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "counters.md"
README = REPO / "README.md"
BEGIN, END = "<!-- drop-reasons: generated by python3 -m interceptor.counternames --write -->", "<!-- end drop-reasons -->"


def _table(kind: str, header: str) -> list[str]:
    rows = [f"| {header} | meaning |", "|---|---|"]
    rows += [f"| `{name}` | {text} |" for name, text in sorted(TABLES[kind].items())]
    return rows


def drops_markdown() -> str:
    return "\n".join([BEGIN, *_table("drop", "`dropped.` reason"), END])


def doc_markdown() -> str:
    return "\n".join([
        "# Counters, drop reasons and gauges",
        "",
        "Generated from `interceptor/counternames.py` (`python3 -m interceptor.counternames --write`);",
        "tests/test_counter_names.py fails when the code reports a name not declared there. A `{word}`",
        "part stands for one word (a resource, a library, a reason). Everything is in the replay",
        "summary, `--stats`, `/metrics` (counts as `interceptor_<name>_total`, drops as",
        "`interceptor_dropped_total{reason}`) and the Kafka heartbeat.",
        "",
        "## Drop reasons (`dropped.<reason>`)",
        "",
        *_table("drop", "reason"),
        "",
        "## Counts",
        "",
        *_table("count", "name"),
        "",
        "## Gauges",
        "",
        *_table("gauge", "name"),
        "",
    ])


def readme_with_drops(text: str) -> str:
    """The README with its generated drop list replaced (it must have the markers)."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + drops_markdown() + text[end:]


def main(argv: list[str]) -> int:
    if argv[:1] != ["--write"]:
        print(doc_markdown())
        return 0
    DOC.write_text(doc_markdown())
    README.write_text(readme_with_drops(README.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
