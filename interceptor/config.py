"""The one typed configuration model, loaded from YAML and overridden by environment variables.

Every section is a dataclass; ``load_config`` walks the YAML against the type hints, so an unknown
key or a value of the wrong type fails with a message that names the full key
(``core.max_message_bytes: expected int, got 'lots'``). Environment variables
``SENSOR__<SECTION>__<KEY>=value`` override the file (values parsed as YAML scalars).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

ENV_PREFIX = "SENSOR__"
MB = 1_000_000
MiB = 1 << 20


class ConfigError(ValueError):
    """A configuration problem; the message names the key."""


@dataclass
class CoreConfig:
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


@dataclass
class FilterConfig:
    """Noise filters with Soveren's defaults; ``keep_all`` turns off all but the size bounds."""

    keep_all: bool = False
    content_types: list[str] = field(
        default_factory=lambda: ["application/json", "application/x-www-form-urlencoded"]
    )
    json_suffix: bool = True  # application/*+json (e.g. problem+json, vnd.api+json) counts as JSON
    drop_user_agent_prefixes: list[str] = field(default_factory=lambda: ["kube-probe/"])
    drop_request_headers: list[str] = field(default_factory=lambda: ["x-soveren-request"])
    drop_statuses: list[str] = field(default_factory=lambda: ["301", "308", "4xx", "5xx"])
    drop_urls: list[str] = field(
        default_factory=lambda: ["/metrics", "/healthz", "/api/health", "/api/v2/alive", "/api/v2/detect"]
    )


@dataclass
class KafkaConfig:
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


@dataclass
class CaptureConfig:
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
    source: Literal["pcap", "ring"] = "pcap"


@dataclass
class TlsConfig:
    """eBPF uprobes on OpenSSL and Go crypto/tls (interceptor/tls); see docs/tls.md."""

    enabled: bool = False
    openssl: bool = True
    gotls: bool = True
    scan_interval_s: float = 2.0  # new processes and lazily loaded libssl are found this often
    include_commands: list[str] = field(default_factory=list)  # comm globs; empty: all processes
    exclude_commands: list[str] = field(default_factory=list)  # comm globs
    ring_buffer_bytes: int = 32 * MiB  # kernel→agent buffer (rounded up to a power-of-two pages)
    kernel_headers: str = ""  # empty: /lib/modules/<release>/build, else setup.d/ebpf.sh's merged tree
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


@dataclass
class KubernetesConfig:
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


@dataclass
class MetricsConfig:
    listen: str = "0.0.0.0:18954"  # empty: no metrics endpoint
    memory_limit_bytes: int = 1536 * MiB
    cpu_limit: float = 1.0  # cores; above it new connections are not followed (dropped.cpu_limit); 0: off
    stop_timeout_s: float = 55.0


@dataclass
class ProcessorConfig:
    """Detection consumers (pairs -> detections) and the map service (detections -> map + web)."""

    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "privacy-processor"
    pairs_topic: str = "pairs"
    detections_topic: str = "detections"
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
    map_listen: str = "0.0.0.0:8080"
    map_seen_retention_s: float = 7 * 86400.0  # pair ids remembered for de-duplication


@dataclass
class Config:
    core: CoreConfig = field(default_factory=CoreConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    kubernetes: KubernetesConfig = field(default_factory=KubernetesConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    processor: ProcessorConfig = field(default_factory=ProcessorConfig)
    node_name: str = ""


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Config:
    """Defaults, then the YAML file (if any), then ``SENSOR__`` environment variables."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            loaded = yaml.safe_load(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file not found") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections")
        data = loaded or {}
    for key, raw in sorted((env if env is not None else os.environ).items()):
        if key.startswith(ENV_PREFIX):
            _set_path(data, key[len(ENV_PREFIX):].lower().split("__"), yaml.safe_load(raw), key)
    return check(build(Config, data, ""))


def check(cfg: Config) -> Config:
    """Rules that span sections; the error names the key."""
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


def build(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking every key and value against the type hints."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or '<top>'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = f"{prefix}{key}"
            raise ConfigError(f"{where}: unknown key (known: {', '.join(sorted(names))})")
    kwargs = {key: _coerce(hints[key], value, f"{prefix}{key}") for key, value in data.items()}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key + ".")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{key}: must be one of {list(get_args(tp))}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _coerce(arg, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} does not match {tp}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = get_args(tp)
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        _, vt = get_args(tp)
        return {str(k): _coerce(vt, v, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if value < 0:
            raise ConfigError(f"{key}: must not be negative, got {value}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{key}: must not be negative, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
