"""Every conversion to the wire form (observer.v1): the status snapshot, the results of
control calls (rotation, subscriptions, retention, backups) and tick records.

Times are POSIX seconds in the domain model (``None`` = never / unknown) and
``google.protobuf.Timestamp`` on the wire.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from observer.daemon.backup.archive import Progress
from observer.daemon.backup.manifest import Manifest
from observer.daemon.backup.verify import VerifyResult
from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.schema.fields import DERIVED, SCHEMAS
from observer.daemon.schema.lines import iso_date, iso_ts
from observer.daemon.status.model import (
    BackupStatus,
    ClosedSegment,
    RetentionReport,
    Status,
    StreamStatus,
    SubscriptionChange,
    SubscriptionFailure,
    VolumeStatus,
)
from observer.daemon.volumes import VolumeKind
from observer.v1 import observer_pb2 as pb


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


def status_to_proto(s: Status) -> pb.Status:
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
            market_open=c.market_open,
            market_hours=c.market_hours,
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
        kind=pb.VOLUME_KIND_UNSPECIFIED
        if v.kind is VolumeKind.UNKNOWN
        else _enum(pb.VolumeKind, "VOLUME_KIND", v.kind),
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


# --- control results -------------------------------------------------------------------

_PHASES = {
    "scanning": pb.BACKUP_PHASE_SCANNING,
    "archiving": pb.BACKUP_PHASE_ARCHIVING,
    "finalizing": pb.BACKUP_PHASE_FINALIZING,
    "verifying": pb.BACKUP_PHASE_VERIFYING,
    "done": pb.BACKUP_PHASE_DONE,
}


def manifest_to_proto(m: Manifest) -> pb.BackupManifest:
    if m.verified_ok is None:
        state = pb.VERIFICATION_STATE_UNVERIFIED
    else:
        state = pb.VERIFICATION_STATE_VERIFIED if m.verified_ok else pb.VERIFICATION_STATE_FAILED
    return pb.BackupManifest(
        id=m.id,
        created_at=timestamp(m.created_at),
        daemon_version=m.daemon_version,
        archive=m.archive,
        archive_bytes=m.archive_bytes,
        archive_sha256=m.archive_sha256,
        files=[
            pb.BackupFile(
                path=f.path,
                bytes=f.bytes,
                sha256=f.sha256,
                records=f.records,
                first_ts=f.first_ts,
                last_ts=f.last_ts,
            )
            for f in m.files
        ],
        duration_seconds=m.duration_seconds,
        verification=state,
        verified_at=timestamp(m.verified_at),
    )


def verify_to_proto(r: VerifyResult) -> pb.VerifyBackupResponse:
    return pb.VerifyBackupResponse(
        id=r.id,
        ok=r.ok,
        mismatches=[
            pb.Mismatch(
                path=x.path,
                reason=x.reason,
                expected_sha256=x.expected_sha256,
                actual_sha256=x.actual_sha256,
                expected_bytes=x.expected_bytes,
                actual_bytes=x.actual_bytes,
            )
            for x in r.mismatches
        ],
        verified_at=timestamp(r.verified_at),
        files_checked=r.files_checked,
        bytes_checked=r.bytes_checked,
    )


def progress_to_proto(p: Progress) -> pb.BackupProgress:
    return pb.BackupProgress(
        phase=_PHASES.get(p.phase, pb.BACKUP_PHASE_UNSPECIFIED),
        files_done=p.files_done,
        files_total=p.files_total,
        bytes_done=p.bytes_done,
        bytes_total=p.bytes_total,
        current_file=p.current_file,
    )


def closed_segment_to_proto(c: ClosedSegment) -> pb.ClosedSegment:
    return pb.ClosedSegment(
        track=track_to_proto(c.track), path=c.path, lines=c.lines, bytes=c.bytes
    )


# --- tick records ----------------------------------------------------------------------

Item = Tick | Snapshot

#: Fields of pb.Tick itself; every other field of a record goes to pb.SwingFields (swing).
_TICK_KEYS = frozenset(pb.Tick.DESCRIPTOR.fields_by_name)


def _wire_names(track: Track) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names = [f.name for f in SCHEMAS[track] if f.name not in DERIVED]
    return tuple(n for n in names if n in _TICK_KEYS), tuple(
        n for n in names if n not in _TICK_KEYS
    )


_WIRE = {t: _wire_names(t) for t in Track}


def tick_to_proto(item: Item) -> pb.Tick:
    """The wire form of one record (scalp Tick or swing Snapshot), field by field from the
    schema table (a test holds every field to a pb.Tick or pb.SwingFields field)."""
    track = Track.SCALP if isinstance(item, Tick) else Track.SWING
    on_tick, extra = _WIRE[track]
    fields = {k: getattr(item, k) for k in on_tick}
    fields.update(
        trade_date=iso_date(item.trade_date),
        ts=iso_ts(item.trade_date, item.time),
        received_at=timestamp(item.received_at),
    )
    if track is Track.SCALP:
        return pb.Tick(track=pb.TRACK_SCALP, **fields)
    swing = pb.SwingFields(**{k: getattr(item, k) for k in extra})
    return pb.Tick(track=pb.TRACK_SWING, swing=swing, **fields)
