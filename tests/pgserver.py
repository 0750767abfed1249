"""A real, throwaway PostgreSQL server for tests and benchmarks.

``PgServer`` runs ``initdb`` into a temporary directory (as the ``postgres`` user when we
are root, because initdb refuses root), starts the server with ``pg_ctl`` on a free
127.0.0.1 port with its unix socket inside that directory, and creates a database. It can
be stopped like a crash (``stop(mode="immediate")``) and started again on the same
directory and port, which is what the outage tests need.

``skip_reason()`` says why no server can be started (no binaries), for ``pytest.skip``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding pg_ctl, else pg_ctl's folder on PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def skip_reason() -> str | None:
    """Why a server cannot be started here, or None when it can."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        return (
            "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/pg_ctl and "
            "no pg_ctl on PATH); install postgresql (make postgres) to run these tests"
        )
    if not (bin_dir / "initdb").exists():
        return f"{bin_dir} has pg_ctl but no initdb"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no 'postgres' user exists to run initdb as"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One PostgreSQL cluster in a temporary directory, reachable on 127.0.0.1:port."""

    def __init__(self, database: str = "observer", user: str = "postgres") -> None:
        reason = skip_reason()
        if reason:
            raise RuntimeError(reason)
        bin_dir = find_bin_dir()
        assert bin_dir is not None
        self.bin_dir = bin_dir
        self.database = database
        self.user = user
        self.host = "127.0.0.1"
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="observer-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.logfile = self.root / "server.log"
        self._run_as = "postgres" if os.geteuid() == 0 else None
        self.running = False
        self._init()

    # --- lifecycle ---------------------------------------------------------------------
    def _cmd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            user=self._run_as,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
            cwd=self.root,
        )

    def _init(self) -> None:
        self.sockets.mkdir()
        if self._run_as:
            pw = pwd.getpwnam(self._run_as)
            for p in (self.root, self.sockets):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self._cmd(
            str(self.bin_dir / "initdb"),
            "-D", str(self.data), "-A", "trust", "-U", self.user,
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        self.start()
        self._cmd(
            str(self.bin_dir / "createdb"),
            "-h", self.host, "-p", str(self.port), "-U", self.user, self.database,
        )  # fmt: skip

    def start(self) -> None:
        """Start (or restart after ``stop``) on the same directory and port; waits until up."""
        opts = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses={self.host} "
            # fsync off: tests simulate process crashes, not power loss; keeps tests fast.
            "-c fsync=off -c full_page_writes=off -c max_connections=50"
        )
        result = self._cmd(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
            "-w", "-t", "30", "-o", opts, "start", check=False,
        )  # fmt: skip
        if result.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {result.stderr.strip()}\n{log}")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m mode``; ``immediate`` is a crash (recovery runs at next start)."""
        if not self.running:
            return
        self._cmd(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop",
            check=False,
        )  # fmt: skip
        self.running = False

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # --- connection parameters ---------------------------------------------------------
    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        self._cmd(
            str(self.bin_dir / "createdb"),
            "-h", self.host, "-p", str(self.port), "-U", self.user, name,
        )  # fmt: skip


@contextlib.contextmanager
def pg_server(database: str = "observer") -> Iterator[PgServer]:
    """A started server, removed afterwards (tests: wrap in a fixture; bench: ``with``)."""
    server = PgServer(database=database)
    try:
        yield server
    finally:
        server.cleanup()
