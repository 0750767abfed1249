"""The daemon's status: plain dataclasses, their protobuf form and their JSON form.

The composition root fills a :class:`Status` from the live components; the API sends it
with :func:`to_proto`, and the periodic ``status.json`` snapshot uses :func:`to_json`.
Times are POSIX seconds (``None`` = never / unknown), converted to
``google.protobuf.Timestamp`` on the wire and to ISO-8601 KST in JSON.

Nothing here ever holds a secret value: :func:`secret_statuses` reduces each secret
setting to presence, source and fingerprint.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from observer.daemon.clock import iso, to_kst
from observer.daemon.config import Config, Origin, fingerprint, secrets_of
from observer.daemon.model import Track
from observer.v1 import observer_pb2 as pb


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


class VolumeKind(StrEnum):
    PERSISTENT_VOLUME = "persistent_volume"
    CONTAINER_ROOT_FS = "container_root_fs"
    LOCAL_DISK = "local_disk"
    TMPFS = "tmpfs"
    EPHEMERAL = "ephemeral"
    NETWORK = "network"


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
    growth_bytes_per_second: float = 0.0
    seconds_until_full: float | None = None
    writable: bool = True
    nearly_full: bool = False


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
    last_verified_at: float | None = None
    retain_days: int = 0


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
    cfg: Config, origins: Mapping[str, Origin], *, loaded_at: float, now: float | None = None
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


# --- protobuf ------------------------------------------------------------------------------


def timestamp(t: float | None) -> Timestamp | None:
    """POSIX seconds as a protobuf Timestamp (None stays unset)."""
    if t is None:
        return None
    secs = int(t // 1)
    return Timestamp(seconds=secs, nanos=int((t - secs) * 1e9))


def track_to_proto(track: Track | None) -> pb.Track:
    if track is Track.SCALP:
        return pb.TRACK_SCALP
    if track is Track.SWING:
        return pb.TRACK_SWING
    return pb.TRACK_UNSPECIFIED


def _enum(enum_type: Any, prefix: str, value: StrEnum) -> Any:
    return enum_type.Value(f"{prefix}_{value.value.upper()}")


def to_proto(s: Status) -> pb.Status:
    """The wire form of ``s``."""
    c = s.collector
    return pb.Status(
        generated_at=timestamp(s.generated_at),
        daemon_version=s.daemon_version,
        app_env=s.app_env,
        started_at=timestamp(s.started_at),
        uptime_seconds=s.uptime_seconds,
        source=_enum(pb.Source, "SOURCE", s.source),
        source_detail=s.source_detail,
        host=s.host,
        pid=s.pid,
        collector=pb.Collector(
            state=_enum(pb.CollectorState, "COLLECTOR_STATE", c.state),
            last_error=c.last_error,
            session=pb.KisSession(
                state=_enum(pb.SessionState, "SESSION_STATE", c.session.state),
                url=c.session.url,
                connected_since=timestamp(c.session.connected_since),
                reconnects=c.session.reconnects,
                last_frame_at=timestamp(c.session.last_frame_at),
                next_attempt_at=timestamp(c.session.next_attempt_at),
                last_error=c.session.last_error,
            ),
            subscriptions=c.subscriptions,
            failed_subscriptions=[_failure(f) for f in c.failed_subscriptions],
            rates=[
                pb.TrackRate(
                    track=track_to_proto(r.track),
                    rate_1s=r.rate_1s,
                    rate_1m=r.rate_1m,
                    total=r.total,
                    today=r.today,
                    last_at=timestamp(r.last_at),
                )
                for r in c.rates
            ],
            malformed_frames=c.malformed_frames,
            market=c.market,
        ),
        volumes=[_volume(v) for v in s.volumes],
        streams=[_stream(st) for st in s.streams],
        secrets=[
            pb.SecretStatus(
                name=x.name,
                present=x.present,
                source=x.source,
                fingerprint=x.fingerprint,
                age_seconds=x.age_seconds,
                expires_at=timestamp(x.expires_at),
            )
            for x in s.secrets
        ],
        backups=backup_status_to_proto(s.backups),
        warnings=[
            pb.ContractWarning(
                severity=_enum(pb.Severity, "SEVERITY", w.severity),
                variable=w.variable,
                path=w.path,
                message=w.message,
                fix=w.fix,
            )
            for w in s.warnings
        ],
        health=[
            pb.ProbeHealth(service=h.service, serving=h.serving, reason=h.reason) for h in s.health
        ],
        tail=pb.TailStats(subscribers=s.tail.subscribers, dropped_total=s.tail.dropped_total),
        recovery=[
            pb.RecoveryReport(
                path=r.path, action=r.action, detail=r.detail, bytes=r.bytes, at=timestamp(r.at)
            )
            for r in s.recovery
        ],
        gaps_today=[
            pb.Gap(
                start=timestamp(g.start),
                end=timestamp(g.end),
                duration_seconds=g.duration_seconds,
                symbols=g.symbols,
                reason=g.reason,
            )
            for g in s.gaps_today
        ],
        degraded=s.degraded,
    )


def _failure(f: SubscriptionFailure) -> pb.SubscriptionFailure:
    return pb.SubscriptionFailure(symbol=f.symbol, code=f.code, message=f.message)


def _volume(v: VolumeStatus) -> pb.Volume:
    return pb.Volume(
        mount_point=v.mount_point,
        paths=v.paths,
        variables=v.variables,
        kind=_enum(pb.VolumeKind, "VOLUME_KIND", v.kind),
        kind_reason=v.kind_reason,
        fs_type=v.fs_type,
        capacity_bytes=v.capacity_bytes,
        used_bytes=v.used_bytes,
        free_bytes=v.free_bytes,
        inodes_total=v.inodes_total,
        inodes_free=v.inodes_free,
        growth_bytes_per_second=v.growth_bytes_per_second,
        seconds_until_full=v.seconds_until_full,
        writable=v.writable,
        nearly_full=v.nearly_full,
    )


def _stream(st: StreamStatus) -> pb.Stream:
    return pb.Stream(
        name=st.name,
        track=track_to_proto(st.track),
        current_file=st.current_file,
        lines=st.lines,
        bytes=st.bytes,
        opened_at=timestamp(st.opened_at),
        next_rotation_at=timestamp(st.next_rotation_at),
        last_closed_file=st.last_closed_file,
        pending=st.pending,
        last_fsync_at=timestamp(st.last_fsync_at),
        last_error=st.last_error,
        sinks=[
            pb.SinkLag(
                name=k.name,
                state=_enum(pb.SinkState, "SINK_STATE", k.state),
                lag_rows=k.lag_rows,
                lag_seconds=k.lag_seconds,
                checkpoint_file=k.checkpoint_file,
                checkpoint_offset=k.checkpoint_offset,
                last_error=k.last_error,
            )
            for k in st.sinks
        ],
    )


def backup_status_to_proto(b: BackupStatus) -> pb.BackupStatus:
    return pb.BackupStatus(
        last_result=_enum(pb.BackupResult, "BACKUP_RESULT", b.last_result),
        last_id=b.last_id,
        last_error=b.last_error,
        last_success_at=timestamp(b.last_success_at),
        last_duration_seconds=b.last_duration_seconds,
        next_scheduled_at=timestamp(b.next_scheduled_at),
        count=b.count,
        total_bytes=b.total_bytes,
        verification=_enum(pb.VerificationState, "VERIFICATION_STATE", b.verification),
        last_verified_at=timestamp(b.last_verified_at),
        retain_days=b.retain_days,
    )


def subscription_change_to_proto(c: SubscriptionChange) -> pb.SetSubscriptionsResponse:
    return pb.SetSubscriptionsResponse(
        subscribed=c.subscribed,
        added=c.added,
        removed=c.removed,
        failed=[_failure(f) for f in c.failed],
    )


def retention_to_proto(r: RetentionReport) -> pb.RetentionReport:
    return pb.RetentionReport(
        dry_run=r.dry_run,
        items=[
            pb.RetentionItem(
                path=i.path,
                category=i.category,
                action=_enum(pb.RetentionAction, "RETENTION_ACTION", i.action),
                reason=i.reason,
                bytes=i.bytes,
                age_days=i.age_days,
            )
            for i in r.items
        ],
        bytes_freed=r.bytes_freed,
        ran_at=timestamp(r.ran_at),
    )


# --- JSON (status.json snapshots) ---------------------------------------------------------

_TIME_FIELDS = frozenset(
    {
        "generated_at", "started_at", "connected_since", "last_frame_at", "next_attempt_at",
        "last_at", "opened_at", "next_rotation_at", "last_fsync_at", "expires_at",
        "last_success_at", "next_scheduled_at", "last_verified_at", "at", "start", "end",
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
