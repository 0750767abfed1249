"""How far the PostgreSQL sink is behind the files, in lines and in seconds.

Counting newlines is cheap but the files are large, so counts are kept per file and
extended incrementally: each refresh reads only the bytes appended since the last one.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from observer.daemon.model import Track
from observer.daemon.segments import order_key, segment_files

_CHUNK = 8 << 20


@dataclass(frozen=True)
class Checkpoint:
    file: str  # segment file name within assets/<track>/
    offset: int  # bytes of that file loaded (always just after a newline)


def _count(path: Path, start: int, end: int | None = None) -> tuple[int, int]:
    """Newlines in ``path`` from ``start`` to ``end`` (EOF when None); returns (count, end)."""
    n = 0
    with open(path, "rb") as f:
        f.seek(start)
        pos = start
        while end is None or pos < end:
            want = _CHUNK if end is None else min(_CHUNK, end - pos)
            data = f.read(want)
            if not data:
                break
            n += data.count(b"\n")
            pos += len(data)
    return n, pos


def received_at_seconds(line: bytes) -> float | None:
    """POSIX seconds of a line's ``received_at``, or None when unreadable."""
    try:
        return datetime.fromisoformat(json.loads(line)["received_at"]).timestamp()
    except (ValueError, KeyError, TypeError):
        return None


class LineCounter:
    """Complete lines per file, and the lag of a set of checkpoints. Thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._totals: dict[Path, tuple[int, int]] = {}  # path -> (bytes scanned, newlines)
        self._prefix: dict[Track, tuple[str, int, int]] = {}  # track -> (file, offset, lines)
        self._lock = threading.Lock()

    def _total(self, path: Path) -> int:
        scanned, lines = self._totals.get(path, (0, 0))
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return 0
        if size < scanned:  # replaced or truncated: start over
            scanned, lines = 0, 0
        if size > scanned:
            more, scanned = _count(path, scanned)
            lines += more
            self._totals[path] = (scanned, lines)
        return lines

    def _before(self, track: Track, path: Path, offset: int) -> int:
        file, done, lines = self._prefix.get(track, ("", 0, 0))
        if file != path.name or done > offset:
            done, lines = 0, 0
        if offset > done:
            more, _ = _count(path, done, offset)
            lines += more
        self._prefix[track] = (path.name, offset, lines)
        return lines

    def lag(self, checkpoints: dict[Track, Checkpoint], now: float) -> tuple[int, float]:
        """(lines not yet loaded, seconds since the oldest of them was received)."""
        with self._lock:
            rows = 0
            oldest: float | None = None
            seen: set[Path] = set()
            for track in Track:
                files = segment_files(self.data_dir, track)
                seen.update(files)
                if not files:
                    continue
                ck = checkpoints.get(track) or Checkpoint(files[0].name, 0)
                first: tuple[Path, int] | None = None
                at = order_key(ck.file)
                for f in files:
                    if order_key(f.name) < at:
                        continue
                    n = self._total(f)
                    start = 0
                    if f.name == ck.file:
                        start = ck.offset
                        n -= self._before(track, f, ck.offset)
                    if n > 0 and first is None:
                        first = (f, start)
                    rows += max(n, 0)
                if first is not None:
                    t = self._first_received_at(*first)
                    if t is not None and (oldest is None or t < oldest):
                        oldest = t
            for gone in set(self._totals) - seen:
                del self._totals[gone]
            age = max(0.0, now - oldest) if rows and oldest is not None else 0.0
            return rows, age

    @staticmethod
    def _first_received_at(path: Path, offset: int) -> float | None:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                line = f.readline(1 << 16)
        except OSError:
            return None
        return received_at_seconds(line) if line.endswith(b"\n") else None
