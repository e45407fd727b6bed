"""The data-flow map as a text table (the quickstart and the demo print it from /api/edges)."""

from __future__ import annotations

from typing import Any


def render(edges: list[dict[str, Any]], names: dict[str, str] | None = None) -> str:
    """One line per flow: source -> destination, endpoint, data types, sensitivity.

    ``names`` optionally maps a node label (``ip:198.19.250.11``) to a friendlier one.
    """
    names = names or {}
    lines = [f"{len(edges)} flows (source -> destination, endpoint, data types, sensitivity):"]
    for e in edges:
        types = ", ".join(t["type"] for t in e["types"]) or "-"
        src, dst = names.get(e["src"], e["src"]), names.get(e["dst"], e["dst"])
        lines.append(f"  {src:>16} -> {dst:<16} {e['method']:>5} {e['path']:<20} [{types}] {e['sensitivity']}")
    return "\n".join(lines)
