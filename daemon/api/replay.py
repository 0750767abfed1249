"""Reading the last N records back from the JSONL files (Tail's ``replay_last``).

A replay costs the same whatever the history: files are read backwards from the newest
segment, a block at a time, and at most :data:`SCAN_BYTES` per track (a rare symbol
yields fewer than N records rather than a scan of the month). A line's symbol is read
from its start (the schema puts it right after ``seq``) before anything is parsed. Each
replay runs on the :class:`Replayer`'s own small pool of threads — never the one the
writers commit on —, at most :data:`MAX_CONCURRENT` at once (more are refused as busy), and
stops within a block when its caller goes away (the Tail client cancelled, or the daemon
stops). A torn final line (the writer is mid-append) is ignored.

Before reading, a replay waits until every record the writers accepted so far is on disk:
a Tail subscribes before it replays, so a record published just before would otherwise be
in neither the replay nor the live stream.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Protocol

from observer.daemon.errors import Busy
from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.schema.fields import DERIVED, SCHEMAS
from observer.daemon.segments import segment_files

Item = Tick | Snapshot

_BLOCK = 1 << 16
#: Upper bound of replay_last accepted from a client.
MAX_REPLAY = 10_000
#: Bytes read back per track at most, whatever is asked and however long the history.
SCAN_BYTES = 32 << 20
#: Replays running at once at most; threads that run them.
MAX_CONCURRENT = 4
THREADS = 2
_SYMBOL_KEY = b'"symbol":"'


class Cancelled(Exception):
    """The replay's caller went away."""


def _lines_backwards(path: Path, budget: list[int], cancel: threading.Event) -> Iterator[bytes]:
    """Complete lines of ``path``, newest first, while ``budget[0]`` bytes remain."""
    with open(path, "rb") as f:
        end = f.seek(0, 2)
        rest = b""
        first = True
        while end > 0 and budget[0] > 0:
            if cancel.is_set():
                raise Cancelled
            start = max(0, end - _BLOCK)
            f.seek(start)
            chunk = f.read(end - start) + rest
            budget[0] -= end - start
            end = start
            parts = chunk.split(b"\n")
            if first:
                parts.pop()  # text after the last newline: empty or a torn line
                first = False
            rest = parts[0] if start > 0 else b""
            body = parts[1:] if start > 0 else parts
            for line in reversed(body):
                if line:
                    yield line
        if rest and end == 0:
            yield rest


def _symbol_of(line: bytes) -> bytes:
    at = line.find(_SYMBOL_KEY, 0, 48)
    if at < 0:
        return b""
    at += len(_SYMBOL_KEY)
    return line[at : line.find(b'"', at, at + 16)]


def _compact(iso_date: str) -> str:
    return iso_date.replace("-", "")


def item_from_line(track: Track, line: bytes) -> Item | None:
    """The record of one JSONL line (None when it is not a record of ``track``).

    Attributes come from the keys of the same name (the schema table's fields); a field
    added after the first version that an older line lacks stays at the record's default.
    """
    schema = SCHEMAS[track]
    try:
        d = json.loads(line)
        ts = d["ts"]
        values: dict[str, object] = {
            "trade_date": _compact(d["trade_date"]),
            "time": ts[11:19].replace(":", ""),
            "received_at": datetime.fromisoformat(d["received_at"]).timestamp(),
        }
        for f in schema:
            if f.name not in DERIVED and (f.name in d or not f.nullable):
                values[f.name] = d[f.name]
        return schema.record(**values)  # type: ignore[arg-type]
    except (ValueError, KeyError, TypeError):
        return None


def read_last(
    data_dir: Path,
    n: int,
    symbols: frozenset[str] | None = None,
    tracks: frozenset[Track] | None = None,
    *,
    cancel: threading.Event | None = None,
    scan_bytes: int = SCAN_BYTES,
) -> list[Item]:
    """Up to ``n`` most recent matching records over the selected tracks, oldest first,
    reading at most ``scan_bytes`` per track; :class:`Cancelled` once ``cancel`` is set.

    Each track's records come in file order (by seq); several tracks are merged by
    ``received_at``.
    """
    n = max(0, min(n, MAX_REPLAY))
    if n == 0:
        return []
    cancel = cancel or threading.Event()
    wanted = None if symbols is None else {s.encode() for s in symbols}
    per_track: list[list[Item]] = []
    for track in Track:
        if tracks is not None and track not in tracks:
            continue
        got: list[Item] = []
        budget = [scan_bytes]
        for path in reversed(segment_files(data_dir, track)):
            for line in _lines_backwards(path, budget, cancel):
                if wanted is not None and _symbol_of(line) not in wanted:
                    continue
                item = item_from_line(track, line)
                if item is None:
                    continue
                got.append(item)
                if len(got) >= n:
                    break
            if len(got) >= n or budget[0] <= 0:
                break
        got.reverse()  # read newest first: back to file order
        per_track.append(got)
    # Each track stays in file (seq) order; the tracks interleave by arrival time.
    found = list(heapq.merge(*per_track, key=lambda i: i.received_at))
    return found[-n:]


class Committer(Protocol):
    """A writer as replay sees it (daemon/ingest/writer.py SegmentWriter)."""

    async def committed(self) -> None: ...


class Replayer:
    """Runs replays on its own threads, a few at a time, cancellable by their callers."""

    def __init__(
        self,
        data_dir: Path,
        writers: Iterable[Committer],
        *,
        threads: int = THREADS,
        max_concurrent: int = MAX_CONCURRENT,
        scan_bytes: int = SCAN_BYTES,
    ) -> None:
        self.data_dir = data_dir
        self._writers = list(writers)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="replay")
        self._max = max_concurrent
        self._scan_bytes = scan_bytes
        self._running: set[threading.Event] = set()
        self.refused = 0

    @property
    def running(self) -> int:
        return len(self._running)

    async def replay(
        self, n: int, symbols: frozenset[str] | None, tracks: frozenset[Track] | None
    ) -> list[Item]:
        """The last ``n`` matching records once everything accepted so far is on disk;
        Busy when :data:`MAX_CONCURRENT` replays already run."""
        if len(self._running) >= self._max:
            self.refused += 1
            raise Busy(
                f"{len(self._running)} Tail replays are running (at most {self._max}); "
                "try again in a moment, or tail without replay_last."
            )
        cancel = threading.Event()
        self._running.add(cancel)
        try:
            await asyncio.gather(*(w.committed() for w in self._writers))
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._pool,
                lambda: read_last(
                    self.data_dir, n, symbols, tracks, cancel=cancel, scan_bytes=self._scan_bytes
                ),
            )
        except asyncio.CancelledError:
            cancel.set()  # the thread stops at its next block
            raise
        finally:
            self._running.discard(cancel)

    def close(self) -> None:
        """Cancel every replay and let the threads go (stop: nothing waits for them)."""
        for cancel in self._running:
            cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)


async def replay(
    writers: Iterable[Committer],
    data_dir: Path,
    n: int,
    symbols: frozenset[str] | None,
    tracks: frozenset[Track] | None,
) -> list[Item]:
    """One replay without a :class:`Replayer` (tests, tools)."""
    await asyncio.gather(*(w.committed() for w in writers))
    return await asyncio.to_thread(read_last, data_dir, n, symbols, tracks)
