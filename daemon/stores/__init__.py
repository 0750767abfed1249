"""Derived stores: Parquet datasets, PostgreSQL, retention."""
