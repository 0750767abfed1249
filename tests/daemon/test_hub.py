"""The hub: seq numbering, persistence backpressure, tail subscribers that drop oldest."""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from observer.daemon.ingest.hub import Hub, Subscription
from observer.daemon.ingest.overflow import OverflowLog
from observer.daemon.ingest.recovery import SeqState
from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.model import Snapshot, Tick, Track
from tests.daemon.ingest_support import random_tick


def ticks(
    n: int, *, date: str = "20261120", symbol: str | None = None, seed: int = 0
) -> list[Tick]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        t = random_tick(rng)
        t.trade_date, t.time, t.seq = date, "090001", 0
        if symbol:
            t.symbol = symbol
        out.append(t)
    return out


class ListSink:
    def __init__(self) -> None:
        self.items: list[Tick | Snapshot] = []

    async def put(self, items: Sequence[Tick | Snapshot], /) -> None:
        self.items.extend(items)


async def test_seq_continues_per_track_and_restarts_per_trade_date() -> None:
    hub = Hub(seq=SeqState({(Track.SCALP, "20261120"): 41}))
    a, b = ticks(3), ticks(2, date="20261121")
    await hub.publish(Track.SCALP, a + b)
    await hub.publish(Track.SCALP, ticks(1))
    snap = ticks(2)
    await hub.publish(Track.SWING, snap)
    assert [t.seq for t in a] == [42, 43, 44]
    assert [t.seq for t in b] == [1, 2]
    assert [t.seq for t in snap] == [1, 2]
    assert hub.seq.last(Track.SCALP, "20261120") == 45
    assert hub.published == {Track.SCALP: 6, Track.SWING: 2}


async def test_persistence_sinks_get_every_item_of_their_track_only() -> None:
    hub = Hub(seq=SeqState())
    scalp, swing = ListSink(), ListSink()
    hub.attach_sink(Track.SCALP, scalp)
    hub.attach_sink(Track.SWING, swing)
    await hub.publish(Track.SCALP, ticks(5))
    await hub.publish(Track.SWING, ticks(2))
    assert len(scalp.items) == 5 and len(swing.items) == 2


async def test_a_subscriber_gets_matching_items_in_order() -> None:
    hub = Hub(seq=SeqState())
    sub = hub.subscribe(symbols=frozenset({"005930"}), tracks=frozenset({Track.SCALP}), maxlen=100)
    await hub.publish(Track.SCALP, ticks(3, symbol="005930") + ticks(2, symbol="000660"))
    await hub.publish(Track.SWING, ticks(2, symbol="005930"))
    batch = await sub.next_batch(timeout=1)
    assert batch is not None and [t.seq for t in batch.items] == [1, 2, 3] and batch.dropped == 0
    assert await sub.next_batch(timeout=0.05) is None


async def test_a_slow_subscriber_loses_the_oldest_items_and_the_loss_is_logged(
    tmp_path: Path,
) -> None:
    now = [1_795_000_000.0]
    overflow = OverflowLog(tmp_path / "system", interval=1.0, clock=lambda: now[0])
    hub = Hub(seq=SeqState(), overflow=overflow)
    sub = hub.subscribe(maxlen=10)
    for _ in range(5):
        await hub.publish(Track.SCALP, ticks(5))
    batch = await sub.next_batch(max_items=100, timeout=1)
    assert batch is not None
    assert [t.seq for t in batch.items] == list(range(16, 26))  # the newest 10
    assert batch.dropped == 15 and sub.dropped_total == 15 and hub.dropped_total == 15
    now[0] += 1.5
    await hub.publish(Track.SCALP, ticks(1))
    files = list((tmp_path / "system").glob("overflow_*.jsonl"))
    assert [f.name for f in files] == ["overflow_20261118.jsonl"]
    (line,) = [json.loads(x) for x in files[0].read_text().splitlines()]
    assert line["subscriber"] == sub.id and line["dropped"] == 15 and line["buffer"] == 10
    assert line["ts"].endswith("+09:00")


async def test_a_stalled_subscriber_never_slows_publish() -> None:
    hub = Hub(seq=SeqState())
    hub.subscribe(maxlen=100)  # never read
    reader = hub.subscribe(maxlen=100_000)
    for _ in range(200):
        await asyncio.wait_for(hub.publish(Track.SCALP, ticks(50)), 1)
    assert hub.published[Track.SCALP] == 10_000
    info = {i.id: i for i in hub.subscribers()}
    assert info[reader.id].depth == 10_000 and info[reader.id].dropped_total == 0
    assert hub.dropped_total == 10_000 - 100


async def test_publish_waits_for_the_writer_when_its_queue_is_full(tmp_path: Path) -> None:
    w = SegmentWriter(
        Track.SCALP, tmp_path, commit_interval=60, commit_records=10**6, max_pending=20
    )
    hub = Hub(seq=SeqState())
    hub.attach_sink(Track.SCALP, w)
    await w.start()
    await hub.publish(Track.SCALP, ticks(20))
    blocked = asyncio.ensure_future(hub.publish(Track.SCALP, ticks(5)))
    await asyncio.sleep(0.1)
    assert not blocked.done()  # backpressure, not a drop
    await w.rotate_now()  # forces a commit, which frees the queue
    await asyncio.wait_for(blocked, 5)
    await w.close()
    lines = [
        json.loads(x)
        for p in sorted((tmp_path / "assets" / "scalp").iterdir())
        for x in p.read_text().splitlines()
    ]
    assert [x["seq"] for x in lines] == list(range(1, 26))


async def test_closing_a_subscription_ends_its_stream_and_removes_it() -> None:
    hub = Hub(seq=SeqState())
    sub = hub.subscribe(maxlen=10)
    waiter = asyncio.ensure_future(sub.next_batch())
    await asyncio.sleep(0)
    sub.close()
    assert await asyncio.wait_for(waiter, 1) is None
    assert hub.subscribers() == []


async def test_subscribers_read_and_lose_exactly_what_a_bounded_queue_each_would() -> None:
    # The hub serves unfiltered subscribers from one shared log and filtered ones from
    # their own deques; both must behave like one deque(maxlen) per subscriber.
    rng = random.Random(5)
    hub = Hub(seq=SeqState())
    filters = [None, None, None, frozenset({"005930"})]
    subs = [
        hub.subscribe(symbols=f, maxlen=m) for f, m in zip(filters, [7, 30, 30, 12], strict=True)
    ]
    # per subscriber: the subscription, the deque it should behave like, losses unread
    model: list[tuple[Subscription, deque[Tick], list[int]]] = [
        (s, deque(maxlen=s.maxlen), [0]) for s in subs
    ]
    late = None
    for step in range(400):
        batch = ticks(rng.randrange(1, 15), seed=step)
        for t in batch:
            t.symbol = rng.choice(["005930", "000660"])
        await hub.publish(Track.SCALP, batch)
        for sub, q, lost in model:
            want = [t for t in batch if sub.symbols is None or t.symbol in sub.symbols]
            lost[0] += max(0, len(q) + len(want) - sub.maxlen)
            q.extend(want)
        if step == 200:  # a subscriber that joins late starts with what comes next
            late = hub.subscribe(maxlen=25)
            model.append((late, deque(maxlen=25), [0]))
        for sub, q, lost in model:
            if rng.random() < 0.3:
                k = rng.randrange(1, 20)
                got = await sub.next_batch(max_items=k, timeout=0.01)
                want = [q.popleft() for _ in range(min(k, len(q)))]
                if got is None:
                    assert want == [] and lost[0] == 0
                    continue
                assert [t.seq for t in got.items] == [t.seq for t in want]
                assert got.dropped == lost[0]
                lost[0] = 0
            assert sub.depth == len(q)
    assert late is not None and late.dropped_total > 0
    assert hub.dropped_total == sum(s.dropped_total for s in [*subs, late])
