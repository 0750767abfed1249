"""Retention: delete old files per data class, and never a raw tick file that is not safe.

Classes and their settings (0 days = keep forever):

* ``raw`` (assets/scalp, assets/swing): OBSERVER_RETAIN_RAW_DAYS. A raw file is deleted
  only when it is closed (not the newest of its track), its Parquet dataset holds all of
  its lines, PostgreSQL's checkpoint is past it (when PostgreSQL is on), and a verified
  snapshot off the data volume holds a copy with the same size and sha256 (the file is
  re-hashed right before the decision).
* ``dataset`` (datasets/track=*/date=*): OBSERVER_RETAIN_DATASET_DAYS, with the same
  off-volume condition.
* ``scalp_log``, ``swing_log``: OBSERVER_RETAIN_SCALP_LOG_DAYS / _SWING_LOG_DAYS.
* ``system_log``, ``maintenance_log``: OBSERVER_RETAIN_SYSTEM_LOG_DAYS.
* ``backup`` (legacy .tar.gz archive + manifest): OBSERVER_RETAIN_BACKUP_DAYS, and only
  once verified snapshots off the volume hold every file in it with the same sha256.

"A verified snapshot off the volume" is one recorded in the repository that
OBSERVER_BACKUP_REPOSITORY names, not on the data volume's filesystem, whose file was
restored from the repository and matched its sha256 (daemon/backup/service.py).

Age counts from the end of the day named in the file (``YYYYMMDD``, KST), else from its
last modification. ``plan()`` decides and deletes nothing (a dry run); ``apply()`` deletes
what the plan marked, re-checking each file, and records every deletion in
``$OBSERVER_MAINTENANCE_LOG_DIR/retention_YYYYMMDD.jsonl`` and on the event bus. Files too
young, or in a class kept forever, are summarised as one ``kept`` item per folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from observer.daemon.backup.manifest import FileEntry, Manifest, load_manifests, manifests_dir
from observer.daemon.backup.service import verified_copies
from observer.daemon.clock import KST, iso, to_kst
from observer.daemon.config import Config
from observer.daemon.ingest.events import Emit, emit_safely
from observer.daemon.model import Track
from observer.daemon.segments import segment_files
from observer.daemon.status.model import RetentionAction, RetentionItem, RetentionReport
from observer.daemon.stores import parquet

log = logging.getLogger(__name__)

_DAY = 86400.0
_DATE_IN_NAME = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?!\d)")
KEEP, WOULD = RetentionAction.KEPT, RetentionAction.WOULD_DELETE


class DatasetIndex(Protocol):
    def is_current(self, segment: Path) -> bool: ...


class LoadProgress(Protocol):
    def loaded_past(self, segment: Path) -> bool: ...


@dataclass
class _Summary:
    files: int = 0
    bytes: int = 0


@dataclass
class _Plan:
    items: list[RetentionItem] = field(default_factory=list)
    summary: dict[tuple[str, str, str], _Summary] = field(default_factory=dict)
    #: Files judged per folder, so a summary says how many of them it stands for.
    seen: dict[str, int] = field(default_factory=dict)

    def keep_quietly(self, folder: str, category: str, reason: str, size: int) -> None:
        s = self.summary.setdefault((folder, category, reason), _Summary())
        s.files += 1
        s.bytes += size


def _end_of_named_day(name: str) -> float | None:
    m = _DATE_IN_NAME.search(name)
    if m is None:
        return None
    try:
        day = datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=KST)
    except ValueError:
        return None
    return (day + timedelta(days=1)).timestamp()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def log_classes(c: Config) -> list[tuple[str, Path, int]]:
    """The log classes: (category, folder, days kept; 0 = forever)."""
    return [
        ("scalp_log", c.log_dir / "scalp", c.retain_scalp_log_days),
        ("swing_log", c.log_dir / "swing", c.retain_swing_log_days),
        ("system_log", c.system_log_dir, c.retain_system_log_days),
        ("maintenance_log", c.maintenance_log_dir, c.retain_system_log_days),
    ]


class Retention:
    """Plans and applies the retention rules for one daemon's volumes."""

    def __init__(
        self,
        cfg: Config,
        *,
        datasets: DatasetIndex | None = None,
        postgres: LoadProgress | None = None,
        manifests: Callable[[], list[Manifest]] | None = None,
        copies: Callable[[], list[Manifest]] | None = None,
        emit: Emit | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``postgres`` must be given when PostgreSQL is on; without it raw files are kept.

        ``manifests`` lists the legacy archives; ``copies`` the verified snapshots off the
        data volume (default: those recorded for OBSERVER_BACKUP_REPOSITORY).
        """
        self.cfg = cfg
        self.data_dir = cfg.data_dir
        self._datasets = datasets or _DatasetFiles(cfg.data_dir / "datasets")
        self._postgres = postgres
        self._manifests = manifests or (lambda: load_manifests(cfg.data_dir))
        self._copies = copies or (lambda: verified_copies(cfg))
        self._emit = emit
        self._clock = clock
        self._lock = asyncio.Lock()

    # --- planning ----------------------------------------------------------------------
    def plan(self, now: float | None = None) -> RetentionReport:
        """What a run at ``now`` would delete, and why the rest is kept. Deletes nothing."""
        now = self._clock() if now is None else now
        p = _Plan()
        held = _Held(self._copies())
        self._plan_backups(p, now, held)
        self._plan_raw(p, now, held)
        self._plan_datasets(p, now, held)
        for category, logs, days in log_classes(self.cfg):
            self._plan_plain(p, now, category, logs, days)
        for (where, category, reason), s in sorted(p.summary.items()):
            total = p.seen.get(where, s.files)
            count = f"all {total} file(s)" if s.files == total else f"{s.files} of {total} file(s)"
            p.items.append(RetentionItem(where, category, KEEP, f"{count}: {reason}", s.bytes))
        return RetentionReport(dry_run=True, items=p.items, ran_at=now)

    def _rel(self, path: Path) -> str:
        with contextlib.suppress(ValueError):
            return str(path.relative_to(self.data_dir))
        return str(path)

    def _age(self, path: Path, now: float, size_mtime: tuple[int, float]) -> float:
        end = _end_of_named_day(path.name)
        return (now - (end if end is not None else size_mtime[1])) / _DAY

    def _decide(
        self, p: _Plan, path: Path, category: str, days: int, now: float, folder: str
    ) -> tuple[int, float] | None:
        """Common gate: returns (bytes, age) when old enough to consider, else records a keep."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        p.seen[folder] = p.seen.get(folder, 0) + 1
        if days <= 0:
            p.keep_quietly(folder, category, "kept forever (retention set to 0 days)", st.st_size)
            return None
        age = self._age(path, now, (st.st_size, st.st_mtime))
        if age < days:
            p.keep_quietly(folder, category, f"younger than {days} day(s)", st.st_size)
            return None
        return st.st_size, round(age, 3)

    def _plan_plain(self, p: _Plan, now: float, category: str, folder: Path, days: int) -> None:
        if not folder.is_dir():
            return
        for f in sorted(x for x in folder.rglob("*") if x.is_file()):
            got = self._decide(p, f, category, days, now, self._rel(folder))
            if got is not None:
                p.items.append(
                    RetentionItem(self._rel(f), category, WOULD, f"older than {days} day(s)", *got)
                )

    def _plan_datasets(self, p: _Plan, now: float, held: _Held) -> None:
        days = self.cfg.retain_dataset_days
        for f in sorted((self.data_dir / "datasets").glob("track=*/date=*/*.parquet")):
            got = self._decide(p, f, "dataset", days, now, "datasets")  # age from the stem
            if got is None:
                continue
            why = held.blocker(self._rel(f), got[0], f)
            action, reason = (KEEP, why) if why else (WOULD, f"older than {days} day(s); {HELD}")
            p.items.append(RetentionItem(self._rel(f), "dataset", action, reason, *got))

    def _plan_backups(self, p: _Plan, now: float, held: _Held) -> None:
        days = self.cfg.retain_backup_days
        for m in self._manifests():  # legacy archives, newest first
            size = m.archive_bytes
            age = round((now - m.created_at) / _DAY, 3)
            if days <= 0 or age < days:
                reason = (
                    "kept forever (retention set to 0 days)" if days <= 0
                    else f"younger than {days} day(s)"
                )  # fmt: skip
                p.keep_quietly("backups", "backup", reason, size)
                continue
            missing = [e for e in m.files if not held.holds(e)]
            if missing:
                reason = (
                    f"{len(missing)} file(s) in it (first {missing[0].path}) are in no verified "
                    "snapshot off the data volume"
                )
                p.items.append(RetentionItem(m.archive, "backup", KEEP, reason, size, age))
                continue
            reason = f"older than {days} day(s); every file in it is in a verified snapshot"
            p.items.append(RetentionItem(m.archive, "backup", WOULD, reason, size, age))

    def _plan_raw(self, p: _Plan, now: float, held: _Held) -> None:
        days = self.cfg.retain_raw_days
        for track in Track:
            files = segment_files(self.data_dir, track)
            for i, f in enumerate(files):
                got = self._decide(p, f, "raw", days, now, f"assets/{track.value}")
                if got is None:
                    continue
                size, age = got
                reason = self._raw_blocker(f, size, i == len(files) - 1, held)
                action = KEEP if reason else WOULD
                reason = reason or f"older than {days} day(s); derived, loaded and {HELD}"
                p.items.append(RetentionItem(self._rel(f), "raw", action, reason, size, age))

    def _raw_blocker(self, f: Path, size: int, newest: bool, held: _Held) -> str:
        """Why ``f`` must be kept, or "" when it is safe to delete."""
        if newest:
            return "still open: the newest file of its track"
        if not self._datasets.is_current(f):
            return "its Parquet dataset is missing or incomplete"
        if self.cfg.postgres_enabled and (
            self._postgres is None or not self._postgres.loaded_past(f)
        ):
            return "PostgreSQL has not loaded all of its lines yet"
        return held.blocker(self._rel(f), size, f)

    # --- applying ----------------------------------------------------------------------
    def apply(self, report: RetentionReport) -> RetentionReport:
        """Delete what ``report`` marked; returns the report of what was done."""
        now = self._clock()
        out: list[RetentionItem] = []
        for item in report.items:
            if item.action is not WOULD:
                out.append(item)
                continue
            problem = self._delete(item)
            if problem:
                out.append(replace(item, action=KEEP, reason=problem))
                continue
            done = replace(item, action=RetentionAction.DELETED)
            out.append(done)
            self._record(done, now)
        return RetentionReport(dry_run=False, items=out, ran_at=now)

    def _delete(self, item: RetentionItem) -> str:
        path = self.data_dir / item.path if not Path(item.path).is_absolute() else Path(item.path)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return "already gone"
        if item.category in ("raw", "dataset") and size != item.bytes:
            return f"changed since planned ({item.bytes} -> {size} bytes); re-run retention"
        try:
            path.unlink()
            if item.category == "backup":
                stem = path.name.split(".", 1)[0]
                (manifests_dir(self.data_dir) / f"{stem}.json").unlink(missing_ok=True)
            if item.category == "dataset":
                with contextlib.suppress(OSError):
                    path.parent.rmdir()  # only when empty
        except OSError as e:
            return f"delete failed: {e.strerror} (errno {e.errno})"
        return ""

    def _record(self, item: RetentionItem, now: float) -> None:
        entry = {
            "ts": iso(to_kst(now)),
            "event": "retention_deleted",
            "path": item.path,
            "category": item.category,
            "bytes": item.bytes,
            "age_days": item.age_days,
            "reason": item.reason,
        }
        log.info(
            "retention: deleted %s (%s, %d bytes): %s",
            item.path,
            item.category,
            item.bytes,
            item.reason,
        )
        folder = self.cfg.maintenance_log_dir
        name = f"retention_{to_kst(now).strftime('%Y%m%d')}.jsonl"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / name, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError as e:
            log.error("retention: cannot write the maintenance log %s: %s", folder / name, e)
        emit_safely(
            self._emit,
            "retention_deleted",
            path=item.path,
            category=item.category,
            bytes=item.bytes,
        )

    # --- entry points ------------------------------------------------------------------
    async def run(self, apply: bool = False) -> RetentionReport:
        """RunRetention: a dry run unless ``apply``; one run at a time, off the event loop."""
        async with self._lock:
            report = await asyncio.to_thread(self.plan)
            if apply:
                report = await asyncio.to_thread(self.apply, report)
                emit_safely(
                    self._emit,
                    "retention",
                    deleted=sum(1 for i in report.items if i.action is RetentionAction.DELETED),
                    bytes_freed=report.bytes_freed,
                )
            return report

    def next_run(self, now: float) -> float | None:
        """Next daily run (POSIX seconds) at OBSERVER_RETENTION_TIME KST; None when unset."""
        if not self.cfg.retention_time:
            return None
        hh, mm = (int(x) for x in self.cfg.retention_time.split(":"))
        t = to_kst(now)
        at = t.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if at <= t:
            at += timedelta(days=1)
        return at.timestamp()

    async def schedule_loop(self) -> None:
        """Apply retention daily at OBSERVER_RETENTION_TIME until cancelled."""
        while True:
            at = self.next_run(self._clock())
            if at is None:
                return
            # Sleep in steps and re-check: the wall clock may jump (NTP, suspend).
            left = at - self._clock()
            while left > 0:
                await asyncio.sleep(min(left, 60.0))
                left = at - self._clock()
            try:
                report = await self.run(apply=True)
                log.info("retention: freed %d bytes", report.bytes_freed)
            except Exception:  # a failed run must not end the schedule
                log.exception("retention: scheduled run failed")


HELD = "in a verified snapshot off the data volume"


class _Held:
    """What verified snapshots off the data volume hold: (path, size) -> sha256s."""

    def __init__(self, copies: list[Manifest]) -> None:
        self._by_path: dict[tuple[str, int], set[str]] = {}
        for m in copies:
            if not m.verified_ok:
                continue
            proven = set(m.verified_files)
            for e in m.files:
                if e.path in proven:
                    self._by_path.setdefault((e.path, e.bytes), set()).add(e.sha256)

    def holds(self, e: FileEntry) -> bool:
        return e.sha256 in self._by_path.get((e.path, e.bytes), set())

    def blocker(self, rel: str, size: int, path: Path) -> str:
        """Why the file at ``path`` is not safe to delete, or "" when a copy holds it."""
        digests = self._by_path.get((rel, size))
        if not digests:
            return "no verified snapshot off the data volume holds it"
        if sha256_of(path) not in digests:
            return "no verified snapshot off the data volume holds it with the same sha256"
        return ""


class _DatasetFiles:
    def __init__(self, datasets_dir: Path) -> None:
        self.datasets_dir = datasets_dir

    def is_current(self, segment: Path) -> bool:
        return parquet.is_current(segment, self.datasets_dir)
