"""The data-flow map in SQL: nodes, edges, the data types seen on each edge and the fields carrying them.

SQLite by default (one file, survives restarts; WAL so the web server reads while the consumer
writes); a ``postgresql://`` URL works as well for a shared deployment (needs ``psycopg``). The same
SQL serves both: upserts with ``ON CONFLICT``, only the placeholder and ``max`` spelling differ.

Applying a detections record is idempotent per pair id (the ``seen`` table), so Kafka's
at-least-once redelivery never double-counts. Everything stored is already masked.

Each record of a batch is applied inside a savepoint: a record the database refuses (a NUL byte
PostgreSQL cannot store, fields missing) is rolled back alone and reported as rejected, and the
rest of the batch is written; only an outage (connection lost, disk I/O) fails the whole batch, to
be retried. A lost PostgreSQL connection is opened again on the next attempt.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from interceptor.config import redact_url
from processor.datatypes import LEVELS, RANK, TYPES

Rejected = Callable[[int, str], None]  # (index of the record in the batch, reason without payload)
# A record's own fault, not the store's: bad structure (Python errors) or values SQLite refuses.
SQLITE_POISON = (KeyError, TypeError, ValueError, AttributeError, IndexError, sqlite3.IntegrityError,
                 sqlite3.InterfaceError, sqlite3.DataError, sqlite3.ProgrammingError)

MAX_FIELDS_PER_EDGE_TYPE = 50

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, kind TEXT, name TEXT, namespace TEXT,
        first_seen DOUBLE PRECISION, last_seen DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS edges (edge TEXT PRIMARY KEY, src TEXT, dst TEXT, method TEXT, path TEXT,
        count BIGINT, with_data BIGINT, sensitivity INTEGER, first_seen DOUBLE PRECISION, last_seen DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS edge_types (edge TEXT, type TEXT, count BIGINT, sensitivity INTEGER,
        first_seen DOUBLE PRECISION, last_seen DOUBLE PRECISION, PRIMARY KEY (edge, type))""",
    """CREATE TABLE IF NOT EXISTS edge_fields (edge TEXT, type TEXT, part TEXT, loc TEXT, path TEXT, sample TEXT,
        count BIGINT, PRIMARY KEY (edge, type, part, loc, path))""",
    "CREATE TABLE IF NOT EXISTS seen (pair_id TEXT PRIMARY KEY, at DOUBLE PRECISION)",
    "CREATE INDEX IF NOT EXISTS seen_at ON seen (at)",
]


class MapStore:
    def __init__(self, url: str, seen_retention_s: float = 7 * 86400) -> None:
        self.url = url
        self.seen_retention_s = seen_retention_s
        self._lock = threading.Lock()
        if url.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg  # type: ignore[import-not-found]
            except ImportError:
                raise ValueError(f"processor.map_db: {redact_url(url)}: PostgreSQL needs 'pip install psycopg[binary]'") from None
            self._psycopg = psycopg
            self.poison: tuple[type[BaseException], ...] = (KeyError, TypeError, ValueError, AttributeError, IndexError,
                                                            psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError)
            self.conn: Any = self._connect()
            self.ph, self.greatest = "%s", "GREATEST"
        else:
            path = sqlite_path(url)
            if path != ":memory:":
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise ValueError(f"processor.map_db: cannot create the folder of {path}: {e}") from None
            self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level="DEFERRED")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.ph, self.greatest = "?", "max"
            self.poison = SQLITE_POISON
        with self._lock:
            cur = self.conn.cursor()
            for stmt in SCHEMA:
                cur.execute(stmt)
            self.conn.commit()

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self.url, autocommit=False, connect_timeout=10)
        except self._psycopg.OperationalError as e:  # its message names host and user, not the password
            raise ConnectionError(f"processor.map_db {redact_url(self.url)}: {str(e).strip().splitlines()[0]}") from None

    def _live(self) -> Any:
        """The connection, opened again if PostgreSQL dropped it (restart, network): an outage
        raises here and the batch is retried with backoff."""
        if self.ph == "%s" and (self.conn.closed or self.conn.broken):
            self.conn = self._connect()
        return self.conn

    def _q(self, sql: str) -> str:
        return sql.replace("?", self.ph).replace("GREATEST(", self.greatest + "(")

    # --- writing ------------------------------------------------------------------------------

    def apply_many(self, records: Iterable[dict[str, Any]], on_reject: Rejected | None = None) -> int:
        """Apply detections records in one transaction; returns how many were new (not seen before).
        A record the store refuses is skipped and passed to ``on_reject``; an outage raises."""
        new = 0
        with self._lock:
            conn = self._live()
            cur = conn.cursor()
            try:
                if self.ph == "?" and not conn.in_transaction:
                    cur.execute("BEGIN")  # savepoints nest inside it instead of committing one by one
                for i, rec in enumerate(records):
                    cur.execute("SAVEPOINT rec")
                    try:
                        n = self._apply(cur, rec)
                    except self.poison as e:
                        cur.execute("ROLLBACK TO SAVEPOINT rec")
                        if on_reject is not None:
                            on_reject(i, reject_reason(e))
                        continue
                    cur.execute("RELEASE SAVEPOINT rec")
                    new += n
                conn.commit()
            except Exception:
                if not getattr(conn, "closed", False):
                    try:
                        conn.rollback()
                    except Exception:  # noqa: BLE001 - the connection is gone; reopened next time
                        pass
                raise
        return new

    def apply(self, rec: dict[str, Any]) -> bool:
        return self.apply_many([rec]) == 1

    def _apply(self, cur: Any, rec: dict[str, Any]) -> int:
        q = self._q
        ts = float(rec.get("ts") or time.time())
        cur.execute(q("INSERT INTO seen (pair_id, at) VALUES (?, ?) ON CONFLICT (pair_id) DO NOTHING"), (rec["pair_id"], ts))
        if cur.rowcount == 0:
            return 0
        for node in (rec["src"], rec["dst"]):
            cur.execute(
                q("""INSERT INTO nodes (id, kind, name, namespace, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET last_seen = GREATEST(nodes.last_seen, excluded.last_seen),
                   first_seen = CASE WHEN excluded.first_seen < nodes.first_seen THEN excluded.first_seen ELSE nodes.first_seen END"""),
                (node["id"], node.get("kind", ""), node.get("name", ""), node.get("namespace", ""), ts, ts),
            )
        edge = rec["edge"]
        level = RANK.get(rec.get("sensitivity", ""), -1)
        with_data = 1 if rec.get("types") else 0
        cur.execute(
            q("""INSERT INTO edges (edge, src, dst, method, path, count, with_data, sensitivity, first_seen, last_seen)
               VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)
               ON CONFLICT (edge) DO UPDATE SET count = edges.count + 1, with_data = edges.with_data + excluded.with_data,
               sensitivity = GREATEST(edges.sensitivity, excluded.sensitivity),
               last_seen = GREATEST(edges.last_seen, excluded.last_seen),
               first_seen = CASE WHEN excluded.first_seen < edges.first_seen THEN excluded.first_seen ELSE edges.first_seen END"""),
            (edge, rec["src"]["id"], rec["dst"]["id"], rec.get("method", ""), rec.get("path_template", ""), with_data, level, ts, ts),
        )
        per_type: dict[str, int] = {}
        for d in rec.get("detections", []):
            per_type[d["type"]] = per_type.get(d["type"], 0) + 1
        for t in per_type:
            cur.execute(
                q("""INSERT INTO edge_types (edge, type, count, sensitivity, first_seen, last_seen) VALUES (?, ?, 1, ?, ?, ?)
                   ON CONFLICT (edge, type) DO UPDATE SET count = edge_types.count + 1,
                   last_seen = GREATEST(edge_types.last_seen, excluded.last_seen)"""),
                (edge, t, RANK.get(_type_level(t, rec), 1), ts, ts),
            )
        for d in rec.get("detections", [])[:200]:
            key = (edge, d["type"], d.get("part", ""), d.get("where", ""), d.get("path", ""))
            cur.execute(q("SELECT count(*) FROM edge_fields WHERE edge = ? AND type = ?"), key[:2])
            exists_n = cur.fetchone()[0]
            if exists_n >= MAX_FIELDS_PER_EDGE_TYPE:
                cur.execute(q("UPDATE edge_fields SET count = count + 1 WHERE edge = ? AND type = ? AND part = ? AND loc = ? AND path = ?"), key)
                continue
            cur.execute(
                q("""INSERT INTO edge_fields (edge, type, part, loc, path, sample, count) VALUES (?, ?, ?, ?, ?, ?, 1)
                   ON CONFLICT (edge, type, part, loc, path) DO UPDATE SET count = edge_fields.count + 1, sample = excluded.sample"""),
                (*key, d.get("sample", "")),
            )
        return 1

    def compact(self, retemplate: Callable[[str, str], str]) -> int:
        """Merge edges whose path now has a coarser template (``retemplate(dst, path)``): the
        ``/users/alice``, ``/users/bob`` seen before ``/users/{id}`` was learned fold into it, with
        counts summed, types and fields merged, first/last seen widened. Returns edges merged."""
        q = self._q
        merged = 0
        with self._lock:
            cur = self.conn.cursor()
            try:
                cur.execute("SELECT edge, src, dst, method, path FROM edges")
                for edge, src, dst, method, path in cur.fetchall():
                    new_path = retemplate(dst, path)
                    if new_path == path:
                        continue
                    new = f"{src}|{dst}|{method}|{new_path}"
                    cur.execute(
                        q("""INSERT INTO edges (edge, src, dst, method, path, count, with_data, sensitivity, first_seen, last_seen)
                           SELECT ?, src, dst, method, ?, count, with_data, sensitivity, first_seen, last_seen FROM edges WHERE edge = ?
                           ON CONFLICT (edge) DO UPDATE SET count = edges.count + excluded.count,
                           with_data = edges.with_data + excluded.with_data, sensitivity = GREATEST(edges.sensitivity, excluded.sensitivity),
                           last_seen = GREATEST(edges.last_seen, excluded.last_seen),
                           first_seen = CASE WHEN excluded.first_seen < edges.first_seen THEN excluded.first_seen ELSE edges.first_seen END"""),
                        (new, new_path, edge),
                    )
                    cur.execute(
                        q("""INSERT INTO edge_types (edge, type, count, sensitivity, first_seen, last_seen)
                           SELECT ?, type, count, sensitivity, first_seen, last_seen FROM edge_types WHERE edge = ?
                           ON CONFLICT (edge, type) DO UPDATE SET count = edge_types.count + excluded.count,
                           last_seen = GREATEST(edge_types.last_seen, excluded.last_seen),
                           first_seen = CASE WHEN excluded.first_seen < edge_types.first_seen THEN excluded.first_seen ELSE edge_types.first_seen END"""),
                        (new, edge),
                    )
                    cur.execute(
                        q("""INSERT INTO edge_fields (edge, type, part, loc, path, sample, count)
                           SELECT ?, type, part, loc, path, sample, count FROM edge_fields WHERE edge = ?
                           ON CONFLICT (edge, type, part, loc, path) DO UPDATE SET count = edge_fields.count + excluded.count"""),
                        (new, edge),
                    )
                    for table in ("edges", "edge_types", "edge_fields"):
                        cur.execute(q(f"DELETE FROM {table} WHERE edge = ?"), (edge,))
                    merged += 1
                self.conn.commit()
            except Exception:
                self.conn.rollback()
                raise
        return merged

    def prune_seen(self, now: float | None = None) -> int:
        """Forget pair ids older than the retention: redelivery never reaches that far back."""
        cutoff = (now or time.time()) - self.seen_retention_s
        with self._lock:
            cur = self.conn.cursor()
            cur.execute(self._q("DELETE FROM seen WHERE at < ?"), (cutoff,))
            self.conn.commit()
            return cur.rowcount

    # --- reading ------------------------------------------------------------------------------

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            cur = self._live().cursor()
            cur.execute(self._q(sql), args)
            rows = cur.fetchall()
            if self.ph == "%s":
                self.conn.commit()  # end the read transaction on PostgreSQL
            return rows

    def graph(self, namespace: str = "", dtype: str = "", sensitivity: str = "") -> dict[str, Any]:
        """Nodes and edges, filtered: namespace (either end), data type on the edge, minimum sensitivity."""
        nodes = {r[0]: {"id": r[0], "kind": r[1], "name": r[2], "namespace": r[3], "first_seen": r[4], "last_seen": r[5]}
                 for r in self._rows("SELECT id, kind, name, namespace, first_seen, last_seen FROM nodes")}
        types: dict[str, list[dict[str, Any]]] = {}
        for edge, t, count, first, last in self._rows("SELECT edge, type, count, first_seen, last_seen FROM edge_types ORDER BY type"):
            types.setdefault(edge, []).append({"type": t, "label": TYPES.get(t, ("", "", t))[2], "count": count,
                                               "first_seen": first, "last_seen": last})
        fields: dict[str, list[dict[str, Any]]] = {}
        for edge, t, part, loc, path, sample, count in self._rows(
                "SELECT edge, type, part, loc, path, sample, count FROM edge_fields ORDER BY part, loc, path"):
            fields.setdefault(edge, []).append({"type": t, "part": part, "where": loc, "path": path, "sample": sample, "count": count})
        min_level = RANK.get(sensitivity, -1)
        edges = []
        for edge, src, dst, method, path, count, with_data, level, first, last in self._rows(
                "SELECT edge, src, dst, method, path, count, with_data, sensitivity, first_seen, last_seen FROM edges ORDER BY src, dst, path, method"):
            if namespace and namespace not in (nodes.get(src, {}).get("namespace"), nodes.get(dst, {}).get("namespace")):
                continue
            etypes = types.get(edge, [])
            if dtype and dtype not in {t["type"] for t in etypes}:
                continue
            if sensitivity and level < min_level:
                continue
            edges.append({"id": edge, "src": src, "dst": dst, "method": method, "path": path, "count": count,
                          "with_data": with_data, "sensitivity": LEVELS[level] if level >= 0 else "none",
                          "types": etypes, "fields": fields.get(edge, []), "first_seen": first, "last_seen": last})
        if namespace or dtype or sensitivity:
            used = {e["src"] for e in edges} | {e["dst"] for e in edges}
            nodes = {k: n for k, n in nodes.items() if k in used}
        return {"nodes": list(nodes.values()), "edges": edges}

    def stats(self) -> dict[str, int]:
        out = {}
        for table in ("nodes", "edges", "edge_types", "seen"):
            out[table] = self._rows(f"SELECT count(*) FROM {table}")[0][0]
        return out

    def close(self) -> None:
        with self._lock:
            self.conn.close()


def reject_reason(e: BaseException) -> str:
    """Why a record was refused, for a log line: the error class and SQLSTATE, never its message
    (database messages may quote the value, i.e. payload)."""
    code = getattr(getattr(e, "diag", None), "sqlstate", None) or getattr(e, "sqlstate", None)
    return f"{type(e).__name__}" + (f" (SQLSTATE {code})" if code else "")


def sqlite_path(url: str) -> str:
    """``sqlite:///var/lib/x.db`` and ``sqlite:////var/lib/x.db`` -> ``/var/lib/x.db``; a bare path is a path;
    ``:memory:`` (or ``sqlite://``) is an in-memory map, gone at exit."""
    if not url.startswith("sqlite:"):
        return url or ":memory:"
    rest = url.removeprefix("sqlite:").lstrip("/")
    return ":memory:" if rest in ("", ":memory:") else "/" + rest


def _type_level(t: str, rec: dict[str, Any]) -> str:
    for d in rec.get("detections", []):
        if d["type"] == t:
            return d.get("sensitivity", "medium")
    return "medium"
