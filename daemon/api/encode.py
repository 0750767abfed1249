"""Tick records as protobuf, and TickBatch bytes assembled from cached encodings.

Every tail subscriber receives the same records, so each record is encoded once (cached
by identity while the hub still holds it) and a batch is the concatenation of those
encodings plus a few scalar fields: protobuf's wire format makes a repeated field the
concatenation of its entries. The Tail RPC sends these bytes as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from observer.daemon.model import Snapshot, Tick, iso_date, iso_ts
from observer.v1 import observer_pb2 as pb

Item = Tick | Snapshot

_TICKS_TAG = b"\x0a"  # TickBatch.ticks: field 1, length-delimited


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _ts(t: float) -> Timestamp:
    secs = int(t)
    return Timestamp(seconds=secs, nanos=int((t - secs) * 1e9))


def tick_to_proto(item: Item) -> pb.Tick:
    """The wire form of one record (scalp Tick or swing Snapshot)."""
    if isinstance(item, Tick):
        return pb.Tick(
            seq=item.seq,
            track=pb.TRACK_SCALP,
            symbol=item.symbol,
            trade_date=iso_date(item.trade_date),
            ts=iso_ts(item.trade_date, item.time),
            price=item.price,
            sign=item.sign,
            change=item.change,
            change_pct=item.change_pct,
            volume=item.volume,
            cum_volume=item.cum_volume,
            cum_value=item.cum_value,
            open=item.open,
            high=item.high,
            low=item.low,
            ask1=item.ask1,
            bid1=item.bid1,
            strength=item.strength,
            vwap=item.vwap,
            side=item.side,
            halted=item.halted,
            received_at=_ts(item.received_at),
        )
    return pb.Tick(
        seq=item.seq,
        track=pb.TRACK_SWING,
        symbol=item.symbol,
        trade_date=iso_date(item.trade_date),
        ts=iso_ts(item.trade_date, item.time),
        price=item.price,
        sign=item.sign,
        change=item.change,
        change_pct=item.change_pct,
        cum_volume=item.cum_volume,
        cum_value=item.cum_value,
        open=item.open,
        high=item.high,
        low=item.low,
        halted=item.halted,
        received_at=_ts(item.received_at),
        swing=pb.SwingFields(
            upper_limit=item.upper_limit,
            lower_limit=item.lower_limit,
            per=item.per,
            pbr=item.pbr,
            eps=item.eps,
            bps=item.bps,
            w52_high=item.w52_high,
            w52_low=item.w52_low,
            market_cap=item.market_cap,
            vi=item.vi,
        ),
    )


class BatchEncoder:
    """Encodes records once and assembles TickBatch messages as bytes.

    The cache keeps the record object alive next to its encoding, so an id() is never
    reused while its entry exists; it is cleared when it reaches ``limit`` entries.
    """

    def __init__(self, limit: int = 200_000) -> None:
        self._cache: dict[int, tuple[Item, bytes]] = {}
        self._limit = limit

    def entry(self, item: Item) -> bytes:
        """``item`` as one TickBatch.ticks entry (tag, length, message)."""
        hit = self._cache.get(id(item))
        if hit is not None and hit[0] is item:
            return hit[1]
        body = tick_to_proto(item).SerializeToString()
        enc = _TICKS_TAG + _varint(len(body)) + body
        if len(self._cache) >= self._limit:
            self._cache.clear()
        self._cache[id(item)] = (item, enc)
        return enc

    def batch(
        self,
        items: Sequence[Item],
        *,
        dropped_since_last: int,
        dropped_total: int,
        replay: bool,
        sent_at: float,
    ) -> bytes:
        """A serialized TickBatch."""
        parts = [self.entry(i) for i in items]
        if dropped_since_last:
            parts.append(b"\x10" + _varint(dropped_since_last))
        if dropped_total:
            parts.append(b"\x18" + _varint(dropped_total))
        if replay:
            parts.append(b"\x20\x01")
        ts = _ts(sent_at).SerializeToString()
        parts.append(b"\x2a" + _varint(len(ts)) + ts)
        return b"".join(parts)
