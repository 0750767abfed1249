"""Figures for the derived stores: PostgreSQL load rate, outage backfill, Parquet throughput.

    .venv/bin/python bench/stores.py [--rows 1000000] [--load-rows 300000] [--parquet-rows 500000]
        [--repeat 3] [--only parquet|load|backfill ...]

Starts a throwaway PostgreSQL server (tests/pgserver.py, the same settings as the tests;
skipped with the reason when no binaries exist). Server start and schema migrations are
never inside a timing. The load figure runs ``--repeat`` times on a fresh database each
(best and median); the backfill runs once (1M rows takes a while). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.json as pj  # noqa: E402

from observer.daemon.schema.lines import reference_line  # noqa: E402
from observer.daemon.stores.parquet import convert_segment, dataset_path  # noqa: E402
from observer.daemon.stores.pgschema import migrate  # noqa: E402
from observer.daemon.stores.postgres import PostgresSettings, PostgresSink  # noqa: E402
from tests.pgserver import PgServer, pg_server, skip_reason  # noqa: E402
from tests.storedata import scalp_path, ticks  # noqa: E402

_BASE = 50_000


def write_ticks(path: Path, rows: int, day: str, hour: int, first_seq: int) -> int:
    """``rows`` reference lines with seq from ``first_seq`` (templated: fast for millions)."""
    base = [reference_line(t) for t in ticks(day, hour, min(rows, _BASE))]
    tails = [line.split(",", 1)[1] for line in base]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        done = 0
        while done < rows:
            n = min(len(tails), rows - done)
            seq = first_seq + done
            f.write("".join(f'{{"seq":{seq + i},{tails[i]}' for i in range(n)))
            done += n
    return rows


async def _count(s: PostgresSettings) -> int:
    c = await asyncpg.connect(host=s.host, port=s.port, user=s.user, database=s.database)
    try:
        return int(await c.fetchval("SELECT count(*) FROM scalp_ticks"))
    finally:
        await c.close()


async def _migrate(s: PostgresSettings) -> None:
    c = await asyncpg.connect(host=s.host, port=s.port, user=s.user, database=s.database)
    try:
        await migrate(c)
    finally:
        await c.close()


Row = tuple[str, str, str, str]  # figure, best, median, note


def _med(xs: list[float]) -> float:
    return statistics.median(xs)


async def bench_load(server: PgServer, work: Path, rows: int, repeat: int) -> list[Row]:
    """Load rate on one connection: a fresh database per run, schema created before timing."""
    rates: list[float] = []
    firsts: list[float] = []
    for run in range(repeat):
        name = f"load{run}"
        server.create_database(name)
        s = PostgresSettings(server.host, server.port, name, server.user)
        await _migrate(s)
        data = work / f"load{run}"
        write_ticks(scalp_path(data, "20261120", 9), rows, "20261120", 9, 1)
        sink = PostgresSink(s, data, poll_interval=0.05, backoff_initial=0.1, backoff_cap=1.0)
        t0 = time.perf_counter()
        task = asyncio.create_task(sink.run())
        ok = await sink.wait_caught_up(120)
        dt = time.perf_counter() - t0
        await sink.stop()
        await task
        if not ok or await _count(s) != rows:
            raise SystemExit(f"load run {run}: not caught up or wrong row count")
        rates.append(rows / dt)
        firsts.append(dt)
        shutil.rmtree(data, ignore_errors=True)
    return [
        (
            f"PostgreSQL load, {rows:,} rows, one connection (rows/s)",
            f"{max(rates):,.0f}",
            f"{_med(rates):,.0f}",
            f"target >= 100,000; includes connect (schema made before timing); "
            f"seconds {', '.join(f'{x:.2f}' for x in firsts)}",
        )
    ]


async def bench_backfill(server: PgServer, work: Path, rows: int) -> list[Row]:
    """Rows written while the server is down; time from its restart until caught up."""
    server.create_database("backfill")
    s = PostgresSettings(server.host, server.port, "backfill", server.user)
    data = work / "backfill"
    write_ticks(scalp_path(data, "20261120", 9), 1000, "20261120", 9, 1)
    sink = PostgresSink(s, data, poll_interval=0.05, backoff_initial=0.1, backoff_cap=1.0)
    task = asyncio.create_task(sink.run())
    try:
        if not await sink.wait_caught_up(60):
            raise SystemExit("backfill: initial load did not catch up")
        server.stop("immediate")
        seq = 1001
        per_file = max(rows // 4, 1)
        for i, hour in enumerate((10, 11, 12, 13)):
            n = per_file if i < 3 else rows - 3 * per_file
            write_ticks(scalp_path(data, "20261120", hour), n, "20261120", hour, seq)
            seq += n
        for _ in range(100):  # bounded: until the sink has seen the outage and the lag
            await asyncio.sleep(0.1)
            lag = sink.status()
            if lag.state == "retrying" and lag.lag_rows >= rows:
                break
        server.start()  # includes crash recovery of the server, not timed
        t0 = time.perf_counter()
        ok = await sink.wait_caught_up(600)
        dt = time.perf_counter() - t0
    finally:
        await sink.stop()
        await task
    total = await _count(s)
    if not ok or total != seq - 1:
        raise SystemExit(f"backfill: caught up {ok}, rows {total:,} != lines {seq - 1:,}")
    return [
        (
            f"Outage backfill, {rows:,} rows (s)",
            f"{dt:.2f}",
            "",
            f"server restarted -> caught up ({rows / dt:,.0f} rows/s; the reconnect backoff "
            f"of at most 1 s is included); lag during the outage {lag.lag_rows:,} rows, "
            f"state {lag.state}; rows in table = lines written",
        )
    ]


def bench_parquet(work: Path, rows: int, repeat: int) -> list[Row]:
    seg = scalp_path(work / "pq", "20261120", 9)
    write_ticks(seg, rows, "20261120", 9, 1)
    size = seg.stat().st_size
    datasets = work / "pq" / "datasets"
    reads: list[float] = []
    convs: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        pj.read_json(str(seg))
        reads.append(time.perf_counter() - t0)
        dataset_path(seg, datasets).unlink(missing_ok=True)
        t0 = time.perf_counter()
        convert_segment(seg, datasets)
        convs.append(time.perf_counter() - t0)
    mb = size / 1e6
    out = dataset_path(seg, datasets)
    ratios = [r / c for r, c in zip(reads, convs, strict=True)]
    return [
        (
            f"pyarrow.json.read_json, {rows:,} rows, {mb:.1f} MB (s)",
            f"{min(reads):.2f}",
            f"{_med(reads):.2f}",
            f"{mb / min(reads):.1f} MB/s best; defaults (threads, inferred schema)",
        ),
        (
            "convert_segment, same file (s)",
            f"{min(convs):.2f}",
            f"{_med(convs):.2f}",
            f"{mb / min(convs):.1f} MB/s best; Parquet {out.stat().st_size / 1e6:.1f} MB zstd",
        ),
        (
            "ratio read_json / convert_segment (same run)",
            f"{max(ratios):.2f}",
            f"{_med(ratios):.2f}",
            "target >= 0.8",
        ),
    ]


def _table(rows: list[Row], cmd: str) -> str:
    load = os.getloadavg()
    head = (
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python "
        f"{platform.python_version()}, pyarrow {pa.__version__}, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (at the end)\n"
        f"Command: `{cmd}`\n\n"
        "| figure | best | median | note |\n|---|---:|---:|---|\n"
    )
    return head + "".join(f"| {a} | {b} | {c} | {d} |\n" for a, b, c, d in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows written during the outage")
    ap.add_argument("--load-rows", type=int, default=300_000, help="rows for the load-rate figure")
    ap.add_argument("--parquet-rows", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=("parquet", "load", "backfill"), action="append")
    args = ap.parse_args()
    only = set(args.only or ("parquet", "load", "backfill"))
    work = Path(tempfile.mkdtemp(prefix="observer-bench-stores-"))
    rows: list[Row] = []
    try:
        if "parquet" in only:
            rows += bench_parquet(work, args.parquet_rows, args.repeat)
        reason = skip_reason()
        if reason and only - {"parquet"}:
            rows.append(("PostgreSQL", "", "", f"skipped: {reason}"))
        elif only - {"parquet"}:
            with pg_server() as server:

                async def pg() -> list[Row]:
                    out: list[Row] = []
                    if "load" in only:
                        out += await bench_load(server, work, args.load_rows, args.repeat)
                    if "backfill" in only:
                        out += await bench_backfill(server, work, args.rows)
                    return out

                rows += asyncio.run(pg())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(_table(rows, " ".join([".venv/bin/python bench/stores.py", *sys.argv[1:]])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
