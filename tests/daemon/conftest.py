"""Fixtures shared by the daemon tests: one real PostgreSQL server for the session, and a
KIS-protocol simulator of the test's own that daemon processes can share."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator

import pytest

from observer.daemon.simulator.server import SimEndpoints, Simulator
from observer.daemon.simulator.state import SimConfig
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


@pytest.fixture
def external_simulator() -> Iterator[tuple[Simulator, SimEndpoints]]:
    """A simulator on its own event loop in a thread, for daemon processes pointed at it
    (KIS credentials and KIS_REST_URL/KIS_WS_URL): they share its app keys and counters."""
    loop = asyncio.new_event_loop()
    sim = Simulator(SimConfig(rate=200, seed=7))
    ready = threading.Event()
    holder: dict[str, SimEndpoints] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        holder["ep"] = loop.run_until_complete(sim.start("127.0.0.1"))
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(10)
    try:
        yield sim, holder["ep"]
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)
        loop.close()
