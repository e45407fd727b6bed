"""The one typed configuration model, loaded from YAML and overridden by environment variables.

Every section is a dataclass; ``load_config`` walks the YAML against the type hints, so an unknown
key or a value of the wrong type fails with a message that names the full key
(``core.max_message_bytes: expected int, got 'lots'``). Environment variables
``SENSOR__<SECTION>__<KEY>=value`` override the file: a string-typed key takes the variable verbatim
(a password ``abc #x`` or ``123456`` stays what it is); other keys parse it as YAML (``10``, ``true``,
``[a, b]``). Values of secret keys (passwords, tokens) never appear in an error message.

Every process start imports this module, so its sections are dataclasses without generated code:
``dataclasses.fields`` and everything built on it (``build``, ``asdict``, ``replace``, the Helm
values schema) see the usual fields, while ``__init__``, ``__repr__`` and ``__eq__`` are the three
generic methods of ``Section``. The code ``@dataclass`` writes and compiles per class cost ~61M
instructions (callgrind; ~20 ms) at every start for the 17 sections' 193 fields, against ~4M now.
Annotations are evaluated (no ``from __future__ import annotations``): with string annotations,
``dataclasses`` runs a regular expression per field to tell ``ClassVar`` apart (~4M more).
"""

import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args, get_origin

ENV_PREFIX = "SENSOR__"
MB = 1_000_000
MiB = 1 << 20


class ConfigError(ValueError):
    """A configuration problem; the message names the key."""


# Bounds where 0 is not "off" but a sensor that cannot work (every flow or message refused).
AT_LEAST_ONE = (
    "core.max_message_bytes", "core.max_pair_bytes", "core.max_header_bytes", "core.max_buffered_bytes",
    "core.max_flows", "core.max_pending_requests", "kafka.max_message_bytes", "kafka.partitions",
    "kafka.batch_size", "kafka.buffer_bytes", "processor.batch_size", "processor.max_leaves",
    "processor.max_depth", "processor.detections_partitions", "processor.map_max_connections", "kubernetes.max_pods", "tls.max_streams",
    "http2.max_streams",
)
SECRET_WORDS = ("password", "secret", "token")
MOVED = {"processor.bootstrap_servers": "kafka.bootstrap_servers"}


class Section:
    """The base of every config section: construction, ``repr`` and ``==`` over the dataclass fields,
    behaving as ``@dataclass``'s generated methods do (positional or keyword arguments, defaults and
    default factories, ``Name(field=value, ...)``, equal when of the same class with equal fields;
    unhashable)."""

    _plan: tuple[tuple[str, Any, Callable[[], Any] | None], ...] = ()  # (name, default, factory) per field

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        plan = self._plan
        if len(args) > len(plan):
            raise TypeError(f"{type(self).__qualname__}() takes {len(plan)} positional arguments but "
                            f"{len(args)} were given")
        for i, (name, default, factory) in enumerate(plan):
            if i < len(args):
                if name in kwargs:
                    raise TypeError(f"{type(self).__qualname__}() got multiple values for argument {name!r}")
                value = args[i]
            elif name in kwargs:
                value = kwargs.pop(name)
            elif factory is not None:
                value = factory()
            elif default is MISSING:
                raise TypeError(f"{type(self).__qualname__}() missing required argument: {name!r}")
            else:
                value = default
            setattr(self, name, value)
        if kwargs:
            raise TypeError(f"{type(self).__qualname__}() got an unexpected keyword argument {next(iter(kwargs))!r}")

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name, _, _ in self._plan)
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value: as @dataclass(eq=True)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name, _, _ in self._plan)


_S = TypeVar("_S", bound=Section)


def _section(cls: type[_S]) -> type[_S]:
    """``@dataclass`` without generated methods (``cls`` derives from ``Section``, which has them)."""
    dataclasses.dataclass(init=False, repr=False, eq=False)(cls)  # (the class itself, fields added)
    cls._plan = tuple((f.name, f.default, None if f.default_factory is MISSING else f.default_factory)
                      for f in dataclasses.fields(cls))  # type: ignore[arg-type]  # (a dataclass now)
    return cls


if TYPE_CHECKING:  # type checkers see plain dataclasses (typed constructors); at run time, _section
    from dataclasses import dataclass as section
else:
    section = _section


def is_secret(key: str) -> bool:
    """A key whose value must never be shown (in errors, logs or stats)."""
    name = key.rsplit(".", 1)[-1].lower()
    return any(w in name for w in SECRET_WORDS)


def redact_url(url: str) -> str:
    """A connection URL as logs may show it: ``postgresql://user:***@host/db`` (no password)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def shown(key: str, value: Any) -> str:
    """``value`` as an error message may show it: secrets hidden, long values cut."""
    if is_secret(key):
        return "<hidden>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@section
class CoreConfig(Section):
    """Reassembly, HTTP parsing, pairing: the bounds of the sans-I/O core."""

    max_message_bytes: int = MB  # per request and per response body (decoded)
    max_pair_bytes: int = MB  # request + response bodies together
    oversize: Literal["drop", "truncate"] = "drop"  # Soveren drops; truncate keeps the first bytes, marked
    max_header_bytes: int = 64 * 1024  # a head longer than this is not HTTP we can use
    max_buffered_bytes: int = 256 * MiB  # across all flows: reassembly holes + partial messages
    max_flows: int = 200_000  # tracked TCP connections
    max_out_of_order_segments: int = 256  # per direction, waiting for a hole to fill
    reorder_wait_s: float = 0.5  # a segment acking bytes not yet seen waits this long for them
    response_timeout_s: float = 10.0  # a request waits this long for its response, then is dropped
    flow_idle_timeout_s: float = 60.0  # a connection with no packets for this long is forgotten
    max_pending_requests: int = 64  # per connection (pipelining depth)
    decode_bodies: bool = True  # remove gzip/deflate/br for the record
    # A body the capture lost bytes of (both heads seen): "partial" emits the pair with that half
    # flagged body_incomplete and the missing byte count; "drop" counts it (dropped.body_incomplete).
    on_gap: Literal["partial", "drop"] = "partial"


@section
class Http2Config(Section):
    """HTTP/2 and gRPC (interceptor/http2.py, grpc.py); the byte bounds are the core's."""

    max_streams: int = 100  # open streams per connection (RFC 9113's suggested minimum); beyond, dropped
    grpc_max_messages: int = 64  # decoded gRPC messages kept per request or response; the rest counted


@section
class GrpcConfig(Section):
    """gRPC message field names (interceptor/descriptors.py)."""

    descriptor_sets: list[str] = field(default_factory=list)  # FileDescriptorSet files (protoc --descriptor_set_out)


@section
class FilterConfig(Section):
    """Noise filters with Soveren's defaults; ``keep_all`` turns off all but the size bounds."""

    keep_all: bool = False
    content_types: list[str] = field(
        default_factory=lambda: ["application/json", "application/x-www-form-urlencoded", "application/grpc",
                                 "application/grpc+proto"]
    )
    json_suffix: bool = True  # application/*+json (e.g. problem+json, vnd.api+json) counts as JSON
    drop_user_agent_prefixes: list[str] = field(default_factory=lambda: ["kube-probe/"])
    drop_request_headers: list[str] = field(default_factory=lambda: ["x-soveren-request"])
    drop_statuses: list[str] = field(default_factory=lambda: ["301", "308", "4xx", "5xx"])
    drop_urls: list[str] = field(
        default_factory=lambda: ["/metrics", "/healthz", "/api/health", "/api/v2/alive", "/api/v2/detect"]
    )


@section
class KafkaConfig(Section):
    """The Kafka sink: producer tuning, topics, security, the in-memory buffer and the disk spool.

    See docs/kafka.md. Every byte bound is in bytes; librdkafka settings not covered here go in
    ``extra`` (passed through as is, and they win over the values derived from this section).
    """

    bootstrap_servers: str = ""  # empty: no Kafka sink
    topic: str = "pairs"
    heartbeat_topic: str = "sensor-heartbeat"  # empty: no heartbeat
    heartbeat_interval_s: float = 30.0
    create_topics: bool = True  # create missing topics (partitions, max.message.bytes) at start
    partitions: int = 10
    max_message_bytes: int = 5 * MB  # producer message.max.bytes and topic max.message.bytes
    compression: Literal["zstd", "lz4", "gzip", "snappy", "none"] = "zstd"
    linger_ms: int = 50
    batch_size: int = 1_000_000
    buffer_bytes: int = 256 * MiB  # librdkafka's in-memory queue
    delivery_timeout_s: float = 300.0  # message.timeout.ms: then a pair is spooled or dropped
    flush_timeout_s: float = 30.0
    idempotence: bool = True  # no duplicates or reordering on producer retries
    reconnect_backoff_max_ms: int = 2000  # a restarted broker is found again within this
    spool_dir: str = ""  # empty: no disk spool
    spool_bytes: int = 1024 * MiB
    spool_segment_bytes: int = 8 * MiB  # a segment file is deleted once all its pairs are delivered
    spool_replay_bytes: int = 16 * MiB  # at most this much spooled data in the producer queue at once
    key: Literal["destination", "endpoint", "none"] = "endpoint"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = ""
    ssl_ca_location: str = ""
    ssl_certificate_location: str = ""
    ssl_key_location: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # passed through to librdkafka as is


@section
class CaptureConfig(Section):
    """Live capture on a node (libpcap taps chosen by discovery)."""

    proc_root: str = "/proc"
    snaplen: int = 262144  # veth offloads (GRO/TSO) hand up segments larger than 64 KiB
    buffer_bytes: int = 8 * MiB  # kernel buffer per tap
    bpf_filter: str = "tcp"
    dispatch_max: int = 512  # packets per tap per loop turn, so one busy tap cannot starve the rest
    block_timeout_ms: int = 50  # TPACKET_V3 block timeout: the longest a captured packet waits
    rescan_interval_s: float = 10.0
    exclude_interfaces: list[str] = field(
        default_factory=lambda: [
            "nflog", "bluetooth-monitor", "nfqueue", "tunl0", "ip6tnl0", "lo",
            "docker0", "services1", "eth0", "cni0",
        ]
    )
    include_interfaces: list[str] = field(default_factory=list)
    include_namespaces: list[str] = field(default_factory=list)
    exclude_namespaces: list[str] = field(default_factory=list)
    linkerd_ports: list[int] = field(default_factory=lambda: [4140, 4143])
    envoy_ports: list[int] = field(default_factory=lambda: [15001, 15006])
    source: Literal["pcap", "ring"] = "pcap"  # ring: our own TPACKET_V3 socket (capture/ring.py)
    workers: int = 1  # processes sharing the taps through PACKET_FANOUT (needs source: ring)


@section
class JavaTlsConfig(Section):
    """JSSE plaintext through a Java agent loaded into running JVMs (interceptor/tls/java.py)."""

    enabled: bool = False  # off by default: it loads code into the node's JVMs (HotSpot attach)


@section
class TlsConfig(Section):
    """eBPF uprobes on OpenSSL and Go crypto/tls (interceptor/tls); see docs/tls.md."""

    enabled: bool = False
    openssl: bool = True
    gotls: bool = True
    gnutls: bool = True  # libgnutls (gnutls-cli, curl-gnutls, wget, ...): gnutls_record_send/recv
    boringssl: bool = True  # grpcio's stripped BoringSSL (cygrpc*.so): SSL_write/SSL_read by signature
    nss: bool = True  # NSS (Firefox, tstclnt...): NSPR's PR_Write/PR_Read/PR_Send/PR_Recv on the SSL layer
    # Stop a program at exec until its executable is classified and attached (first exec of each file
    # only; never with a terminal; only while the agent is alive): a short-lived Go client's first run.
    hold_new_programs: bool = True
    java: JavaTlsConfig = field(default_factory=JavaTlsConfig)
    scan_interval_s: float = 2.0  # new processes and lazily loaded libssl are found this often
    include_commands: list[str] = field(default_factory=list)  # comm globs; empty: all processes
    exclude_commands: list[str] = field(default_factory=list)  # comm globs
    ring_buffer_bytes: int = 32 * MiB  # kernel→agent buffer (rounded up to a power-of-two pages)
    kernel_headers: str = ""  # empty: /lib/modules/<release>/build, else setup.d/run/ebpf.sh's merged tree
    max_streams: int = 20_000  # TLS connections followed at once; beyond, new ones are dropped
    detach_after_s: float = 300.0  # a file no process maps stays attached this long (short-lived programs)
    one_pair_per_connection: bool = True  # client and server both traced on this node: pair one end only
    # The traced process's own pod (needs kubernetes.enabled): namespaces by name, pods by globs on
    # "namespace/pod" or "namespace/workload". Processes outside pods count only without include rules.
    include_namespaces: list[str] = field(default_factory=list)
    exclude_namespaces: list[str] = field(default_factory=list)
    include_pods: list[str] = field(default_factory=list)
    exclude_pods: list[str] = field(default_factory=list)

    @property
    def pod_rules(self) -> list[str]:
        """The namespace/pod keys that are set."""
        return [k for k in ("include_namespaces", "exclude_namespaces", "include_pods", "exclude_pods")
                if getattr(self, k)]


@section
class KubernetesConfig(Section):
    """Enrichment from the API server (interceptor/enrich): pods on this node, services, owners."""

    enabled: bool = False
    node_name: str = ""  # from the downward API (env NODE_NAME) when empty
    kubeconfig: str = ""  # empty: in-cluster
    scope: Literal["node", "cluster"] = "node"  # watch pods of this node only, or of the whole cluster
    resync_s: float = 300.0  # full relist this often (safety net); 0: only on start and 410 Gone
    watch_timeout_s: float = 240.0  # server-side timeout of one watch request; resumed from resourceVersion
    request_timeout_s: float = 30.0  # connect/read timeout of list and get requests
    backoff_initial_s: float = 0.5  # reconnect backoff doubles up to backoff_max_s (with jitter)
    backoff_max_s: float = 30.0
    deleted_pod_retention_s: float = 120.0  # a gone pod still names pairs captured while it lived
    clock_skew_s: float = 2.0  # tolerated skew between the API server's and this node's clocks
    cluster_cidrs: list[str] = field(default_factory=list)  # internal ranges; empty: private ranges
    max_pods: int = 50_000
    include_namespaces: list[str] = field(default_factory=list)
    exclude_namespaces: list[str] = field(default_factory=lambda: ["kube-system"])
    include_pods: list[str] = field(default_factory=list)  # globs on "namespace/pod" or "namespace/workload"
    exclude_pods: list[str] = field(default_factory=list)


@section
class MetricsConfig(Section):
    listen: str = "0.0.0.0:18954"  # empty: no metrics endpoint
    memory_limit_bytes: int = 1536 * MiB
    cpu_limit: float = 1.0  # cores; above it new connections are not followed (dropped.cpu_limit); 0: off
    stop_timeout_s: float = 55.0
    # set: the agent's port (metrics, probes, capture API, the stream's /ws) speaks HTTPS and wss://
    tls_cert_file: str = ""
    tls_key_file: str = ""


FalcoPriority = Literal["emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"]


@section
class FalcoRuleConfig(Section):
    """One mapping from Falco alerts to a capture (the first matching rule wins)."""

    rules: list[str] = field(default_factory=list)  # globs on the alert's rule name; empty: any rule
    min_priority: FalcoPriority = "warning"  # this priority or more severe
    sources: list[str] = field(default_factory=list)  # Falco event sources (syscall, k8s_audit); empty: any
    duration_s: float = 30.0
    bpf_filter: str = ""  # may name output fields of the alert: "host {fd.rip}" (IPs/ports only)
    target: Literal["pod", "workload"] = "pod"  # the alert's pod, or every pod of its workload here


@section
class CapturesConfig(Section):
    """Triggered pod captures to pcapng (interceptor/captures, docs/captures.md)."""

    enabled: bool = True  # the API on the metrics port; needs metrics.listen
    dir: str = "/var/lib/privacy-sensor/captures"
    max_concurrent: int = 4  # running captures on this agent; more are refused (429)
    max_bytes: int = 100 * MB  # per capture file (a request may ask for less); reached: the capture stops
    disk_budget_bytes: int = 1024 * MiB  # all files in dir; oldest finished captures go first
    retention_s: float = 86400.0  # finished captures are deleted after this
    max_stored: int = 100  # finished captures kept (oldest deleted first)
    default_duration_s: float = 30.0
    max_duration_s: float = 600.0  # also the limit for alerts extending a capture
    snaplen: int = 262144
    buffer_bytes: int = 4 * MiB  # kernel buffer of each capture tap
    plaintext: bool = True  # decrypted TLS of the pod's processes (needs tls.enabled) as an extra interface
    falco_rules: list[FalcoRuleConfig] = field(default_factory=lambda: [FalcoRuleConfig()])
    falco_dedup_window_s: float = 60.0  # the same rule on the same pod within this extends the capture
    # Cluster routing: a request for a pod on another node goes to that node's agent.
    peers: dict[str, str] = field(default_factory=dict)  # node -> "host:port" (a ConfigMap); else from the API
    agent_selector: str = "app.kubernetes.io/component=interceptor"  # the agents' pods (hostNetwork: node IP)
    agent_port: int = 18954
    forward_timeout_s: float = 10.0
    hub_listen: str = "0.0.0.0:8900"  # `processor hub` serves the same API for the whole cluster here; "": off


@section
class CoverageConfig(Section):
    """The connections account (interceptor/coverage): every TCP connection, read or why not."""

    enabled: bool = True  # false: no account (saves its few per-packet operations)
    interval_s: float = 60.0  # one set of aggregates per interval
    max_keys: int = 10_000  # aggregates per interval; beyond, folded into overflow (coverage.keys_overflow)
    topic: str = "connections"  # Kafka topic for the aggregates; empty: not published
    grace_s: float = 2.0  # an encrypted connection waits this long for the eBPF plaintext that matches it
    max_recent: int = 65_536  # ended connections remembered, so their late segments stay theirs
    recent_s: float = 30.0


@section
class AuthConfig(Section):
    """The bearer token of the HTTP APIs (interceptor/webauth.py): capture API, streams, map service."""

    token: str = ""  # SENSOR__AUTH__TOKEN; wins over token_file
    token_file: str = ""  # a mounted Secret; created (0600) with a generated token if missing
    # neither set: a token is generated and printed once to stderr
    raw_token: str = ""  # optional second token: the live stream shows detected personal data unmasked
    raw_token_file: str = ""


@section
class StreamConfig(Section):
    """The live stream of pairs (docs/stream.md): the agent's ``/ws`` on the metrics port and the hub."""

    enabled: bool = True  # the agent's /ws endpoint
    client_queue: int = 1000  # records waiting per client; beyond, they are lost (counted, notice frame)
    backlog: int = 10_000  # agent: pairs waiting for the stream's dispatcher thread; beyond, dropped
    # agent: pairs per second the stream handles at most (building, masking and filtering records
    # shares the interpreter with capture); beyond, skipped (dropped.stream_budget, told to clients)
    max_records_per_s: int = 1000
    max_clients: int = 32
    query_timeout_s: float = 30.0  # the query (first text message) must come within this
    write_timeout_s: float = 120.0  # a client that takes no bytes for this long is disconnected
    hub_listen: str = "0.0.0.0:8899"
    join_wait_s: float = 1.0  # hub: a pair waits this long for its detections, then goes out fully masked
    max_pending: int = 20_000  # hub: pairs waiting for detections
    tls_cert_file: str = ""  # hub: set, it serves wss://
    tls_key_file: str = ""


@section
class ProcessorConfig(Section):
    """Detection consumers (pairs -> detections) and the map service (detections -> map + web)."""

    group_id: str = "privacy-processor"
    pairs_topic: str = "pairs"
    detections_topic: str = "detections"
    connections_topic: str = "connections"  # the agents' coverage account (empty: the map does not read it)
    detections_partitions: int = 10  # when the processor creates the topic
    max_array_items: int = 10  # Soveren trims arrays to ten elements
    max_depth: int = 32
    max_leaves: int = 5000  # per message half
    # [{name, key_regex and/or value_regex, sensitivity: low|medium|high}]
    custom_types: list[dict[str, str]] = field(default_factory=list)
    batch_size: int = 500  # messages per consume() -> produce -> flush -> commit round
    session_timeout_ms: int = 10_000  # how soon a dead instance's partitions move to the others
    flush_timeout_s: float = 30.0
    full_schema_check: bool = False  # validate every pair against pair.v1.json (~1 ms each); else structural
    map_group_id: str = "privacy-map"
    map_db: str = "sqlite:///var/lib/sensor/map.db"  # or postgresql://user:pass@host/db
    map_listen: str = "127.0.0.1:8080"  # loopback unless told otherwise (the chart listens on all)
    map_allowed_hosts: list[str] = field(default_factory=list)  # Host names besides IPs and localhost (".x" = *.x)
    map_max_connections: int = 64  # HTTP connections served at once; more are closed (counted)
    map_timeout_s: float = 10.0  # socket timeout of one HTTP connection
    map_seen_retention_s: float = 7 * 86400.0  # pair ids remembered for de-duplication


@section
class Config(Section):
    core: CoreConfig = field(default_factory=CoreConfig)
    http2: Http2Config = field(default_factory=Http2Config)
    grpc: GrpcConfig = field(default_factory=GrpcConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    kubernetes: KubernetesConfig = field(default_factory=KubernetesConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    processor: ProcessorConfig = field(default_factory=ProcessorConfig)
    coverage: CoverageConfig = field(default_factory=CoverageConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    captures: CapturesConfig = field(default_factory=CapturesConfig)
    node_name: str = ""


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Config:
    """Defaults, then the YAML file (if any), then ``SENSOR__`` environment variables."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_file(Path(path))
    for key, raw in sorted((env if env is not None else os.environ).items()):
        if key.startswith(ENV_PREFIX):
            parts = key[len(ENV_PREFIX):].lower().split("__")
            _set_path(data, parts, _env_value(parts, raw, key), key)
    return check(build(Config, data, ""))


def _read_file(p: Path) -> dict[str, Any]:
    import yaml  # here, not at the top: most runs (every replay without --config) read no YAML

    try:
        text = p.read_text(encoding="utf-8")
        loaded = yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, not a config file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not a YAML text file (byte {e.start} is not UTF-8)") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        raise ConfigError(f"{p}: not valid YAML{line}: {getattr(e, 'problem', None) or 'syntax error'}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of sections")
    return loaded or {}


def key_type(parts: list[str]) -> Any:
    """The type hint of the key at ``parts`` (None when the path names no key)."""
    tp: Any = Config
    for part in parts:
        if not dataclasses.is_dataclass(tp):
            return None
        tp = typing.get_type_hints(tp).get(part)
        if tp is None:
            return None
    return tp


def _env_value(parts: list[str], raw: str, env_key: str) -> Any:
    """A string key takes the variable verbatim; any other key parses it as a YAML value."""
    tp = key_type(parts)
    if tp is str or (get_origin(tp) is Literal and all(isinstance(a, str) for a in get_args(tp))):
        return raw
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError(f"{env_key}: not a valid value for {'.'.join(parts)}") from None


def check(cfg: Config) -> Config:
    """Rules that span sections; the error names the key."""
    for key in AT_LEAST_ONE:
        section, name = key.split(".")
        if getattr(getattr(cfg, section), name) < 1:
            raise ConfigError(f"{key}: must be at least 1, got {getattr(getattr(cfg, section), name)}")
    if cfg.tls.pod_rules and not cfg.kubernetes.enabled:
        raise ConfigError(f"tls.{cfg.tls.pod_rules[0]}: needs kubernetes.enabled (a process's pod is named by "
                          "the API server)")
    return cfg


def _set_path(data: dict[str, Any], parts: list[str], value: Any, env_key: str) -> None:
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{env_key}: '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def build(cls: Any, data: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking every key and value against the type hints."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or '<top>'}: expected a mapping, got {shown(prefix, data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = f"{prefix}{key}"
            if where in MOVED:
                raise ConfigError(f"{where}: moved to {MOVED[where]} (one broker address for every component)")
            raise ConfigError(f"{where}: unknown key (known: {', '.join(sorted(names))})")
    kwargs = {key: _coerce(hints[key], value, f"{prefix}{key}") for key, value in data.items()}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key + ".")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{key}: must be one of {list(get_args(tp))}, got {shown(key, value)}")
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _coerce(arg, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {shown(key, value)} does not match {tp}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {shown(key, value)}")
        (item,) = get_args(tp)
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {shown(key, value)}")
        _, vt = get_args(tp)
        return {str(k): _coerce(vt, v, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {shown(key, value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {shown(key, value)}")
        if value < 0:
            raise ConfigError(f"{key}: must not be negative, got {value}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {shown(key, value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: must be a finite number, got {value}")
        if value < 0:
            raise ConfigError(f"{key}: must not be negative, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {shown(key, value)}")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
