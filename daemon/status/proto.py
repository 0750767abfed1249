"""Every conversion to the wire form (observer.v1): the status snapshot, the results of
control calls (rotation, subscriptions, retention, backups) and tick records.

Times are POSIX seconds in the domain model (``None`` = never / unknown) and
``google.protobuf.Timestamp`` on the wire.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, TypeVar

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message
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
    SubscriptionChange,
)
from observer.v1 import observer_pb2 as pb

_M = TypeVar("_M", bound=Message)


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


def _enum_prefix(enum: EnumDescriptor) -> str:
    """VolumeKind -> VOLUME_KIND: the prefix of the enum's value names."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper()


def _enum_number(enum: EnumDescriptor, value: StrEnum) -> int:
    """The wire number of a model enum value (its name, upper-cased, under the enum's
    prefix); 0 (UNSPECIFIED) for a value the wire does not name."""
    known = enum.values_by_name.get(f"{_enum_prefix(enum)}_{value.value.upper()}")
    return known.number if known is not None else 0


def _wire(fd: Any, value: Any) -> Any:  # a FieldDescriptor (pure-Python or upb)
    if fd.message_type is not None:
        if fd.message_type.full_name == "google.protobuf.Timestamp":
            return timestamp(value)
        return to_message(getattr(pb, fd.message_type.name), value)
    if fd.enum_type is not None and isinstance(value, StrEnum):
        return _enum_number(fd.enum_type, value)
    return value


def to_message(cls: type[_M], obj: object, **given: Any) -> _M:
    """A ``cls`` message from the model object ``obj``: every message field takes the
    attribute of the same name (times to Timestamps, model enums to wire enums, nested
    dataclasses to nested messages, lists to repeated fields); ``None`` stays unset.
    ``given`` fields are taken as they are. A test holds every wire field of the status
    and of the control results to an attribute of the model."""
    values: dict[str, Any] = dict(given)
    for fd in cls.DESCRIPTOR.fields:
        if fd.name in values or not hasattr(obj, fd.name):
            continue
        value = getattr(obj, fd.name)
        if value is None:
            continue
        if fd.is_repeated:
            values[fd.name] = [_wire(fd, v) for v in value]
        else:
            values[fd.name] = _wire(fd, value)
    return cls(**values)


def status_to_proto(s: Status) -> pb.Status:
    """The wire form of ``s``."""
    return to_message(pb.Status, s)


def backup_status_to_proto(b: BackupStatus) -> pb.BackupStatus:
    return to_message(pb.BackupStatus, b)


def subscription_change_to_proto(c: SubscriptionChange) -> pb.SetSubscriptionsResponse:
    return to_message(pb.SetSubscriptionsResponse, c)


def retention_to_proto(r: RetentionReport) -> pb.RetentionReport:
    return to_message(pb.RetentionReport, r)


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
    return to_message(pb.BackupManifest, m, verification=state)


def verify_to_proto(r: VerifyResult) -> pb.VerifyBackupResponse:
    return to_message(pb.VerifyBackupResponse, r)


def progress_to_proto(p: Progress) -> pb.BackupProgress:
    return to_message(pb.BackupProgress, p, phase=_PHASES.get(p.phase, pb.BACKUP_PHASE_UNSPECIFIED))


def closed_segment_to_proto(c: ClosedSegment) -> pb.ClosedSegment:
    return to_message(pb.ClosedSegment, c)


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
