"""Crash recovery: torn tails repaired, mid-file corruption quarantined, seq continues."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from observer.daemon.ingest.events import EventBus
from observer.daemon.ingest.hub import Hub
from observer.daemon.ingest.recovery import check_deep, recover, recover_start
from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.model import Track
from observer.daemon.schema.lines import LineFormatter
from tests.daemon.ingest_support import random_tick


def lines(n: int, *, start: int = 1, date: str = "20261120", time: str = "090001") -> bytes:
    rng = random.Random(start)
    items = []
    for i in range(n):
        t = random_tick(rng)
        t.trade_date, t.time, t.seq = date, time, start + i
        items.append(t)
    return "".join(LineFormatter().tick_lines(items)).encode()


def setup(tmp_path: Path) -> tuple[Path, EventBus, list[dict]]:
    assets = tmp_path / "assets"
    (assets / "scalp").mkdir(parents=True)
    events = EventBus(tmp_path / "observer.jsonl")
    seen: list[dict] = []
    events.subscribe(seen.append)
    return assets, events, seen


def test_a_torn_final_line_is_truncated_and_recorded_as_a_repair(tmp_path: Path) -> None:
    assets, events, seen = setup(tmp_path)
    good = lines(5)
    path = assets / "scalp" / "20261120_09.jsonl"
    path.write_bytes(good + b'{"seq":6,"trade_date":"2026-11')
    report = recover(tmp_path, events)
    assert path.read_bytes() == good
    (rep,) = report.repairs
    assert (rep.kept_bytes, rep.removed_bytes) == (len(good), 30)
    assert [e["event"] for e in seen] == ["repair"]
    assert seen[0]["removed_bytes"] == 30 and seen[0]["file"] == str(path)
    assert report.seq.last(Track.SCALP, "20261120") == 5
    assert report.quarantined == []


def test_an_unparsable_last_line_with_a_newline_is_also_a_torn_tail(tmp_path: Path) -> None:
    assets, events, _ = setup(tmp_path)
    path = assets / "scalp" / "20261120_09.jsonl"
    path.write_bytes(lines(3) + b"\x00\x00\x00\x00\n")
    report = recover(tmp_path, events)
    assert len(report.repairs) == 1 and path.read_bytes() == lines(3)


def test_corruption_in_the_middle_is_quarantined_with_a_report_never_skipped(
    tmp_path: Path,
) -> None:
    assets, events, seen = setup(tmp_path)
    path = assets / "scalp" / "20261120_09.jsonl"
    a, b = lines(3), lines(4, start=5)
    original = a + b"garbage line\n" + b
    path.write_bytes(original)
    qdir = assets / "quarantine"
    report = recover(tmp_path, events)
    (q,) = report.quarantined
    assert q.bad_lines == [4] and q.good_lines == 7
    assert Path(q.moved_to).read_bytes() == original
    rep = json.loads(Path(q.report).read_text())
    assert (
        rep["bad_lines"] == [4]
        and rep["file"] == str(path)
        and rep["samples"]["4"].startswith("garbage")
    )
    assert Path(q.report).parent == Path(q.moved_to).parent == qdir / "scalp"
    assert path.read_bytes() == a + b  # collection can go on with the good lines
    assert [e["event"] for e in seen] == ["quarantine"]
    assert any("corrupt" in w for w in report.warnings())
    assert report.seq.last(Track.SCALP, "20261120") == 8


def test_seq_is_read_from_the_tail_of_older_segments_and_per_trade_date(tmp_path: Path) -> None:
    assets, events, _ = setup(tmp_path)
    d = assets / "scalp"
    big = lines(2000)
    (d / "20261119_15.jsonl").write_bytes(lines(7, date="20261119", time="152959"))
    (d / "20261120_09.jsonl").write_bytes(big)
    (d / "20261120_10.jsonl").write_bytes(lines(3, start=2001, time="100000"))
    (assets / "swing").mkdir()
    (assets / "swing" / "20261120.jsonl").write_bytes(lines(4))
    report = recover(tmp_path, events)
    assert report.seq.last(Track.SCALP, "20261119") == 7
    assert report.seq.last(Track.SCALP, "20261120") == 2003
    assert report.seq.last(Track.SWING, "20261120") == 4
    assert report.files == 4 and not report.repairs and not report.quarantined


async def test_seq_continues_after_a_hard_stop_without_close(tmp_path: Path) -> None:
    assets, events, _ = setup(tmp_path)
    rng = random.Random(3)

    def batch(n: int):
        out = []
        for _ in range(n):
            t = random_tick(rng)
            t.trade_date, t.time = "20261120", "090001"
            out.append(t)
        return out

    report = recover(tmp_path, events)
    hub = Hub(seq=report.seq)
    w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=0.01, events=events)
    hub.attach_sink(Track.SCALP, w)
    await w.start()
    for _ in range(10):
        await hub.publish(Track.SCALP, batch(5))
    await asyncio.sleep(0.2)  # committed and fsynced
    # hard stop: no close(); simulate the torn write a kill can leave behind
    path = assets / "scalp" / "20261120_09.jsonl"
    assert w._task is not None
    w._task.cancel()
    assert w._file is not None
    w._file.close()  # the kernel would close it when the process dies
    with path.open("ab") as fh:
        fh.write(b'{"seq":51,"trade_da')

    report = recover(tmp_path, events)
    assert len(report.repairs) == 1
    hub2 = Hub(seq=report.seq)
    w2 = SegmentWriter(Track.SCALP, tmp_path, commit_interval=0.01)
    hub2.attach_sink(Track.SCALP, w2)
    await w2.start()
    await hub2.publish(Track.SCALP, batch(5))
    await w2.close()
    seqs = [
        json.loads(x)["seq"]
        for p in (path, path.with_name("20261120_09_p1.jsonl"))  # the restart's new part
        for x in p.read_text().splitlines()
    ]
    assert seqs == list(range(1, 56))


class _Crash(Exception):
    pass


@pytest.mark.parametrize(
    "step", ["recovering written", "original quarantined", "report written", "good lines in place"]
)
def test_a_crash_at_any_step_of_a_quarantine_loses_nothing_and_reuses_no_seq(
    tmp_path: Path, step: str
) -> None:
    assets, events, _ = setup(tmp_path)
    path = assets / "scalp" / "20261120_09.jsonl"
    a, b = lines(3), lines(4, start=5)
    original = a + b"garbage line\n" + b
    path.write_bytes(original)

    def crash(name: str) -> None:
        if name == step:
            raise _Crash(name)

    with pytest.raises(_Crash):
        check_deep(tmp_path, events, recover_start(tmp_path, events), step=crash)
    report = recover(tmp_path, events)  # the next start, and its full check
    assert report.seq.last(Track.SCALP, "20261120") == 8
    assert path.read_bytes() == a + b
    copies = [
        q for q in (assets / "quarantine" / "scalp").glob("*.jsonl.*") if "report" not in q.name
    ]
    assert copies and all(q.read_bytes() == original for q in copies)
    assert not list((assets / "scalp").glob("*.recovering"))


def test_a_quarantine_left_half_done_with_the_original_moved_away_is_completed(
    tmp_path: Path,
) -> None:
    assets, events, seen = setup(tmp_path)
    path = assets / "scalp" / "20261120_09.jsonl"
    qdir = assets / "quarantine" / "scalp"
    qdir.mkdir(parents=True)
    (qdir / "20261120_09.jsonl.20261120T091500").write_bytes(lines(12829))
    path.with_name(path.name + ".recovering").write_bytes(lines(12000))
    report = recover(tmp_path, events)
    assert path.read_bytes() == lines(12000)
    assert report.seq.last(Track.SCALP, "20261120") == 12829  # the quarantined file counts
    assert report.completed == [str(path)]
    assert "quarantine_completed" in [e["event"] for e in seen]


def test_the_start_path_reads_only_the_end_of_a_large_open_segment(tmp_path: Path) -> None:
    assets, events, _ = setup(tmp_path)
    path = assets / "scalp" / "20261120_09.jsonl"
    good = lines(20000)
    path.write_bytes(b"garbage in the middle\n" + good + b'{"seq":20001,"trade')
    report = recover_start(tmp_path, events)
    assert report.seq.last(Track.SCALP, "20261120") == 20000
    assert len(report.repairs) == 1 and report.quarantined == []  # the middle: later
    assert report.to_check == [path]
    assert report.last_received_at[Track.SCALP] > 0
    check_deep(tmp_path, events, report)
    assert len(report.quarantined) == 1 and path.read_bytes() == good
