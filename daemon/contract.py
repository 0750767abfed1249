"""The startup contract: before collecting, every path the daemon writes must be usable and
must survive a restart.

For each written path of the environment table: it exists or can be created, is writable
(a probe file is created, fsynced and removed), keeps ``OBSERVER_MIN_FREE_MB`` free, and — in
container mode — lies on a mounted volume, not the container's root filesystem or an
emptyDir. Then an exclusive lock on the data directory stops a second writer.

A CRITICAL or HIGH problem stops the daemon with one readable paragraph (exit code 3/4);
WARNINGs are reported in status and by ``doctor``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from observer.daemon.clock import shown
from observer.daemon.config import Config, Var, written_paths
from observer.daemon.errors import ContractError, LockHeldError
from observer.daemon.volumes import (
    Mount,
    VolumeKind,
    container_evidence,
    mount_for,
    read_mounts,
    usage,
)

CRITICAL, HIGH, WARNING = "CRITICAL", "HIGH", "WARNING"
_RANK = {CRITICAL: 3, HIGH: 2, WARNING: 1}


@dataclass(frozen=True)
class Problem:
    severity: str
    variable: str
    path: str
    message: str
    fix: str
    #: Raised only because container mode is on (a path off a persistent volume).
    container_rule: bool = False

    def line(self) -> str:
        return f"{self.severity}: {self.variable}={self.path}: {self.message} Fix: {self.fix}"


#: The way out of container rules detected on a machine that is not a container.
OPT_OUT = "on a laptop or VM (not a container) set OBSERVER_CONTAINER=false"


@dataclass(frozen=True)
class ContainerMode:
    """Whether the container rules apply, and why, in words for the operator."""

    on: bool
    #: What found the container when OBSERVER_CONTAINER=auto ("/.dockerenv exists"); empty
    #: when the mode was set explicitly or nothing was found.
    evidence: str = ""
    detected: bool = False

    def why(self) -> str:
        if not self.detected:
            return f"OBSERVER_CONTAINER={'true' if self.on else 'false'}"
        if self.on:
            return f"OBSERVER_CONTAINER=auto detected a container ({self.evidence})"
        return "OBSERVER_CONTAINER=auto found no container"

    def explain(self) -> str:
        """One sentence, with the opt-out when container mode was detected, not chosen."""
        text = f"Container mode is {'on' if self.on else 'off'}: {self.why()}"
        return f"{text}; {OPT_OUT}." if self.on and self.detected else f"{text}."


def container_mode(cfg: Config) -> ContainerMode:
    """OBSERVER_CONTAINER resolved: ``auto`` looks for a container and says what it found."""
    if cfg.container in ("true", "false"):
        return ContainerMode(cfg.container == "true")
    evidence = container_evidence()
    return ContainerMode(bool(evidence), evidence, detected=True)


def is_container_mode(cfg: Config) -> bool:
    return container_mode(cfg).on


def _probe_write(path: Path) -> OSError | None:
    """Create, write, fsync and remove a probe file; the OSError if any step fails."""
    probe = path / f".observer-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as e:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
        return e
    return None


def _ignore_in_git(created: Path) -> None:
    """A directory the daemon just created inside a git work tree (a relative path set in a
    clone) holds runtime data, not source: keep it out of ``git status``, as ``venv`` does."""
    if not any((a / ".git").exists() for a in created.parents):
        return
    with contextlib.suppress(OSError):
        (created / ".gitignore").write_text(
            "# Created by observer-daemon: runtime data, not source.\n*\n", encoding="utf-8"
        )


def _check_path(
    v: Var, path: Path, cfg: Config, container: bool, mounts: list[Mount], create: bool
) -> list[Problem]:
    out: list[Problem] = []
    p = str(path)

    def add(sev: str, msg: str, fix: str) -> None:
        out.append(Problem(sev, v.name, p, msg, fix))

    # A regular file where the directory (or one of its parents) should be: no mkdir can
    # help, and "create it" would be the wrong advice.
    blocker = next((q for q in (path, *path.parents) if q.exists() and not q.is_dir()), None)
    if blocker is not None:
        add(
            CRITICAL,
            ("it exists" if blocker == path else f"{blocker} exists")
            + " as a regular file, not a directory, so the directory cannot be created.",
            f"move the file {blocker} away, or point {v.name} at a directory.",
        )
        return out
    if create:
        created = next((a for a in reversed((path, *path.parents)) if not a.exists()), None)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            add(
                CRITICAL,
                f"the directory cannot be created ({e.strerror}).",
                f"create it, make it writable by uid {os.getuid()}, or point {v.name} "
                "at a writable volume.",
            )
            return out
        if created is not None:
            _ignore_in_git(created)
    where = path
    if not path.is_dir():
        # Not created yet (a dry check such as doctor): the daemon will create it, so judge
        # the nearest existing parent, where it would be created.
        where = next(p for p in path.parents if p.exists())
    err = _probe_write(where)
    if err is not None:
        why = {
            errno.EROFS: "the filesystem is read-only",
            errno.EACCES: f"permission denied for uid {os.getuid()}",
            errno.EPERM: f"permission denied for uid {os.getuid()}",
            errno.ENOSPC: "the volume is full",
            errno.EDQUOT: "the disk quota is exhausted",
        }.get(err.errno or 0, err.strerror or str(err))
        checked = f" (checked {where}, where it would be created)" if where != path else ""
        add(
            CRITICAL,
            f"cannot write there: {why}{checked}.",
            f"mount a writable volume at {p} (or point {v.name} at one) and check its "
            "owner/fsGroup.",
        )
        return out
    vol = usage(where, mounts=mounts, container=container)
    free_mb = vol.free // (1024 * 1024)
    if free_mb < cfg.min_free_mb:
        add(
            CRITICAL,
            f"only {free_mb} MiB free on {vol.mount_point} (needs OBSERVER_MIN_FREE_MB="
            f"{cfg.min_free_mb}).",
            "free space (retention, older backups) or grow the volume.",
        )
    if vol.inodes_total and vol.inodes_free < 1000:
        add(CRITICAL, f"only {vol.inodes_free} inodes free on {vol.mount_point}.", "free inodes.")
    if container and not vol.kind.survives_restart:
        out.append(
            Problem(
                CRITICAL, v.name, p,
                f"it is not on a persistent volume: {vol.reason}. Data written there would "
                "be lost at restart.",
                f"mount a PersistentVolumeClaim at {p} (or point {v.name} under an existing "
                "PVC mount).",
                container_rule=True,
            )
        )  # fmt: skip
    elif not container and vol.kind in (VolumeKind.EPHEMERAL, VolumeKind.TMPFS):
        add(WARNING, f"{vol.reason}.", f"point {v.name} at a disk-backed directory.")
    return out


def check(cfg: Config, *, container: bool, create: bool = True) -> list[Problem]:
    """Every problem with the paths the daemon writes (creates them when ``create``)."""
    mounts = read_mounts()
    problems: list[Problem] = []
    for v, path in written_paths(cfg):
        problems.extend(_check_path(v, path, cfg, container, mounts, create))
    data = mount_for(cfg.data_dir, mounts)
    if container and data is not None and data.read_only:
        problems.append(
            Problem(
                CRITICAL,
                "OBSERVER_DATA_DIR",
                str(cfg.data_dir),
                f"{data.mount_point} is mounted read-only.",
                "mount the data PVC read-write.",
                container_rule=True,
            )
        )
    if container and cfg.config_dir and not cfg.config_dir.exists():
        problems.append(
            Problem(
                WARNING,
                "OBSERVER_CONFIG_DIR",
                str(cfg.config_dir),
                "the configuration directory does not exist; built-in defaults are used.",
                "mount the ConfigMap there (or create it) to configure the universe.",
            )
        )
    return problems


def worst(problems: list[Problem]) -> str | None:
    if not problems:
        return None
    return max(problems, key=lambda p: _RANK.get(p.severity, 0)).severity


def enforce(problems: list[Problem], mode: ContainerMode | None = None) -> list[Problem]:
    """Raise ContractError for CRITICAL/HIGH problems; return the warnings that remain.

    When a container rule failed, the message says how container mode was decided (``mode``)
    and, when it was detected, how to turn it off on a machine that is not a container.
    """
    fatal = [p for p in problems if p.severity in (CRITICAL, HIGH)]
    if fatal:
        lines = "\n".join(f"  - {p.line()}" for p in fatal)
        why = (
            f"\n{mode.explain()}"
            if mode is not None and any(p.container_rule for p in fatal)
            else ""
        )
        raise ContractError(
            "The startup contract failed, so the daemon will not collect (ticks written now "
            f"could be lost or never written).{why}\n{lines}"
        )
    return [p for p in problems if p not in fatal]


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    started_at: float
    stopped_at: float | None = None  # set by a clean stop


class DataDirLock:
    """An exclusive flock on ``<data dir>/.observer.lock`` that names its holder.

    A clean stop writes its time into the file before unlocking; a run that finds the
    previous holder without one knows that run ended without a clean stop (``previous``).
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / ".observer.lock"
        self._fd: int | None = None
        #: The previous holder as it left the file (None: first run on this directory).
        self.previous: Holder | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read(fd)
            os.close(fd)
            who = (
                f"pid {holder.pid} on host {holder.host}, since {shown(holder.started_at)}"
                if holder
                else "an unknown process"
            )
            raise LockHeldError(
                f"Another observer-daemon already writes to OBSERVER_DATA_DIR="
                f"{self.path.parent} ({who}). Two writers on one data directory would "
                "interleave and corrupt the tick files. Stop the other daemon first, or give "
                "this one its own OBSERVER_DATA_DIR (one volume per replica)."
            ) from None
        self.previous = self._read(fd)
        self._holder = Holder(os.getpid(), socket.gethostname(), time.time())
        self._write(fd, self._holder)
        self._fd = fd

    @staticmethod
    def _write(fd: int, holder: Holder) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(asdict(holder)) + "\n").encode(), 0)
        os.fsync(fd)

    @property
    def previous_ended_uncleanly(self) -> bool:
        """The previous run on this directory stopped without a clean stop (a crash, kill -9,
        a lost node)."""
        return self.previous is not None and self.previous.stopped_at is None

    @staticmethod
    def _read(fd: int) -> Holder | None:
        try:
            data = json.loads(os.pread(fd, 4096, 0) or b"null")
            stopped = data.get("stopped_at")
            return Holder(
                int(data["pid"]),
                str(data["host"]),
                float(data["started_at"]),
                None if stopped is None else float(stopped),
            )
        except (ValueError, KeyError, TypeError, AttributeError, OSError):
            return None

    def release(self) -> None:
        """Record the clean stop and unlock."""
        if self._fd is not None:
            with contextlib.suppress(OSError):  # a full disk must not keep the lock
                self._write(self._fd, dataclasses.replace(self._holder, stopped_at=time.time()))
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
