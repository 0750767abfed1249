"""Ingest path: hub fan-out, durable JSONL segment writers, crash recovery."""
