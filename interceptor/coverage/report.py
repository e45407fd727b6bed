"""``interceptor coverage``: the running agent's account, fetched from its HTTP port and printed."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from interceptor.config import Config
from interceptor.coverage.account import VERDICTS
from interceptor.errors import UsageError

READ = {"inspected", "tls-decrypted"}


def fetch(cfg: Config, url: str | None = None, timeout_s: float = 10.0) -> dict[str, Any]:
    if not url:
        port = cfg.metrics.listen.rpartition(":")[2] or "18954"
        url = f"http://127.0.0.1:{port}"
    token = cfg.auth.token
    if not token and cfg.auth.token_file:
        try:
            token = Path(cfg.auth.token_file).read_text().strip()
        except OSError as e:
            raise UsageError(f"auth.token_file: cannot read {cfg.auth.token_file}: {e.strerror}") from None
    req = urllib.request.Request(url.rstrip("/") + "/coverage", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return dict(orjson.loads(resp.read()))
    except urllib.error.HTTPError as e:
        hint = " (set auth.token or SENSOR__AUTH__TOKEN to the agent's token)" if e.code == 401 else ""
        raise UsageError(f"{url}/coverage: HTTP {e.code}{hint}") from None
    except (urllib.error.URLError, OSError) as e:
        raise UsageError(f"{url}/coverage: cannot reach the agent ({getattr(e, 'reason', e)}); is "
                         "`interceptor run` running with metrics.listen?") from None


def _end(ep: dict[str, Any]) -> str:
    name = f"{ep['namespace']}/{ep['workload']}" if ep.get("workload") else ep.get("pod") or ep.get("ip", "")
    return f"{name}:{ep['port']}" if "port" in ep else str(name)


def render(doc: dict[str, Any]) -> str:
    records = doc.get("current") or doc.get("last") or []
    rows = [("VERDICT", "PROTOCOL", "SOURCE", "DESTINATION", "SNI", "LIBRARY", "REASON", "CONNS", "BYTES", "PAIRS")]
    order = {v: i for i, v in enumerate(VERDICTS)}
    for r in sorted(records, key=lambda r: (order.get(r["verdict"], 99), -r["connections"])):
        library = r.get("library", "")
        if r.get("process"):
            library = f"{r['process']} ({library})" if library else r["process"]
        rows.append((r["verdict"], r.get("protocol", ""), _end(r["src"]), _end(r["dst"]), r.get("sni", ""), library,
                     r.get("reason", ""), str(r["connections"]), str(r["bytes"]), str(r["pairs"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    total = sum(r["connections"] for r in records)
    read = sum(r["connections"] for r in records if r["verdict"] in READ)
    total_b = sum(r["bytes"] for r in records)
    read_b = sum(r["bytes"] for r in records if r["verdict"] in READ)
    share = f"{100 * read / total:.0f} %" if total else "-"
    share_b = f"{100 * read_b / total_b:.0f} %" if total_b else "-"
    lines.append(f"node {doc.get('node', '')}: {total} connections, {read} read ({share}; bytes {share_b})")
    return "\n".join(lines)
