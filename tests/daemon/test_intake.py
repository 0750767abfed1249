"""A pause in intake is never silent: it becomes a gap record with its cause."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Sequence
from pathlib import Path

from observer.daemon.ingest.hub import Hub
from observer.daemon.ingest.intake import Intake
from observer.daemon.ingest.recovery import SeqState
from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.model import Track
from observer.daemon.segments import OsSegmentFile
from tests.storedata import ticks


class FullDisk(OsSegmentFile):
    full = True

    def write(self, data: memoryview) -> int:
        if FullDisk.full:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return os.write(self._fd, data)


class Gaps:
    def __init__(self) -> None:
        self.records: list[tuple[float, float, list[str], str, bool]] = []

    def record(
        self, start: float, end: float, symbols: Sequence[str], reason: str, *, always: bool = False
    ) -> bool:
        self.records.append((start, end, list(symbols), reason, always))
        return True


async def test_a_full_disk_that_stops_intake_becomes_a_disk_full_gap(tmp_path: Path) -> None:
    FullDisk.full = True
    w = SegmentWriter(
        Track.SCALP, tmp_path, commit_interval=0.01, max_pending=50, file_factory=FullDisk
    )
    hub = Hub(seq=SeqState())
    hub.attach_sink(Track.SCALP, w)
    await w.start()
    gaps = Gaps()
    intake = Intake(hub, {Track.SCALP: w}, gaps, lambda t: ["005930"], pause_gap=0.3)
    await intake.publish(Track.SCALP, list(ticks("20261202", 9, 50)))  # accepted, not written
    blocked = asyncio.ensure_future(intake.publish(Track.SCALP, list(ticks("20261202", 9, 5, 51))))
    await asyncio.sleep(0.6)
    assert not blocked.done()
    (during,) = intake.paused()
    assert "paused" in during and "disk full" in during and "ENOSPC" in during
    FullDisk.full = False  # space is back
    await asyncio.wait_for(blocked, 5)
    (start, end, symbols, reason, always) = gaps.records[0]
    assert end - start >= 0.6 and symbols == ["005930"] and always
    assert reason.startswith("disk full") and intake.pauses == 1 and intake.paused() == []
    await w.close()


async def test_a_short_wait_is_no_gap(tmp_path: Path) -> None:
    w = SegmentWriter(Track.SCALP, tmp_path, commit_interval=0.01)
    hub = Hub(seq=SeqState())
    hub.attach_sink(Track.SCALP, w)
    await w.start()
    gaps = Gaps()
    intake = Intake(hub, {Track.SCALP: w}, gaps, lambda t: [])
    for k in range(20):
        await intake.publish(Track.SCALP, list(ticks("20261202", 9, 10, 1 + 10 * k)))
    assert gaps.records == [] and intake.pauses == 0
    await w.close()
