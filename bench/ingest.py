"""Ingest figures: parse -> hub -> durable JSONL, against the replaced approach and python-kis.

Run: ``.venv/bin/python bench/ingest.py`` (or ``make bench-ingest``). Prints a markdown
table and exits; bounded to about a minute. Every variant consumes the same synthetic
simulator-format H0STCNT0 frames (5 records per frame, 46 fields, random-walk prices).
Each figure is the best of several runs (5 for ours, 3 for the baselines): this machine's
speed drifts by a third from minute to minute, and the best run is the least disturbed.

* ours end to end: FrameParser.parse -> Hub.publish -> SegmentWriter (group commit,
  real files, fsync) on one event loop, timed until close() has fsynced everything.
* (a) replaced: the same parse, then per record json.dumps and open(path, "a"), write,
  close (what the system being replaced did).
* (b) parse only: our parser against python-kis's KisWebsocketResponse.parse. Our parse
  lays out the file lines and builds typed Ticks only when read; the extra row "parse +
  typed Ticks" reads them all, for an apples-to-apples comparison with python-kis.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from observer.daemon.clock import now_kst
from observer.daemon.ingest.hub import Hub
from observer.daemon.ingest.recovery import SeqState
from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.kis import parser as parser_module
from observer.daemon.kis.parser import FrameParser
from observer.daemon.model import Track
from observer.daemon.runtime import tune_gc
from observer.daemon.schema.fields import SCALP
from observer.daemon.schema.lines import iso_date, iso_ts

RECORDS_PER_FRAME = 5
SYMBOLS = ("005930", "000660", "035420", "035720", "005380", "051910", "006400", "068270")
BASE = {"005930": 72100, "000660": 183500, "035420": 201000, "035720": 41250, "005380": 243000,
        "051910": 356000, "006400": 389500, "068270": 178300}  # fmt: skip


def _tick_size(p: int) -> int:
    for limit, size in (
        (2000, 1),
        (5000, 5),
        (20000, 10),
        (50000, 50),
        (200000, 100),
        (500000, 500),
    ):
        if p < limit:
            return size
    return 1000


def make_frames(n_frames: int, seed: int = 7, date: str | None = None) -> list[str]:
    """Simulator-format frames: valid dates/times, KRX tick sizes, cumulative volumes; the
    trade date is today's in KST unless given (the parser takes dates near the arrival's)."""
    date = date or f"{now_kst():%Y%m%d}"
    rng = random.Random(seed)
    price = dict(BASE)
    cum_vol = dict.fromkeys(SYMBOLS, 0)
    cum_val = dict.fromkeys(SYMBOLS, 0)
    frames = []
    for i in range(n_frames):
        sec = 9 * 3600 + i * 3600 // n_frames  # spread over 09:00-10:00
        hhmmss = f"{sec // 3600:02d}{sec // 60 % 60:02d}{sec % 60:02d}"
        fields: list[str] = []
        for _ in range(RECORDS_PER_FRAME):
            s = rng.choice(SYMBOLS)
            p = max(1000, price[s] + rng.choice((-1, 0, 1)) * _tick_size(price[s]))
            price[s] = p
            vol = rng.randint(1, 500)
            cum_vol[s] += vol
            cum_val[s] += vol * p
            ch = p - BASE[s]
            sign = "2" if ch > 0 else ("5" if ch < 0 else "3")
            vwap = cum_val[s] / cum_vol[s]
            fields += [
                s, hhmmss, str(p), sign, str(ch), f"{ch * 100 / BASE[s]:.2f}", f"{vwap:.2f}",
                str(BASE[s]), str(max(p, BASE[s])), str(min(p, BASE[s])), str(p + _tick_size(p)),
                str(p), str(vol), str(cum_vol[s]), str(cum_val[s]), "3456", "4567", "1111",
                f"{rng.uniform(50, 200):.2f}", "1234567", "2345678", rng.choice("15"), "0.55",
                "87.12", "090000", "5", "-500", "091512", "5", "-700", "093015", "2", "200",
                date, "20", "N", "1234", "5678", "456789", "567890", "0.02", "1100000",
                "112.3", "0", "0", str(BASE[s]),
            ]  # fmt: skip
        frames.append(f"0|H0STCNT0|{RECORDS_PER_FRAME:03d}|{'^'.join(fields)}")
    return frames


async def _ours_e2e(frames: list[str], root: Path) -> float:
    parser = FrameParser()
    hub = Hub(seq=SeqState())
    writer = SegmentWriter(Track.SCALP, root, commit_interval=0.2, commit_records=20000)
    hub.attach_sink(Track.SCALP, writer)
    await writer.start()
    publish, parse, scalp = hub.publish, parser.parse, Track.SCALP
    t0 = time.perf_counter()
    for f in frames:
        await publish(scalp, parse(f))
    await writer.close()
    dt = time.perf_counter() - t0
    assert writer.written == len(frames) * RECORDS_PER_FRAME, "every tick must be written"
    return dt


def ours_e2e(frames: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="observer-bench-") as d:
        return asyncio.run(_ours_e2e(frames, Path(d)))


def replaced(frames: list[str]) -> float:
    """Per record: json.dumps of the parsed record, then open(path, "a"), write, close."""
    from observer.daemon.clock import iso, to_kst

    parser = FrameParser()
    with tempfile.TemporaryDirectory(prefix="observer-bench-") as d:
        seq = 0
        t0 = time.perf_counter()
        for f in frames:
            for t in parser.parse(f):
                seq += 1
                t.seq = seq
                rec = {k: getattr(t, k) for k in SCALP.names if k not in ("ts", "received_at")}
                rec["trade_date"] = iso_date(t.trade_date)
                rec["ts"] = iso_ts(t.trade_date, t.time)
                rec["received_at"] = iso(to_kst(t.received_at))
                path = os.path.join(d, f"{t.trade_date}_{t.time[:2]}.jsonl")
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        return time.perf_counter() - t0


def ours_parse(frames: list[str]) -> float:
    """As the daemon runs it: file lines pre-built, typed ticks deferred until read."""
    parse = FrameParser().parse
    t0 = time.perf_counter()
    for f in frames:
        parse(f)
    return time.perf_counter() - t0


def ours_parse_typed(frames: list[str]) -> float:
    """Frames into typed Tick objects only (like python-kis: frame in, typed objects out)."""
    parse = FrameParser(lines=False).parse
    t0 = time.perf_counter()
    for f in frames:
        parse(f)
    return time.perf_counter() - t0


def pykis_parse(frames: list[str]) -> float | None:
    try:
        from pykis.api.websocket.price import KisDomesticRealtimePrice
        from pykis.responses.websocket import KisWebsocketResponse
    except ImportError:
        return None
    t0 = time.perf_counter()
    for f in frames:
        _, _, count, payload = f.split("|", 3)
        list(
            KisWebsocketResponse.parse(
                payload, count=int(count), response_type=KisDomesticRealtimePrice
            )
        )
    return time.perf_counter() - t0


def best(fn: Callable[[list[str]], float | None], frames: list[str], repeat: int) -> float | None:
    times = [fn(frames) for _ in range(repeat)]
    if any(t is None for t in times):
        return None
    return min(t for t in times if t is not None)


def main() -> None:
    big = make_frames(60_000)  # 300,000 ticks
    # The daemon tunes the cyclic GC after start-up; every variant here runs under the same
    # setting, so the comparison stays like for like.
    tune_gc()
    small = big[:4_000]  # 20,000 ticks for the slow variants
    n_big, n_small = len(big) * RECORDS_PER_FRAME, len(small) * RECORDS_PER_FRAME
    rows: list[tuple[str, int, float | None]] = []
    e2e = best(ours_e2e, big, 5)
    rows.append(("ours end to end: parse -> hub -> JSONL (group commit, fsync)", n_big, e2e))
    old = best(replaced, small, 3)
    rows.append(("(a) replaced: json.dumps + open/append/close per record", n_small, old))
    ours_p = best(ours_parse, big, 5)
    rows.append(
        ("ours parse as the daemon runs it (file lines pre-built, ticks lazy)", n_big, ours_p)
    )
    typed = best(ours_parse_typed, big, 5)
    rows.append(("ours parse only: frames -> typed Ticks (FrameParser(lines=False))", n_big, typed))
    kis = best(pykis_parse, small, 3)
    rows.append(("(b) python-kis parse only (KisWebsocketResponse.parse)", n_small, kis))

    def rate(n: int, t: float | None) -> float:
        return n / t if t else 0.0

    r = {name: rate(n, t) for name, n, t in rows}
    print(f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; one event loop, one core used; "
          f"load average {os.getloadavg()[0]:.2f}; GC tuned as in the daemon (all variants); "
          f"frame scanner: {'C' if parser_module._Scanner else 'regular expression (no C build)'}")  # fmt: skip
    print(
        f"Command: {Path(sys.executable).name} bench/ingest.py; {RECORDS_PER_FRAME} records/frame\n"
    )
    print("| variant | ticks | ticks/s |")
    print("|---|---:|---:|")
    for name, n, t in rows:
        shown = f"{rate(n, t):,.0f}" if t else "n/a (pip install python-kis)"
        print(f"| {name} | {n:,} | {shown} |")
    vals = list(r.values())
    print()
    if vals[1]:
        print(f"end to end vs (a): {vals[0] / vals[1]:.1f}x (target >= 5x)")
    if vals[4]:
        print(f"parser vs (b) python-kis, both frames -> typed objects: {vals[3] / vals[4]:.1f}x "
              f"(target >= 10x); the daemon's line-building parse: {vals[2] / vals[4]:.1f}x")  # fmt: skip
    print(f"end to end: {vals[0]:,.0f} ticks/s (target >= 150,000)")


if __name__ == "__main__":
    main()
