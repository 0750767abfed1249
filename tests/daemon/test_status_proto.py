"""The wire form is the model's: every field of the status and control-result messages has
a model attribute of the same name, so the one generic conversion misses nothing."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import pytest

from observer.daemon.backup.archive import Progress
from observer.daemon.backup.manifest import Manifest
from observer.daemon.backup.verify import VerifyResult
from observer.daemon.status import model as st
from observer.daemon.status.proto import status_to_proto, to_message
from observer.daemon.volumes import VolumeKind
from observer.v1 import observer_pb2 as pb

#: Wire fields that the conversion fills from something else than a same-named attribute.
GIVEN = {
    ("BackupManifest", "verification"),
    ("BackupProgress", "phase"),
    ("BackupProgress", "manifest"),  # only on the last message, set by TriggerBackup
}


def _nested(tp: object) -> type | None:
    """The dataclass inside an annotation such as list[X], X | None."""
    if dataclasses.is_dataclass(tp):
        return tp  # type: ignore[return-value]
    args = typing.get_args(tp)
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) in (list, typing.Union):
        for a in args:
            found = _nested(a)
            if found is not None:
                return found
    return None


def _check(msg: Any, model: type, seen: set[str]) -> None:
    name = msg.DESCRIPTOR.name
    if name in seen:
        return
    seen.add(name)
    hints = typing.get_type_hints(model)
    for fd in msg.DESCRIPTOR.fields:
        if (name, fd.name) in GIVEN:
            continue
        assert hasattr(model, fd.name) or fd.name in hints, (
            f"{name}.{fd.name}: no {model.__name__}.{fd.name}"
        )
        if fd.message_type is not None and fd.message_type.full_name != "google.protobuf.Timestamp":
            sub = _nested(hints.get(fd.name))
            assert sub is not None, f"{name}.{fd.name}: {model.__name__}.{fd.name} is no dataclass"
            _check(getattr(pb, fd.message_type.name), sub, seen)


@pytest.mark.parametrize(
    ("message", "model"),
    [
        (pb.Status, st.Status),
        (pb.SetSubscriptionsResponse, st.SubscriptionChange),
        (pb.RetentionReport, st.RetentionReport),
        (pb.ClosedSegment, st.ClosedSegment),
        (pb.BackupManifest, Manifest),
        (pb.VerifyBackupResponse, VerifyResult),
        (pb.BackupProgress, Progress),
    ],
)
def test_every_wire_field_has_a_model_attribute_of_its_name(message: Any, model: type) -> None:
    _check(message, model, set())


def test_model_enums_become_their_wire_values_and_unknown_ones_unspecified() -> None:
    s = st.Status(
        daemon_version="t", app_env="development", started_at=0.0, source=st.Source.SIMULATOR
    )
    s.volumes.append(st.VolumeStatus(mount_point="/d", kind=VolumeKind.TMPFS))
    s.volumes.append(st.VolumeStatus(mount_point="/e", kind=VolumeKind.UNKNOWN))
    s.collector.state = st.CollectorState.RECONNECTING
    s.collector.session.next_attempt_at = 12.5
    wire = status_to_proto(s)
    assert wire.source == pb.SOURCE_SIMULATOR
    assert [v.kind for v in wire.volumes] == [pb.VOLUME_KIND_TMPFS, pb.VOLUME_KIND_UNSPECIFIED]
    assert wire.collector.state == pb.COLLECTOR_STATE_RECONNECTING
    assert wire.collector.session.next_attempt_at.ToMicroseconds() == 12_500_000
    assert not wire.collector.session.HasField("connected_since")  # None stays unset
    assert wire.uptime_seconds == s.uptime_seconds
    assert to_message(pb.TailStats, st.TailStats(3, 7)) == pb.TailStats(
        subscribers=3, dropped_total=7
    )
