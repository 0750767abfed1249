"""The hub: numbers every record, hands it to the persistence sinks, fans it out to tails.

``publish(track, items)`` assigns ``seq`` (per track, per trade date, continuing from the
files after a restart), then awaits each persistence sink's ``put`` (the JSONL writer;
its bounded queue is the only thing allowed to slow ingest), then copies the items into
every matching tail subscriber's bounded deque without awaiting anything. A subscriber
that falls behind loses its OLDEST items; the loss is counted on the subscription, in
the hub totals, and in the overflow log.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from observer.daemon.ingest.lines import FrameBatch
from observer.daemon.ingest.overflow import OverflowLog
from observer.daemon.ingest.recovery import SeqState
from observer.daemon.model import Snapshot, Tick, Track

Item = Tick | Snapshot


class BatchSink(Protocol):
    """A persistence sink: ``put`` applies backpressure and never drops.

    A sink may also have ``offer(items, n) -> bool``: accept a batch of ``n`` items
    without waiting, or return False (nothing taken) when the caller must await ``put``.
    """

    async def put(self, items: Sequence[Item], /) -> None: ...


_Put = Callable[[Sequence[Item]], Awaitable[None]]
_Offer = Callable[[Sequence[Item], int], bool]


@dataclass
class TailBatch:
    items: list[Item]
    #: Items this subscriber lost (oldest first) since its previous batch.
    dropped: int = 0


@dataclass
class SubscriberInfo:
    id: str
    symbols: frozenset[str] | None
    tracks: frozenset[Track] | None
    depth: int
    buffer: int
    dropped_total: int


class Subscription:
    """One tail reader: a bounded deque that drops its oldest items when full."""

    def __init__(
        self,
        hub: Hub,
        sub_id: str,
        symbols: frozenset[str] | None,
        tracks: frozenset[Track] | None,
        maxlen: int,
    ) -> None:
        self._hub = hub
        self.id = sub_id
        self.symbols = symbols
        self.tracks = tracks
        self.maxlen = maxlen
        self._q: deque[Item] = deque(maxlen=maxlen)
        self._ready = asyncio.Event()
        self.dropped_total = 0
        self._dropped_since = 0
        self._unlogged = 0  # drops not yet handed to the overflow log
        self._waiting = False  # next_batch waits on _ready: the hub must set it
        self.closed = False

    @property
    def depth(self) -> int:
        return len(self._q)

    # The API's contract is next_batch(timeout=...): the caller must not hang on a quiet tail.
    async def next_batch(
        self,
        max_items: int = 500,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> TailBatch | None:
        """Up to ``max_items`` items in arrival order; None when closed, or on timeout with nothing."""
        q = self._q
        if not q:
            if self.closed:
                return None
            self._ready.clear()
            self._waiting = True
            try:
                if timeout is None:
                    await self._ready.wait()
                else:
                    await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
            finally:
                self._waiting = False
            if not q:
                return None
        n = min(max_items, len(q))
        items = [q.popleft() for _ in range(n)]
        dropped, self._dropped_since = self._dropped_since, 0
        return TailBatch(items, dropped)

    def close(self) -> None:
        """Stop receiving; a waiting ``next_batch`` returns what is left, then None."""
        if not self.closed:
            self.closed = True
            self._hub._remove(self)
            self._ready.set()

    def info(self) -> SubscriberInfo:
        return SubscriberInfo(
            self.id, self.symbols, self.tracks, len(self._q), self.maxlen, self.dropped_total
        )


@dataclass
class _Rate:
    """Records per whole second of the monotonic clock, for the last 61 seconds."""

    started: float
    buckets: deque[list[int]] = field(default_factory=lambda: deque(maxlen=61))

    def add(self, now: float, n: int) -> None:
        sec = int(now)
        b = self.buckets
        if b and b[-1][0] == sec:
            b[-1][1] += n
        else:
            b.append([sec, n])

    def rates(self, now: float) -> tuple[float, float]:
        sec = int(now)
        last = sum(n for s, n in self.buckets if s == sec - 1)
        window = sum(n for s, n in self.buckets if sec - 60 <= s < sec)
        span = min(60.0, max(1.0, float(sec - int(self.started))))
        return float(last), window / span


class Hub:
    """Fan-out point between the sources and everything that consumes records."""

    def __init__(
        self,
        *,
        seq: SeqState,
        overflow: OverflowLog | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seq = seq
        self._overflow = overflow
        self._clock = clock
        # Per track: each sink's put and, when it has one, its non-waiting offer.
        self._sinks: dict[Track, list[tuple[_Put, _Offer | None]]] = {t: [] for t in Track}
        self._subs: list[Subscription] = []
        self._ids = itertools.count(1)
        self.published: dict[Track, int] = {t: 0 for t in Track}
        self.dropped_total = 0
        self._dropping = False  # some subscriber dropped since drops were last logged
        self._rate = _Rate(started=clock())

    def attach_sink(self, track: Track, sink: BatchSink) -> None:
        self._sinks[track].append((sink.put, getattr(sink, "offer", None)))

    def subscribe(
        self,
        *,
        symbols: frozenset[str] | None = None,
        tracks: frozenset[Track] | None = None,
        maxlen: int,
    ) -> Subscription:
        """A new tail subscription (None = every symbol / track)."""
        sub = Subscription(self, f"tail-{next(self._ids)}", symbols, tracks, max(1, maxlen))
        self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            if sub._unlogged and self._overflow is not None:
                self._log_drops(self._overflow, [sub])

    async def publish(self, track: Track, items: Sequence[Item]) -> None:
        """Number, persist (awaiting backpressure) and fan out one batch."""
        if isinstance(items, FrameBatch):  # one trade date: numbered as a whole
            n = items.size
            items.number(self.seq.advance(track, items.trade_date, n))
        else:
            n = len(items)
            if not n:
                return
            self._number(track, items)
        for put, offer in self._sinks[track]:
            if offer is None or not offer(items, n):
                await put(items)
        self.published[track] += n
        sec = int(self._clock())
        last = self._rate.buckets[-1] if self._rate.buckets else None
        if last is not None and last[0] == sec:  # _Rate.add, inlined: once per frame
            last[1] += n
        else:
            self._rate.buckets.append([sec, n])
        if self._subs:
            self._fan_out(track, items, n)
        # Drops reach the overflow log when a logging interval starts and when it ends; in
        # between they are only counted on the subscriptions (a stalled subscriber loses
        # ticks on every publish: logging each loss would cost every publish).
        ov = self._overflow
        if ov is not None and (self._dropping or ov.pending) and (not ov.pending or ov.due()):
            self._dropping = False
            self._log_drops(ov, self._subs)
            ov.maybe_flush()

    def _number(self, track: Track, items: Sequence[Item]) -> None:
        seq = self.seq
        date, n = "", 0
        for t in items:
            if t.trade_date != date:
                if date:
                    seq.set(track, date, n)
                date = t.trade_date
                n = seq.last(track, date)
            n += 1
            t.seq = n
        seq.set(track, date, n)

    def _fan_out(self, track: Track, items: Sequence[Item], n: int) -> None:
        # Once per subscriber per publish: kept inline (no calls) for the unfiltered case.
        # Nothing here adds or removes subscribers (Event.set only schedules the waiter).
        for sub in self._subs:
            if sub.tracks is not None and track not in sub.tracks:
                continue
            sel, k = items, n
            if sub.symbols is not None:
                wanted = sub.symbols
                sel = [t for t in items if t.symbol in wanted]
                k = len(sel)
                if not k:
                    continue
            q = sub._q
            over = len(q) + k - sub.maxlen
            q.extend(sel)  # a full deque with maxlen discards from the left: the oldest
            if sub._waiting:
                sub._ready.set()
            if over > 0:
                sub.dropped_total += over
                sub._dropped_since += over
                sub._unlogged += over
                self.dropped_total += over
                self._dropping = True

    @staticmethod
    def _log_drops(ov: OverflowLog, subs: list[Subscription]) -> None:
        for sub in subs:
            if sub._unlogged:
                ov.record(sub.id, sub._unlogged, sub.dropped_total, sub.depth, sub.maxlen)
                sub._unlogged = 0

    # --- status ------------------------------------------------------------------------
    def rates(self) -> tuple[float, float]:
        """Records per second over the last complete second and the last 60 seconds."""
        return self._rate.rates(self._clock())

    def subscribers(self) -> list[SubscriberInfo]:
        return [s.info() for s in self._subs]

    def close(self) -> None:
        """Close every subscription and write the pending overflow accounting."""
        for sub in list(self._subs):
            sub.close()  # hands its unlogged drops to the overflow log
        if self._overflow is not None:
            self._overflow.flush()
