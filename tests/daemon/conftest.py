"""Fixtures shared by the daemon tests: one real PostgreSQL server and one real SeaweedFS
S3 object store for the session, and a directory on another filesystem than tmp_path."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from observer.daemon.stores.postgres import PostgresSettings
from tests.pgserver import PgServer, skip_reason
from tests.seaweed import SeaweedS3
from tests.seaweed import skip_reason as seaweed_skip_reason

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


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One real SeaweedFS S3 server for the session (skips when restic or weed is absent)."""
    reason = seaweed_skip_reason()
    if reason:
        pytest.skip(reason)
    srv = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def s3(seaweed: SeaweedS3) -> SeaweedS3:
    """The session's SeaweedFS, running and answering (a test may have paused or killed it)."""
    if seaweed.proc is None:
        seaweed.start()
    else:
        seaweed.resume()
        seaweed.wait_ready(30)
    return seaweed


@pytest.fixture
def other_filesystem() -> Iterator[Path]:
    """A directory on another filesystem than the tests' temp directory (tmpfs /dev/shm):
    a repository there is off the data volume."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("/dev/shm is not a writable directory here")
    d = Path(tempfile.mkdtemp(prefix="observer-other-fs-", dir=shm))
    try:
        if os.stat(d).st_dev == os.stat(tempfile.gettempdir()).st_dev:
            pytest.skip("/dev/shm is on the same filesystem as the temp directory")
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
