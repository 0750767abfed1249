"""The wire form of records: every field of a scalp Tick and a swing Snapshot reaches pb.Tick."""

from __future__ import annotations

import dataclasses
import random

from observer.daemon.model import Snapshot, Tick
from observer.daemon.status.proto import tick_to_proto
from observer.v1 import observer_pb2 as pb
from tests.daemon.ingest_support import random_tick
from tests.storedata import snapshots

_DERIVED = {"trade_date", "time", "received_at"}


def test_every_scalp_field_is_carried() -> None:
    t = random_tick(random.Random(3))
    t.seq, t.vi_price, t.market_op, t.random_end = 41, None, "20", ""
    msg = tick_to_proto(t)
    assert msg.track == pb.TRACK_SCALP and not msg.HasField("swing")
    for f in dataclasses.fields(Tick):
        if f.name in _DERIVED:
            continue
        optional = pb.Tick.DESCRIPTOR.fields_by_name[f.name].has_presence
        sent = getattr(msg, f.name) if not optional or msg.HasField(f.name) else None
        assert sent == getattr(t, f.name), f.name
    assert msg.ts.endswith("+09:00") and msg.trade_date.count("-") == 2


def test_every_swing_field_is_carried() -> None:
    s = next(snapshots("20261120", 1))
    msg = tick_to_proto(s)
    assert msg.track == pb.TRACK_SWING
    for f in dataclasses.fields(Snapshot):
        if f.name in _DERIVED:
            continue
        holder = msg if f.name in pb.Tick.DESCRIPTOR.fields_by_name else msg.swing
        assert getattr(holder, f.name) == getattr(s, f.name), f.name
