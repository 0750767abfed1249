"""Storage faults: a data volume that fills up and is freed, and PostgreSQL stopped hard
at random moments while segments rotate."""

from __future__ import annotations

import asyncio
import errno
import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import asyncpg
import grpc

from observer.daemon.model import Track
from observer.daemon.stores.postgres import PostgresSettings, PostgresSink
from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc
from tests.faults.common import Result, file_ticks, gap_records, lines, status
from tests.harness import start_daemon, wait_for
from tests.pgserver import PgServer, skip_reason


def _fill(path: Path) -> None:
    """Write until the filesystem refuses (ENOSPC), down to its last bytes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (1 << 20, 4096, 1):
            block = b"\0" * size
            try:
                while True:
                    os.write(fd, block)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)


def disk_full(root: Path, short: bool) -> Result:
    full_for, rate = (5, 3000) if short else (30, 5000)
    # The writer holds what it cannot write (at most 4 x OBSERVER_COMMIT_RECORDS records),
    # then intake waits: the small version lowers the bound to reach that within 5 s.
    commit_records = 2500 if short else 20000
    name = "data volume full"
    what = (
        f"a 96 MB tmpfs data volume full for {full_for} s at {rate:,} ticks/s (the writer "
        f"holds {4 * commit_records:,} records at most), then freed"
    )
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return Result(name, what, skipped="needs root to mount a size-limited tmpfs")
    data = root / "data"
    data.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(data)], check=True)
    d = None
    try:
        d = start_daemon(
            root, OBSERVER_SIM_RATE=str(rate), OBSERVER_MIN_FREE_MB="1",
            OBSERVER_COMMIT_RECORDS=str(commit_records),
        )  # fmt: skip
        assert wait_for(lambda: lines(data) > 2000, timeout=20)
        ballast = data / "ballast"
        _fill(ballast)
        filled = time.time()
        time.sleep(full_for)
        during = status(d.target)
        ballast.unlink()
        freed, n = time.monotonic(), lines(data)
        assert wait_for(lambda: lines(data) > n + 500, timeout=60)
        resumed = time.monotonic() - freed
        time.sleep(2)  # the intake pause ends with the writer's next commit
    finally:
        if d is not None:
            d.stop()
        files = file_ticks(data)
        subprocess.run(["umount", str(data)], check=False)
    gaps = [
        g for g in gap_records(root / "logs")
        if str(g.get("reason", "")).startswith(("disk full", "backpressure"))
    ]  # fmt: skip
    # Intake paused somewhere inside the full period: a gap record overlaps it.
    covered = any(
        str(g["start"]) <= _iso(filled + full_for) and str(g["end"]) >= _iso(filled) for g in gaps
    )
    writer_error = any("ENOSPC" in s.last_error for s in during.streams)
    r = Result(
        name,
        what,
        {
            "unparseable lines": files.unparseable,
            "seq gaps": files.seq_gaps,
            "gap records for the pause": len(gaps),
            "pause covered": covered,
            "writer said ENOSPC": writer_error,
            "resumed after s": round(resumed, 2),
        },
    )
    r.ok = files.unparseable == files.seq_gaps == 0 and covered and writer_error
    return r


def _iso(t: float) -> str:
    from observer.daemon.clock import iso, to_kst

    return iso(to_kst(t))


def postgres_immediate(root: Path, short: bool) -> Result:
    stops = 2 if short else 10
    name = "PostgreSQL stopped hard"
    what = f"PostgreSQL stop -m immediate x{stops} at random moments, RotateNow in between"
    reason = skip_reason()
    if reason:
        return Result(name, what, skipped=reason)
    rng = random.Random(5)
    server = PgServer()
    d = None
    try:
        server.create_database("faults")
        d = start_daemon(
            root, OBSERVER_SIM_RATE="2000", DB_HOST=server.host, DB_PORT=str(server.port),
            DB_NAME="faults", DB_USER=server.user, OBSERVER_SWING_INTERVAL="2",
        )  # fmt: skip
        auth = (("authorization", f"Bearer {d.token}"),)
        with grpc.insecure_channel(d.target) as ch:
            control = pb_grpc.ControlServiceStub(ch)
            for _ in range(stops):
                time.sleep(rng.uniform(0.5, 2.5))
                server.stop("immediate")
                control.RotateNow(pb.RotateNowRequest(), metadata=auth, timeout=10)
                time.sleep(rng.uniform(0.5, 1.5))
                server.start()
        d.stop()
        # What the daemon wrote after its last load: the same loader, on its own, finishes.
        caught_up = asyncio.run(_finish_loading(server, root / "data"))
        missing, dupes = asyncio.run(_compare(server, root / "data"))
    finally:
        if d is not None:
            d.stop()
        server.cleanup()
    r = Result(
        name,
        what,
        {"caught up": caught_up, "rows missing": missing, "rows twice": dupes},
    )
    r.ok = caught_up and missing == dupes == 0
    return r


async def _finish_loading(server: PgServer, data: Path) -> bool:
    settings = PostgresSettings(server.host, server.port, "faults", server.user)
    sink = PostgresSink(settings, data, poll_interval=0.05)
    task = asyncio.create_task(sink.run())
    try:
        return await sink.wait_caught_up(120)
    finally:
        await sink.stop()
        await asyncio.wait_for(task, 10)


async def _compare(server: PgServer, data: Path) -> tuple[int, int]:
    conn = await asyncpg.connect(
        host=server.host, port=server.port, user=server.user, database="faults"
    )
    try:
        missing = dupes = 0
        for track, table in ((Track.SCALP, "scalp_ticks"), (Track.SWING, "swing_snapshots")):
            rows = await conn.fetch(f"SELECT trade_date::text AS d, seq FROM {table}")
            in_db = [(r["d"], r["seq"]) for r in rows]
            dupes += len(in_db) - len(set(in_db))
            missing += len(set(file_ticks(data, track).ticks) - set(in_db))
        return missing, dupes
    finally:
        await conn.close()
