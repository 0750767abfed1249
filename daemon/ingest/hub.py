"""The hub: numbers every record, hands it to the persistence sinks, fans it out to tails.

``publish(track, items)`` assigns ``seq`` (per track, per trade date, continuing from the
files after a restart), then awaits each persistence sink's ``put`` (the JSONL writer;
its bounded queue is the only thing allowed to slow ingest). Tail subscribers see a
record only once the writer has it on disk (its group commit fsynced): a seq someone has
seen is then always in the files, so a restart after a crash, which numbers on from the
files, never gives a seen seq to another record. Records are then copied into every
matching subscriber's bounded deque without awaiting anything. A subscriber that falls
behind loses its OLDEST items; the loss is counted on the subscription, in the hub
totals, and in the overflow log.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from observer.daemon.ingest.overflow import OverflowLog
from observer.daemon.ingest.recovery import SeqState
from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.schema.lines import FrameBatch

Item = Tick | Snapshot


class BatchSink(Protocol):
    """A persistence sink: ``put`` applies backpressure and never drops.

    A sink may also have ``offer(items, n) -> bool``: accept a batch of ``n`` items
    without waiting, or return False (nothing taken) when the caller must await ``put``;
    and ``accepted`` (records taken so far) with ``add_durable_listener(cb)`` (``cb(n)``
    once the first ``n`` are on disk): the hub then holds records back from the tails
    until they are durable.
    """

    async def put(self, items: Sequence[Item], /) -> None: ...


class DurableSink(BatchSink, Protocol):
    accepted: int
    durable: int

    def add_durable_listener(self, cb: Callable[[int], object], /) -> None: ...


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
    """One tail reader with a bounded buffer that loses its OLDEST items when full.

    A subscriber to every symbol and track reads the hub's shared log through a cursor
    (nothing is copied per subscriber when a batch is published); one with a filter gets
    its matching items copied into its own deque.
    """

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
        self.shared = symbols is None and tracks is None
        self._q: deque[Item] = deque(maxlen=maxlen)  # filtered subscribers only
        self.cursor = hub._log_end  # shared: log index of the next item to read
        self._ready = asyncio.Event()
        self._waiting = False  # next_batch waits on _ready: the hub must set it
        self._dropped_total = 0
        self._dropped_since = 0
        self._unlogged = 0  # drops not yet handed to the overflow log
        self.closed = False

    @property
    def depth(self) -> int:
        if self.shared:
            return min(self._hub._log_end - self.cursor, self.maxlen)
        return len(self._q)

    @property
    def dropped_total(self) -> int:
        return self._dropped_total + self._behind()

    def _behind(self) -> int:
        """Items a shared subscriber has lost and nobody has counted yet."""
        if not self.shared:
            return 0
        return max(0, self._hub._log_end - self.maxlen - self.cursor)

    def _count_drops(self) -> None:
        """Move a shared subscriber's cursor past what it has lost, and count the loss."""
        over = self._behind()
        if over:
            self.cursor += over
            self._lost(over)

    def _lost(self, n: int) -> None:
        self._dropped_total += n
        self._dropped_since += n
        self._unlogged += n
        self._hub._lost(n)

    def _has_items(self) -> bool:
        return self._hub._log_end > self.cursor if self.shared else bool(self._q)

    # The API's contract is next_batch(timeout=...): the caller must not hang on a quiet tail.
    async def next_batch(
        self,
        max_items: int = 500,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> TailBatch | None:
        """Up to ``max_items`` items in arrival order; None when closed, or on timeout with nothing."""
        if not self._has_items():
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
            if not self._has_items() or (self.closed and self.shared):
                return None
        if self.shared:
            self._count_drops()
            items = self._hub._read(self.cursor, max_items)
            self.cursor += len(items)
        else:
            q = self._q
            items = [q.popleft() for _ in range(min(max_items, len(q)))]
        dropped, self._dropped_since = self._dropped_since, 0
        return TailBatch(items, dropped)

    def close(self) -> None:
        """Stop receiving; a waiting ``next_batch`` returns None (a filtered one returns what
        is left first)."""
        if not self.closed:
            self.closed = True
            self._hub._remove(self)
            self._ready.set()

    def info(self) -> SubscriberInfo:
        return SubscriberInfo(
            self.id, self.symbols, self.tracks, self.depth, self.maxlen, self.dropped_total
        )


class Hub:
    """Fan-out point between the sources and everything that consumes records."""

    def __init__(
        self,
        *,
        seq: SeqState,
        overflow: OverflowLog | None = None,
        durable_tails: bool = True,
    ) -> None:
        """``durable_tails=False``: tails see records as soon as they are published, before
        they are on disk (the way it was before; for the benchmark's comparison only)."""
        self.seq = seq
        self._durable_tails = durable_tails
        self._overflow = overflow
        # Per track: each sink's put and, when it has one, its non-waiting offer.
        self._sinks: dict[Track, list[tuple[_Put, _Offer | None]]] = {t: [] for t in Track}
        # Per track: the sink whose durability the tails wait for, and the batches published
        # but not yet on disk, as (the sink's accepted count once it took them, items, n).
        self._durable: dict[Track, DurableSink] = {}
        self._held: dict[Track, deque[tuple[int, Sequence[Item], int]]] = {
            t: deque() for t in Track
        }
        self._subs: list[Subscription] = []  # every subscription
        self._filtered: list[Subscription] = []  # those with a symbol or track filter
        self._shared: list[Subscription] = []  # those reading the shared log
        # The shared log: published batches that some shared subscriber may still read.
        # Items are numbered from 0 in publish order; _starts holds each batch's first.
        self._log: deque[Sequence[Item]] = deque()
        self._starts: deque[int] = deque()
        self._log_end = 0  # number of the next item to be published
        self._log_keep = 0  # the largest shared subscriber's buffer
        self._reach = 0  # lowest cursor + buffer of the shared subscribers (when last known)
        self._ids = itertools.count(1)
        self.published: dict[Track, int] = {t: 0 for t in Track}
        #: When each track last published a batch (epoch seconds), None before the first.
        self.last_at: dict[Track, float | None] = {t: None for t in Track}
        self._dropped = 0
        self._dropping = False  # some subscriber dropped since drops were last logged

    def attach_sink(self, track: Track, sink: BatchSink) -> None:
        self._sinks[track].append((sink.put, getattr(sink, "offer", None)))
        if (
            self._durable_tails
            and track not in self._durable
            and hasattr(sink, "add_durable_listener")
        ):
            durable: DurableSink = sink  # type: ignore[assignment]
            self._durable[track] = durable
            durable.add_durable_listener(lambda n: self._release(track, n))

    def _release(self, track: Track, durable: int) -> None:
        """The sink has its first ``durable`` records on disk: the tails may see them."""
        held = self._held[track]
        if not held or held[0][0] > durable:
            return
        if not self._subs:
            while held and held[0][0] <= durable:
                held.popleft()
            return
        # One delivery per commit, not per batch: a commit releases hundreds of frames, and
        # per frame every subscriber would be looked at and every reader would slice each.
        page: list[Item] = []
        while held and held[0][0] <= durable:
            page.extend(held.popleft()[1])
        self._deliver(track, page, len(page))

    @property
    def held(self) -> int:
        """Records published but not yet durable (not yet shown to the tails)."""
        return sum(n for held in self._held.values() for _, _, n in held)

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
        (self._shared if sub.shared else self._filtered).append(sub)
        self._shared_changed()
        return sub

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            sub._count_drops()
            self._subs.remove(sub)
            (self._shared if sub.shared else self._filtered).remove(sub)
            self._shared_changed()
            if sub._unlogged and self._overflow is not None:
                self._log_drops(self._overflow, [sub])

    def _shared_changed(self) -> None:
        shared = self._shared
        self._log_keep = max((s.maxlen for s in shared), default=0)
        self._update_reach()
        if not shared:
            self._log.clear()
            self._starts.clear()

    def _lost(self, n: int) -> None:
        self._dropped += n
        self._dropping = True

    @property
    def dropped_total(self) -> int:
        """Items lost by tail subscribers (oldest first), over the hub's life."""
        return self._dropped + sum(s._behind() for s in self._shared)

    def _read(self, start: int, max_items: int) -> list[Item]:
        """Up to ``max_items`` items of the shared log from item number ``start`` on."""
        starts, log = self._starts, self._log
        i = bisect_right(starts, start) - 1
        out: list[Item] = []
        while i < len(log) and len(out) < max_items:
            off = start + len(out) - starts[i]
            out += log[i][off : off + max_items - len(out)]
            i += 1
        return out

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
        self.last_at[track] = time.time()
        durable = self._durable.get(track)
        if durable is None:
            self._deliver(track, items, n)
        else:
            self._held[track].append((durable.accepted, items, n))
            if durable.durable >= durable.accepted:  # committed while put was awaited
                self._release(track, durable.durable)

    def _deliver(self, track: Track, items: Sequence[Item], n: int) -> None:
        """Fan one batch out to the tail subscribers (never awaits)."""
        if self._shared:
            self._append(items, n)
        if self._filtered:
            self._fan_out(track, items, n)
        # Drops reach the overflow log when a logging interval starts and when it ends; in
        # between they are only counted on the subscriptions (a stalled subscriber loses
        # ticks on every publish: logging each loss would cost every publish).
        ov = self._overflow
        if ov is not None and (self._dropping or ov.pending):
            due = ov.due()
            if due or not ov.pending:
                self._dropping = False
                self._log_drops(ov, self._subs)
                if due:
                    ov.flush()

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

    def _append(self, items: Sequence[Item], n: int) -> None:
        """Add a batch to the shared log: the same work for one shared subscriber or fifty."""
        self._log.append(items)
        self._starts.append(self._log_end)
        end = self._log_end = self._log_end + n
        log, starts, keep = self._log, self._starts, self._log_keep
        while len(log) > 1 and end - starts[1] >= keep:  # the oldest batch is out of reach
            log.popleft()
            starts.popleft()
        if end > self._reach:
            self._dropping = True  # a shared subscriber may have fallen a buffer behind
        for sub in self._shared:
            if sub._waiting:
                sub._ready.set()

    def _fan_out(self, track: Track, items: Sequence[Item], n: int) -> None:
        # Once per filtered subscriber per publish: kept inline (no calls).
        # Nothing here adds or removes subscribers (Event.set only schedules the waiter).
        for sub in self._filtered:
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
                sub._lost(over)

    def _log_drops(self, ov: OverflowLog, subs: list[Subscription]) -> None:
        for sub in subs:
            sub._count_drops()
            if sub._unlogged:
                ov.record(sub.id, sub._unlogged, sub.dropped_total, sub.depth, sub.maxlen)
                sub._unlogged = 0
        self._update_reach()

    def _update_reach(self) -> None:
        self._reach = min((s.cursor + s.maxlen for s in self._shared), default=0)

    # --- status ------------------------------------------------------------------------
    def subscribers(self) -> list[SubscriberInfo]:
        return [s.info() for s in self._subs]

    def close(self) -> None:
        """Close every subscription and write the pending overflow accounting."""
        for sub in list(self._subs):
            sub.close()  # hands its unlogged drops to the overflow log
        if self._overflow is not None:
            self._overflow.flush()
