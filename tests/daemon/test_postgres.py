"""PostgreSQL sink on a real server: exactly-once loading through outages, crashes, replays."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from observer.daemon.config import load_config
from observer.daemon.model import Track
from observer.daemon.schema.fields import SCHEMAS
from observer.daemon.schema.lines import reference_line
from observer.daemon.stores.parquet import parse_lines
from observer.daemon.stores.pgcopy import encode
from observer.daemon.stores.pgschema import LATEST, TABLES, column_type, migrate
from observer.daemon.stores.postgres import PostgresSettings, PostgresSink
from tests.pgserver import PgServer, free_port
from tests.storedata import append_text, scalp_path, snapshots, swing_path, ticks, write_lines

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


async def _fetch(s: PostgresSettings, sql: str) -> int:
    conn = await asyncpg.connect(host=s.host, port=s.port, user=s.user, database=s.database)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


@pytest.fixture
async def running(settings: PostgresSettings, tmp_path: Path) -> AsyncIterator[PostgresSink]:
    sink = PostgresSink(
        settings, tmp_path, poll_interval=0.05, backoff_initial=0.05, backoff_cap=0.3
    )
    task = asyncio.create_task(sink.run())
    try:
        yield sink
    finally:
        await sink.stop()
        await asyncio.wait_for(task, 10)


def _lines(*paths: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in paths)


async def test_migrations_apply_once_and_are_recorded(settings: PostgresSettings) -> None:
    conn = await asyncpg.connect(
        host=settings.host, port=settings.port, user=settings.user, database=settings.database
    )
    try:
        assert await migrate(conn) == list(range(1, LATEST + 1))
        assert await migrate(conn) == []
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == LATEST
    finally:
        await conn.close()


async def test_every_line_of_every_segment_loads_and_the_checkpoint_reaches_the_end(
    settings: PostgresSettings, tmp_path: Path
) -> None:
    a = scalp_path(tmp_path, "20261120", 9)
    b = scalp_path(tmp_path, "20261120", 10)
    sw = swing_path(tmp_path, "20261120")
    write_lines(a, ticks("20261120", 9, 5000))
    write_lines(b, ticks("20261120", 10, 1200, start_seq=5001))
    write_lines(sw, snapshots("20261120", 300))
    sink = PostgresSink(settings, tmp_path, poll_interval=0.05, batch_bytes=256 << 10)
    task = asyncio.create_task(sink.run())
    try:
        assert await sink.wait_caught_up(30)
    finally:
        await sink.stop()
        await task
    assert await _fetch(settings, "SELECT count(*) FROM scalp_ticks") == 6200
    assert await _fetch(settings, "SELECT count(*) FROM swing_snapshots") == 300
    assert await _fetch(settings, "SELECT sum(price) FROM scalp_ticks") == sum(
        t.price
        for t in itertools.chain(ticks("20261120", 9, 5000), ticks("20261120", 10, 1200, 5001))
    )
    st = sink.status()
    assert st.checkpoints["scalp"].file == b.name
    assert st.checkpoints["scalp"].offset == b.stat().st_size
    assert (st.lag_rows, st.lag_seconds, st.rows_inserted) == (0, 0.0, 6500)
    assert sink.loaded_past(a) and sink.loaded_past(b)


async def test_loading_the_same_segment_twice_changes_nothing(
    settings: PostgresSettings, tmp_path: Path
) -> None:
    seg = scalp_path(tmp_path, "20261120", 9)
    write_lines(seg, ticks("20261120", 9, 3000))
    for attempt in range(2):
        if attempt:  # forget the checkpoint: the whole segment is replayed
            await _fetch(settings, "WITH d AS (DELETE FROM checkpoints RETURNING 1) SELECT 0")
            (tmp_path / "state" / "postgres_checkpoint.json").unlink()
        sink = PostgresSink(settings, tmp_path, poll_interval=0.05)
        task = asyncio.create_task(sink.run())
        assert await sink.wait_caught_up(30)
        await sink.stop()
        await task
        assert sink.status().rows_loaded == 3000
        assert sink.status().rows_inserted == (3000 if attempt == 0 else 0)
    assert await _fetch(settings, "SELECT count(*) FROM scalp_ticks") == 3000


async def test_a_replay_overlapping_new_lines_inserts_only_the_new_ones(
    settings: PostgresSettings, tmp_path: Path
) -> None:
    seg = scalp_path(tmp_path, "20261120", 9)
    write_lines(seg, ticks("20261120", 9, 2000))
    later = scalp_path(tmp_path, "20261120", 10)
    for attempt in range(2):
        if attempt:  # forget the checkpoint and add lines: old and new keys in one batch
            await _fetch(settings, "WITH d AS (DELETE FROM checkpoints RETURNING 1) SELECT 0")
            (tmp_path / "state" / "postgres_checkpoint.json").unlink()
            write_lines(seg, ticks("20261120", 9, 1000, start_seq=2001))
            write_lines(later, ticks("20261120", 10, 500, start_seq=3001))
        sink = PostgresSink(settings, tmp_path, poll_interval=0.05)
        task = asyncio.create_task(sink.run())
        assert await sink.wait_caught_up(30)
        await sink.stop()
        await task
        assert sink.status().rows_inserted == (2000 if attempt == 0 else 1500)
    assert await _fetch(settings, "SELECT count(*) FROM scalp_ticks") == 3500
    assert await _fetch(settings, "SELECT count(DISTINCT seq) FROM scalp_ticks") == 3500


async def test_server_killed_while_lines_are_appended_loads_every_line_once_after_restart(
    server: PgServer, settings: PostgresSettings, tmp_path: Path, running: PostgresSink
) -> None:
    seg = scalp_path(tmp_path, "20261120", 9)
    seq = 1
    for _ in range(10):
        write_lines(seg, ticks("20261120", 9, 200, start_seq=seq))
        seq += 200
        await asyncio.sleep(0.02)
    assert await running.wait_caught_up(20)
    server.stop("immediate")
    try:
        for _ in range(20):  # collection goes on while the database is down
            write_lines(seg, ticks("20261120", 9, 250, start_seq=seq))
            seq += 250
            await asyncio.sleep(0.02)
        write_lines(scalp_path(tmp_path, "20261120", 10), ticks("20261120", 10, 500, seq))
        seq += 500
        for _ in range(100):
            await asyncio.sleep(0.05)
            st = running.status()
            if st.state == "retrying" and st.lag_rows >= 5500:
                break
        assert st.state == "retrying"
        assert st.lag_rows >= 5500  # the lines written during the outage, at least
        assert "collection continues" in st.last_error
        assert "s3cret-pw" not in st.last_error
    finally:
        server.start()
    assert await running.wait_caught_up(30)
    total = seq - 1
    assert total == _lines(seg, scalp_path(tmp_path, "20261120", 10))
    assert await _fetch(settings, "SELECT count(*) FROM scalp_ticks") == total
    assert await _fetch(settings, "SELECT count(DISTINCT seq) FROM scalp_ticks") == total
    back = running.status()
    assert back.state == "connected" and back.last_error == ""  # the outage is over


async def test_crash_between_copy_and_checkpoint_leaves_no_duplicate_after_restart(
    settings: PostgresSettings, tmp_path: Path
) -> None:
    seg = scalp_path(tmp_path, "20261120", 9)
    write_lines(seg, ticks("20261120", 9, 4000))
    code = textwrap.dedent(
        f"""
        import asyncio, os
        from pathlib import Path
        from observer.daemon.stores.postgres import PostgresSettings, PostgresSink
        s = PostgresSettings({settings.host!r}, {settings.port}, {settings.database!r},
                             {settings.user!r})
        sink = PostgresSink(s, Path({str(tmp_path)!r}), crash_hook=lambda: os._exit(17))
        asyncio.run(sink.run())
        """
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, cwd=ROOT)
    assert await asyncio.wait_for(proc.wait(), 60) == 17
    # The crashed transaction held rows and checkpoint together: neither is there.
    assert await _fetch(settings, "SELECT count(*) FROM scalp_ticks") == 0
    assert await _fetch(settings, "SELECT count(*) FROM checkpoints") == 0
    sink = PostgresSink(settings, tmp_path, poll_interval=0.05)
    task = asyncio.create_task(sink.run())
    try:
        assert await sink.wait_caught_up(30)
    finally:
        await sink.stop()
        await task
    assert sink.status().rows_inserted == 4000
    assert await _fetch(settings, "SELECT count(*) FROM scalp_ticks") == 4000


async def test_an_incomplete_last_line_loads_only_once_it_is_complete(
    tmp_path: Path, running: PostgresSink, settings: PostgresSettings
) -> None:
    seg = scalp_path(tmp_path, "20261120", 9)
    write_lines(seg, ticks("20261120", 9, 10))
    text = reference_line(list(ticks("20261120", 9, 11))[10])
    append_text(seg, text[:30])
    assert await running.wait_caught_up(20)
    assert await _fetch(settings, "SELECT count(*) FROM scalp_ticks") == 10
    append_text(seg, text[30:])
    running.notify()
    assert await running.wait_caught_up(20)
    assert await _fetch(settings, "SELECT count(*) FROM scalp_ticks") == 11


async def test_lines_that_break_the_schema_are_skipped_and_counted(
    tmp_path: Path, running: PostgresSink, settings: PostgresSettings
) -> None:
    seg = scalp_path(tmp_path, "20261120", 9)
    write_lines(seg, ticks("20261120", 9, 5))
    append_text(seg, '{"seq":"x"}\n')
    write_lines(seg, ticks("20261120", 9, 5, start_seq=6))
    assert await running.wait_caught_up(20)
    st = running.status()
    assert (st.rejected_lines, st.rows_inserted) == (1, 10)
    assert "1 line(s) break the schema" in st.last_error


async def test_unreachable_server_reports_lag_in_rows_and_seconds(tmp_path: Path) -> None:
    seg = scalp_path(tmp_path, "20261120", 9)
    write_lines(seg, ticks("20261120", 9, 700))
    first = next(ticks("20261120", 9, 700)).received_at
    settings = PostgresSettings("127.0.0.1", free_port(), "observer", "observer", "pw-value")
    sink = PostgresSink(settings, tmp_path, clock=lambda: first + 90.0, backoff_initial=0.05)
    task = asyncio.create_task(sink.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if sink.status().lag_rows:
                break
        st = sink.status()
        assert st.state == "retrying"
        assert st.lag_rows == 700
        assert st.lag_seconds == pytest.approx(90.0, abs=0.01)
        assert f"127.0.0.1:{settings.port}/observer" in st.last_error
        assert "pw-value" not in st.last_error
        assert not sink.loaded_past(seg)
    finally:
        await sink.stop()
        await asyncio.wait_for(task, 10)


async def test_sink_is_disabled_when_db_host_is_unset(tmp_path: Path) -> None:
    cfg = load_config(environ={}, cwd=tmp_path).config
    sink = PostgresSink.from_config(cfg)
    await asyncio.wait_for(sink.run(), 5)
    assert sink.status().state == "disabled"
    cfg = load_config(environ={"DB_HOST": "db", "OBSERVER_STANDALONE": "true"}, cwd=tmp_path).config
    assert PostgresSettings.from_config(cfg) is None


async def _server_binary(s: PostgresSettings, track: Track) -> bytes:
    conn = await asyncpg.connect(host=s.host, port=s.port, user=s.user, database=s.database)
    try:
        out = io.BytesIO()
        columns = ", ".join(f.name for f in SCHEMAS[track])  # line order, as the sink sends
        await conn.copy_from_query(
            f"SELECT {columns} FROM {TABLES[track]} ORDER BY seq", output=out, format="binary"
        )
        return out.getvalue()
    finally:
        await conn.close()


@pytest.mark.parametrize("varying_text", [False, True])
async def test_binary_copy_payload_is_byte_for_byte_what_the_server_itself_writes(
    tmp_path: Path, running: PostgresSink, settings: PostgresSettings, varying_text: bool
) -> None:
    scalp = scalp_path(tmp_path, "20261120", 9)
    swing = swing_path(tmp_path, "20261120")
    scalp_ticks = list(ticks("20261120", 9, 3000))
    snaps = list(snapshots("20261120", 400))
    if varying_text:  # text of several lengths and NULLs: the joined (not fixed-row) route
        for i, sn in enumerate(snaps):
            sn.symbol = ("Q500001", "005930", "A0")[i % 3]
            sn.vi = (None, "N", "한글")[i % 3]  # type: ignore[assignment]
        # the fields of a later version: null in some lines (as in older ones), set in others
        for i, t in enumerate(scalp_ticks):
            if i % 2:
                t.vi_price, t.market_op, t.session = 70_000 + i, "20", "regular"
    write_lines(scalp, iter(scalp_ticks))
    write_lines(swing, iter(snaps))
    assert await running.wait_caught_up(20)
    for track, seg in ((Track.SCALP, scalp), (Track.SWING, swing)):
        payload = encode(parse_lines(seg.read_bytes(), track), track)
        assert payload is not None
        assert payload == await _server_binary(settings, track)


async def test_a_null_in_a_number_column_loads_through_csv_as_null(
    tmp_path: Path, running: PostgresSink, settings: PostgresSettings
) -> None:
    seg = scalp_path(tmp_path, "20261120", 9)
    lines = [reference_line(t) for t in ticks("20261120", 9, 20)]
    lines[7] = lines[7].replace('"halted":false', '"halted":null')
    seg.parent.mkdir(parents=True, exist_ok=True)
    seg.write_text("".join(lines), encoding="utf-8")
    assert encode(parse_lines(seg.read_bytes(), Track.SCALP), Track.SCALP) is None
    assert await running.wait_caught_up(20)
    assert running.status().rows_inserted == 20
    assert await _fetch(settings, "SELECT count(*) FROM scalp_ticks WHERE halted IS NULL") == 1
    assert await _fetch(settings, "SELECT sum(price) FROM scalp_ticks") == sum(
        t.price for t in ticks("20261120", 9, 20)
    )


async def test_status_and_mirror_show_only_checkpoints_the_database_has_made_durable(
    tmp_path: Path, running: PostgresSink, settings: PostgresSettings
) -> None:
    seg = scalp_path(tmp_path, "20261120", 9)
    write_lines(seg, ticks("20261120", 9, 2500))
    assert await running.wait_caught_up(20)
    mirror = json.loads((tmp_path / "state" / "postgres_checkpoint.json").read_text())
    in_db = await _fetch(settings, "SELECT byte_offset FROM checkpoints WHERE track = 'scalp'")
    assert mirror["scalp"]["offset"] == in_db == seg.stat().st_size
    assert running.status().checkpoints["scalp"].offset == in_db
    assert running.loaded_past(seg)


async def test_the_migrated_tables_have_the_schema_table_s_columns(
    settings: PostgresSettings,
) -> None:
    conn = await asyncpg.connect(
        host=settings.host, port=settings.port, user=settings.user, database=settings.database
    )
    try:
        await migrate(conn)
        for track, table in TABLES.items():
            rows = await conn.fetch(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_name = $1 ORDER BY ordinal_position",
                table,
            )
            got = [(r["column_name"], r["data_type"], r["is_nullable"] == "YES") for r in rows]
            want = []
            # ALTER TABLE adds a later version's columns after the earlier ones
            for f in sorted(SCHEMAS[track], key=lambda f: f.since):
                kind = column_type(f).removesuffix(" NOT NULL")
                kind = "timestamp with time zone" if kind == "timestamptz" else kind
                want.append((f.name, kind, not column_type(f).endswith("NOT NULL")))
            assert got == want
    finally:
        await conn.close()
