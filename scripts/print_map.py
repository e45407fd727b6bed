"""Prints the data-flow map from the map service's /api/edges (JSON on stdin) as a table."""

import json
import sys

edges = json.load(sys.stdin)
print(f"{len(edges)} flows (source -> destination, endpoint, data types, sensitivity):")
for e in edges:
    types = ", ".join(t["type"] for t in e["types"]) or "-"
    print(f"  {e['src']:>16} -> {e['dst']:<16} {e['method']:>5} {e['path']:<20} [{types}] {e['sensitivity']}")
