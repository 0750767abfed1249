"""Capacity you can read: per volume, the days until it is full at the retention policy and
at Observer's own rate of writing.

The rate is Observer's bytes per trading day, read from its own files (tick segments,
Parquet, logs, named by their trade date; a local backup repository by what its snapshots
added), never from the filesystem's growth, which on a shared disk moves with other
tenants. Each class of files grows by its rate on every trading day until the policy
deletes as much as is written (files kept N days: at most the trading days of N + 2
calendar days are on the volume, just before the daily retention run); a class kept
forever grows without end. :func:`project` walks the days forward from today's use.

The same arithmetic serves ``doctor`` (a PVC too small for the policy at the design load)
and ``bench/backup.py`` (the steady state of a 20 GiB volume), so the three agree.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from observer.daemon import volumes as vol
from observer.daemon.backup.manifest import Manifest
from observer.daemon.backup.repository import on_same_volume, resolve
from observer.daemon.clock import to_kst
from observer.daemon.config import Config
from observer.daemon.errors import ObserverError
from observer.daemon.stores.retention import log_classes

_DATE = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?!\d)")
#: Complete trading days the rate is averaged over (the newest ones present).
RATE_DAYS = 5
#: How far ahead a projection looks (calendar days); beyond it a volume "never" fills.
HORIZON_DAYS = 3650
#: Minutes of KRX trading in a day, and in the longest hourly segment.
SESSION_MINUTES, SEGMENT_MINUTES = 390, 60

#: The design load the issue sizes the volume for, and what one tick weighs on disk there
#: (bench/backup.py measures both per-tick figures: the JSONL line and its Parquet row; at
#: schema version 2, 30 days at 2 million ticks a day from the simulator's market).
DESIGN_TICKS_PER_DAY = 2_000_000
RAW_BYTES_PER_TICK = 484.8
PARQUET_BYTES_PER_TICK = 31.2


def stage_copy_bytes(raw_per_day: float) -> float:
    """Room a snapshot's stage copy of the open hourly segment takes at its peak, at
    ``raw_per_day`` bytes of raw JSONL a trading day."""
    return raw_per_day * SEGMENT_MINUTES / SESSION_MINUTES


def max_trading_days(calendar_days: int) -> int:
    """Weekdays in the worst window of ``calendar_days`` consecutive days (holidays aside)."""
    if calendar_days <= 0:
        return 0
    weeks, rest = divmod(calendar_days, 7)
    return 5 * weeks + max(sum(1 for i in range(rest) if (s + i) % 7 < 5) for s in range(7))


def kept_trading_days(keep_days: int) -> int:
    """Trading days of files on the volume at most when files are kept ``keep_days`` days:
    retention deletes a file once a whole ``keep_days`` passed after the end of its day, at
    its daily run, so just before a run the last ``keep_days + 2`` calendar days are there."""
    return max_trading_days(keep_days + 2)


@dataclass
class ClassUse:
    """One class of Observer's files on a volume: how much there is, what it adds a day."""

    name: str
    keep_days: int  # 0: kept forever
    bytes_now: int = 0
    per_day: float = 0.0  # bytes per trading day
    days_seen: int = 0  # complete trading days the rate was averaged over
    note: str = ""  # why the policy is what it is (e.g. kept: nothing off the volume)

    @property
    def steady_bytes(self) -> float | None:
        """Bytes at the policy's steady state; None when kept forever (and growing)."""
        if self.keep_days <= 0:
            return None if self.per_day > 0 else float(self.bytes_now)
        return max(float(self.bytes_now), self.per_day * kept_trading_days(self.keep_days))


@dataclass(frozen=True)
class Projection:
    """Where a volume goes at this policy and rate."""

    bytes_per_trading_day: float
    days_until_full: float | None  # None: never within the horizon (or no rate yet)
    peak_bytes: int | None  # the steady state's use; None when something grows forever
    text: str


def _weekday(d: date) -> bool:
    return d.weekday() < 5


def project(
    capacity: int,
    used: int,
    reserve: int,
    classes: Sequence[ClassUse],
    today: date,
    *,
    transient: float = 0.0,
) -> Projection:
    """Days until ``used`` reaches ``capacity - reserve`` as ``classes`` grow by their rate
    on trading days up to their steady state (``transient``: room a snapshot's stage copy
    needs at its peak)."""
    rate = sum(c.per_day for c in classes)
    limit = capacity - reserve
    known = [c for c in classes if c.days_seen > 0 or c.per_day > 0]
    if not known:
        return Projection(0.0, None, None, "no complete trading day of Observer's files yet")
    growing = [c for c in classes if c.keep_days <= 0 and c.per_day > 0]
    steady = sum(c.steady_bytes or 0.0 for c in classes if c.steady_bytes is not None)
    now_bytes = sum(c.bytes_now for c in classes)
    base = used - now_bytes + transient  # everything else on the volume stays as it is
    days: float | None = 0.0 if base + now_bytes >= limit else None  # full already
    grown = 0.0
    trading = 0
    d = today
    for n in range(1, HORIZON_DAYS + 1 if days is None else 0):
        d += timedelta(days=1)
        if not _weekday(d):
            continue
        trading += 1
        grown = 0.0
        for c in classes:
            cap = c.steady_bytes
            room = float("inf") if cap is None else max(0.0, cap - c.bytes_now)
            grown += min(c.per_day * trading, room)
        if base + now_bytes + grown >= limit:
            days = float(n)
            break
    policy = ", ".join(_kept(c) for c in classes if c.bytes_now or c.per_day)
    per_day = f"{rate / 1e9:.2f} GB a trading day"
    if days is not None:
        why = f"; {', '.join(_kept(c) for c in growing)}" if growing else ""
        text = f"fills in {days:.0f} days at {per_day}{why} ({policy})"
        return Projection(rate, days, None, text)
    if growing:
        text = f"grows {per_day} without end, full beyond {HORIZON_DAYS // 365} years ({policy})"
        return Projection(rate, None, None, text)
    peak = int(base + steady)
    share = f" ({peak / capacity:.0%})" if capacity else ""
    text = f"never fills: steady state {peak / 2**30:.1f} GiB{share} at {per_day} ({policy})"
    return Projection(rate, None, peak, text)


def _kept(c: ClassUse) -> str:
    what = c.name.replace("_", " ")
    if c.keep_days <= 0:
        return f"{what} kept forever" + (f" ({c.note})" if c.note else "")
    return f"{what} {c.keep_days} d"


# --- measuring Observer's own files ---------------------------------------------------------


def bytes_by_date(folder: Path) -> tuple[dict[date, int], int]:
    """Bytes of the files under ``folder`` by the trade date in their name, and the bytes of
    those without one."""
    dated: dict[date, int] = {}
    other = 0
    if not folder.is_dir():
        return dated, other
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                size = os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
            m = _DATE.search(name) or _DATE.search(root[len(str(folder)) :])
            day: date | None = None
            if m is not None:
                with contextlib.suppress(ValueError):
                    day = date(int(m[1]), int(m[2]), int(m[3]))
            if day is None:
                other += size
            else:
                dated[day] = dated.get(day, 0) + size
    return dated, other


def rate(dated: Mapping[date, int], today: date, days: int = RATE_DAYS) -> tuple[float, int]:
    """Bytes per trading day over the newest ``days`` complete trading days present (before
    ``today``), and how many there were."""
    done = sorted((d for d in dated if d < today and _weekday(d)), reverse=True)[:days]
    if not done:
        return 0.0, 0
    return sum(dated[d] for d in done) / len(done), len(done)


def repository_rate(snapshots: Iterable[Manifest], repo_bytes: int, today: date) -> float:
    """What a local repository grows by a trading day: what the snapshots of the newest
    complete days added, scaled by the repository's own compression (its bytes over all that
    its snapshots added)."""
    added: dict[date, int] = {}
    total = 0
    for m in snapshots:
        d = to_kst(m.created_at).date()
        added[d] = added.get(d, 0) + m.data_added
        total += m.data_added
    per_day, _ = rate(added, today)
    return per_day * (repo_bytes / total) if total else 0.0


@dataclass
class VolumeCapacity:
    """Observer's classes of files on one mount point."""

    mount_point: str
    classes: list[ClassUse] = field(default_factory=list)
    transient: float = 0.0


def _mount_of(path: Path, mounts: list[vol.Mount]) -> str:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    m = vol.mount_for(p, mounts)
    return m.mount_point if m else "?"


def measure(
    cfg: Config,
    today: date,
    *,
    mounts: list[vol.Mount],
    snapshots: Sequence[Manifest] = (),
    repository_bytes: int | None = None,
) -> dict[str, VolumeCapacity]:
    """Observer's classes of files per mount point, with their bytes and rates."""
    try:
        repo = resolve(cfg)
    except ObserverError:
        repo = None
    off = repo is not None and not on_same_volume(repo, cfg.data_dir)
    held = "" if off else "no verified snapshot off the data volume: nothing is deleted"
    folders: list[tuple[str, Path, int, str]] = [
        ("raw", cfg.data_dir / "assets", cfg.retain_raw_days if off else 0, held),
        ("parquet", cfg.data_dir / "datasets", cfg.retain_dataset_days if off else 0, held),
    ]
    folders += [(name, folder, days, "") for name, folder, days in log_classes(cfg)]
    out: dict[str, VolumeCapacity] = {}
    for name, folder, days, note in folders:
        dated, _undated = bytes_by_date(folder)
        per_day, seen = rate(dated, today)
        use = ClassUse(name, days, sum(dated.values()), per_day, seen, note)
        v = out.setdefault(_mount_of(folder, mounts), VolumeCapacity(""))
        v.classes.append(use)
        if name == "raw":  # a snapshot stages a copy of the open hourly segment
            v.transient += stage_copy_bytes(per_day)
    if repo is not None and repo.path is not None and repository_bytes is not None:
        per_day = repository_rate(snapshots, repository_bytes, today)
        v = out.setdefault(_mount_of(repo.path, mounts), VolumeCapacity(""))
        v.classes.append(
            ClassUse("local backup repository", 0, repository_bytes, per_day, 1 if per_day else 0,
                     "the repository policy prunes only what no kept snapshot holds")
        )  # fmt: skip
    for mount, v in out.items():
        v.mount_point = mount
    return out


def design_classes(cfg: Config, ticks_per_day: int = DESIGN_TICKS_PER_DAY) -> list[ClassUse]:
    """The data volume's classes at a load of ``ticks_per_day`` (nothing on it yet), for
    sizing a volume before it runs (``doctor``)."""
    raw = ticks_per_day * RAW_BYTES_PER_TICK
    return [
        ClassUse("raw", cfg.retain_raw_days, 0, raw, 1),
        ClassUse("parquet", cfg.retain_dataset_days, 0, ticks_per_day * PARQUET_BYTES_PER_TICK, 1),
    ]


def design_peak(cfg: Config, ticks_per_day: int = DESIGN_TICKS_PER_DAY) -> float | None:
    """Bytes of the data volume at its steady state at ``ticks_per_day``; None when the
    policy keeps raw files or Parquet forever (the volume then fills whatever its size)."""
    classes = design_classes(cfg, ticks_per_day)
    steady = [c.steady_bytes for c in classes]
    if any(s is None for s in steady):
        return None
    return sum(s or 0.0 for s in steady) + stage_copy_bytes(classes[0].per_day)
