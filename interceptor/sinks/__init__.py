"""Sinks: where pairs go (JSONL file, Kafka). Thin adapters at the edge of the pipeline."""
