"""Parquet datasets from closed JSONL segments: values, atomicity, idempotence, sink."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from observer.daemon.ingest.events import Emit
from observer.daemon.model import Track
from observer.daemon.stores import parquet
from observer.daemon.stores.parquet import (
    SCHEMAS,
    ParquetSink,
    convert_segment,
    dataset_path,
    is_current,
)
from tests.storedata import scalp_path, snapshots, swing_path, ticks, write_lines

ROOT = Path(__file__).resolve().parents[2]


def _expected(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        obj["trade_date"] = date.fromisoformat(obj["trade_date"])
        obj["ts"] = datetime.fromisoformat(obj["ts"])
        obj["received_at"] = datetime.fromisoformat(obj["received_at"])
        rows.append(obj)
    return rows


def _hive(datasets: Path, track: str) -> list[dict[str, Any]]:
    # Each track has its own schema: one dataset per track, partitions from the root.
    files = sorted(str(p) for p in (datasets / f"track={track}").rglob("*.parquet"))
    d = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(datasets))
    t = d.to_table().sort_by("seq")
    assert set(t.column("track").to_pylist()) <= {track}
    return t.drop_columns(["track", "date"]).to_pylist()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_lines(scalp_path(tmp_path, "20261120", 9), ticks("20261120", 9, 3000))
    write_lines(scalp_path(tmp_path, "20261120", 10), ticks("20261120", 10, 500, start_seq=3001))
    write_lines(swing_path(tmp_path, "20261120"), snapshots("20261120", 400))
    return tmp_path


def test_scalp_and_swing_rows_equal_jsonl_rows_value_by_value_in_pyarrow_dataset(
    data_dir: Path,
) -> None:
    datasets = data_dir / "datasets"
    seg9 = scalp_path(data_dir, "20261120", 9)
    swing = swing_path(data_dir, "20261120")
    assert convert_segment(seg9, datasets) == dataset_path(seg9, datasets)
    convert_segment(swing, datasets)
    assert dataset_path(seg9, datasets) == (
        datasets / "track=scalp" / "date=2026-11-20" / "20261120_09.parquet"
    )
    assert _hive(datasets, "scalp") == _expected(seg9)
    assert _hive(datasets, "swing") == _expected(swing)


def test_a_segment_larger_than_a_row_group_keeps_every_row_in_order(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seg = scalp_path(data_dir, "20261120", 9)
    monkeypatch.setattr(parquet, "GROUP_BYTES", 100_000)  # about 260 lines per group
    datasets = data_dir / "datasets"
    convert_segment(seg, datasets)
    meta = pq.read_metadata(dataset_path(seg, datasets))
    assert meta.num_row_groups >= seg.stat().st_size // 101_000 > 5
    assert meta.num_rows == 3000
    assert _hive(datasets, "scalp") == _expected(seg)
    assert is_current(seg, datasets)


def test_stored_schema_is_the_explicit_one_with_kst_timestamps(data_dir: Path) -> None:
    seg = scalp_path(data_dir, "20261120", 9)
    out = convert_segment(seg, data_dir / "datasets")
    assert out is not None
    import pyarrow.parquet as pq

    schema = pq.read_schema(out)
    assert schema.remove_metadata() == SCHEMAS[Track.SCALP]
    assert str(schema.field("ts").type) == "timestamp[us, tz=Asia/Seoul]"


def test_duckdb_and_polars_read_the_same_rows_as_the_jsonl(data_dir: Path) -> None:
    datasets = data_dir / "datasets"
    seg = scalp_path(data_dir, "20261120", 9)
    convert_segment(seg, datasets)
    expected = _expected(seg)
    con = duckdb.connect()
    # Instants as epoch microseconds: no time zone database needed on the reading side.
    rel = con.execute(
        f"SELECT * EXCLUDE (track, date, ts, received_at), epoch_us(ts) AS ts, "
        f"epoch_us(received_at) AS received_at, track, date FROM read_parquet("
        f"'{datasets}/**/*.parquet', hive_partitioning=true) ORDER BY seq"
    )
    cols = [c[0] for c in rel.description]
    got = [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert (g["track"], str(g["date"])) == ("scalp", "2026-11-20")
        for k in ("ts", "received_at"):
            e = {**e, k: round(e[k].timestamp() * 1_000_000)}
        for k, v in e.items():
            assert g[k] == v, (k, g[k], v)
    frame = pl.read_parquet(str(datasets / "**" / "*.parquet"), hive_partitioning=True).sort("seq")
    assert frame.height == len(expected)
    assert frame["price"].to_list() == [e["price"] for e in expected]
    assert frame["received_at"].to_list() == [e["received_at"] for e in expected]


def test_converting_twice_changes_nothing(data_dir: Path) -> None:
    datasets = data_dir / "datasets"
    seg = scalp_path(data_dir, "20261120", 9)
    out = convert_segment(seg, datasets)
    assert out is not None
    before = (out.stat().st_mtime_ns, out.read_bytes())
    assert convert_segment(seg, datasets) == out
    assert (out.stat().st_mtime_ns, out.read_bytes()) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["20261120_09.parquet"]


def test_incomplete_last_line_is_left_out_until_it_is_complete(tmp_path: Path) -> None:
    seg = scalp_path(tmp_path, "20261120", 9)
    write_lines(seg, ticks("20261120", 9, 10))
    with open(seg, "a", encoding="utf-8") as f:
        f.write('{"seq":11,"trade_da')
    datasets = tmp_path / "datasets"
    convert_segment(seg, datasets)
    assert len(_hive(datasets, "scalp")) == 10
    assert is_current(seg, datasets)
    with open(seg, "a", encoding="utf-8") as f:
        f.write("\n")  # now a complete (bad) line: the dataset is stale, conversion must fail
    assert not is_current(seg, datasets)
    with pytest.raises(Exception, match="JSON"):
        convert_segment(seg, datasets)
    assert len(_hive(datasets, "scalp")) == 10


def test_crash_during_conversion_leaves_no_partial_file_visible(data_dir: Path) -> None:
    datasets = data_dir / "datasets"
    seg = scalp_path(data_dir, "20261120", 9)
    code = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from observer.daemon.stores.parquet import convert_segment
        convert_segment(Path({str(seg)!r}), Path({str(datasets)!r}),
                        before_rename=lambda: os._exit(17))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60)
    assert proc.returncode == 17
    folder = dataset_path(seg, datasets).parent
    leftovers = [p.name for p in folder.iterdir()]
    assert leftovers and all(n.startswith(".") and n.endswith(".tmp") for n in leftovers)
    assert list(datasets.rglob("*.parquet")) == []
    # Dataset readers skip hidden files: nothing partial is visible.
    assert ds.dataset(datasets, format="parquet", partitioning="hive").count_rows() == 0


async def test_backfill_converts_closed_segments_only_and_removes_crash_leftovers(
    data_dir: Path,
) -> None:
    datasets = data_dir / "datasets"
    stale = datasets / "track=scalp" / "date=2026-11-20" / ".20261120_09.parquet.1.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"partial")
    events: list[tuple[str, dict[str, object]]] = []
    sink = ParquetSink(data_dir, emit=_recorder(events))
    assert await sink.backfill() == 1  # 09 is closed; 10 is the scalp newest, swing only one
    assert not stale.exists()
    assert is_current(scalp_path(data_dir, "20261120", 9), datasets)
    assert not dataset_path(scalp_path(data_dir, "20261120", 10), datasets).exists()
    assert [e for e, _ in events] == ["parquet_converted"]
    assert sink.status().pending == 0
    assert (
        sink.status().last_converted == "datasets/track=scalp/date=2026-11-20/20261120_09.parquet"
    )
    assert await sink.backfill() == 0


async def test_close_listener_converts_the_rotated_segment_off_the_loop(data_dir: Path) -> None:
    sink = ParquetSink(data_dir)
    seg = scalp_path(data_dir, "20261120", 10)
    sink.on_segment_closed(seg)
    assert sink.status().pending == 1
    await sink.drain()
    st = sink.status()
    assert (st.pending, st.converted, st.last_error) == (0, 1, "")
    assert sink.is_current(seg)


async def test_a_bad_segment_is_reported_in_status_and_does_not_stop_the_sink(
    tmp_path: Path,
) -> None:
    bad = scalp_path(tmp_path, "20261120", 9)
    bad.parent.mkdir(parents=True)
    bad.write_text('{"seq":"one"}\n', encoding="utf-8")
    good = scalp_path(tmp_path, "20261120", 10)
    write_lines(good, ticks("20261120", 10, 5))
    sink = ParquetSink(tmp_path)
    sink.on_segment_closed(bad)
    sink.on_segment_closed(good)
    await sink.drain()
    st = sink.status()
    assert st.converted == 1
    assert "converting 20261120_09.jsonl failed" in st.last_error
    assert not dataset_path(bad, tmp_path / "datasets").exists()
    assert sink.is_current(good)
    assert list(st.failed) == ["assets/scalp/20261120_09.jsonl"]


async def test_a_failed_segment_stays_failed_until_a_retry_converts_it(tmp_path: Path) -> None:
    bad = scalp_path(tmp_path, "20261120", 9)
    bad.parent.mkdir(parents=True)
    bad.write_text('{"seq":"one"}\n', encoding="utf-8")
    sink = ParquetSink(tmp_path)
    sink.on_segment_closed(bad)
    await sink.drain()
    assert "20261120_09.jsonl" in sink.status().failed["assets/scalp/20261120_09.jsonl"]
    write_lines(bad, ticks("20261120", 9, 5), append=False)  # repaired by hand
    nxt = scalp_path(tmp_path, "20261120", 10)
    write_lines(nxt, ticks("20261120", 10, 5))
    sink.on_segment_closed(nxt)  # the next rotation retries the failed one too
    await sink.drain()
    assert sink.status().failed == {}
    assert sink.is_current(bad)


async def test_the_lag_of_a_closed_segment_is_its_lines_on_its_own_track(tmp_path: Path) -> None:
    # It read "parquet ok 2 rows/0s" for a 32,295-line file: a count of files, on both tracks.
    seg = scalp_path(tmp_path, "20261120", 9)
    write_lines(seg, ticks("20261120", 9, 321))
    sink = ParquetSink(tmp_path)
    async with sink._lock:  # a conversion in progress: this one waits its turn
        sink.on_segment_closed(seg)
        for _ in range(200):
            if sink.status().lag_rows:
                break
            await asyncio.sleep(0.01)
        st = sink.status()
        assert st.lag_rows == {"scalp": 321}
        assert set(st.lag_since) == {"scalp"}
    await sink.drain()
    assert (sink.status().lag_rows, sink.status().lag_since) == ({}, {})


async def test_a_failed_segment_keeps_its_rows_in_the_lag(tmp_path: Path) -> None:
    bad = scalp_path(tmp_path, "20261120", 9)
    bad.parent.mkdir(parents=True)
    bad.write_text('{"seq":"one"}\n{"seq":"two"}\n', encoding="utf-8")
    sink = ParquetSink(tmp_path)
    sink.on_segment_closed(bad)
    await sink.drain()
    assert sink.status().lag_rows == {"scalp": 2}


def _recorder(events: list[tuple[str, dict[str, object]]]) -> Emit:
    def emit(event: str, /, **fields: object) -> None:
        events.append((event, fields))

    return emit


def test_rows_are_sorted_by_symbol_then_ts_with_row_group_statistics(data_dir: Path) -> None:
    seg = scalp_path(data_dir, "20261120", 9)
    target = convert_segment(seg, data_dir / "datasets")
    assert target is not None
    table = pq.read_table(target)
    keys = list(zip(table["symbol"].to_pylist(), table["ts"].to_pylist(), strict=True))
    assert keys == sorted(keys)
    meta = pq.read_metadata(target)
    stats = meta.row_group(0).column(table.schema.get_field_index("symbol")).statistics
    assert stats is not None and stats.has_min_max
    assert [c.column_index for c in meta.row_group(0).sorting_columns][:2] == [
        table.schema.get_field_index("symbol"),
        table.schema.get_field_index("ts"),
    ]


def test_one_symbol_day_of_a_month_is_read_without_scanning_the_month(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa

    monkeypatch.setattr(parquet, "GROUP_BYTES", 120_000)  # several row groups per file
    data = tmp_path / "data"
    datasets = data / "datasets"
    days = [f"202611{d:02d}" for d in range(2, 31) if date(2026, 11, d).weekday() < 5]
    for day in days:
        for hour in (9, 10):
            seg = scalp_path(data, day, hour)
            write_lines(seg, ticks(day, hour, 1200, seed=hash(day) % 1000 + hour))
            convert_segment(seg, datasets)
    part = ds.partitioning(
        pa.schema([("track", pa.string()), ("date", pa.string())]), flavor="hive"
    )
    month = ds.dataset(datasets, format="parquet", partitioning=part)
    total = sum(f.metadata.num_row_groups for f in month.get_fragments())
    wanted = (ds.field("symbol") == "005930") & (ds.field("date") == "2026-11-20")
    symbol = ds.field("symbol") == "005930"
    # the date= folder picks the day's files; row-group statistics pick the groups in them
    read = [rg for f in month.get_fragments(filter=wanted) for rg in f.split_by_row_group(symbol)]
    expected = sum(
        1
        for hour in (9, 10)
        for line in scalp_path(data, "20261120", hour).read_text().splitlines()
        if json.loads(line)["symbol"] == "005930"
    )
    rows = sum(rg.to_table(filter=symbol).num_rows for rg in read)
    assert rows == expected > 0  # every row of that symbol-day, from those groups alone
    assert total > 20 * len(read)  # a few row groups of one day, not the month's
    assert len(read) <= 2 * 2  # at most two groups in each of that day's two files
