"""A data directory written at schema version 1 (before the market-operation and session
fields) reads into today's Parquet datasets and PostgreSQL schema: its lines and rows lack
the fields, which read as null, and nothing fails.

``tests/daemon/data/schema-v1`` was written by the daemon's code at version 1: two scalp
segments and a swing segment (``reference_line``), and the Parquet files ParquetSink made
of the 09 segment and the swing segment then.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pyarrow.dataset as ds
import pytest

from observer.daemon.model import Track
from observer.daemon.schema.fields import SCALP, SWING
from observer.daemon.stores.parquet import SCHEMAS as ARROW
from observer.daemon.stores.parquet import convert_segment
from observer.daemon.stores.pgschema import MIGRATIONS, migrate
from observer.daemon.stores.postgres import PostgresSettings, PostgresSink

V1 = Path(__file__).parent / "data" / "schema-v1"
NEW_SCALP = [f.name for f in SCALP if f.since > 1]


@pytest.fixture
def old_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(V1, root)
    return root


def test_the_fixture_is_of_the_first_version() -> None:
    line = (V1 / "assets" / "scalp" / "20261120_09.jsonl").read_text().splitlines()[0]
    assert NEW_SCALP and not any(f'"{name}"' in line for name in NEW_SCALP)


def test_old_parquet_files_and_new_conversions_of_old_lines_read_as_one_dataset(
    old_dir: Path,
) -> None:
    datasets = old_dir / "datasets"
    # The 10 segment was never converted: today's sink converts it with today's schema.
    assert convert_segment(old_dir / "assets" / "scalp" / "20261120_10.jsonl", datasets)
    for track, schema in ((Track.SCALP, SCALP), (Track.SWING, SWING)):
        files = sorted(str(p) for p in (datasets / f"track={track.value}").rglob("*.parquet"))
        table = ds.dataset(files, format="parquet", schema=ARROW[track]).to_table()
        assert table.schema.names == list(schema.names)
        lines = sum(
            p.read_bytes().count(b"\n") for p in (old_dir / "assets" / track.value).glob("*")
        )
        converted = 40 if track is Track.SCALP else lines
        assert table.num_rows == converted
        for name in (f.name for f in schema if f.since > 1):
            assert table.column(name).null_count == table.num_rows, name


@pytest.mark.postgres
async def test_rows_loaded_at_version_1_and_old_lines_load_into_the_migrated_tables(
    settings: PostgresSettings, old_dir: Path
) -> None:
    conn = await asyncpg.connect(
        host=settings.host, port=settings.port, user=settings.user, database=settings.database
    )
    try:
        # The database as version 1 left it: its tables, one segment loaded.
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        version, name, statements = MIGRATIONS[0]
        for sql in statements:
            await conn.execute(sql)
        await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2)", version, name)
        v1_columns = [f.name for f in SCALP if f.since == 1]
        await conn.execute(
            f"INSERT INTO scalp_ticks ({', '.join(v1_columns)}) SELECT "
            + ", ".join(f"r.{c}" for c in v1_columns)
            + " FROM json_populate_recordset(NULL::scalp_ticks, $1::json) r",
            "[" + ",".join((old_dir / "assets/scalp/20261120_09.jsonl").read_text().split()) + "]",
        )
        seg9 = old_dir / "assets/scalp/20261120_09.jsonl"
        await conn.execute(
            "INSERT INTO checkpoints (track, file, byte_offset, rows_loaded) VALUES "
            "('scalp', $1, $2, 24)",
            seg9.name,
            seg9.stat().st_size,
        )
        assert await migrate(conn) == [v for v, _, _ in MIGRATIONS[1:]]
    finally:
        await conn.close()
    # Today's sink goes on from the checkpoint: the 10 segment and the swing segment.
    sink = PostgresSink(settings, old_dir, poll_interval=0.05)
    task = asyncio.create_task(sink.run())
    try:
        assert await sink.wait_caught_up(30), sink.status().last_error
    finally:
        await sink.stop()
        await task
    conn = await asyncpg.connect(
        host=settings.host, port=settings.port, user=settings.user, database=settings.database
    )
    try:
        rows = await conn.fetch("SELECT * FROM scalp_ticks ORDER BY seq")
        assert [r["seq"] for r in rows] == list(range(1, 41))
        assert all(r[name] is None for r in rows for name in NEW_SCALP)
        assert await conn.fetchval("SELECT count(*) FROM swing_snapshots") == 8
    finally:
        await conn.close()
