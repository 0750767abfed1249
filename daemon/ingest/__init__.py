"""Ingest path: the hub (seq, fan-out), the durable JSONL writers, crash recovery, the event bus."""
