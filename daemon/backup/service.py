"""BackupService: one backup at a time, listing, verification, restore, retention, schedule.

The heavy work runs in a worker thread so the event loop (ingest, API) keeps running.
"One at a time" holds across processes too: a non-blocking flock on ``backups/.lock``
stops ``observer-daemon backup`` from racing the daemon's own scheduled backup.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import fcntl
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path

from observer.daemon import __version__
from observer.daemon.backup.archive import (
    CONTENTS,
    Progress,
    ProgressFn,
    collect_sources,
    write_archive,
)
from observer.daemon.backup.manifest import (
    Manifest,
    backups_dir,
    load_manifest,
    load_manifests,
    manifests_dir,
    save_manifest,
)
from observer.daemon.backup.verify import (
    VerifyResult,
    read_embedded,
    restore_archive,
    verify_archive,
)
from observer.daemon.clock import KST, to_kst
from observer.daemon.config import Config
from observer.daemon.errors import Busy, IntegrityError, InvalidRequest, ObserverError
from observer.daemon.status.model import BackupResult, BackupStatus, Verification

log = logging.getLogger("observer.backup")

#: Receives one event for the event bus (observer.jsonl): kind and fields.
EventFn = Callable[[str, Mapping[str, object]], object]


def _no_events(kind: str, fields: Mapping[str, object]) -> None:
    return None


def new_id(now: float) -> str:
    return to_kst(now).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(
                "a backup is already running (backups/.lock is held); wait for it to finish "
                "and check ListBackups."
            ) from None
        yield
    finally:
        os.close(fd)


class BackupService:
    def __init__(self, cfg: Config, events: EventFn | None = None) -> None:
        self.cfg = cfg
        self.data_dir = cfg.data_dir
        self._events = events or _no_events
        self._running = False
        self._last_result = BackupResult.NONE
        self._last_id = ""
        self._last_error = ""
        self._last_duration = 0.0

    # --- taking a backup ---------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    def run_sync(self, progress: ProgressFn | None = None, *, now: float | None = None) -> Manifest:
        """Take a backup in the calling thread (CLI); Busy when one is already running."""
        report = progress or (lambda p: None)
        created = time.time() if now is None else now
        with _exclusive(backups_dir(self.data_dir) / ".lock"):
            m = Manifest(
                id=new_id(created), created_at=created, daemon_version=__version__, archive=""
            )
            self._last_id = m.id
            self._events("backup_started", {"id": m.id})
            try:
                sources = collect_sources(self.data_dir, self.cfg.config_dir)
                write_archive(self.data_dir, sources, m, report)
                save_manifest(self.data_dir, m)
                self._verify_new(m, report)
            except Exception as e:
                self._last_result = BackupResult.FAILED
                self._last_error = f"backup {m.id} failed: {e}"
                self._events("backup_failed", {"id": m.id, "error": str(e)})
                log.error("backup %s failed: %s", m.id, e)
                if isinstance(e, ObserverError):
                    raise
                raise ObserverError(
                    f"backup {m.id} failed: {e}. Check free space and permissions under "
                    f"{backups_dir(self.data_dir)} (OBSERVER_DATA_DIR)."
                ) from e
            self._last_result, self._last_error = BackupResult.OK, ""
            self._last_duration = m.duration_seconds
            report(
                Progress("done", len(m.files), len(m.files), m.total_file_bytes, m.total_file_bytes)
            )
            self._events(
                "backup_done",
                {
                    "id": m.id,
                    "files": len(m.files),
                    "archive_bytes": m.archive_bytes,
                    "sha256": m.archive_sha256,
                },
            )
            log.info(
                "backup %s: %d files, %d bytes, sha256 %s",
                m.id,
                len(m.files),
                m.archive_bytes,
                m.archive_sha256,
            )
            return m

    def _verify_new(self, m: Manifest, report: ProgressFn) -> None:
        """Re-read the archive just written and re-hash it: a backup is verified at birth."""
        report(Progress("verifying", 0, len(m.files), 0, m.total_file_bytes))
        result = verify_archive(m.archive_path(self.data_dir), m, m.files)
        m.verified_at, m.verified_ok, m.mismatches = (
            result.verified_at,
            result.ok,
            len(result.mismatches),
        )
        save_manifest(self.data_dir, m)
        if not result.ok:
            raise IntegrityError(
                f"backup {m.id} does not match what was just written "
                f"({len(result.mismatches)} mismatch(es)); the disk under "
                f"{backups_dir(self.data_dir)} may be failing. Check the volume and try again."
            )

    async def run(self, progress_cb: Callable[[Progress], None] | None = None) -> Manifest:
        """Take a backup in a worker thread; ``progress_cb`` is called on the event loop.

        A second call while one runs (here or in another process) raises errors.Busy.
        """
        if self._running:
            raise Busy("a backup is already running; wait for it to finish and check ListBackups.")
        loop = asyncio.get_running_loop()
        self._running = True
        cb = progress_cb

        def report(p: Progress) -> None:
            if cb is not None:
                snap = Progress(
                    p.phase,
                    p.files_done,
                    p.files_total,
                    p.bytes_done,
                    p.bytes_total,
                    p.current_file,
                )
                loop.call_soon_threadsafe(cb, snap)

        try:
            return await asyncio.to_thread(self.run_sync, report)
        finally:
            self._running = False

    # --- reading --------------------------------------------------------------------------
    def list(self) -> builtins.list[Manifest]:
        """Every backup, newest first."""
        return load_manifests(self.data_dir)

    def get(self, backup_id: str) -> Manifest:
        return load_manifest(self.data_dir, backup_id)

    def verify_sync(self, backup_id: str) -> VerifyResult:
        """Re-hash backup ``backup_id``; the outcome is stored in its manifest."""
        m = load_manifest(self.data_dir, backup_id)
        result = verify_archive(m.archive_path(self.data_dir), m, m.files)
        m.verified_at, m.verified_ok, m.mismatches = (
            result.verified_at,
            result.ok,
            len(result.mismatches),
        )
        save_manifest(self.data_dir, m)
        self._events(
            "backup_verified", {"id": m.id, "ok": result.ok, "mismatches": len(result.mismatches)}
        )
        return result

    async def verify(self, backup_id: str) -> VerifyResult:
        return await asyncio.to_thread(self.verify_sync, backup_id)

    def resolve_archive(self, archive: str) -> tuple[Path, Manifest | None]:
        """An archive named by id or by path, with its manifest when one is on this volume."""
        p = Path(archive)
        if not archive.endswith(".tar.gz") and "/" not in archive:
            m = load_manifest(self.data_dir, archive)
            return m.archive_path(self.data_dir), m
        if not p.is_file():
            raise InvalidRequest(
                f"archive {archive} does not exist; give an existing .tar.gz file or a backup id."
            )
        backup_id = p.name.removesuffix(".tar.gz")
        for cand in (p.parent.parent / "manifests", manifests_dir(self.data_dir)):
            mp = cand / f"{backup_id}.json"
            if mp.is_file():
                with contextlib.suppress(ObserverError):
                    return p, load_manifest(cand.parent.parent, backup_id)
        return p, None

    def verify_path_sync(self, archive: str) -> VerifyResult:
        """Verify an archive by id or path (manifest if found, else its embedded member list)."""
        path, m = self.resolve_archive(archive)
        if m is not None:
            return (
                self.verify_sync(m.id)
                if path == m.archive_path(self.data_dir)
                else verify_archive(path, m, m.files)
            )
        files = read_embedded(path)
        if files is None:
            return verify_archive(path, None, [])
        return verify_archive(path, None, files)

    def restore_sync(self, archive: str, into: Path) -> int:
        """Verify then restore ``archive`` (id or path) into the empty directory ``into``."""
        path, m = self.resolve_archive(archive)
        files = m.files if m is not None else (read_embedded(path) or [])
        n = restore_archive(path, files, m, into)
        self._events("backup_restored", {"archive": str(path), "into": str(into), "files": n})
        return n

    # --- schedule -----------------------------------------------------------
    def next_scheduled(self, now: float | None = None) -> float | None:
        """Next daily backup time (POSIX seconds), None when OBSERVER_BACKUP_TIME is empty."""
        if not self.cfg.backup_time:
            return None
        hh, mm = (int(x) for x in self.cfg.backup_time.split(":"))
        t = datetime.fromtimestamp(time.time() if now is None else now, KST)
        at = t.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if at <= t:
            at += timedelta(days=1)
        return at.timestamp()

    async def schedule_loop(self) -> None:
        """Run forever: back up daily at OBSERVER_BACKUP_TIME KST.

        Old backups are deleted by retention (daemon/stores/retention.py), which also keeps
        any raw file whose only verified copy is in a backup about to go.
        """
        while True:
            due = self.next_scheduled()
            if due is None:
                return
            await asyncio.sleep(max(0.0, due - time.time()))
            try:
                await self.run()
            except ObserverError as e:
                log.error("scheduled backup failed: %s", e)

    # --- status -------------------------------------------------------------------------------
    def status(self, now: float | None = None) -> BackupStatus:
        manifests = self.list()
        newest = manifests[0] if manifests else None
        last_result = BackupResult.RUNNING if self._running else self._last_result
        if last_result is BackupResult.NONE and newest is not None:
            last_result = BackupResult.OK
        ok = [m for m in manifests if m.archive_sha256]
        if newest is None or newest.verified_ok is None:
            verification = Verification.UNVERIFIED
        else:
            verification = Verification.VERIFIED if newest.verified_ok else Verification.FAILED
        return BackupStatus(
            last_result=last_result,
            last_id=self._last_id or (newest.id if newest else ""),
            last_error=self._last_error,
            last_success_at=ok[0].created_at if ok else None,
            last_duration_seconds=self._last_duration
            or (newest.duration_seconds if newest else 0.0),
            next_scheduled_at=self.next_scheduled(now),
            count=len(manifests),
            total_bytes=sum(m.archive_bytes for m in manifests),
            verification=verification,
            last_verified_at=newest.verified_at if newest else None,
            retain_days=self.cfg.retain_backup_days,
            contents=CONTENTS,
        )
