"""Triggered, pod-scoped packet captures to pcapng (API, Falco intake, manager); see docs/captures.md."""
