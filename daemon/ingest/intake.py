"""Intake: the sources hand records to the hub here, and a pause in intake is never silent.

The JSONL writer's bounded queue is the only thing allowed to slow ingest (backpressure,
never a drop). While it is full — the disk is full, or a write hangs — a source waits in
``publish`` and reads nothing from KIS: whatever KIS sends meanwhile is not collected. Each
such pause longer than :data:`PAUSE_GAP` seconds becomes a gap record (reason "disk full"
or "backpressure", with what the writer said) and is counted; while it lasts, status shows
it as degraded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from observer.daemon.ingest.hub import Hub, Item
from observer.daemon.model import Track

log = logging.getLogger(__name__)

#: Seconds of paused intake that make a gap record.
PAUSE_GAP = 1.0


class GapSink(Protocol):
    def record(
        self, start: float, end: float, symbols: Sequence[str], reason: str, *, always: bool = ...
    ) -> bool: ...


class WriterView(Protocol):
    @property
    def last_error(self) -> str | None: ...

    @property
    def last_failure(self) -> tuple[str, float] | None: ...

    @property
    def pending(self) -> int: ...


@dataclass(frozen=True)
class Pause:
    track: Track
    start: float  # POSIX seconds
    end: float
    reason: str


class Intake:
    """Publishes for the sources; times every wait on the hub and records long ones."""

    def __init__(
        self,
        hub: Hub,
        writers: Mapping[Track, WriterView],
        gaps: GapSink,
        symbols: Callable[[Track], Sequence[str]],
        *,
        clock: Callable[[], float] = time.time,
        pause_gap: float = PAUSE_GAP,
    ) -> None:
        self._hub = hub
        self._writers = writers
        self._gaps = gaps
        self._symbols = symbols
        self._clock = clock
        self._pause_gap = pause_gap
        #: Per track, when a publish started waiting (None: not waiting).
        self._waiting: dict[Track, float | None] = dict.fromkeys(Track)
        self.pauses = 0
        self.last_pause: Pause | None = None

    async def publish(self, track: Track, items: Sequence[Item]) -> None:
        t0 = time.monotonic()
        started = self._clock()
        self._waiting[track] = started
        try:
            await self._hub.publish(track, items)
        finally:
            self._waiting[track] = None
        if time.monotonic() - t0 >= self._pause_gap:
            self._paused(track, started, self._clock())

    def _why(self, track: Track, since: float | None = None) -> str:
        """Why intake waits (or waited, since ``since``): the writer's error, if any."""
        w = self._writers.get(track)
        error = w.last_error if w is not None else None
        if error is None and since is not None and w is not None and w.last_failure:
            message, at = w.last_failure
            error = message if at >= since else None
        if error and ("ENOSPC" in error or "EDQUOT" in error):
            return (
                f"disk full: intake paused while the {track.value} writer could not write ({error})"
            )
        held = w.pending if w is not None else 0
        detail = f": {error}" if error else " (writes too slow)"
        return (
            f"backpressure: intake paused while the {track.value} writer held {held} records"
            f"{detail}"
        )

    def _paused(self, track: Track, start: float, end: float) -> None:
        reason = self._why(track, since=start)
        self.pauses += 1
        self.last_pause = Pause(track, start, end, reason)
        log.warning("intake paused for %.1f s: %s", end - start, reason)
        # The feed kept sending during the pause, whatever the clock says of market hours.
        self._gaps.record(start, end, self._symbols(track), reason, always=True)

    def paused(self) -> list[str]:
        """Pauses in progress, for status (degraded while they last)."""
        now = self._clock()
        return [
            f"intake of {t.value} paused for {now - since:.1f} s: {self._why(t)}"
            for t, since in self._waiting.items()
            if since is not None and now - since >= self._pause_gap
        ]
