"""Crashes: a kill -9 loop under load with a Tail client, and a start after a crash with a
large open segment."""

from __future__ import annotations

import random
import time
from datetime import datetime
from pathlib import Path

from observer.daemon.clock import KST
from observer.daemon.schema.lines import LineFormatter
from tests.faults.common import Result, TailRecorder, events, file_ticks, gap_records
from tests.harness import daemon_process, start_daemon, wait_serving
from tests.storedata import ticks


def crash_loop(root: Path, short: bool) -> Result:
    cycles, rate = (4, 2000) if short else (200, 5000)
    rng = random.Random(11)
    seen: dict[tuple[str, int], tuple[str, str, int]] = {}
    starts: list[float] = []
    for _ in range(cycles):
        t0 = time.monotonic()
        d = start_daemon(root, wait=False, OBSERVER_SIM_RATE=str(rate))
        wait_serving(d, 60)
        starts.append(time.monotonic() - t0)
        tail = TailRecorder(d.target, tracks=[1])
        time.sleep(rng.uniform(0.5, 2.0))
        d.kill9()
        tail.stop()
        seen.update(tail.seen)
    with daemon_process(root, OBSERVER_SIM_RATE=str(rate)):
        time.sleep(1.0)  # one clean run at the end, so the last crash is recovered too
    files = file_ticks(root / "data")
    reused = sum(1 for k, v in seen.items() if files.ticks.get(k) != v)
    bus = [e["event"] for e in events(root / "data")]
    unclean_gaps = sum(
        1 for g in gap_records(root / "logs") if str(g["reason"]).startswith("unclean stop")
    )
    r = Result(
        "kill -9 crash loop",
        f"{cycles} kill -9 cycles at {rate:,} ticks/s, a Tail client recording seqs",
        {
            "lines": len(files.ticks),
            "unparseable": files.unparseable,
            "seq gaps": files.seq_gaps,
            "duplicates": files.duplicates,
            "seqs the tail saw": len(seen),
            "seqs reused": reused,
            "torn tails repaired": bus.count("repair"),
            "unclean-stop gap records": f"{unclean_gaps} of {cycles}",
            "max start -> SERVING s": round(max(starts), 2),
        },
    )
    r.ok = (
        files.unparseable == files.seq_gaps == files.duplicates == reused == 0
        and unclean_gaps == cycles
        and len(seen) > 0
    )
    return r


def big_open_segment(root: Path, short: bool) -> Result:
    """A start after a crash that left a large open segment with a torn last line."""
    size_mb = 200 if short else 2048
    now = datetime.now(KST)
    day, hour = f"{now:%Y%m%d}", now.hour
    folder = root / "data" / "assets" / "scalp"
    folder.mkdir(parents=True)
    path = folder / f"{day}_{hour:02d}.jsonl"
    fmt = LineFormatter()
    block = list(ticks(day, hour, 20_000))
    seq = 0
    with path.open("w", encoding="utf-8") as f:
        while f.tell() < size_mb << 20:
            for t in block:
                seq += 1
                t.seq = seq
            f.write("".join(fmt.tick_lines(block)))
        f.write(f'{{"seq":{seq + 1},"symbol":"0059')  # torn by the crash
    t0 = time.monotonic()
    d = start_daemon(root, wait=False)
    try:
        wait_serving(d, 120)
        to_serving = time.monotonic() - t0
    finally:
        d.stop()
    after = [
        int(line.split(b",", 1)[0][7:])
        for p in sorted(folder.glob(f"{day}_{hour:02d}_p*.jsonl"))
        for line in p.read_bytes().splitlines()[:1]
    ]
    r = Result(
        "start with a large open segment",
        f"kill -9 left a {size_mb:,} MB open segment with a torn last line; start again",
        {"start -> SERVING s": round(to_serving, 2), "next seq": after[0] if after else "none"},
    )
    # The figure is the full version's target (2 s with 2 GB); the small one, run inside
    # make test on a busy machine, holds only what it shows: the seq goes on after a repair.
    r.ok = (not after or after[0] == seq + 1) and (short or to_serving <= 2.0)
    return r
