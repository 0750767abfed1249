"""Reading the last N records back from the JSONL files (Tail's ``replay_last``).

:func:`replay` first waits until every record the writers accepted so far is on disk: a
Tail subscribes before it replays, so a record published just before would otherwise be in
neither the replay nor the live stream.

Files are read backwards from the newest segment, a block at a time, so replaying the
last few thousand lines of a large segment reads only its end. A torn final line (the
writer is mid-append) is ignored.
"""

from __future__ import annotations

import asyncio
import heapq
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.schema.fields import DERIVED, SCHEMAS
from observer.daemon.segments import segment_files

Item = Tick | Snapshot

_BLOCK = 1 << 16
#: Upper bound of replay_last accepted from a client.
MAX_REPLAY = 10_000


def _lines_backwards(path: Path) -> Iterator[bytes]:
    """Complete lines of ``path``, newest first."""
    with open(path, "rb") as f:
        end = f.seek(0, 2)
        rest = b""
        first = True
        while end > 0:
            start = max(0, end - _BLOCK)
            f.seek(start)
            chunk = f.read(end - start) + rest
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
        if rest:
            yield rest


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
) -> list[Item]:
    """Up to ``n`` most recent matching records over the selected tracks, oldest first.

    Each track's records come in file order (by seq); several tracks are merged by
    ``received_at``.
    """
    n = max(0, min(n, MAX_REPLAY))
    if n == 0:
        return []
    per_track: list[list[Item]] = []
    for track in Track:
        if tracks is not None and track not in tracks:
            continue
        got: list[Item] = []
        for path in reversed(segment_files(data_dir, track)):
            for line in _lines_backwards(path):
                if symbols is not None and not any(s.encode() in line for s in symbols):
                    continue  # cheap pre-filter before parsing
                item = item_from_line(track, line)
                if item is None or (symbols is not None and item.symbol not in symbols):
                    continue
                got.append(item)
                if len(got) >= n:
                    break
            if len(got) >= n:
                break
        got.reverse()  # read newest first: back to file order
        per_track.append(got)
    # Each track stays in file (seq) order; the tracks interleave by arrival time.
    found = list(heapq.merge(*per_track, key=lambda i: i.received_at))
    return found[-n:]


class Committer(Protocol):
    """A writer as replay sees it (daemon/ingest/writer.py SegmentWriter)."""

    async def committed(self) -> None: ...


async def replay(
    writers: Iterable[Committer],
    data_dir: Path,
    n: int,
    symbols: frozenset[str] | None,
    tracks: frozenset[Track] | None,
) -> list[Item]:
    """The last ``n`` matching records once everything accepted so far is on disk."""
    await asyncio.gather(*(w.committed() for w in writers))
    return await asyncio.to_thread(read_last, data_dir, n, symbols=symbols, tracks=tracks)
