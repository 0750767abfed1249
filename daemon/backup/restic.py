"""Running restic: environment, progress, stalls, and what its failures mean.

restic does the chunking, deduplication, compression, encryption and the object-store
protocol; this module only starts it and reads what it says. Every command:

* gets the repository and its secrets in the environment (never on the command line) and
  nothing else of ours but PATH, TMPDIR and a cache directory;
* runs in its own process group, so a stop kills restic and nothing else;
* is stopped when it makes no progress for ``stall_seconds`` (no bytes read or written,
  per /proc/PID/io, and no output): an object store that hangs instead of refusing;
* is recorded (host, pid) while it runs, so a lock it leaves behind after a kill -9 can be
  recognised later as ours and removed.

restic's exit status and last words are turned into the errors of daemon/backup/errors.py;
anything shown is passed through :func:`redact` first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from observer.daemon.backup.errors import (
    RepositoryAuthError,
    RepositoryLocked,
    RepositoryUnreachable,
    ResticMissing,
    SnapshotFailed,
)
from observer.daemon.backup.repository import Repository
from observer.daemon.segments import write_atomically

log = logging.getLogger("observer.backup.restic")

#: How often the supervisor looks at the child (seconds).
_POLL = 0.25
_KEEP_STDERR = 64 * 1024

LineFn = Callable[[dict[str, Any]], None]

_UNREACHABLE = (
    "connection refused",
    "dial tcp",
    "no such host",
    "i/o timeout",
    "timeout awaiting",
    "connection reset",
    "500 internal server error",
    "502 bad gateway",
    "503 service unavailable",
    "504 gateway",
    "server closed idle connection",
    "unexpected eof",
    "network is unreachable",
    "tls handshake timeout",
    "stalled:",
)
_AUTH_S3 = (
    "access key id you provided does not exist",
    "signaturedoesnotmatch",
    "access denied",
    "invalidaccesskeyid",
    "signed request requires",
    "signature we calculated does not match",
    "invalid access key",
    "403 forbidden",
)
_NOT_A_REPO = (
    "is there a repository at the following location",
    "unable to open config file",
)


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


@dataclass
class Result:
    rc: int
    stdout: list[str] = field(default_factory=list)
    stderr: str = ""
    stalled: bool = False

    def json_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stdout:
            if line.startswith(("{", "[")):
                with contextlib.suppress(ValueError):
                    v = json.loads(line)
                    if isinstance(v, dict):
                        out.append(v)
        return out

    def json_value(self) -> Any:
        """The whole stdout as one JSON document (``snapshots --json``, ``stats --json``)."""
        text = "\n".join(self.stdout).strip()
        return json.loads(text) if text else None


def _io_counter(pid: int) -> int:
    """Bytes read + written by ``pid`` so far (sockets included), -1 when unknown."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["rchar"]) + int(fields["wchar"])
    except (OSError, KeyError, ValueError):
        return -1


class _Children:
    """The restic processes this installation started: (host, pid) while they run, and
    those that never finished (killed), whose locks are ours to remove."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mu = threading.Lock()

    def _load(self) -> list[dict[str, Any]]:
        try:
            v = json.loads(self.path.read_text(encoding="utf-8"))
            return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []
        except (OSError, ValueError):
            return []

    def _save(self, items: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(items[-64:]).encode())

    def add(self, pid: int) -> None:
        with self._mu:
            items = self._load()
            items.append({"host": socket.gethostname(), "pid": pid, "started": time.time()})
            self._save(items)

    def remove(self, pid: int) -> None:
        host = socket.gethostname()
        with self._mu:
            self._save([x for x in self._load() if not (x["host"] == host and x["pid"] == pid)])

    def owns(self, host: str, pid: int) -> bool:
        """True when (host, pid) is a restic we started that is no longer running."""
        for x in self._load():
            if x.get("host") == host and x.get("pid") == pid:
                if host == socket.gethostname():
                    try:
                        os.kill(pid, 0)
                    except ProcessLookupError:
                        return True
                    except PermissionError:
                        return False
                    return False
                return True  # another host name: an earlier pod of ours
        return False

    def forget_dead(self) -> None:
        host = socket.gethostname()
        with self._mu:
            keep = []
            for x in self._load():
                if x.get("host") == host:
                    try:
                        os.kill(int(x["pid"]), 0)
                    except (ProcessLookupError, ValueError):
                        continue
                    except PermissionError:
                        pass
                keep.append(x)
            self._save(keep)


class Restic:
    """restic for one repository, with its cache and bookkeeping under ``state_dir``."""

    def __init__(
        self,
        repository: Repository,
        state_dir: Path,
        *,
        stall_seconds: float = 120.0,
        binary: str | None = None,
    ) -> None:
        self.repository = repository
        self.state_dir = state_dir
        self.stall_seconds = stall_seconds
        self.binary = binary or shutil.which("restic") or ""
        self.children = _Children(state_dir / "restic-children.json")
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._mu = threading.Lock()

    # --- running ------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.state_dir),
            "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
            "RESTIC_CACHE_DIR": str(self.state_dir / "restic-cache"),
            "RESTIC_PROGRESS_FPS": "2",
            "TZ": "UTC",  # --time and the policy's days are read in UTC
        }
        env.update(self.repository.env)
        return env

    def _argv(self, args: Sequence[str]) -> list[str]:
        if not self.binary:
            raise ResticMissing(
                "restic is not installed (no 'restic' on PATH): install it (apt-get install "
                "restic; the image has it) to take, verify and restore snapshots."
            )
        argv = [self.binary]
        for opt in self.repository.options:
            argv += ["-o", opt]
        if self.repository.location.startswith("s3:"):
            argv += ["-o", "s3.retries=3"]  # fail within seconds; we retry with backoff
        return [*argv, *args]

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: Path | None = None,
        on_json: LineFn | None = None,
        stall_seconds: float | None = None,
        keep_stdout: bool = True,
    ) -> Result:
        """Run ``restic ARGS`` to completion (or until it stalls); never raises on rc != 0."""
        argv = self._argv(args)
        stall = self.stall_seconds if stall_seconds is None else stall_seconds
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        with self._mu:
            self._procs.add(proc)
        self.children.add(proc.pid)
        result = Result(rc=-1)
        last_activity = [time.monotonic()]
        err_chunks: list[bytes] = []

        def read_out() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                last_activity[0] = time.monotonic()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if keep_stdout or not line.startswith('{"message_type":"status"'):
                    result.stdout.append(line)
                if on_json is not None and line.startswith("{"):
                    with contextlib.suppress(ValueError):
                        v = json.loads(line)
                        if isinstance(v, dict):
                            on_json(v)

        def read_err() -> None:
            assert proc.stderr is not None
            size = 0
            for raw in proc.stderr:
                last_activity[0] = time.monotonic()
                if size < _KEEP_STDERR:
                    err_chunks.append(raw)
                    size += len(raw)

        readers = [threading.Thread(target=f, daemon=True) for f in (read_out, read_err)]
        for t in readers:
            t.start()
        io_seen = _io_counter(proc.pid)
        try:
            while proc.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=_POLL)  # returns as soon as restic exits
                    break
                io_now = _io_counter(proc.pid)
                if io_now != io_seen:
                    io_seen = io_now
                    last_activity[0] = time.monotonic()
                if stall > 0 and time.monotonic() - last_activity[0] > stall:
                    result.stalled = True
                    self._kill(proc)
                    break
            proc.wait()
        finally:
            for t in readers:
                t.join(timeout=5)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            with self._mu:
                self._procs.discard(proc)
            self.children.remove(proc.pid)
        result.rc = proc.returncode
        text = b"".join(err_chunks).decode("utf-8", "replace")
        if result.stalled:
            text += f"\nstalled: no progress for {stall:.0f} s (OBSERVER_BACKUP_STALL_SECONDS)"
        result.stderr = redact(text, self.repository.secrets())
        return result

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        """Stop every restic this object is running (daemon shutdown)."""
        with self._mu:
            procs = list(self._procs)
        for p in procs:
            self._kill(p)

    # --- meaning of failures -------------------------------------------------------------
    def failure(self, what: str, r: Result) -> Exception:
        """The error for a failed command ``what``, naming the setting to fix."""
        low = r.stderr.lower()
        shown = self.repository.display
        last = _last_words(r.stderr)
        if "wrong password" in low or "no key found" in low:
            return RepositoryAuthError(
                f"{what}: restic could not open the repository {shown} with the configured "
                f"password ({self.repository.password_source}): wrong password. Set "
                "OBSERVER_REPO_PASSWORD to this repository's password (Secret observer-backup)."
            )
        if any(s in low for s in _AUTH_S3):
            return RepositoryAuthError(
                f"{what}: the object store refused the keys for {shown} ({last}). Check "
                "OBSERVER_S3_ACCESS_KEY and OBSERVER_S3_SECRET_KEY (and "
                "OBSERVER_S3_REGION for OCI)."
            )
        if "repository is already locked" in low or "unable to create lock" in low:
            return RepositoryLocked(
                f"{what}: the repository {shown} is locked by another restic process ({last}). "
                "If no other backup of it is running, its lock is stale: `restic unlock`."
            )
        if r.stalled or any(s in low for s in _UNREACHABLE):
            return RepositoryUnreachable(
                f"{what}: the repository {shown} is unreachable ({last}); retried with backoff. "
                "Check the object store and OBSERVER_BACKUP_REPOSITORY."
            )
        return SnapshotFailed(f"{what} failed (restic exit {r.rc}): {last}")

    def is_missing_repository(self, r: Result) -> bool:
        low = r.stderr.lower()
        return (
            r.rc != 0
            and any(s in low for s in _NOT_A_REPO)
            and not any(s in low for s in _UNREACHABLE)
        )

    def check_ok(self, what: str, r: Result) -> Result:
        if r.rc != 0:
            raise self.failure(what, r)
        return r


def _last_words(stderr: str) -> str:
    lines = [x.strip() for x in stderr.strip().splitlines() if x.strip()]
    fatal = [x for x in lines if x.lower().startswith("fatal:")]
    pick = fatal[-1] if fatal else (lines[-1] if lines else "no output")
    return pick[:400]
