"""The durable JSONL segment writer: the source of truth for one track.

``put(items)`` accepts a batch into a bounded in-memory queue (awaiting when it is full:
backpressure, never a drop; ``offer`` is the same without waiting, for the hub's hot
path). Accepted items are formatted into lines at once (a commit holds thousands of
records; formatting them later would walk cold memory). One committer task, at most
every ``commit_interval`` seconds or as soon as ``commit_records`` are pending, writes
and fsyncs the lines in a worker thread (one commit at a time, so order is kept).
A record whose segment key (trade date + hour for scalp, trade date for swing) moves
past the open segment rotates it: fsync, close, fsync the directory, a ``rotate`` event,
then the close listeners (Parquet conversion). Records older than the open segment
(late trades) are appended to the open segment: closed files are never reopened, and
neither is a file of a previous run: after a restart the writer continues in a new part
(``<key>_pN.jsonl``) of the newest segment on disk, or in a newer segment. Each commit
moves ``durable`` (records on disk, in order) and tells the durable listeners (the hub
shows records to the tails only once they are durable).

Write errors (ENOSPC, EROFS, EACCES, ...) never lose accepted data: the unwritten bytes
are kept and retried, ``healthy`` goes False and ``state().last_error`` names the path
and errno until a write succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from observer.daemon.clock import to_kst
from observer.daemon.errors import Precondition
from observer.daemon.ingest.events import EventBus
from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.schema.lines import FrameBatch, LineFormatter
from observer.daemon.segments import (
    OsSegmentFile,
    SegmentFile,
    count_lines,
    fsync_dir,
    parse_name,
    segment_end,
    segment_files,
    segment_name,
    track_dir,
)
from observer.daemon.status.model import ClosedSegment

Item = Tick | Snapshot
CloseListener = Callable[[Path], object]

#: Seconds between retries of a failed write.
RETRY_DELAY = 0.5


@dataclass
class StreamState:
    """Rotation and health state of one track's writer (for status and probes)."""

    track: str
    current_file: str | None
    lines: int
    bytes: int
    opened_at: datetime | None
    next_rotation: datetime | None
    last_closed: str | None
    last_closed_at: datetime | None
    last_closed_lines: int
    last_closed_bytes: int
    pending: int
    last_fsync_at: datetime | None
    last_error: str | None
    healthy: bool
    written: int
    commits: int


class _Chunk:
    """Formatted bytes for one segment key, and how much of them is already on disk."""

    __slots__ = ("data", "key", "lines", "offset")

    def __init__(self, key: str, data: bytes, lines: int) -> None:
        self.key, self.data, self.lines, self.offset = key, data, lines, 0


class SegmentWriter:
    """Writes one track's items to rotating, fsynced JSONL segments (a hub BatchSink)."""

    def __init__(
        self,
        track: Track,
        data_dir: Path,
        *,
        commit_interval: float = 0.2,
        commit_records: int = 20000,
        events: EventBus | None = None,
        clock: Callable[[], float] = time.time,
        max_pending: int | None = None,
        file_factory: Callable[[Path], SegmentFile] = OsSegmentFile,
        log: logging.Logger | None = None,
    ) -> None:
        self.track = track
        self._data_dir = data_dir
        self.directory = track_dir(data_dir, track)
        self.commit_interval = commit_interval
        self.commit_records = max(1, commit_records)
        self.max_pending = max_pending or max(4 * self.commit_records, 10000)
        self._events = events
        self._clock = clock
        self._open_file = file_factory
        self._log = log or logging.getLogger(f"{__name__}.{track.value}")
        self._fmt = LineFormatter()
        self._listeners: list[CloseListener] = []
        self._durable_listeners: list[Callable[[int], object]] = []
        #: Records accepted so far, and how many of them are on disk (fsynced), in order.
        self.accepted = 0
        self.durable = 0
        self._bg: set[asyncio.Future[Any]] = set()
        # Commits run on this writer's own thread: no reader, conversion or replay that
        # occupies the shared pool can make a commit wait.
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"writer-{track.value}")
        # queue (loop thread only)
        # Accepted records, already formatted: (segment key, lines as UTF-8, count) per run.
        self._pending: list[tuple[str, bytes, int]] = []
        self._pending_count = 0
        self._held = 0  # formatted lines waiting for a retry after a write error
        self._retry: list[_Chunk] = []
        self._first_pending_at = 0.0
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._space = asyncio.Event()
        self._rotate_waiters: list[asyncio.Future[Path | None]] = []
        self._commit_waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # file (committer thread, one commit at a time)
        self._file: SegmentFile | None = None
        self._key: str | None = None
        self._part = 0
        self._next_part: int | None = None
        self._needs_sync = False
        self._lines = 0
        self._bytes = 0
        self._opened_at: float | None = None
        self._last_closed: Path | None = None
        self._last_closed_at: float | None = None
        self._last_closed_size = (0, 0)  # lines, bytes
        self._last_fsync_at: float | None = None
        self.last_error: str | None = None
        #: The most recent write error and when it happened (kept after writes resume).
        self.last_failure: tuple[str, float] | None = None
        self._error_key: tuple[str, int | None] = ("", None)
        self.written = 0
        self.commits = 0
        #: time.monotonic() of the last successful commit, or of the moment data arrived
        #: while idle: the liveness watchdog compares it with now while data is pending.
        self.last_progress = time.monotonic()

    # --- public API ------------------------------------------------------------------
    @property
    def healthy(self) -> bool:
        return self.last_error is None

    @property
    def pending(self) -> int:
        return self._pending_count + self._held

    def stalled_for(self) -> float:
        """Seconds data has been waiting without a successful commit (0 when idle)."""
        if not self.pending and not self._needs_sync:
            return 0.0
        return max(0.0, time.monotonic() - self.last_progress)

    def add_durable_listener(self, cb: Callable[[int], object]) -> None:
        """Call ``cb(durable)`` on the event loop after each commit: the first ``durable``
        records ever accepted are now on disk."""
        self._durable_listeners.append(cb)

    def add_close_listener(self, cb: CloseListener) -> None:
        """Call ``cb(path)`` after a segment is closed by rotation (may return an awaitable)."""
        self._listeners.append(cb)

    async def start(self) -> None:
        if self._task is None:
            self._space.set()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"writer-{self.track.value}"
            )
            self._task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        # A bug in the committer must not look like a quiet, healthy writer.
        if not task.cancelled() and task.exception() is not None:
            self.last_error = f"the {self.track.value} writer stopped: {task.exception()!r}"
            self._log.error("%s", self.last_error, exc_info=task.exception())

    async def put(self, items: Sequence[Item]) -> None:
        """Accept a batch; waits while the queue is full (backpressure), never drops."""
        if self._closing or self._task is None:
            raise Precondition(
                f"the {self.track.value} writer is not running (closed or never started); "
                "records cannot be accepted."
            )
        if not items:
            return
        while self._pending_count + self._held >= self.max_pending:
            self._space.clear()
            await self._space.wait()
            if self._closing:
                raise Precondition(f"the {self.track.value} writer closed while a batch waited.")
        self._accept(items, len(items))
        if self._pending_count >= self.commit_records:
            self._full.set()
            # A producer that never blocks would otherwise starve the committer (and keep
            # ever more records alive): give it a turn of the loop.
            await asyncio.sleep(0)

    def offer(self, items: Sequence[Item], n: int) -> bool:
        """Accept a batch of ``n`` items without waiting, as ``put`` would; False (nothing
        taken) when ``put`` must be awaited: full, due for a commit, or not running."""
        if (
            self._pending_count + n >= self.commit_records
            or self._pending_count + self._held >= self.max_pending
            or self._closing or self._task is None or not n
        ):  # fmt: skip
            return False
        self._accept(items, n)
        return True

    def _accept(self, items: Sequence[Item], n: int) -> None:
        if not self._pending:
            self._first_pending_at = time.monotonic()
            if not self._held:
                self.last_progress = self._first_pending_at
            self._wake.set()
        # Formatted now, while the records are fresh in the CPU's caches (a commit holds
        # thousands of them), and so that the records themselves can go.
        if self.track is Track.SCALP and isinstance(items, FrameBatch):
            self._pending.append((items.key, items.lines().encode(), n))
        else:
            self._pending += [(k, text.encode(), c) for k, text, c in self._runs(items)]
        self._pending_count += n
        self.accepted += n

    async def committed(self) -> None:
        """Return once every record accepted before the call is on disk (fsynced).

        Waits for the next group commit (at most ``commit_interval``); never forces one, so
        a reader asking often cannot make the writer commit more often.
        """
        if self._task is None or self._closing or not (self.pending or self._needs_sync):
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._commit_waiters.append(fut)
        self._wake.set()  # an idle committer must look; a waiting one keeps its interval
        await fut

    async def rotate_now(self) -> Path | None:
        """Commit what is pending, then close the open segment; returns its path (or None)."""
        if self._task is None or self._closing:
            raise Precondition(f"the {self.track.value} writer is not running; nothing to rotate.")
        fut: asyncio.Future[Path | None] = asyncio.get_running_loop().create_future()
        self._rotate_waiters.append(fut)
        self._wake.set()
        self._full.set()
        return await fut

    async def close(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Commit and fsync everything, close the file (SIGTERM path; bounded by ``timeout``)."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        self._full.set()
        self._space.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            self._log.error(
                "closing %s: %d records could not be written within %.1f s (%s); they are lost",
                self.directory, self.pending, timeout, self.last_error or "writes too slow",
            )  # fmt: skip
        if self._file is not None:
            with contextlib.suppress(OSError):
                await asyncio.get_running_loop().run_in_executor(self._pool, self._file.sync)
            self._file.close()
            self._file = None
        self._task = None
        self._pool.shutdown(wait=False)
        closed = Precondition(f"the {self.track.value} writer closed first.")
        for waiters in (self._commit_waiters, self._rotate_waiters):
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(closed)
        self._commit_waiters, self._rotate_waiters = [], []

    def state(self) -> StreamState:
        def dt(ts: float | None) -> datetime | None:
            return None if ts is None else to_kst(ts)

        return StreamState(
            track=self.track.value,
            current_file=str(self._file.path) if self._file else None,
            lines=self._lines,
            bytes=self._bytes,
            opened_at=dt(self._opened_at),
            next_rotation=segment_end(self._key) if self._key and self._file else None,
            last_closed=str(self._last_closed) if self._last_closed else None,
            last_closed_at=dt(self._last_closed_at),
            last_closed_lines=self._last_closed_size[0],
            last_closed_bytes=self._last_closed_size[1],
            pending=self.pending,
            last_fsync_at=dt(self._last_fsync_at),
            last_error=self.last_error,
            healthy=self.healthy,
            written=self.written,
            commits=self.commits,
        )

    # --- committer (event loop side) ---------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            idle = not (
                self._pending
                or self._retry
                or self._rotate_waiters
                or self._commit_waiters
                or self._needs_sync
            )
            if idle:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            # Group commit: the oldest pending record waits at most commit_interval.
            urgent = self._closing or self._rotate_waiters or self._retry
            if not urgent and self._pending_count < self.commit_records:
                delay = self._first_pending_at + self.commit_interval - time.monotonic()
                if delay > 0:
                    self._full.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._full.wait(), delay)
            batch, self._pending = self._pending, []
            self._pending_count = 0
            taken = self.accepted  # everything accepted so far is in this commit or the retry
            chunks = self._retry + self._format(batch)
            self._retry = []
            self._held = sum(c.lines for c in chunks)
            self._space.set()
            waiters, self._rotate_waiters = self._rotate_waiters, []
            committed, self._commit_waiters = self._commit_waiters, []
            try:
                closed = await loop.run_in_executor(self._pool, self._commit, chunks, bool(waiters))
            except OSError as e:
                self._on_error(e)
                # asked again after the retry succeeds
                self._rotate_waiters[:0] = waiters
                self._commit_waiters[:0] = committed
                await asyncio.sleep(RETRY_DELAY)
                continue
            for c in committed:
                if not c.done():
                    c.set_result(None)
            self._held = 0
            self._space.set()
            if taken > self.durable:
                self.durable = taken
                for cb in self._durable_listeners:
                    try:
                        cb(taken)
                    except Exception:
                        self._log.exception("durable listener %r failed", cb)
            if self.last_error is not None:
                self._log.warning("%s writes again after: %s", self.directory, self.last_error)
                self.last_error = None
            self.last_progress = time.monotonic()
            for path, lines, size, reason in closed:
                self._after_close(path, lines, size, reason)
            for w in waiters:
                if not w.done():
                    w.set_result(closed[-1][0] if closed else None)

    @staticmethod
    def _format(batch: list[tuple[str, bytes, int]]) -> list[_Chunk]:
        """Formatted runs merged into one chunk per run of records sharing a segment key."""
        chunks: list[_Chunk] = []
        key = ""
        texts: list[bytes] = []
        lines = 0
        for k, text, n in batch:
            if k != key:
                if texts:
                    chunks.append(_Chunk(key, b"".join(texts), lines))
                key, texts, lines = k, [], 0
            texts.append(text)
            lines += n
        if texts:
            chunks.append(_Chunk(key, b"".join(texts), lines))
        return chunks

    def _runs(self, items: Sequence[Item]) -> list[tuple[str, str, int]]:
        """(segment key, lines, count) per run of records sharing a key."""
        out: list[tuple[str, str, int]] = []
        scalp = self.track is Track.SCALP
        start = 0
        date, lo, hi = "", "", ""
        key = ""
        for i, t in enumerate(items):
            tm = t.time
            if t.trade_date == date and lo <= tm < hi:
                continue
            if i > start:
                out.append((key, "".join(self._fmt.lines(items[start:i])), i - start))  # type: ignore[arg-type]
                start = i
            date = t.trade_date
            if scalp:
                hh = tm[:2]
                key, lo, hi = f"{date}_{hh}", f"{hh}0000", f"{hh}9999"
            else:
                key, lo, hi = date, "", "~"
        if len(items) > start:
            out.append((key, "".join(self._fmt.lines(items[start:])), len(items) - start))  # type: ignore[arg-type]
        return out

    def _on_error(self, e: OSError) -> None:
        name = errno.errorcode.get(e.errno or 0, str(e.errno))
        where = e.filename or (self._file.path if self._file else self.directory)
        hint = {
            errno.ENOSPC: "free space on the data volume",
            errno.EDQUOT: "raise the volume quota",
            errno.EROFS: "mount the data volume read-write",
            errno.EACCES: "give the daemon's user write access",
        }.get(e.errno or 0, "check the data volume")
        msg = (
            f"cannot write {where}: {e.strerror or e} ({name}); {hint}. "
            f"{self.pending} records are held in memory and retried every {RETRY_DELAY} s."
        )
        if self.last_error is None or (str(where), e.errno) != self._error_key:
            self._log.error("%s", msg)
        self._error_key = (str(where), e.errno)
        self.last_error = msg
        self.last_failure = (msg, self._clock())

    def _after_close(self, path: Path, lines: int, size: int, reason: str) -> None:
        if self._events is not None:
            self._events.emit(
                "rotate", track=self.track.value, file=str(path), lines=lines, bytes=size,
                reason=reason, next_file=str(self._file.path) if self._file else None,
            )  # fmt: skip
        for cb in self._listeners:
            try:
                res = cb(path)
                if inspect.isawaitable(res):
                    fut = asyncio.ensure_future(res)
                    self._bg.add(fut)
                    fut.add_done_callback(self._bg.discard)
            except Exception:
                self._log.exception("close listener %r failed for %s", cb, path)

    # --- committer (worker thread side) ------------------------------------------------
    def _commit(self, chunks: list[_Chunk], rotate: bool) -> list[tuple[Path, int, int, str]]:
        """Write chunks in order, fsync; on OSError keep the unwritten rest for a retry."""
        closed: list[tuple[Path, int, int, str]] = []
        for n, c in enumerate(chunks):
            try:
                if self._file is None or self._key is None or c.key > self._key:
                    if self._file is not None:
                        closed.append(self._close_segment("hour" if len(c.key) > 8 else "day"))
                    # Late records (older key) go to the open segment's key: never reopen.
                    self._open(c.key if self._key is None or c.key > self._key else self._key)
                assert self._file is not None
                view = memoryview(c.data)
                while c.offset < len(c.data):
                    c.offset += self._file.write(view[c.offset :])
                    self._needs_sync = True
            except OSError:
                self._retry = [c for c in chunks[n:] if c.offset < len(c.data)]
                raise
            self._lines += c.lines
            self._bytes += len(c.data)
            self.written += c.lines
        if self._file is not None and self._needs_sync:
            self._file.sync()
            self._needs_sync = False
            self._last_fsync_at = self._clock()
            self.commits += 1
        if rotate and self._file is not None:
            closed.append(self._close_segment("request"))
            self._next_part = self._part + 1
        return closed

    def _open(self, key: str) -> None:
        part = self._next_part if self._next_part is not None and key == self._key else None
        self._next_part = None
        if part is None and self._key is None:
            # The first file of this run. A file of a previous run is never appended to
            # (crash recovery may still be checking it): continue in a new part of the
            # newest key on disk when the records are not newer than it, so segments
            # stay in time order for the stores that follow them.
            names = [
                n for p in segment_files(self._data_dir, self.track) if (n := parse_name(p.name))
            ]
            newest = max(names, key=lambda n: n.order, default=None)
            if newest is not None and newest.key >= key:
                key, part = newest.key, newest.part + 1
        f = self._open_file(self.directory / segment_name(key, part or 0))
        self._file, self._key, self._part = f, key, part or 0
        self._bytes = f.size()
        self._lines = count_lines(f.path) if self._bytes else 0
        self._opened_at = self._clock()

    def _close_segment(self, reason: str) -> tuple[Path, int, int, str]:
        f = self._file
        assert f is not None
        f.sync()
        f.close()
        self._file = None
        fsync_dir(f.path.parent)
        self._last_closed, self._last_closed_at = f.path, self._clock()
        self._last_closed_size = (self._lines, self._bytes)
        self._lines = self._bytes = 0
        self._opened_at = None
        return f.path, *self._last_closed_size, reason


async def rotate_writers(
    writers: Mapping[Track, SegmentWriter], track: Track | None
) -> list[ClosedSegment]:
    """RotateNow: close the open segment of ``track`` (None: of every track); what each
    closed, with the line and byte counts of the file as it was closed."""
    out = []
    for t, w in writers.items():
        if track is not None and t is not track:
            continue
        closed = await w.rotate_now()
        after = w.state()
        out.append(
            ClosedSegment(
                track=t,
                path=str(closed) if closed else "",
                lines=after.last_closed_lines if closed else 0,
                bytes=after.last_closed_bytes if closed else 0,
            )
        )
    return out
