"""Figures for the derived stores: PostgreSQL load rate, outage backfill, Parquet throughput.

    .venv/bin/python bench/stores.py [--rows 1000000] [--load-rows 300000] [--parquet-rows 500000]

Starts a throwaway PostgreSQL server (tests/pgserver.py; skipped with the reason when no
binaries exist). Every wait is bounded; the whole run stops after --budget seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.json as pj  # noqa: E402

from observer.daemon.model import reference_line  # noqa: E402
from observer.daemon.stores.parquet import convert_segment, dataset_path  # noqa: E402
from observer.daemon.stores.postgres import PostgresSettings, PostgresSink  # noqa: E402
from tests.pgserver import PgServer, skip_reason  # noqa: E402
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


async def bench_postgres(
    server: PgServer, work: Path, load_rows: int, rows: int, budget: float
) -> None:
    s = PostgresSettings(server.host, server.port, server.database, server.user)
    data = work / "pg"
    write_ticks(scalp_path(data, "20261120", 9), load_rows, "20261120", 9, 1)
    sink = PostgresSink(s, data, poll_interval=0.05, backoff_initial=0.1, backoff_cap=1.0)
    t0 = time.perf_counter()
    task = asyncio.create_task(sink.run())
    ok = await sink.wait_caught_up(budget / 3)
    dt = time.perf_counter() - t0
    print(f"postgres load      {load_rows:>9,} rows  {dt:7.2f} s  {load_rows / dt:>10,.0f} rows/s"
          f"  (one connection, COPY + INSERT ON CONFLICT, incl. connect+migrate){'' if ok else '  TIMED OUT'}")  # fmt: skip

    server.stop("immediate")
    seq = load_rows + 1
    per_file = max(rows // 4, 1)
    for i, hour in enumerate((10, 11, 12, 13)):
        n = per_file if i < 3 else rows - 3 * per_file
        write_ticks(scalp_path(data, "20261120", hour), n, "20261120", hour, seq)
        seq += n
    await asyncio.sleep(1.0)
    lag = sink.status()
    server.start()
    t0 = time.perf_counter()
    ok = await sink.wait_caught_up(budget / 2)
    dt = time.perf_counter() - t0
    total = await _count(s)
    await sink.stop()
    await task
    print(f"outage backfill    {rows:>9,} rows  {dt:7.2f} s  {rows / dt:>10,.0f} rows/s"
          f"  (server restarted -> caught up; lag during outage {lag.lag_rows:,} rows,"
          f" state {lag.state}){'' if ok else '  TIMED OUT'}")  # fmt: skip
    print(f"rows in table {total:,} = lines written {seq - 1:,}: {total == seq - 1}")


def bench_parquet(work: Path, rows: int, repeat: int) -> None:
    seg = scalp_path(work / "pq", "20261120", 9)
    write_ticks(seg, rows, "20261120", 9, 1)
    size = seg.stat().st_size
    datasets = work / "pq" / "datasets"
    best_read = best_conv = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        pj.read_json(str(seg))
        best_read = min(best_read, time.perf_counter() - t0)
        dataset_path(seg, datasets).unlink(missing_ok=True)
        t0 = time.perf_counter()
        convert_segment(seg, datasets)
        best_conv = min(best_conv, time.perf_counter() - t0)
    mb = size / 1e6
    print(
        f"pyarrow.json.read_json {rows:>9,} rows {mb:6.1f} MB  {best_read:6.2f} s  {mb / best_read:7.1f} MB/s"
    )
    print(f"convert_segment        {rows:>9,} rows {mb:6.1f} MB  {best_conv:6.2f} s  {mb / best_conv:7.1f} MB/s"
          f"  ratio {best_read / best_conv:.2f} of read_json (target >= 0.8)")  # fmt: skip
    out = dataset_path(seg, datasets)
    print(f"parquet file {out.stat().st_size / 1e6:.1f} MB (zstd), {pa.__version__=}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows written during the outage")
    ap.add_argument("--load-rows", type=int, default=300_000, help="rows for the load-rate figure")
    ap.add_argument("--parquet-rows", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--budget", type=float, default=600.0, help="seconds for the PostgreSQL part")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="observer-bench-stores-"))
    try:
        bench_parquet(work, args.parquet_rows, args.repeat)
        reason = skip_reason()
        if reason:
            print(f"postgres: skipped ({reason})")
            return 0
        server = PgServer()
        try:
            asyncio.run(bench_postgres(server, work, args.load_rows, args.rows, args.budget))
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
