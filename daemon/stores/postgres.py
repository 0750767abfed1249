"""PostgreSQL sink: follows the JSONL segments from a checkpoint and loads them with COPY.

The sink only reads files, so it can never slow or block collection. For each track it
keeps a checkpoint (file, byte offset) in the ``checkpoints`` table. A batch is the
complete lines after the checkpoint (at most ``batch_bytes``); it is parsed off the event
loop (pyarrow, explicit schema), sent with COPY (CSV) into a session temporary table, moved
with ``INSERT ... ON CONFLICT DO NOTHING`` and the checkpoint is advanced **in the same
transaction**. Normally the COPY goes straight into the table (see ``_insert``). A crash anywhere rolls back both; a replay of lines already loaded inserts
nothing. The next batch is parsed while the server works on the current one.

When the server is unreachable the sink retries with capped exponential backoff and keeps
``status()`` current (lag in rows and seconds, last error); when it returns, the backlog
loads on its own. Batches travel in PostgreSQL's binary COPY format (pgcopy.py). A copy of the last committed checkpoint is kept in
``$OBSERVER_DATA_DIR/state/postgres_checkpoint.json`` so status and retention know the
progress while the database is down (it never runs ahead of the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from observer.daemon.config import Config
from observer.daemon.ingest.events import Emit, emit_safely
from observer.daemon.model import Track
from observer.daemon.segments import order_key, segment_files, track_dir, track_of
from observer.daemon.stores._pglag import Checkpoint, LineCounter
from observer.daemon.stores.pgcopy import Batch, prepare_batch
from observer.daemon.stores.pgschema import FIELDS, TABLES, migrate

log = logging.getLogger(__name__)

__all__ = ["Batch", "Checkpoint", "PostgresSettings", "PostgresSink", "PostgresStatus"]


@dataclass(frozen=True)
class PostgresSettings:
    """Connection parameters (DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD)."""

    host: str
    port: int
    database: str
    user: str
    password: str = ""

    @classmethod
    def from_config(cls, cfg: Config) -> PostgresSettings | None:
        """None when the sink is off (DB_HOST unset or OBSERVER_STANDALONE)."""
        if not cfg.postgres_enabled:
            return None
        return cls(cfg.db_host, cfg.db_port, cfg.db_name, cfg.db_user, cfg.db_password)


@dataclass(frozen=True)
class PostgresStatus:
    state: str  # disabled | connecting | connected | retrying | stopped
    last_error: str
    lag_rows: int  # complete lines in the files not yet committed to PostgreSQL
    lag_seconds: float  # age (received_at) of the oldest such line; 0 when caught up
    checkpoints: dict[str, Checkpoint]
    rows_loaded: int  # lines committed since start (replayed duplicates included)
    rows_inserted: int  # new rows since start
    rejected_lines: int  # complete lines that break the schema, skipped and counted


def _after(files: list[Path], name: str) -> list[Path]:
    """The segments of ``files`` that come after segment ``name`` (by segment order)."""
    at = order_key(name)
    return [f for f in files if order_key(f.name) > at]


async def _chunks(data: bytes, size: int = 1 << 20) -> AsyncIterator[memoryview]:
    view = memoryview(data)
    for i in range(0, len(data), size):
        yield view[i : i + size]


class PostgresSink:
    """Loads every JSONL line into PostgreSQL exactly once, surviving outages and crashes."""

    def __init__(
        self,
        settings: PostgresSettings | None,
        data_dir: Path,
        *,
        emit: Emit | None = None,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.5,
        backoff_initial: float = 0.5,
        backoff_cap: float = 30.0,
        batch_bytes: int = 8 << 20,
        connect_timeout: float = 10.0,
        crash_hook: Callable[[], None] | None = None,
    ) -> None:
        """``crash_hook`` (tests) runs after COPY and INSERT, before checkpoint and commit."""
        self.settings = settings
        self.data_dir = data_dir
        self._emit = emit
        self._clock = clock
        self._poll = poll_interval
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        self._batch_bytes = batch_bytes
        self._connect_timeout = connect_timeout
        self._crash_hook = crash_hook
        self._mirror = data_dir / "state" / "postgres_checkpoint.json"
        # _ckpt: where loading continues (committed, perhaps not yet on disk: see _connect);
        # _durable: what a server crash cannot take back; status, lag, retention and the
        # mirror use only this one.
        self._ckpt: dict[Track, Checkpoint] = self._read_mirror()
        self._durable: dict[Track, Checkpoint] = dict(self._ckpt)
        self._flushed_at = 0.0
        self._counter = LineCounter(data_dir)
        self._state = "disabled" if settings is None else "connecting"
        self._last_error = ""
        self._lag = (0, 0.0)
        self._rows_loaded = 0
        self._rows_inserted = 0
        self._rejected = 0
        self._direct: dict[Track, bool] = {}  # False: the last batch met existing rows
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    @classmethod
    def from_config(cls, cfg: Config, *, emit: Emit | None = None) -> PostgresSink:
        return cls(PostgresSettings.from_config(cfg), cfg.data_dir, emit=emit)

    # --- public ------------------------------------------------------------------------
    def status(self) -> PostgresStatus:
        return PostgresStatus(
            state=self._state,
            last_error=self._last_error,
            lag_rows=self._lag[0],
            lag_seconds=self._lag[1],
            checkpoints={t.value: c for t, c in self._durable.items()},
            rows_loaded=self._rows_loaded,
            rows_inserted=self._rows_inserted,
            rejected_lines=self._rejected,
        )

    def notify(self) -> None:
        """New lines were written: look now rather than at the next poll."""
        self._wake.set()

    def loaded_past(self, segment: Path) -> bool:
        """Retention's question: are all complete lines of ``segment`` durably committed?"""
        ck = self._durable.get(track_of(segment))
        if ck is None:
            return False
        if order_key(segment.name) < order_key(ck.file):
            return True
        return segment.name == ck.file and ck.offset >= segment.stat().st_size

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def wait_caught_up(self, within: float) -> bool:
        """Wait until connected and no line is pending; False on timeout."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            await self.refresh_lag()
            if self._state == "connected" and self._lag[0] == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    async def refresh_lag(self) -> None:
        self._lag = await asyncio.to_thread(self._counter.lag, dict(self._durable), self._clock())

    # --- main loop ---------------------------------------------------------------------
    async def run(self) -> None:
        """Load until ``stop()``; returns at once when disabled."""
        if self.settings is None:
            self._state = "disabled"
            return
        backoff = self._backoff_initial
        while not self._stopping.is_set():
            conn: Any = None
            try:
                conn = await self._connect()
                backoff = self._backoff_initial
                await self._follow(conn)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # any failure: report, back off, reconnect
                self._failed(e)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
                    conn.terminate()
            if self._stopping.is_set():
                break
            await self._sleep_refreshing(backoff)
            backoff = min(backoff * 2, self._backoff_cap)
        self._state = "stopped"

    async def _connect(self) -> Any:
        s = self.settings
        assert s is not None
        if self._state != "retrying":
            self._state = "connecting"
        conn = await asyncpg.connect(
            host=s.host,
            port=s.port,
            user=s.user,
            password=s.password or None,
            database=s.database,
            timeout=self._connect_timeout,
        )
        try:
            applied = await migrate(conn)
            if applied:
                log.info("postgres: applied schema migrations %s", applied)
            for table in TABLES.values():
                await conn.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS _load_{table} (LIKE {table}) "
                    "ON COMMIT DELETE ROWS"
                )
            rows = await conn.fetch("SELECT track, file, byte_offset FROM checkpoints")
            # A batch's commit need not wait for its WAL to reach the disk: the server
            # writes it in the background while the next batch is sent (about 1.4x the
            # load rate with fsync on). A server crash can then lose the last commits
            # (at most about 3 x wal_writer_delay), but rows and checkpoint together,
            # being one transaction: after reconnecting we read the checkpoint back and
            # reload those lines from the files. Nothing outside the database may rely
            # on such a commit, so _flush makes one synchronous commit (which flushes the
            # WAL of all earlier ones) before status, the mirror or retention see it.
            await conn.execute("SET synchronous_commit = off")
        except BaseException:
            conn.terminate()
            raise
        self._ckpt = {
            Track(r["track"]): Checkpoint(r["file"], r["byte_offset"])
            for r in rows
            if r["track"] in Track._value2member_map_
        }
        self._durable = dict(self._ckpt)
        self._write_mirror()
        was = self._state
        self._state = "connected"
        self._last_error = ""  # the outage (or an older problem) is over
        log.info("postgres: connected to %s:%s/%s", s.host, s.port, s.database)
        if was == "retrying":
            emit_safely(self._emit, "postgres_reconnected", host=s.host, port=s.port)
        return conn

    def _failed(self, e: BaseException) -> None:
        s = self.settings
        assert s is not None
        text = f"{type(e).__name__}: {e}".strip()
        if s.password:
            text = text.replace(s.password, "***")
        msg = (
            f"PostgreSQL at {s.host}:{s.port}/{s.database} failed ({text}); "
            "collection continues and the backlog loads when it is back"
        )
        first = self._state != "retrying"
        self._state = "retrying"
        self._last_error = msg
        if first:
            log.warning("postgres: %s", msg)
            emit_safely(self._emit, "postgres_unavailable", error=text)
        if not isinstance(
            e, OSError | asyncpg.PostgresError | asyncpg.InterfaceError | TimeoutError
        ):
            log.error("postgres: unexpected failure", exc_info=e)

    async def _sleep_refreshing(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            with contextlib.suppress(Exception):
                await self.refresh_lag()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), min(left, 1.0))

    async def _follow(self, conn: Any) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            progressed = False
            for track in Track:
                progressed |= await self._drain_track(conn, track)
            await self._flush(conn)
            await self.refresh_lag()
            if not progressed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
        await self._flush(conn)  # stopping: publish what is committed

    async def _drain_track(self, conn: Any, track: Track) -> bool:
        """Load every complete line of ``track`` after its checkpoint; True if any."""
        progressed = False
        while not self._stopping.is_set():
            files = segment_files(self.data_dir, track)
            if not files:
                return progressed
            ck = self._ckpt.get(track) or Checkpoint(files[0].name, 0)
            path = track_dir(self.data_dir, track) / ck.file
            if not path.exists():
                # Removed (retention only removes files already loaded): go to the next one.
                later = _after(files, ck.file)
                if not later:
                    return progressed
                await self._commit_move(conn, track, Checkpoint(later[0].name, 0))
                continue
            progressed |= await self._load_file(conn, track, path, ck.offset)
            later = _after(segment_files(self.data_dir, track), ck.file)
            if not later:
                return progressed
            # A newer segment exists, so this one is closed. Re-check for lines written just
            # before the rotation, then move on (a torn last line can never complete).
            offset = self._ckpt.get(track, ck).offset
            if await asyncio.to_thread(prepare_batch, path, track, offset, 1 << 16):
                continue
            size = path.stat().st_size
            if size > offset:
                self._last_error = (
                    f"{path.name}: skipped an incomplete last line ({size - offset} bytes) "
                    "of a closed segment"
                )
                log.warning("postgres: %s", self._last_error)
            await self._commit_move(conn, track, Checkpoint(later[0].name, 0))
            progressed = True
        return progressed

    async def _load_file(self, conn: Any, track: Track, path: Path, offset: int) -> bool:
        prep = asyncio.to_thread
        batch = await prep(prepare_batch, path, track, offset, self._batch_bytes)
        loaded = False
        while batch is not None and not self._stopping.is_set():
            nxt = asyncio.ensure_future(
                prep(prepare_batch, path, track, batch.end, self._batch_bytes)
            )
            try:
                await self._load(conn, batch)
            except BaseException:
                nxt.cancel()
                with contextlib.suppress(BaseException):
                    await nxt
                raise
            loaded = True
            batch = await nxt
        return loaded

    async def _load(self, conn: Any, b: Batch) -> None:
        table = TABLES[b.track]
        async with conn.transaction():
            inserted = await self._insert(conn, b, table)
            if self._crash_hook is not None:
                self._crash_hook()
            await self._save_checkpoint(conn, b.track, Checkpoint(b.file, b.end), b.lines)
        self._ckpt[b.track] = Checkpoint(b.file, b.end)
        self._rows_loaded += b.lines - b.rejected
        self._rows_inserted += inserted
        if time.monotonic() - self._flushed_at >= 1.0:  # progress shows during a backlog
            await self._flush(conn)
        if b.rejected:
            self._rejected += b.rejected
            self._last_error = f"{b.file}: {b.rejected} line(s) break the schema and were skipped"
            log.error("postgres: %s", self._last_error)

    async def _insert(self, conn: Any, b: Batch, table: str) -> int:
        """Add the batch's rows that are not in ``table`` yet; returns how many were new.

        Lines after the checkpoint were never committed (rows and checkpoint commit
        together), so normally none of them is in the table and COPY straight into it is
        exact, at about half the server's work of the temporary-table route. Only a replay
        (checkpoints lost or reset) meets existing keys: the COPY then fails on the primary
        key as a whole, its savepoint is rolled back and the batch goes through the
        temporary table with ``ON CONFLICT DO NOTHING``. After a replay that was complete
        the track stays on that route until a batch is entirely new again.
        """
        if self._direct.get(b.track, True):
            try:
                async with conn.transaction():  # savepoint
                    await self._copy(conn, table, b)
                return b.lines - b.rejected
            except asyncpg.UniqueViolationError:
                pass
        cols = ", ".join(FIELDS[b.track])
        await self._copy(conn, f"_load_{table}", b)
        result = await conn.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _load_{table} ON CONFLICT DO NOTHING"
        )
        inserted = int(str(result).rsplit(" ", 1)[-1])
        self._direct[b.track] = inserted == b.lines - b.rejected
        return inserted

    @staticmethod
    async def _copy(conn: Any, table: str, b: Batch) -> None:
        await conn.copy_to_table(
            table, source=_chunks(b.payload), columns=FIELDS[b.track], format=b.format
        )

    async def _flush(self, conn: Any) -> None:
        """Make every commit so far durable, then publish the checkpoints."""
        self._flushed_at = time.monotonic()
        if self._durable == self._ckpt:
            return
        async with conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit = on")
            await conn.execute("UPDATE checkpoints SET updated_at = now()")
        self._durable = dict(self._ckpt)
        self._write_mirror()

    async def _commit_move(self, conn: Any, track: Track, ck: Checkpoint) -> None:
        async with conn.transaction():
            await self._save_checkpoint(conn, track, ck, 0)
        self._ckpt[track] = ck

    @staticmethod
    async def _save_checkpoint(conn: Any, track: Track, ck: Checkpoint, lines: int) -> None:
        await conn.execute(
            "INSERT INTO checkpoints (track, file, byte_offset, rows_loaded, updated_at) "
            "VALUES ($1, $2, $3, $4, now()) ON CONFLICT (track) DO UPDATE SET "
            "file = EXCLUDED.file, byte_offset = EXCLUDED.byte_offset, "
            "rows_loaded = checkpoints.rows_loaded + EXCLUDED.rows_loaded, updated_at = now()",
            track.value,
            ck.file,
            ck.offset,
            lines,
        )

    # --- checkpoint mirror -------------------------------------------------------------
    def _read_mirror(self) -> dict[Track, Checkpoint]:
        try:
            raw = json.loads(self._mirror.read_text(encoding="utf-8"))
            return {Track(k): Checkpoint(v["file"], int(v["offset"])) for k, v in raw.items()}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def _write_mirror(self) -> None:
        body = {t.value: {"file": c.file, "offset": c.offset} for t, c in self._durable.items()}
        body_text = json.dumps(body, sort_keys=True)
        try:
            self._mirror.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._mirror.with_name(f".{self._mirror.name}.tmp")
            tmp.write_text(body_text, encoding="utf-8")
            os.replace(tmp, self._mirror)
        except OSError as e:  # a hint only; the database holds the real checkpoint
            log.warning("postgres: cannot write %s: %s", self._mirror, e)
