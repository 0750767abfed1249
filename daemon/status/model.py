"""The daemon's status model: plain dataclasses and their JSON form (status.json).

The composition root fills a :class:`Status` from the live components; the API sends it
in its protobuf form (daemon/status/proto.py), and the periodic ``status.json`` snapshot
uses :func:`to_json`.
Times are POSIX seconds (``None`` = never / unknown), converted to
``google.protobuf.Timestamp`` on the wire and to ISO-8601 KST in JSON.

Nothing here ever holds a secret value: :func:`secret_statuses` reduces each secret
setting to presence, source and its keyed fingerprint (daemon/fingerprints.py).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from observer.daemon.clock import iso, to_kst
from observer.daemon.config import Config, Origin, secrets_of
from observer.daemon.model import Track
from observer.daemon.volumes import VolumeKind


class Source(StrEnum):
    SIMULATOR = "simulator"
    KIS_REAL = "kis_real"
    KIS_PAPER = "kis_paper"
    KIS_CUSTOM = "kis_custom"


class CollectorState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class SessionState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    APPKEY_IN_USE = "appkey_in_use"  # KIS refuses the session: another one holds the app key


class SinkState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DISABLED = "disabled"
    FAILED = "failed"


class BackupResult(StrEnum):
    NONE = "none"
    OK = "ok"
    FAILED = "failed"
    RUNNING = "running"


class Verification(StrEnum):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    FAILED = "failed"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class RetentionAction(StrEnum):
    DELETED = "deleted"
    WOULD_DELETE = "would_delete"
    KEPT = "kept"


@dataclass
class KisSessionStatus:
    state: SessionState = SessionState.DISCONNECTED
    url: str = ""  # never carries credentials
    connected_since: float | None = None
    reconnects: int = 0
    last_frame_at: float | None = None
    next_attempt_at: float | None = None
    last_error: str = ""


@dataclass
class SubscriptionFailure:
    symbol: str
    code: str
    message: str


@dataclass
class TrackRate:
    track: Track
    rate_1s: float = 0.0
    rate_1m: float = 0.0
    total: int = 0
    today: int = 0
    last_at: float | None = None


@dataclass
class CollectorStatus:
    state: CollectorState = CollectorState.STARTING
    last_error: str = ""
    session: KisSessionStatus = field(default_factory=KisSessionStatus)
    subscriptions: list[str] = field(default_factory=list)
    failed_subscriptions: list[SubscriptionFailure] = field(default_factory=list)
    rates: list[TrackRate] = field(default_factory=list)
    malformed_frames: int = 0
    market: str = ""
    #: A session of the market runs now (the exchange calendar's trading days and hours).
    market_open: bool = False
    #: Today's session hours ("09:00-15:30 KST") or why the market is closed today.
    market_hours: str = ""


@dataclass
class VolumeStatus:
    mount_point: str
    paths: list[str] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    kind: VolumeKind = VolumeKind.LOCAL_DISK
    kind_reason: str = ""
    fs_type: str = ""
    capacity_bytes: int = 0
    used_bytes: int = 0
    free_bytes: int = 0
    inodes_total: int = 0
    inodes_free: int = 0
    #: Growth of the filesystem's used bytes: every writer on it, other tenants included.
    growth_bytes_per_second: float = 0.0
    #: Seconds until free_bytes runs out at Observer's own growth (None: not growing).
    seconds_until_full: float | None = None
    writable: bool = True
    nearly_full: bool = False
    #: Bytes of Observer's own files under ``paths`` (None until first measured).
    observer_bytes: int | None = None
    #: Growth of observer_bytes, bytes per second (what drives seconds_until_full).
    observer_growth_bytes_per_second: float = 0.0
    # --- capacity at the retention policy (daemon/status/capacity.py) ---------------------
    observer_bytes_per_trading_day: float = 0.0  # Observer's own files, not the filesystem
    projected_days_until_full: float | None = None  # None: never, or no rate yet
    projected_peak_bytes: int | None = None  # the steady state; None when it grows forever
    projection: str = ""


@dataclass
class SinkLag:
    name: str
    state: SinkState = SinkState.OK
    lag_rows: int = 0
    lag_seconds: float = 0.0
    checkpoint_file: str = ""
    checkpoint_offset: int = 0
    last_error: str = ""


@dataclass
class StreamStatus:
    name: str
    track: Track | None = None  # None for the event bus
    current_file: str = ""
    lines: int = 0
    bytes: int = 0
    opened_at: float | None = None
    next_rotation_at: float | None = None
    last_closed_file: str = ""
    pending: int = 0
    last_fsync_at: float | None = None
    last_error: str = ""
    sinks: list[SinkLag] = field(default_factory=list)


@dataclass
class SecretStatus:
    name: str
    present: bool
    source: str
    fingerprint: str = ""
    age_seconds: float | None = None
    expires_at: float | None = None


@dataclass
class BackupStatus:
    last_result: BackupResult = BackupResult.NONE
    last_id: str = ""
    last_error: str = ""
    last_success_at: float | None = None
    last_duration_seconds: float = 0.0
    next_scheduled_at: float | None = None
    count: int = 0
    total_bytes: int = 0
    verification: Verification = Verification.UNVERIFIED
    #: When ``last_verified_snapshot`` was verified.
    last_verified_at: float | None = None
    retain_days: int = 0
    #: What a backup holds, in words.
    contents: str = ""
    # --- off the data volume (the RPO) -------------------------------------------------
    repository: str = ""  # display form, never credentials
    off_volume: bool = False  # False: a local repository on the data volume's filesystem
    newest_snapshot: str = ""
    newest_snapshot_at: float | None = None  # when the newest snapshot's data was read
    rpo_seconds: float | None = None  # age of the newest data off the volume (None: none)
    rpo_bound_seconds: float = 0.0
    rpo_over_bound: bool = False  # during market hours, above the bound (or none off it)
    repository_bytes: int | None = None  # None until measured
    repository_measured_at: float | None = None
    snapshots: int = 0
    last_verified_snapshot: str = ""
    last_drill_at: float | None = None
    last_drill_ok: bool | None = None
    next_retry_at: float | None = None
    next_snapshot_at: float | None = None
    legacy_archives: int = 0


@dataclass
class ContractWarning:
    severity: Severity
    variable: str
    path: str
    message: str
    fix: str


@dataclass
class ProbeHealth:
    service: str
    serving: bool
    reason: str = ""


@dataclass
class TailStats:
    subscribers: int = 0
    dropped_total: int = 0


@dataclass
class RecoveryReport:
    path: str
    action: str  # "truncated_torn_tail" | "quarantined"
    detail: str = ""
    bytes: int = 0
    at: float | None = None


@dataclass
class GapRecord:
    start: float
    end: float | None = None
    duration_seconds: float = 0.0
    symbols: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class Status:
    """Everything the daemon reports about itself at one instant."""

    daemon_version: str
    app_env: str
    started_at: float
    source: Source
    source_detail: str = ""
    host: str = ""
    pid: int = 0
    generated_at: float = field(default_factory=time.time)
    collector: CollectorStatus = field(default_factory=CollectorStatus)
    volumes: list[VolumeStatus] = field(default_factory=list)
    streams: list[StreamStatus] = field(default_factory=list)
    secrets: list[SecretStatus] = field(default_factory=list)
    backups: BackupStatus = field(default_factory=BackupStatus)
    warnings: list[ContractWarning] = field(default_factory=list)
    health: list[ProbeHealth] = field(default_factory=list)
    tail: TailStats = field(default_factory=TailStats)
    recovery: list[RecoveryReport] = field(default_factory=list)
    gaps_today: list[GapRecord] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)

    @property
    def uptime_seconds(self) -> float:
        return max(0.0, self.generated_at - self.started_at)


# --- results of control calls (shared with the components that produce them) ------------


@dataclass
class ClosedSegment:
    """A segment closed by RotateNow (path empty when the track had none open)."""

    track: Track
    path: str = ""
    lines: int = 0
    bytes: int = 0


@dataclass
class SubscriptionChange:
    """Outcome of SetSubscriptions."""

    subscribed: list[str]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[SubscriptionFailure] = field(default_factory=list)


@dataclass
class RetentionItem:
    path: str
    category: str  # scalp_log, swing_log, system_log, raw, dataset, backup
    action: RetentionAction
    reason: str
    bytes: int = 0
    age_days: float = 0.0


@dataclass
class RetentionReport:
    dry_run: bool
    items: list[RetentionItem] = field(default_factory=list)
    ran_at: float = field(default_factory=time.time)

    @property
    def bytes_freed(self) -> int:
        return sum(i.bytes for i in self.items if i.action is not RetentionAction.KEPT)


# --- building blocks the composition root uses ---------------------------------------------


def source_of(cfg: Config) -> Source:
    """Which kind of feed ``cfg`` selects."""
    if cfg.uses_simulator:
        return Source.SIMULATOR
    if cfg.kis_env == "real":
        return Source.KIS_REAL
    if cfg.kis_env == "paper":
        return Source.KIS_PAPER
    return Source.KIS_CUSTOM


def secret_statuses(
    cfg: Config,
    origins: Mapping[str, Origin],
    fingerprint: Callable[[str], str],
    *,
    loaded_at: float,
    now: float | None = None,
) -> list[SecretStatus]:
    """Presence, source and fingerprint of every secret setting; never a value."""
    now = time.time() if now is None else now
    out = []
    for v, value in secrets_of(cfg):
        present = bool(value)
        out.append(
            SecretStatus(
                name=v.name,
                present=present,
                source=str(origins.get(v.name, Origin("default"))) if present else "unset",
                fingerprint=fingerprint(value) if present else "",
                age_seconds=max(0.0, now - loaded_at) if present else None,
            )
        )
    return out


# --- JSON (status.json snapshots) ---------------------------------------------------------

_TIME_FIELDS = frozenset(
    {
        "generated_at", "started_at", "connected_since", "last_frame_at", "next_attempt_at",
        "last_at", "opened_at", "next_rotation_at", "last_fsync_at", "expires_at",
        "last_success_at", "next_scheduled_at", "last_verified_at", "at", "start", "end",
        "newest_snapshot_at", "repository_measured_at", "last_drill_at", "next_retry_at",
        "next_snapshot_at",
    }
)  # fmt: skip


def _jsonable(obj: Any, key: str = "") -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v, k) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, StrEnum):
        return obj.value
    if key in _TIME_FIELDS and isinstance(obj, int | float) and not isinstance(obj, bool):
        return iso(to_kst(obj))
    return obj


def to_json_dict(s: Status) -> dict[str, Any]:
    """``s`` as plain JSON types; times as ISO-8601 KST strings (None stays null)."""
    d = _jsonable(dataclasses.asdict(s))
    d["uptime_seconds"] = s.uptime_seconds
    assert isinstance(d, dict)
    return d


def to_json(s: Status, *, indent: int | None = 2) -> str:
    """The ``status.json`` snapshot text."""
    return json.dumps(to_json_dict(s), ensure_ascii=False, indent=indent, sort_keys=False)
