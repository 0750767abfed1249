"""Fixtures shared by the daemon tests: one real PostgreSQL server for the session."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from observer.daemon.stores.postgres import PostgresSettings
from tests.pgserver import PgServer, skip_reason

_db_names = itertools.count(1)


@pytest.fixture(scope="session")
def server() -> Iterator[PgServer]:
    """A PostgreSQL server of our own on loopback (skips when the binaries are missing)."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    srv = PgServer()
    try:
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture
def settings(server: PgServer) -> PostgresSettings:
    """Connection settings of a new, empty database on the shared server."""
    if not server.running:
        server.start()
    name = f"t{next(_db_names)}"
    server.create_database(name)
    return PostgresSettings(server.host, server.port, name, server.user, "s3cret-pw")
