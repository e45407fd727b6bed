"""The map's side of coverage: the ``connections`` topic's aggregates, kept next to the map.

Every flow the agents saw, read or not, by (source node, destination node, port, verdict, protocol,
SNI, library, process, reason) with connection, byte and pair sums; and the coverage view: per
workload (destination) and per namespace, the share of connections and bytes that were read
(``inspected`` or ``tls-decrypted``) and the reasons for the rest. The table lives in the map
store's database (same connection, same lock); nodes are named as the map names them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import orjson

from interceptor.counters import Counters
from processor.mapstore import MapStore
from processor.nodes import node_of

READ = ("inspected", "tls-decrypted")
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS coverage (key TEXT PRIMARY KEY, src TEXT, dst TEXT, port INTEGER, verdict TEXT,
       protocol TEXT, sni TEXT, library TEXT, process TEXT, reason TEXT, source TEXT, src_node TEXT, dst_node TEXT,
       connections BIGINT, bytes BIGINT, pairs BIGINT, first_seen DOUBLE PRECISION, last_seen DOUBLE PRECISION)""",
    # One row per aggregate applied (node, interval, key): a redelivered record is not counted twice.
    "CREATE TABLE IF NOT EXISTS coverage_seen (id TEXT PRIMARY KEY, at DOUBLE PRECISION)",
)
FIELDS = ("verdict", "protocol", "sni", "library", "process", "reason", "source")


def parse_connections(raw: bytes) -> dict[str, Any] | str:
    """The aggregate, or the drop reason."""
    try:
        rec = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "invalid_json"
    if (not isinstance(rec, dict) or rec.get("schema_version") != 1 or not isinstance(rec.get("src"), dict)
            or not isinstance(rec.get("dst"), dict) or not isinstance(rec.get("connections"), int)):
        return "schema_mismatch"
    return rec


def label(flow: dict[str, Any]) -> str:
    """What the map writes on a flow that was not read: ``TLS — not inspected: java (JSSE), SNI x``."""
    v = flow["verdict"]
    if v == "tls-unread":
        who = flow.get("process") or ""
        lib = {"jsse": "JSSE", "gnutls": "GnuTLS", "boringssl": "BoringSSL", "openssl": "OpenSSL", "go": "Go",
               "nss": "NSS", "rustls": "rustls"}.get(flow.get("library") or "", flow.get("library") or "")
        parts = [f"{who} ({lib})" if who and lib else who or lib]
        if flow.get("sni"):
            parts.append(f"SNI {flow['sni']}")
        text = ", ".join(p for p in parts if p)
        return "TLS — not inspected" + (f": {text}" if text else "")
    if v == "other-protocol":
        return f"{flow.get('protocol') or 'other'} — not HTTP"
    if v == "joined-mid-stream":
        return "joined mid-stream — not inspected"
    if v == "unknown":
        return "unknown protocol — not inspected"
    return f"{flow.get('protocol', '')} ({v})"


class CoverageStore:
    def __init__(self, store: MapStore) -> None:
        self.store = store
        self.duplicates = 0
        with store._lock:
            cur = store._live().cursor()
            for stmt in SCHEMA:
                cur.execute(stmt)
            store.conn.commit()

    def apply_many(self, records: list[dict[str, Any]]) -> int:
        """Add the aggregates (one transaction); returns how many were applied."""
        st = self.store
        sql = st._q(
            "INSERT INTO coverage (key, src, dst, port, verdict, protocol, sni, library, process, reason, source, "
            "src_node, dst_node, connections, bytes, pairs, first_seen, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "connections = coverage.connections + excluded.connections, bytes = coverage.bytes + excluded.bytes, "
            "pairs = coverage.pairs + excluded.pairs, last_seen = GREATEST(coverage.last_seen, excluded.last_seen)")
        n = 0
        with st._lock:
            cur = st._live().cursor()
            for rec in records:
                try:
                    src, dst = node_of(rec["src"], None), node_of(rec["dst"], rec.get("sni"))
                    port = int(rec["dst"].get("port", 0))
                    values = [str(rec.get(f) or "") for f in FIELDS]
                    row = ("|".join([src["id"], dst["id"], str(port), *values]), src["id"], dst["id"], port, *values,
                           orjson.dumps(src).decode(), orjson.dumps(dst).decode(), int(rec["connections"]),
                           int(rec.get("bytes", 0)), int(rec.get("pairs", 0)), float(rec.get("interval_start", 0.0)),
                           float(rec.get("interval_end", 0.0)))
                except (KeyError, TypeError, ValueError, AttributeError):
                    continue  # a malformed aggregate: skipped (the caller counts applied vs given)
                seen = f"{rec.get('node', '')}|{row[16]}|{row[0]}"
                cur.execute(st._q("INSERT INTO coverage_seen (id, at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING"),
                            (seen, row[17]))
                if cur.rowcount == 0:
                    self.duplicates += 1
                    continue
                cur.execute(sql, row)
                n += 1
            st.conn.commit()
        return n

    def flows(self) -> list[dict[str, Any]]:
        rows = self.store._rows("SELECT src, dst, port, verdict, protocol, sni, library, process, reason, source, "
                                "connections, bytes, pairs, first_seen, last_seen, src_node, dst_node FROM coverage "
                                "ORDER BY src, dst, port, verdict")
        out = []
        for r in rows:
            flow = {"src": r[0], "dst": r[1], "port": r[2], **dict(zip(FIELDS, r[3:10], strict=True)),
                    "connections": r[10], "bytes": r[11], "pairs": r[12], "first_seen": r[13], "last_seen": r[14],
                    "read": r[3] in READ, "src_node": orjson.loads(r[15]), "dst_node": orjson.loads(r[16])}
            flow["label"] = label(flow)
            out.append(flow)
        return out

    def view(self) -> dict[str, Any]:
        """Flows, their nodes, and the coverage per workload (destination) and per namespace."""
        flows = self.flows()
        nodes: dict[str, dict[str, Any]] = {}
        groups: dict[str, dict[str, dict[str, Any]]] = {"workloads": defaultdict(_group), "namespaces": defaultdict(_group)}
        for f in flows:
            for n in (f["src_node"], f["dst_node"]):
                nodes.setdefault(n["id"], {k: n.get(k, "") for k in ("id", "kind", "name", "namespace")})
            ns = f["dst_node"].get("namespace") or "(none)"
            for key, name in (("workloads", f["dst"]), ("namespaces", ns)):
                g = groups[key][name]
                g["connections"] += f["connections"]
                g["bytes"] += f["bytes"]
                if f["read"]:
                    g["read_connections"] += f["connections"]
                    g["read_bytes"] += f["bytes"]
                else:
                    g["reasons"][f["reason"] or f["verdict"]] += f["connections"]
        return {"flows": flows, "nodes": list(nodes.values()),
                **{key: [_share(name, g) for name, g in sorted(gs.items())] for key, gs in groups.items()}}


def with_unread(graph: dict[str, Any], coverage: CoverageStore | None, namespace: str = "", dtype: str = "",
                sensitivity: str = "") -> dict[str, Any]:
    """The map plus the flows no source could read, as edges marked ``unread`` (the page draws them
    dashed, labelled with what is known). A data-type or sensitivity filter leaves them out: they
    carry no known data."""
    if coverage is None or dtype or sensitivity:
        return graph
    nodes = {n["id"]: n for n in graph["nodes"]}
    edges = list(graph["edges"])
    for f in coverage.flows():
        ends = (f["src_node"], f["dst_node"])
        if f["read"] or namespace and namespace not in (ends[0].get("namespace"), ends[1].get("namespace")):
            continue
        for n in ends:
            nodes.setdefault(n["id"], {"id": n["id"], "kind": n.get("kind", "ip"), "name": n.get("name", n["id"]),
                                       "namespace": n.get("namespace", ""), "first_seen": f["first_seen"],
                                       "last_seen": f["last_seen"]})
        edges.append({"id": f"unread|{f['src']}|{f['dst']}|{f['port']}|{f['verdict']}|{f['sni']}|{f['library']}",
                      "src": f["src"], "dst": f["dst"], "method": "", "path": f"{f['protocol'] or 'tcp'}:{f['port']}",
                      "count": f["connections"], "with_data": 0, "sensitivity": "none", "types": [], "fields": [],
                      "first_seen": f["first_seen"], "last_seen": f["last_seen"], "unread": True,
                      "unread_reason": f["label"], "verdict": f["verdict"], "reason": f["reason"],
                      "connections": f["connections"], "bytes": f["bytes"]})
    return {"nodes": list(nodes.values()), "edges": edges}


def _group() -> dict[str, Any]:
    return {"connections": 0, "bytes": 0, "read_connections": 0, "read_bytes": 0, "reasons": Counter()}


def _share(name: str, g: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "connections": g["connections"], "bytes": g["bytes"],
            "inspected_share": round(g["read_connections"] / g["connections"], 4) if g["connections"] else 0.0,
            "inspected_bytes_share": round(g["read_bytes"] / g["bytes"], 4) if g["bytes"] else 0.0,
            "reasons": dict(g["reasons"].most_common())}


class CoverageService:
    """Batch handler for the connections topic (the map consumer's second topic)."""

    def __init__(self, store: CoverageStore, counters: Counters) -> None:
        self.store = store
        self.counters = counters

    def apply_raw(self, values: list[bytes]) -> None:
        records = []
        for raw in values:
            rec = parse_connections(raw)
            if isinstance(rec, str):
                self.counters.drop(f"coverage.{rec}")
                continue
            records.append(rec)
        before = self.store.duplicates
        applied = self.store.apply_many(records)
        duplicates = self.store.duplicates - before
        self.counters.inc("coverage.applied", applied)
        self.counters.inc("coverage.duplicates", duplicates)
        if applied + duplicates < len(records):
            self.counters.drop("coverage.malformed", len(records) - applied - duplicates)
