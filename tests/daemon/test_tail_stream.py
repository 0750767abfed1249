"""Tail's replay-then-live merge as plain generators, and the replay it starts from."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

from observer.daemon.api.replay import read_last, replay
from observer.daemon.api.tail import TailChunk, live_batches, replay_then_live
from observer.daemon.ingest.hub import Hub, TailBatch
from observer.daemon.ingest.recovery import SeqState
from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.schema.lines import reference_line
from tests.storedata import ticks


def _ticks(first: int, n: int, date: str = "20261130") -> list[Tick | Snapshot]:
    return list(ticks(date, 9, n, start_seq=first))


async def _batches(*batches: TailBatch) -> AsyncIterator[TailBatch]:
    for b in batches:
        yield b


async def _all(gen: AsyncIterator[TailChunk]) -> list[TailChunk]:
    return [c async for c in gen]


async def test_replayed_records_come_first_in_chunks_then_the_live_ones() -> None:
    replayed = _ticks(1, 5)
    live = _ticks(6, 3)
    chunks = await _all(replay_then_live(replayed, _batches(TailBatch(live)), max_batch=2))
    assert [(c.replay, [t.seq for t in c.items]) for c in chunks] == [
        (True, [1, 2]), (True, [3, 4]), (True, [5]), (False, [6, 7, 8]),
    ]  # fmt: skip
    assert chunks[-1].contiguous


async def test_live_records_the_replay_already_sent_are_sent_once() -> None:
    replayed = _ticks(1, 5)
    overlap = TailBatch(_ticks(4, 4))  # 4 and 5 were replayed; 6 and 7 are new
    after = TailBatch(_ticks(8, 2))
    chunks = await _all(replay_then_live(replayed, _batches(overlap, after), max_batch=100))
    live = [c for c in chunks if not c.replay]
    assert [[t.seq for t in c.items] for c in live] == [[6, 7], [8, 9]]
    assert [c.contiguous for c in live] == [False, True]  # a filtered stretch is not a run


async def test_seqs_of_another_trade_date_are_not_taken_for_replayed_ones() -> None:
    replayed = _ticks(1, 5, date="20261130")
    next_day = TailBatch(_ticks(1, 3, date="20261201"))
    chunks = await _all(replay_then_live(replayed, _batches(next_day), max_batch=100))
    assert [t.seq for t in chunks[-1].items] == [1, 2, 3]


async def test_drops_are_reported_per_message_and_in_total_even_without_records() -> None:
    gen = replay_then_live(
        [], _batches(TailBatch([], dropped=3), TailBatch(_ticks(1, 1), dropped=2)), 10
    )
    chunks = await _all(gen)
    assert [(len(c.items), c.dropped_since_last, c.dropped_total) for c in chunks] == [
        (0, 3, 3), (1, 2, 5),
    ]  # fmt: skip


async def test_live_batches_end_when_the_subscription_closes() -> None:
    hub = Hub(seq=SeqState())
    sub = hub.subscribe(maxlen=100)
    await hub.publish(Track.SCALP, _ticks(0, 3))
    it = live_batches(sub, 10)
    first = await anext(it)
    assert [t.symbol for t in first.items] == [t.symbol for t in _ticks(0, 3)]
    sub.close()
    assert [b async for b in it] == []


def test_replay_keeps_seq_order_when_a_frame_s_records_share_their_arrival_time(
    tmp_path: Path,
) -> None:
    same = 1_764_460_800.5  # one frame: every record received at once
    items = [dataclasses.replace(t, received_at=same) for t in _ticks(1, 8)]
    path = tmp_path / "assets" / "scalp" / "20261130_09.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(reference_line(t) for t in items))
    assert [t.seq for t in read_last(tmp_path, 5)] == [4, 5, 6, 7, 8]


async def test_replay_waits_until_what_was_accepted_is_on_disk(tmp_path: Path) -> None:
    w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=0.3)
    await w.start()
    await w.put(_ticks(1, 4))  # still pending: the group commit is 0.3 s away
    got = await asyncio.wait_for(replay([w], tmp_path, 10, None, None), 5)
    assert [t.seq for t in got] == [1, 2, 3, 4]
    await w.close()
