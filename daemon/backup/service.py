"""BackupService: snapshots on a schedule, retries, verification drills, policy, status.

When snapshots are taken:

* within OBSERVER_BACKUP_AFTER_ROTATION_MINUTES of each segment rotation (closed segments
  go off the volume soon after they close; the wait lets Parquet convert the segment first);
* daily at OBSERVER_BACKUP_TIME KST, followed by the repository policy (forget + prune)
  and, on OBSERVER_BACKUP_DRILL_DAY, the restore drill of the newest snapshot;
* now, on request (TriggerBackup, ``observer-daemon backup``).

A failed snapshot (object store down, a full disk, a kill) is retried with exponential
backoff until one succeeds; meanwhile status shows the error and the RPO (age of the newest
data off the volume) grows. Only a snapshot restic reported, recorded and verified counts.

The heavy work runs in a worker thread so the event loop (ingest, API) keeps running.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from observer.daemon.backup.archive import Progress, ProgressFn
from observer.daemon.backup.engine import Engine
from observer.daemon.backup.legacy import LegacyArchives
from observer.daemon.backup.manifest import Manifest, load_snapshots, snapshots_dir
from observer.daemon.backup.repository import on_same_volume, resolve
from observer.daemon.backup.stage import CONTENTS, state_dir
from observer.daemon.backup.verify import VerifyResult
from observer.daemon.clock import KST, in_market_hours, iso, to_kst
from observer.daemon.config import Config
from observer.daemon.errors import Busy, ObserverError
from observer.daemon.status.model import BackupResult, BackupStatus, Verification

log = logging.getLogger(__name__)

#: Receives one event for the event bus (observer.jsonl): kind and fields.
EventFn = Callable[[str, Mapping[str, object]], object]

#: An object store's size is measured after a snapshot at most this often (seconds).
_MEASURE_EVERY = 900.0
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _no_events(kind: str, fields: Mapping[str, object]) -> None:
    return None


@dataclass(frozen=True)
class OffVolume:
    """What is off the data volume, and how old it is (status, metrics, the console)."""

    repository: str  # display form, no credentials
    off_volume: bool  # False: a local repository on the data volume's filesystem
    newest_snapshot: str
    newest_at: float | None  # when the data of the newest snapshot was read
    rpo_seconds: float | None  # age of the newest data off the volume (None: nothing off it)
    rpo_bound_seconds: float
    over_bound: bool  # during market hours, rpo above the bound (or nothing off the volume)
    repository_bytes: int | None  # None until measured
    repository_measured_at: float | None
    snapshots: int
    last_verified_snapshot: str
    last_verified_at: float | None
    last_drill_at: float | None
    last_drill_ok: bool | None
    last_error: str
    next_retry_at: float | None
    next_due_at: float | None


def _backoff(failures: int, base: float, cap: float) -> float:
    return float(min(cap, base * float(2 ** max(0, failures - 1))))


class BackupService:
    def __init__(
        self,
        cfg: Config,
        events: EventFn | None = None,
        *,
        clock: Callable[[], float] = time.time,
        retry_base: float = 30.0,
        retry_cap: float = 900.0,
        settle_seconds: float = 60.0,
    ) -> None:
        self.cfg = cfg
        self.data_dir = cfg.data_dir
        self.state = state_dir(cfg.data_dir)
        self._events = events or _no_events
        self._clock = clock
        self._retry_base, self._retry_cap = retry_base, retry_cap
        self._settle = settle_seconds
        self._engine: Engine | None = None
        self.legacy = LegacyArchives(cfg.data_dir)
        self._running = False
        self._last_result = BackupResult.NONE
        self._last_id = ""
        self._last_error = ""
        self._last_duration = 0.0
        self._failures = 0
        self._retry_at: float | None = None
        self._rotation_due: float | None = None
        self._repo_bytes: int | None = None
        self._repo_measured = -_MEASURE_EVERY  # monotonic
        self._repo_measured_at: float | None = None  # wall clock
        self._measured_after_snapshot = False
        self._snap_cache: tuple[int, builtins.list[Manifest]] | None = None
        self._wake: asyncio.Event | None = None

    # --- the engine ----------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        """The restic engine (resolving the settings; ConfigError names the one to fix)."""
        if self._engine is None:
            self._engine = Engine(self.cfg)
        return self._engine

    @property
    def running(self) -> bool:
        return self._running

    @property
    def repository_size(self) -> int | None:
        """The repository's bytes at the last measurement (None before the first)."""
        return self._repo_bytes

    # --- taking a snapshot ---------------------------------------------------------------
    def run_sync(self, progress: ProgressFn | None = None, *, now: float | None = None) -> Manifest:
        """Take a snapshot in the calling thread (CLI); Busy when one is already running."""
        report = progress or (lambda p: None)
        started = time.monotonic()
        try:
            engine = self.engine
            with engine.lock():
                self._events("backup_started", {"repository": engine.repository.display})
                m = engine.snapshot(report, now=now)
                # a local repository is measured after every snapshot (a walk of its files);
                # an object store (restic stats) after the first and then every 15 minutes
                if (
                    engine.repository.local
                    or not self._measured_after_snapshot
                    or time.monotonic() - self._repo_measured > _MEASURE_EVERY
                ):
                    self._measured(engine.repository_bytes())
                    self._measured_after_snapshot = True
        except Busy:
            raise
        except ObserverError as e:
            self._failed(str(e))
            raise
        except OSError as e:
            msg = (
                f"snapshot failed: {e.strerror or e} ({getattr(e, 'filename', '') or ''}); "
                f"check free space and permissions under {self.state} (OBSERVER_DATA_DIR)."
            )
            self._failed(msg)
            raise ObserverError(msg) from e
        finally:
            self._snap_cache = None  # records were written
        self._last_result, self._last_error = BackupResult.OK, ""
        self._last_id, self._last_duration = m.short_id, time.monotonic() - started
        self._failures, self._retry_at = 0, None
        report(
            Progress(
                "done",
                len(m.files),
                len(m.files),
                m.total_file_bytes,
                m.total_file_bytes,
                percent=100.0,
            )
        )
        self._events(
            "backup_done",
            {
                "snapshot": m.short_id,
                "files": len(m.files),
                "bytes": m.total_file_bytes,
                "data_added": m.data_added,
                "manifest_sha256": m.manifest_sha256,
                "repository": m.repository,
            },
        )
        log.info(
            "snapshot %s: %d files, %d bytes added to %s, manifest sha256 %s",
            m.short_id, len(m.files), m.data_added, m.repository, m.manifest_sha256,
        )  # fmt: skip
        return m

    def _measured(self, nbytes: int) -> None:
        self._repo_bytes = nbytes
        self._repo_measured = time.monotonic()
        self._repo_measured_at = self._clock()

    def measure_repository(self) -> int | None:
        """Measure the repository's size now (at start: status shows it before the first
        snapshot); None, logged, when the repository cannot be read."""
        try:
            self._measured(self.engine.repository_bytes())
        except ObserverError as e:
            log.warning("cannot measure the backup repository: %s", e)
            return None
        except OSError as e:
            log.warning("cannot measure the backup repository: %s", e.strerror or e)
            return None
        return self._repo_bytes

    def _failed(self, message: str) -> None:
        self._last_result, self._last_error = BackupResult.FAILED, message
        self._failures += 1
        self._retry_at = self._clock() + _backoff(self._failures, self._retry_base, self._retry_cap)
        self._events("backup_failed", {"error": message, "attempt": self._failures})
        log.error("snapshot failed (attempt %d): %s", self._failures, message)

    async def run(self, progress_cb: Callable[[Progress], None] | None = None) -> Manifest:
        """Take a snapshot in a worker thread; ``progress_cb`` is called on the event loop."""
        if self._running:
            raise Busy("a backup is already running; wait for it to finish and check ListBackups.")
        loop = asyncio.get_running_loop()
        self._running = True
        cb = progress_cb

        def report(p: Progress) -> None:
            if cb is not None:
                snap = Progress(
                    p.phase, p.files_done, p.files_total, p.bytes_done, p.bytes_total,
                    p.current_file, p.percent,
                )  # fmt: skip
                loop.call_soon_threadsafe(cb, snap)

        try:
            return await asyncio.to_thread(self.run_sync, report)
        finally:
            self._running = False

    # --- reading -------------------------------------------------------------------------
    def snapshots(self) -> builtins.list[Manifest]:
        """Snapshots recorded for the configured repository, newest first.

        The records are read again only when their folder changed (status asks several
        times a second; a month of snapshots is hundreds of records).
        """
        try:
            shown = self.engine.repository.display
        except ObserverError:
            return []
        try:
            stamp = snapshots_dir(self.state).stat().st_mtime_ns
        except OSError:
            stamp = -1
        if self._snap_cache is None or self._snap_cache[0] != stamp or stamp == -1:
            self._snap_cache = (stamp, load_snapshots(self.state))
        return [m for m in self._snap_cache[1] if m.repository == shown]

    def list(self) -> builtins.list[Manifest]:
        """Every snapshot, then the legacy archives, each newest first."""
        return self.snapshots() + self.legacy.list()

    def get(self, backup_id: str) -> Manifest:
        if self.legacy.is_legacy(backup_id):
            return self.legacy.get(backup_id)
        return self.engine.record(backup_id)

    def verify_sync(self, backup_id: str) -> VerifyResult:
        """Verify a snapshot (restic check + restore to scratch + sha256 of every file) or a
        legacy archive; the outcome is recorded."""
        if self.legacy.is_legacy(backup_id):
            result = self.legacy.verify(backup_id)
        else:
            engine = self.engine
            with engine.lock():
                try:
                    m, result = engine.verify(backup_id, self.cfg.backup_verify_read_percent)
                finally:
                    self._snap_cache = None
            result.id = m.short_id
        self._events(
            "backup_verified",
            {"id": result.id, "ok": result.ok, "mismatches": len(result.mismatches)},
        )
        self._maintenance("verify", {"id": result.id, "ok": result.ok,
                                     "mismatches": [f"{x.path}: {x.reason}" for x in result.mismatches[:20]]})  # fmt: skip
        return result

    async def verify(self, backup_id: str) -> VerifyResult:
        return await asyncio.to_thread(self.verify_sync, backup_id)

    def verify_path_sync(self, archive: str) -> VerifyResult:
        """CLI verify: a snapshot id (or "latest"), a legacy backup id or a .tar.gz path."""
        return self.verify_sync(archive)

    def restore_sync(self, archive: str, into: Path) -> int:
        """Restore a snapshot (or a legacy archive) into the empty directory ``into``,
        re-hashing every file before it returns; the number of files."""
        if self.legacy.is_legacy(archive):
            n = self.legacy.restore(archive, into)
        else:
            engine = self.engine
            with engine.lock():
                _, n, _ = engine.restore_into(archive, into)
        self._events("backup_restored", {"source": archive, "into": str(into), "files": n})
        return n

    # --- drills and policy ---------------------------------------------------------------
    def drill_sync(self) -> VerifyResult:
        """The restore drill: verify the newest snapshot fully; recorded in drills.jsonl."""
        newest = self.snapshots()
        if not newest:
            raise ObserverError("no snapshot to drill yet; take one with `observer-daemon backup`.")
        result = self.verify_sync(newest[0].snapshot_id)
        rec = {"at": self._clock(), "snapshot": result.id, "ok": result.ok,
               "files": result.files_checked, "bytes": result.bytes_checked,
               "mismatches": [f"{x.path}: {x.reason}" for x in result.mismatches[:20]]}  # fmt: skip
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.state / "drills.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        self._events("backup_drill", {k: rec[k] for k in ("snapshot", "ok", "files")})
        return result

    def last_drill(self) -> dict[str, object] | None:
        try:
            lines = (self.state / "drills.jsonl").read_text(encoding="utf-8").splitlines()
            return dict(json.loads(lines[-1])) if lines else None
        except (OSError, ValueError):
            return None

    def policy_sync(self) -> builtins.list[str]:
        engine = self.engine
        with engine.lock():
            try:
                removed = engine.apply_policy()
            finally:
                self._snap_cache = None
            self._measured(engine.repository_bytes())
        if removed:
            self._events("backup_policy", {"forgotten": removed})
        return removed

    def _maintenance(self, kind: str, fields: Mapping[str, object]) -> None:
        folder = self.cfg.maintenance_log_dir
        entry = {"ts": iso(to_kst(self._clock())), "event": f"backup_{kind}", **fields}
        try:
            folder.mkdir(parents=True, exist_ok=True)
            name = f"backup_{to_kst(self._clock()).strftime('%Y%m%d')}.jsonl"
            with open(folder / name, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError as e:
            log.error("cannot write the maintenance log in %s: %s", folder, e)

    # --- schedule ------------------------------------------------------------------------
    def next_scheduled(self, now: float | None = None) -> float | None:
        """Next daily snapshot (POSIX seconds), None when OBSERVER_BACKUP_TIME is empty."""
        if not self.cfg.backup_time:
            return None
        hh, mm = (int(x) for x in self.cfg.backup_time.split(":"))
        t = datetime.fromtimestamp(self._clock() if now is None else now, KST)
        at = t.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if at <= t:
            at += timedelta(days=1)
        return at.timestamp()

    def on_segment_closed(self, path: Path) -> None:
        """Close listener: a snapshot is due within OBSERVER_BACKUP_AFTER_ROTATION_MINUTES."""
        minutes = self.cfg.backup_after_rotation_minutes
        if minutes <= 0:
            return
        due = self._clock() + min(self._settle, minutes * 60.0)
        if self._rotation_due is None or due < self._rotation_due:
            self._rotation_due = due
        if self._wake is not None:
            self._wake.set()

    def _next_due(self, daily: float | None) -> float | None:
        cands = [t for t in (daily, self._rotation_due) if t is not None]
        due = min(cands) if cands else None
        if self._retry_at is not None and due is not None and due <= self._clock():
            due = max(due, self._retry_at)  # after a failure, wait for the backoff
        return due

    async def schedule_loop(self) -> None:
        """Run until cancelled: rotation-triggered and daily snapshots, retries, policy, drill."""
        self._wake = asyncio.Event()
        # the repository's size in status from the start (in the background: a slow object
        # store must not delay the first snapshot)
        measuring = asyncio.ensure_future(asyncio.to_thread(self.measure_repository))
        measuring.add_done_callback(lambda t: t.cancelled() or t.exception())
        daily = self.next_scheduled()
        while True:
            due = self._next_due(daily)
            if due is None and daily is None and self.cfg.backup_after_rotation_minutes <= 0:
                return
            while due is None or self._clock() < due:
                self._wake.clear()
                wait = 60.0 if due is None else max(0.0, min(60.0, due - self._clock()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                due = self._next_due(daily)
            is_daily = daily is not None and self._clock() >= daily
            try:
                await self.run()
            except Busy:
                self._retry_at = self._clock() + self._retry_base
                continue
            except ObserverError:
                continue  # _failed recorded it and set the retry time
            self._rotation_due = None
            if is_daily:
                daily = self.next_scheduled()
                await self._after_daily()

    async def _after_daily(self) -> None:
        try:
            await asyncio.to_thread(self.policy_sync)
        except ObserverError as e:
            log.error("repository policy failed: %s", e)
            self._last_error = f"repository policy failed: {e}"
        day = _DAYS[to_kst(self._clock()).weekday()]
        if self.cfg.backup_drill_day and day == self.cfg.backup_drill_day:
            try:
                r = await asyncio.to_thread(self.drill_sync)
                if not r.ok:
                    log.error("restore drill of %s FAILED: %d problem(s)", r.id, len(r.mismatches))
            except ObserverError as e:
                log.error("restore drill failed: %s", e)

    # --- status --------------------------------------------------------------------------
    def off_volume_status(self, now: float | None = None) -> OffVolume:
        now = self._clock() if now is None else now
        try:
            engine = self.engine
            shown, off = engine.repository.display, engine.off_volume
        except ObserverError as e:
            shown, off = "", False
            error = str(e)
        else:
            error = self._last_error
        snaps = self.snapshots()
        newest = snaps[0] if snaps else None
        verified = next((m for m in snaps if m.verified_ok), None)
        # the RPO is the age of the newest data off the volume: a repository on the data's
        # own disk holds nothing that survives it, however new its snapshots
        rpo = None if newest is None or not off else max(0.0, now - newest.created_at)
        bound = self.cfg.backup_rpo_minutes * 60.0
        over = in_market_hours(to_kst(now)) and (rpo is None or rpo > bound)
        drill = self.last_drill()
        return OffVolume(
            repository=shown,
            off_volume=off,
            newest_snapshot=newest.short_id if newest else "",
            newest_at=newest.created_at if newest else None,
            rpo_seconds=rpo,
            rpo_bound_seconds=bound,
            over_bound=over,
            repository_bytes=self._repo_bytes,
            repository_measured_at=self._repo_measured_at,
            snapshots=len(snaps),
            last_verified_snapshot=verified.short_id if verified else "",
            last_verified_at=verified.verified_at if verified else None,
            last_drill_at=float(drill["at"]) if drill else None,  # type: ignore[arg-type]
            last_drill_ok=bool(drill["ok"]) if drill else None,
            last_error=error,
            next_retry_at=self._retry_at if self._last_result is BackupResult.FAILED else None,
            next_due_at=self._next_due(self.next_scheduled(now)),
        )

    def status(self, now: float | None = None) -> BackupStatus:
        """Last result, schedule and verification, with what is off the volume (the RPO)."""
        now = self._clock() if now is None else now
        snaps = self.snapshots()
        legacy = self.legacy.list()
        newest = snaps[0] if snaps else None
        off = self.off_volume_status(now)
        last_result = BackupResult.RUNNING if self._running else self._last_result
        if last_result is BackupResult.NONE and newest is not None:
            last_result = BackupResult.OK
        if newest is None or newest.verified_ok is None:
            verification = Verification.UNVERIFIED
        else:
            verification = Verification.VERIFIED if newest.verified_ok else Verification.FAILED
        return BackupStatus(
            last_result=last_result,
            last_id=self._last_id or (newest.short_id if newest else ""),
            last_error=off.last_error,
            last_success_at=newest.created_at if newest else None,
            last_duration_seconds=self._last_duration
            or (newest.duration_seconds if newest else 0.0),
            next_scheduled_at=self.next_scheduled(now),
            count=len(snaps) + len(legacy),
            total_bytes=(off.repository_bytes or 0) + sum(m.archive_bytes for m in legacy),
            verification=verification,
            last_verified_at=off.last_verified_at,
            retain_days=self.cfg.backup_keep_daily,
            repository=off.repository,
            off_volume=off.off_volume,
            newest_snapshot=off.newest_snapshot,
            newest_snapshot_at=off.newest_at,
            rpo_seconds=off.rpo_seconds,
            rpo_bound_seconds=off.rpo_bound_seconds,
            rpo_over_bound=off.over_bound,
            repository_bytes=off.repository_bytes,
            repository_measured_at=off.repository_measured_at,
            snapshots=off.snapshots,
            last_verified_snapshot=off.last_verified_snapshot,
            last_drill_at=off.last_drill_at,
            last_drill_ok=off.last_drill_ok,
            next_retry_at=off.next_retry_at,
            next_snapshot_at=off.next_due_at,
            legacy_archives=len(legacy),
            contents=CONTENTS,
        )

    def verified_copies(self) -> builtins.list[Manifest]:
        """Verified snapshots off the data volume (what retention may rely on)."""
        return verified_copies(self.cfg)

    async def stop(self) -> None:
        """Daemon shutdown: stop a running restic (its snapshot is simply not taken)."""
        if self._engine is not None:
            self._engine.restic.stop_all()


def verified_copies(cfg: Config) -> list[Manifest]:
    """Verified snapshots of the configured repository, when it is off the data volume."""
    try:
        repository = resolve(cfg)
    except ObserverError:
        return []
    if on_same_volume(repository, cfg.data_dir):
        return []
    return [
        m
        for m in load_snapshots(state_dir(cfg.data_dir))
        if m.repository == repository.display and m.verified_ok
    ]
