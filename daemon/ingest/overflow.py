"""Accounting of ticks dropped by slow tail subscribers: ``logs/system/overflow_YYYYMMDD.jsonl``.

Drops are aggregated per subscriber and written as one line per subscriber per interval
(one second by default) while dropping continues, so a stuck consumer costs a line per
second, not a line per tick. Each line: ts (+09:00), subscriber, dropped (in the
interval), dropped_total, depth and buffer (the subscriber's queue size and bound).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from observer.daemon.clock import iso, to_kst


@dataclass
class _Pending:
    dropped: int = 0
    dropped_total: int = 0
    depth: int = 0
    buffer: int = 0
    first: float = 0.0


class OverflowLog:
    """Aggregates drops per subscriber and appends them to the day's overflow file."""

    def __init__(
        self,
        directory: Path,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        log: logging.Logger | None = None,
    ) -> None:
        self.directory = directory
        self.interval = interval
        self._clock = clock
        self._log = log or logging.getLogger(__name__)
        self._pending: dict[str, _Pending] = {}
        self._since = 0.0
        self.lines_written = 0
        self.last_error: str | None = None

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def path_for(self, ts: float) -> Path:
        return self.directory / f"overflow_{to_kst(ts).strftime('%Y%m%d')}.jsonl"

    def record(
        self, subscriber: str, dropped: int, dropped_total: int, depth: int, buffer: int
    ) -> None:
        """Count ``dropped`` ticks lost by ``subscriber``; written at the next flush."""
        now = self._clock()
        p = self._pending.get(subscriber)
        if p is None:
            if not self._pending:
                self._since = now
            p = self._pending[subscriber] = _Pending(first=now)
        p.dropped += dropped
        p.dropped_total, p.depth, p.buffer = dropped_total, depth, buffer

    def due(self) -> bool:
        """Whether ``interval`` has passed since the first drop now pending."""
        return bool(self._pending) and self._clock() - self._since >= self.interval

    def flush(self) -> None:
        if not self._pending:
            return
        now = self._clock()
        pending, self._pending = self._pending, {}
        lines = []
        for sub, p in pending.items():
            rec = {
                "ts": iso(to_kst(now)),
                "subscriber": sub,
                "dropped": p.dropped,
                "dropped_total": p.dropped_total,
                "depth": p.depth,
                "buffer": p.buffer,
                "interval_s": round(now - p.first, 3),
            }
            lines.append(json.dumps(rec, separators=(",", ":")) + "\n")
            self._log.warning(
                "tail subscriber %s is too slow: dropped its %d oldest ticks in %.1f s "
                "(%d in total, buffer %d)",
                sub, p.dropped, now - p.first, p.dropped_total, p.buffer,
            )  # fmt: skip
        path = self.path_for(now)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.writelines(lines)
            self.lines_written += len(lines)
            self.last_error = None
        except OSError as e:
            self.last_error = f"cannot append to {path}: {e.strerror} (errno {e.errno})"
            self._log.error("overflow accounting not recorded: %s", self.last_error)
