"""The durable segment writer: group commit, rotation, errors that never lose accepted data."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import random
from pathlib import Path
from typing import ClassVar

import pytest

from observer.daemon import segments
from observer.daemon.errors import Precondition
from observer.daemon.ingest import writer
from observer.daemon.ingest.events import EventBus
from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.model import Track
from observer.daemon.schema.lines import reference_line
from observer.daemon.segments import OsSegmentFile
from tests.daemon.ingest_support import random_tick


def ticks(n: int, *, date: str = "20261120", time: str = "090001", start: int = 1, seed: int = 0):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = random_tick(rng)
        t.trade_date, t.time, t.seq = date, time, start + i
        out.append(t)
    return out


def read_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


class CountingFile(OsSegmentFile):
    syncs: ClassVar[list[Path]] = []

    def sync(self) -> None:
        super().sync()
        CountingFile.syncs.append(self.path)


async def test_group_commit_writes_and_fsyncs_within_the_interval(tmp_path: Path) -> None:
    CountingFile.syncs = []
    w = SegmentWriter(
        Track.SCALP, tmp_path, commit_interval=0.05, commit_records=10**6, file_factory=CountingFile
    )
    await w.start()
    items = ticks(3)
    await w.put(items)
    path = tmp_path / "assets" / "scalp" / "20261120_09.jsonl"
    for _ in range(100):
        if w.state().last_fsync_at is not None:
            break
        await asyncio.sleep(0.01)
    assert CountingFile.syncs == [path]
    assert path.read_text() == "".join(reference_line(t) for t in items)
    st = w.state()
    assert (st.lines, st.pending, st.healthy, st.current_file) == (3, 0, True, str(path))
    await w.close()


async def test_puts_within_one_interval_share_one_fsync(tmp_path: Path) -> None:
    CountingFile.syncs = []
    w = SegmentWriter(
        Track.SCALP, tmp_path, commit_interval=0.3, commit_records=10**6, file_factory=CountingFile
    )
    await w.start()
    for i in range(20):
        await w.put(ticks(5, start=1 + 5 * i))
    await asyncio.sleep(0.6)
    assert len(CountingFile.syncs) == 1
    assert [
        x["seq"] for x in read_lines(tmp_path / "assets" / "scalp" / "20261120_09.jsonl")
    ] == list(range(1, 101))
    await w.close()


async def test_commit_records_triggers_a_commit_before_the_interval(tmp_path: Path) -> None:
    w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=60, commit_records=50)
    await w.start()
    await w.put(ticks(50))
    for _ in range(100):
        if w.state().lines == 50:
            break
        await asyncio.sleep(0.01)
    assert w.state().lines == 50
    await w.close()


async def test_rotation_at_the_hour_boundary_closes_fsyncs_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dir_syncs: list[Path] = []
    real = segments.fsync_dir
    monkeypatch.setattr(writer, "fsync_dir", lambda d: (dir_syncs.append(d), real(d)))
    events = EventBus(tmp_path / "observer.jsonl")
    seen: list[dict] = []
    events.subscribe(seen.append)
    closed: list[Path] = []
    w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=0.01, events=events)
    w.add_close_listener(closed.append)
    await w.start()
    await w.put(ticks(2, time="095959") + ticks(3, time="100000", start=3))
    await w.close()
    d = tmp_path / "assets" / "scalp"
    assert sorted(p.name for p in d.iterdir()) == ["20261120_09.jsonl", "20261120_10.jsonl"]
    assert [x["seq"] for x in read_lines(d / "20261120_09.jsonl")] == [1, 2]
    assert [x["seq"] for x in read_lines(d / "20261120_10.jsonl")] == [3, 4, 5]
    assert closed == [d / "20261120_09.jsonl"]
    assert d in dir_syncs
    rot = [e for e in seen if e["event"] == "rotate"]
    assert len(rot) == 1 and rot[0]["file"] == str(d / "20261120_09.jsonl") and rot[0]["lines"] == 2
    assert read_lines(tmp_path / "observer.jsonl")[0]["event"] == "rotate"
    st = w.state()
    assert st.last_closed == str(d / "20261120_09.jsonl")


async def test_next_rotation_is_the_end_of_the_open_hour(tmp_path: Path) -> None:
    w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=0.01)
    await w.start()
    await w.rotate_now()  # nothing open yet: nothing to rotate
    await w.put(ticks(1, time="134512"))
    await asyncio.sleep(0.1)
    nr = w.state().next_rotation
    assert nr is not None and nr.isoformat() == "2026-11-20T14:00:00+09:00"
    await w.close()


async def test_swing_segments_are_daily(tmp_path: Path) -> None:
    w = SegmentWriter(Track.SWING, tmp_path, commit_interval=0.01)
    await w.start()
    await w.put(
        ticks(1, time="090000")
        + ticks(1, time="153000", start=2)
        + ticks(1, date="20261121", start=1)
    )
    await w.close()
    assert sorted(p.name for p in (tmp_path / "assets" / "swing").iterdir()) == [
        "20261120.jsonl",
        "20261121.jsonl",
    ]


async def test_late_records_go_to_the_open_segment_and_closed_files_stay_closed(
    tmp_path: Path,
) -> None:
    w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=0.01)
    await w.start()
    await w.put(ticks(1, time="100000"))
    await asyncio.sleep(0.1)
    await w.put(ticks(1, time="095959", start=2))
    await w.close()
    assert [p.name for p in (tmp_path / "assets" / "scalp").iterdir()] == ["20261120_10.jsonl"]
    assert len(read_lines(tmp_path / "assets" / "scalp" / "20261120_10.jsonl")) == 2


async def test_rotate_now_closes_the_segment_and_continues_in_a_new_part(tmp_path: Path) -> None:
    closed: list[Path] = []
    w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=10)
    w.add_close_listener(closed.append)
    await w.start()
    await w.put(ticks(2))
    path = await w.rotate_now()
    d = tmp_path / "assets" / "scalp"
    assert path == d / "20261120_09.jsonl" and closed == [path]
    assert len(read_lines(path)) == 2  # pending records were committed before closing
    await w.put(ticks(1, start=3))
    await w.close()
    assert [x["seq"] for x in read_lines(d / "20261120_09_p1.jsonl")] == [3]


async def test_after_rotate_now_the_state_counts_the_closed_file_and_nothing_open(
    tmp_path: Path,
) -> None:
    w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=10)
    await w.start()
    await w.put(ticks(3))
    await w.rotate_now()  # the three were still pending when it was asked
    st = w.state()
    assert (st.last_closed_lines, st.last_closed_bytes) == (
        3,
        (w.directory / "20261120_09.jsonl").stat().st_size,
    )
    assert (st.current_file, st.lines, st.bytes, st.next_rotation) == (None, 0, 0, None)
    await w.put(ticks(2, start=4))
    await w.rotate_now()
    assert w.state().last_closed_lines == 2
    await w.close()


async def test_a_restart_continues_in_a_new_part_never_in_the_previous_run_s_file(
    tmp_path: Path,
) -> None:
    d = tmp_path / "assets" / "scalp"
    for start in (1, 4, 7):
        w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=0.01)
        await w.start()
        await w.put(ticks(3, start=start))
        await asyncio.sleep(0.1)
        assert w.state().lines == 3
        await w.close()
    assert sorted(p.name for p in d.iterdir()) == [
        "20261120_09.jsonl", "20261120_09_p1.jsonl", "20261120_09_p2.jsonl",
    ]  # fmt: skip
    seqs = [x["seq"] for n in ("", "_p1", "_p2") for x in read_lines(d / f"20261120_09{n}.jsonl")]
    assert seqs == list(range(1, 10))


async def test_after_a_restart_late_records_go_to_the_newest_segment_on_disk(
    tmp_path: Path,
) -> None:
    d = tmp_path / "assets" / "scalp"
    w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=0.01)
    await w.start()
    await w.put(ticks(2, time="100001"))
    await w.close()
    w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=0.01)
    await w.start()
    await w.put(ticks(1, time="095959", start=3))  # a late trade of the hour before
    await w.close()
    assert sorted(p.name for p in d.iterdir()) == ["20261120_10.jsonl", "20261120_10_p1.jsonl"]


class FlakyFile(OsSegmentFile):
    """When ``full``: one short write (a third of the data), then ENOSPC until space returns."""

    full = False
    short_written = False

    def write(self, data: memoryview) -> int:
        if not FlakyFile.full:
            return super().write(data)
        if not FlakyFile.short_written and len(data) > 3:
            FlakyFile.short_written = True
            return os.write(self._fd, data[: len(data) // 3])
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path))


async def test_a_full_disk_is_reported_and_nothing_accepted_is_lost_when_space_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "RETRY_DELAY", 0.02)
    FlakyFile.full, FlakyFile.short_written = False, False
    w = SegmentWriter(
        Track.SCALP, tmp_path, commit_interval=0.01, max_pending=50, file_factory=FlakyFile
    )
    await w.start()
    await w.put(ticks(10, start=1))
    await asyncio.sleep(0.1)
    FlakyFile.full = True
    await w.put(ticks(10, start=11))
    for _ in range(200):
        if not w.healthy:
            break
        await asyncio.sleep(0.01)
    st = w.state()
    assert not st.healthy and st.last_error is not None
    assert "ENOSPC" in st.last_error and "20261120_09.jsonl" in st.last_error
    assert st.pending > 0
    # backpressure: a put beyond the bound waits instead of dropping
    await w.put(ticks(60, start=21))  # accepted: the bound is checked before a batch
    blocked = asyncio.ensure_future(w.put(ticks(5, start=81)))
    await asyncio.sleep(0.1)
    assert not blocked.done()
    assert FlakyFile.short_written
    FlakyFile.full = False  # space returns
    await asyncio.wait_for(blocked, 5)
    await w.close()
    assert w.healthy
    seqs = [x["seq"] for x in read_lines(tmp_path / "assets" / "scalp" / "20261120_09.jsonl")]
    assert seqs == list(range(1, 86))


async def test_put_after_close_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    w = SegmentWriter(Track.SCALP, tmp_path)
    await w.start()
    await w.close()
    with pytest.raises(Precondition, match="not running"):
        await w.put(ticks(1))


async def test_close_flushes_pending_records_promptly(tmp_path: Path) -> None:
    w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=30)
    await w.start()
    await w.put(ticks(7))
    await asyncio.wait_for(w.close(), 5)
    assert len(read_lines(tmp_path / "assets" / "scalp" / "20261120_09.jsonl")) == 7
    assert w.stalled_for() == 0.0


def test_the_event_bus_reports_the_file_as_it_stands(tmp_path: Path) -> None:
    path = tmp_path / "observer.jsonl"
    path.write_text('{"event":"start"}\n{"event":"stop"}\n')
    bus = EventBus(path)
    assert (bus.lines, bus.bytes) == (2, path.stat().st_size)  # from earlier runs too
    bus.emit("rotate", track="scalp")
    assert (bus.lines, bus.bytes, bus.emitted) == (3, path.stat().st_size, 1)
    assert EventBus(tmp_path / "none.jsonl").lines == 0


def test_a_torn_last_event_is_cut_at_start_so_the_next_one_stays_whole(tmp_path: Path) -> None:
    path = tmp_path / "observer.jsonl"
    bus = EventBus(path)
    bus.emit("start", pid=1)
    with path.open("ab") as fh:
        fh.write(b'{"ts":"2026-12-01T10:00:00+09:00","event":"rot')  # killed mid-append
    bus = EventBus(path)
    bus.emit("start", pid=2)
    events = [json.loads(line) for line in path.read_text().splitlines()]  # every line parses
    assert [e["event"] for e in events] == ["start", "repair", "start"]
    assert events[1]["removed_bytes"] == 46 and bus.repaired == 46
