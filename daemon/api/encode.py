"""Tick records as protobuf, and TickBatch bytes assembled from cached encodings.

Every tail subscriber receives the same records, so each record is encoded once (cached
by identity while the hub still holds it) and a batch is the concatenation of those
encodings plus a few scalar fields: protobuf's wire format makes a repeated field the
concatenation of its entries. The Tail RPC sends these bytes as they are.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from observer.daemon.model import Snapshot, Tick
from observer.daemon.status.proto import tick_to_proto

Item = Tick | Snapshot

_TICKS_TAG = b"\x0a"  # TickBatch.ticks: field 1, length-delimited


_ONE_BYTE = tuple(bytes((i,)) for i in range(0x80))


def _varint(n: int) -> bytes:
    """Protobuf base-128 varint of ``n`` >= 0 (unrolled: it runs for every message sent)."""
    if n < 0x80:
        return _ONE_BYTE[n]
    if n < 0x4000:
        return bytes((n & 0x7F | 0x80, n >> 7))
    if n < 0x200000:
        return bytes((n & 0x7F | 0x80, (n >> 7) & 0x7F | 0x80, n >> 14))
    if n < 0x10000000:
        return bytes((n & 0x7F | 0x80, (n >> 7) & 0x7F | 0x80, (n >> 14) & 0x7F | 0x80, n >> 21))
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _sent_at(t: float) -> bytes:
    """TickBatch.sent_at (field 5) by hand, as Timestamp.SerializeToString() spells it."""
    secs = int(t)
    nanos = int((t - secs) * 1e9)
    ts = (b"\x08" + _varint(secs) if secs else b"") + (b"\x10" + _varint(nanos) if nanos else b"")
    return b"\x2a" + _ONE_BYTE[len(ts)] + ts


class BatchEncoder:
    """Encodes records once and assembles TickBatch messages as bytes.

    Two caches, both keyed by id() and holding the object itself, so an id() is never
    reused while its entry exists; each is cleared when it holds ``limit`` records:

    - per record: its TickBatch.ticks entry;
    - per run: the joined entries of a run of records that some subscriber already sent,
      keyed by the run's first record and by the subscriber's filter. Subscribers with
      the same filter see the same records in the same order (the hub only drops from
      the oldest end), so when another one's batch holds the same first and last record
      n places apart, those n records are that run and its bytes are reused as they are:
      the second to the fiftieth subscriber do no per-record work.
    """

    def __init__(self, limit: int = 200_000) -> None:
        self._cache: dict[int, tuple[Item, bytes]] = {}
        self._runs: dict[tuple[Hashable, int], tuple[Item, Item, int, bytes]] = {}
        self._run_records = 0  # records in the run cache: its memory, like the other's
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

    def entries(self, items: Sequence[Item], key: Hashable) -> list[bytes]:
        """The TickBatch.ticks entries of ``items`` as a few joined runs.

        ``key`` names the record stream the items come from (the subscriber's filter);
        ``items`` must be a contiguous stretch of that stream, in order.
        """
        runs = self._runs
        out: list[bytes] = []
        i, n = 0, len(items)
        while i < n:
            first = items[i]
            run = runs.get((key, id(first)))
            if run is not None and run[0] is first:
                size = run[2]
                if i + size <= n and items[i + size - 1] is run[1]:
                    out.append(run[3])
                    i += size
                    continue
            # A stretch nobody sent yet: encode it up to the next known run start.
            j = i + 1
            while j < n and (key, id(items[j])) not in runs:
                j += 1
            body = b"".join([self.entry(x) for x in items[i:j]])
            if self._run_records >= self._limit:
                runs.clear()
                self._run_records = 0
            runs[(key, id(first))] = (first, items[j - 1], j - i, body)
            self._run_records += j - i
            out.append(body)
            i = j
        return out

    def batch(
        self,
        items: Sequence[Item],
        *,
        dropped_since_last: int,
        dropped_total: int,
        replay: bool,
        sent_at: float,
        stream: Hashable | None = None,
    ) -> bytes:
        """A serialized TickBatch.

        With ``stream`` (see ``entries``) runs already encoded for that stream are reused;
        without it every record is looked up on its own.
        """
        if stream is not None:
            parts = self.entries(items, stream)
        else:
            parts = [self.entry(i) for i in items]
        if dropped_since_last:
            parts.append(b"\x10" + _varint(dropped_since_last))
        if dropped_total:
            parts.append(b"\x18" + _varint(dropped_total))
        if replay:
            parts.append(b"\x20\x01")
        parts.append(_sent_at(sent_at))
        return b"".join(parts)
