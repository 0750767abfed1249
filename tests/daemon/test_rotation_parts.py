"""Every part of every segment reaches every derived store.

A rotation on request inside an hour (scalp) or a day (swing) starts a part
``<key>_pN.jsonl``. The writer writes several parts, crosses an hour and a trade-date
boundary, and the Parquet datasets and the PostgreSQL tables must then hold exactly the
JSONL lines: the same rows, value by value, none missing and none twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.segments import segment_files
from observer.daemon.stores.parquet import SCHEMAS, ParquetSink, parse_lines
from observer.daemon.stores.pgschema import FIELDS, TABLES
from observer.daemon.stores.postgres import PostgresSettings, PostgresSink
from tests.storedata import snapshots, ticks

# Scalp: 11 rotations inside 09:00 (parts p1..p11: p10 and p11 sort after p2 only by number,
# not as text), then 10:00 (hour boundary), a request rotation, then the next trade date.
DAY1, DAY2 = "20261130", "20261201"


def _scalp_batches() -> Iterator[tuple[list[Tick], bool]]:
    """(batch, rotate after it) in writing order."""
    seq = 1
    for _ in range(12):
        yield list(ticks(DAY1, 9, 40, start_seq=seq)), True
        seq += 40
    yield list(ticks(DAY1, 10, 40, start_seq=seq)), True
    seq += 40
    yield list(ticks(DAY1, 10, 40, start_seq=seq)), False
    yield list(ticks(DAY2, 9, 40, start_seq=1)), True
    yield list(ticks(DAY2, 9, 40, start_seq=41)), True


def _swing_batches() -> Iterator[tuple[list[Snapshot], bool]]:
    yield list(snapshots(DAY1, 30, start_seq=1)), True
    yield list(snapshots(DAY1, 30, start_seq=31)), True
    yield list(snapshots(DAY1, 30, start_seq=61)), False
    yield list(snapshots(DAY2, 30, start_seq=1)), True


async def _write_with_rotations(data_dir: Path, parquet: ParquetSink) -> None:
    for track, batches in ((Track.SCALP, _scalp_batches()), (Track.SWING, _swing_batches())):
        w = SegmentWriter(track, data_dir, commit_interval=0.01)
        w.add_close_listener(parquet.on_segment_closed)
        await w.start()
        for batch, rotate in batches:
            await w.put(batch)
            if rotate:
                assert await w.rotate_now() is not None
        await w.close()
    await parquet.drain()


def _jsonl_rows(data_dir: Path, track: Track) -> pa.Table:
    data = b"".join(p.read_bytes() for p in segment_files(data_dir, track))
    return parse_lines(data, track).sort_by([("trade_date", "ascending"), ("seq", "ascending")])


def _parquet_rows(data_dir: Path, track: Track) -> pa.Table:
    folder = data_dir / "datasets" / f"track={track.value}"
    table = ds.dataset(folder, format="parquet", partitioning="hive").to_table(
        columns=SCHEMAS[track].names
    )
    return table.sort_by([("trade_date", "ascending"), ("seq", "ascending")])


def _segment_names(data_dir: Path, track: Track) -> list[str]:
    return [p.name for p in segment_files(data_dir, track)]


async def test_parts_hours_and_dates_all_reach_parquet_row_for_row(tmp_path: Path) -> None:
    parquet = ParquetSink(tmp_path)
    await _write_with_rotations(tmp_path, parquet)
    scalp = _segment_names(tmp_path, Track.SCALP)
    assert scalp[:3] == [f"{DAY1}_09.jsonl", f"{DAY1}_09_p1.jsonl", f"{DAY1}_09_p2.jsonl"]
    assert f"{DAY1}_09_p11.jsonl" in scalp and f"{DAY1}_10_p1.jsonl" in scalp
    assert scalp[-1] == f"{DAY2}_09_p1.jsonl"  # closed by the last rotation
    assert _segment_names(tmp_path, Track.SWING)[:2] == [f"{DAY1}.jsonl", f"{DAY1}_p1.jsonl"]
    st = parquet.status()
    assert (st.failed, st.last_error) == ({}, "")
    for track in Track:
        expected = _jsonl_rows(tmp_path, track)
        assert expected.num_rows == (640 if track is Track.SCALP else 120)
        assert _parquet_rows(tmp_path, track).equals(expected)


@pytest.mark.postgres
async def test_parts_hours_and_dates_all_reach_postgres_exactly_once(
    settings: PostgresSettings, tmp_path: Path
) -> None:
    parquet = ParquetSink(tmp_path)
    sink = PostgresSink(settings, tmp_path, poll_interval=0.02)
    task = asyncio.create_task(sink.run())
    try:
        await _write_with_rotations(tmp_path, parquet)
        assert await sink.wait_caught_up(30)
    finally:
        await sink.stop()
        await asyncio.wait_for(task, 10)
    conn = await asyncpg.connect(
        host=settings.host, port=settings.port, user=settings.user, database=settings.database
    )
    try:
        for track in Track:
            cols = ", ".join(FIELDS[track])
            rows = await conn.fetch(f"SELECT {cols} FROM {TABLES[track]} ORDER BY trade_date, seq")
            expected = _jsonl_rows(tmp_path, track).to_pylist()
            assert [dict(r) for r in rows] == expected
    finally:
        await conn.close()
    assert sink.status().rejected_lines == 0
    assert sink.status().checkpoints["scalp"].file == f"{DAY2}_09_p1.jsonl"
