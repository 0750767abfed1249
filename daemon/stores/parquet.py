"""Parquet datasets derived from closed JSONL segments.

Each closed segment becomes one file
``datasets/track=<scalp|swing>/date=YYYY-MM-DD/<segment-stem>.parquet`` (hive partitioning,
zstd). The Arrow schema is explicit, never inferred:

* integers (seq, prices, volumes, values, sign, side) are int64, ratios float64;
* ``trade_date`` is date32; ``ts`` and ``received_at`` are ``timestamp("us", "Asia/Seoul")``:
  the JSON's ISO-8601 ``+09:00`` strings are parsed to instants, so every reader (pyarrow,
  DuckDB, Polars) sees real timestamps, and the zone keeps KST wall-clock display.

Rows are sorted by (symbol, ts, seq) and written in row groups with min/max statistics,
so a reader asking for one symbol (and the day, from the ``date=`` folder) reads a few row
groups instead of scanning every file of the month (tests/daemon/test_parquet.py counts
them). This is the long-term tier: the volume keeps OBSERVER_RETAIN_DATASET_DAYS of it
and the repository's monthly snapshots keep it beyond that.

A conversion writes a hidden temporary file (``.<name>.tmp``, which dataset readers skip)
in the target folder, fsyncs it, renames it into place and fsyncs the folder: a crash
leaves either no file or the complete one. The file's metadata records the source name
and its byte length; a target whose metadata matches the source is left untouched, so
converting twice changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

from observer.daemon.ingest.events import Emit, emit_safely
from observer.daemon.model import Track
from observer.daemon.schema.fields import SCHEMAS as LINE_SCHEMAS
from observer.daemon.schema.fields import Kind, LineSchema
from observer.daemon.segments import (
    closed_segments,
    complete_length,
    count_lines,
    fsync_dir,
    segment_date,
    track_of,
)

log = logging.getLogger(__name__)
_V = TypeVar("_V", int, float)

KST_ZONE = "Asia/Seoul"
_TS = pa.timestamp("us", tz=KST_ZONE)
_SOURCE = b"observer.source"
_SOURCE_BYTES = b"observer.source_bytes"

_ARROW: dict[Kind, pa.DataType] = {
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.STR: pa.string(),
    Kind.BOOL: pa.bool_(),
    Kind.DATE: pa.date32(),
    Kind.TIMESTAMP: _TS,
}


def arrow_schema(schema: LineSchema) -> pa.Schema:
    """The stored Arrow schema of a track's lines, in line order (from the schema table).

    Every column is nullable, as Arrow's JSON reader makes them: a field added after the
    first version is absent from older lines and older Parquet files, and reads as null.
    """
    return pa.schema([(f.name, _ARROW[f.kind]) for f in schema])


#: The stored schema of each track, in line order.
SCHEMAS: dict[Track, pa.Schema] = {t: arrow_schema(s) for t, s in LINE_SCHEMAS.items()}


def _read_schema(track: Track) -> pa.Schema:
    # Arrow's JSON reader cannot parse a date string into date32, but parses it as a
    # timestamp; we cast that column afterwards.
    s = SCHEMAS[track]
    i = s.get_field_index("trade_date")
    return s.set(i, pa.field("trade_date", pa.timestamp("s")))


_READ_SCHEMAS = {t: _read_schema(t) for t in Track}


def _parse_options(track: Track) -> pj.ParseOptions:
    return pj.ParseOptions(explicit_schema=_READ_SCHEMAS[track], unexpected_field_behavior="error")


# 1 MiB blocks (Arrow's default): enough blocks for every core to parse in parallel.
_READ = pj.ReadOptions(block_size=1 << 20)


def parse_lines(data: pa.Buffer | bytes, track: Track) -> pa.Table:
    """Complete JSONL lines of ``track`` as a table with the stored schema.

    Raises ``pyarrow.ArrowInvalid`` naming the problem when a line breaks the schema.
    """
    table = pj.read_json(
        pa.BufferReader(data), read_options=_READ, parse_options=_parse_options(track)
    )
    i = table.schema.get_field_index("trade_date")
    table = table.set_column(i, "trade_date", table.column(i).cast(pa.date32()))
    return table.select(SCHEMAS[track].names)


#: Bytes of JSONL per row group (about 170k scalp lines, 5 MB of Parquet).
GROUP_BYTES = 64 << 20
#: Rows are stored sorted by these (then seq): a reader looking for one symbol skips every
#: row group whose symbol statistics (min/max, written for each group) exclude it.
SORT_KEYS = ("symbol", "ts", "seq")


def _write_sorted(data: pa.Buffer, track: Track, f: BinaryIO, metadata: dict[bytes, bytes]) -> None:
    """Parse every line (Arrow's reader uses every core), sort by (symbol, ts, seq), and
    write row groups of about GROUP_BYTES of JSONL each, with statistics."""
    table = parse_lines(data, track)
    table = table.sort_by([(k, "ascending") for k in SORT_KEYS])
    groups = max(1, -(-data.size // GROUP_BYTES))
    rows_per_group = max(1, -(-table.num_rows // groups))
    schema = SCHEMAS[track].with_metadata(metadata)
    sorting = [pq.SortingColumn(schema.get_field_index(k)) for k in SORT_KEYS]
    with pq.ParquetWriter(
        f, schema, compression="zstd", write_statistics=True, sorting_columns=sorting
    ) as writer:
        writer.write_table(table, row_group_size=rows_per_group)


def dataset_path(segment: Path, datasets_dir: Path) -> Path:
    """Where the Parquet file of ``segment`` lives."""
    track = track_of(segment)
    return (
        datasets_dir
        / f"track={track.value}"
        / f"date={segment_date(segment)}"
        / f"{segment.stem}.parquet"
    )


def is_current(segment: Path, datasets_dir: Path, length: int | None = None) -> bool:
    """True when the dataset file of ``segment`` exists and was made from all of its lines."""
    target = dataset_path(segment, datasets_dir)
    try:
        meta = pq.read_schema(target).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return False
    n = complete_length(segment) if length is None else length
    return meta.get(_SOURCE_BYTES) == str(n).encode() and meta.get(_SOURCE) == segment.name.encode()


def convert_segment(
    path: Path,
    datasets_dir: Path,
    *,
    before_rename: Callable[[], None] | None = None,
) -> Path | None:
    """Convert one closed segment; returns the dataset file, or None when it has no lines.

    Idempotent: when the target already holds every complete line, nothing is written.
    ``before_rename`` is a test hook run after the temporary file is written.
    """
    track = track_of(path)
    n = complete_length(path)
    if n == 0:
        return None
    target = dataset_path(path, datasets_dir)
    if is_current(path, datasets_dir, n):
        return target
    metadata = {_SOURCE: path.name.encode(), _SOURCE_BYTES: str(n).encode()}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with pa.memory_map(str(path)) as mm, open(tmp, "wb") as f:
            _write_sorted(mm.read_buffer(n), track, f, metadata)
            f.flush()
            os.fsync(f.fileno())
        if before_rename is not None:
            before_rename()
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(target.parent)
    return target


def remove_stale_temporaries(datasets_dir: Path) -> int:
    """Delete temporary files left by a crash mid-conversion; returns how many."""
    removed = 0
    for tmp in datasets_dir.glob("track=*/date=*/.*.parquet.*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed += 1
    return removed


@dataclass(frozen=True)
class ParquetStatus:
    """What the status API shows for this sink."""

    pending: int  # closed segments queued or being converted (the lag)
    converted: int  # conversions done since start (skips included)
    last_converted: str  # dataset path relative to the data directory, "" before the first
    last_error: str  # the most recent failure, kept after later successes
    last_duration_s: float
    #: Closed segments whose conversion failed and has not succeeded since, with the error
    #: (retried whenever another segment closes, and at every start).
    failed: dict[str, str] = field(default_factory=dict)
    #: Per track ("scalp", "swing"): lines of the pending and failed segments, the lag in
    #: rows (each counted as it is queued), and when the oldest of them was queued.
    lag_rows: dict[str, int] = field(default_factory=dict)
    lag_since: dict[str, float] = field(default_factory=dict)


class ParquetSink:
    """Converts segments as the writer closes them, off the event loop, one at a time."""

    def __init__(self, data_dir: Path, emit: Emit | None = None) -> None:
        self.data_dir = data_dir
        self.datasets_dir = data_dir / "datasets"
        self._emit = emit
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):  # built inside the daemon's loop: remember it
            self._loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()
        self._pending: set[Path] = set()
        self._failed: dict[Path, str] = {}
        #: Lines of each queued or failed segment, and when it was first queued.
        self._rows: dict[Path, int] = {}
        self._since: dict[Path, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._converted = 0
        self._last_converted = ""
        self._last_error = ""
        self._last_duration = 0.0

    # --- writer hook -------------------------------------------------------------------
    def on_segment_closed(self, path: Path) -> None:
        """Close listener for the segment writer: schedule the conversion of ``path``.

        Safe to call from the event loop or from another thread.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._schedule(path)
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(self._schedule, path)
        else:
            log.warning(
                "parquet: %s closed before the sink started; backfill will convert it", path
            )

    def _schedule(self, path: Path) -> None:
        self._loop = asyncio.get_running_loop()
        for failed in [f for f in self._failed if f != path and f not in self._pending]:
            self._queue(failed)  # a retry: the cause (a full disk, say) may be gone
        self._queue(path)

    def _queue(self, path: Path) -> None:
        if path in self._pending:
            return
        self._pending.add(path)
        self._since.setdefault(path, time.time())
        for job in (self._count(path), self._convert(path)):
            task = asyncio.create_task(job, name=f"parquet {path.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _count(self, path: Path) -> None:
        """The segment's lines, for the lag in rows (a few ms, before its conversion ends)."""
        if path in self._rows:
            return
        try:
            rows = await asyncio.to_thread(count_lines, path)
        except OSError:
            return
        if path in self._pending or path in self._failed:
            self._rows[path] = rows

    async def _convert(self, path: Path) -> None:
        try:
            async with self._lock:
                t0 = time.perf_counter()
                if not await asyncio.to_thread(path.exists):  # removed since: nothing to convert
                    if self._failed.pop(path, None) is not None:
                        log.warning("parquet: %s is gone; no longer retried", path)
                    return
                try:
                    target = await asyncio.to_thread(convert_segment, path, self.datasets_dir)
                except Exception as e:  # a bad segment must not stop the sink
                    self._last_error = f"converting {path.name} failed: {e}"
                    if path not in self._failed:
                        log.error("parquet: %s", self._last_error)
                        emit_safely(self._emit, "parquet_failed", file=path.name, error=str(e))
                    self._failed[path] = self._last_error
                    return
                self._last_duration = time.perf_counter() - t0
                self._converted += 1
                if self._failed.pop(path, None) is not None:
                    log.info("parquet: %s converted after an earlier failure", path.name)
                if target is not None:
                    rel = str(target.relative_to(self.data_dir))
                    self._last_converted = rel
                    emit_safely(
                        self._emit,
                        "parquet_converted",
                        file=path.name,
                        dataset=rel,
                        seconds=round(self._last_duration, 3),
                    )
        finally:
            self._pending.discard(path)
            if path not in self._failed:
                self._rows.pop(path, None)
                self._since.pop(path, None)

    # --- lifecycle ---------------------------------------------------------------------
    async def backfill(self) -> int:
        """At start: convert every closed segment whose dataset is missing or stale.

        Returns how many segments were queued.
        """
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(remove_stale_temporaries, self.datasets_dir)
        todo: list[Path] = []
        for track in Track:
            for seg in closed_segments(self.data_dir, track):
                if not await asyncio.to_thread(is_current, seg, self.datasets_dir):
                    todo.append(seg)
        for seg in todo:
            self._queue(seg)
        await self.drain()
        return len(todo)

    async def drain(self) -> None:
        """Wait until every scheduled conversion finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        await self.drain()

    def status(self) -> ParquetStatus:
        return ParquetStatus(
            pending=len(self._pending),
            converted=self._converted,
            last_converted=self._last_converted,
            last_error=self._last_error,
            last_duration_s=self._last_duration,
            failed={self._rel(p): why for p, why in self._failed.items()},
            lag_rows=self._per_track(self._rows, sum),
            lag_since=self._per_track(self._since, min),
        )

    @staticmethod
    def _per_track(values: dict[Path, _V], combine: Callable[[list[_V]], _V]) -> dict[str, _V]:
        by_track: dict[str, list[_V]] = {}
        for path, value in values.items():
            by_track.setdefault(path.parent.name, []).append(value)
        return {track: combine(vs) for track, vs in by_track.items()}

    def _rel(self, path: Path) -> str:
        with contextlib.suppress(ValueError):
            return str(path.relative_to(self.data_dir))
        return str(path)

    def is_current(self, segment: Path) -> bool:
        """Retention's question: does the dataset hold every line of ``segment``?"""
        return is_current(segment, self.datasets_dir)
