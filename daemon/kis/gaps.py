"""Feed gaps: every websocket outage that touches market hours becomes one JSON line.

Records go to ``<system_log_dir>/gap_YYYYMMDD.jsonl`` (KST date of the gap's start) and are
written when the connection is back (or at stop), then fsynced, so an operator can tell
exactly which minutes of which symbols are missing from the tick files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from observer.daemon.clock import in_market_hours, iso, to_kst


class GapLog:
    def __init__(
        self,
        system_log_dir: Path,
        *,
        market_hours: Callable[[datetime], bool] = in_market_hours,
    ) -> None:
        self._dir = system_log_dir
        self._market_hours = market_hours
        self.recorded = 0
        self.last_error = ""

    def path_for(self, start: float) -> Path:
        return self._dir / f"gap_{to_kst(start):%Y%m%d}.jsonl"

    def record(
        self,
        start: float,
        end: float,
        symbols: Sequence[str],
        reason: str,
        *,
        always: bool = False,
    ) -> bool:
        """Append one gap record when [start, end] touches market hours (or ``always``: the
        hole is known to hold ticks, e.g. a crash while they flowed); True if written."""
        if not always and not (
            self._market_hours(to_kst(start)) or self._market_hours(to_kst(end))
        ):
            return False
        line = json.dumps(
            {
                "start": iso(to_kst(start)),
                "end": iso(to_kst(end)),
                "duration_s": round(max(0.0, end - start), 3),
                "symbols": list(symbols),
                "reason": reason,
            },
            ensure_ascii=False,
        )
        path = self.path_for(start)
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            # A gap record must not take the collector down; status shows the failure.
            self.last_error = f"gap record not written to {path}: {e.strerror}"
            return False
        self.recorded += 1
        return True
