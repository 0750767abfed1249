"""Feed faults: a websocket that drops every few seconds and sends malformed frames; the
poison corpus again and again; the frame parser fuzzed."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

from observer.daemon import probes
from observer.daemon.clock import in_market_hours, now_kst
from observer.daemon.kis.parser import trade_dates
from observer.daemon.model import Track
from observer.daemon.segments import segment_files
from observer.daemon.simulator.state import SimConfig
from observer.v1 import observer_pb2 as pb
from tests.daemon.test_poison_frames import corpus
from tests.faults.common import Result, TailRecorder, file_ticks, gap_records, status
from tests.fuzz_frames import line_problem
from tests.fuzz_frames import run as fuzz_run
from tests.harness import external_simulator, kis_env, start_daemon, wait_for


def drops_and_malformed(root: Path, short: bool) -> Result:
    seconds = 10 if short else 60
    cfg = SimConfig(rate=1000, seed=3, drop_every=3.0, malformed=0.2)
    d = None
    try:
        with external_simulator(cfg) as (sim, ep):
            d = start_daemon(root, settings=kis_env(ep), OBSERVER_SWING_INTERVAL="0")
            time.sleep(seconds)
        # The feed stopped first (its counters are final, and the daemon read everything
        # up to the server's close); then what the daemon counted.
        drop_times = sim.stats.drops
        sent, malformed_sent = sim.stats.ticks_sent, sim.stats.malformed_sent
        time.sleep(1.0)
        malformed_seen = status(d.target).collector.malformed_frames
    finally:
        if d is not None:
            d.stop()
    files = file_ticks(root / "data")
    in_hours = in_market_hours(datetime.now().astimezone())
    gaps = gap_records(root / "logs")  # a fresh directory: the session's outages only
    r = Result(
        "websocket drops and malformed frames",
        f"the feed dropped every 3 s and sent 20 % malformed frames for {seconds} s",
        {
            "ticks sent": sent,
            "ticks written": len(files.ticks),
            "malformed sent": malformed_sent,
            "malformed counted": malformed_seen,
            "drops": drop_times,
            "gap records": f"{len(gaps)} ({'in' if in_hours else 'outside'} market hours)",
        },
    )
    r.ok = (
        sent == len(files.ticks)
        and files.unparseable == files.duplicates == 0
        and malformed_seen == malformed_sent
        and (len(gaps) >= drop_times - 1 if in_hours else True)
    )
    return r


def poison_frames(root: Path, short: bool) -> Result:
    """The poison corpus (impossible times and dates, integers beyond int64, non-finite
    numbers, codes outside their values, mixed and understated frames) sent again and again
    among good frames while a Tail client reads: nothing written breaks the schema, every
    poison frame is counted, no good tick is lost, and the daemon stays ready."""
    rounds = 3 if short else 40
    poison = corpus(f"{now_kst():%Y%m%d}")
    d = None
    tail = None
    live: list[bool] = []
    try:
        with external_simulator(SimConfig(rate=500, seed=5)) as (sim, ep):
            d = start_daemon(root, settings=kis_env(ep), OBSERVER_SWING_INTERVAL="0")
            tail = TailRecorder(d.target, symbols=["005930", "000660"])
            for i in range(rounds):
                sim.inject(poison)
                wait_for(lambda i=i: sim.stats.injected_sent >= (i + 1) * len(poison), 20)
                live.append(d.health(probes.READINESS) == "SERVING")
                time.sleep(0.5 if short else 1.0)
            sent_poison = sim.stats.injected_sent
            time.sleep(1.5)  # the last poison is parsed and counted
            st = status(d.target)
            counted = st.collector.malformed_frames
            state_ok = st.collector.session.state == pb.SESSION_STATE_CONNECTED
        sent = sim.stats.ticks_sent
        time.sleep(1.0)  # the last good frames reach the files
    finally:
        if tail is not None:
            tail.stop()
        if d is not None:
            d.stop()
    files = file_ticks(root / "data")
    seen_in_files = tail is not None and all(files.ticks.get(k) == v for k, v in tail.seen.items())
    written = [
        line
        for f in segment_files(root / "data", Track.SCALP)
        for line in f.read_text().splitlines()
        if line
    ]
    dates = trade_dates(time.time())
    broken = [p for line in written if (p := _line_problem(line, dates))]
    names_ok = all(
        re.fullmatch(r"\d{8}_(0\d|1\d|2[0-3])(_p\d+)?\.jsonl", f.name)
        for f in segment_files(root / "data", Track.SCALP)
    )
    r = Result(
        "poison frames",
        f"the poison corpus ({len(poison)} frames) sent {rounds} times among 500 good "
        "ticks/s, a Tail client reading",
        {
            "poison sent": sent_poison,
            "malformed counted": counted,
            "lines breaking the schema": len(broken),
            "ticks sent": sent,
            "ticks written": len(files.ticks),
            "Tail ticks, all in the files": (
                f"{len(tail.seen):,}, {'yes' if seen_in_files else 'NO'}" if tail else "-"
            ),
            "ready throughout": all(live),
        },
    )
    r.ok = (
        seen_in_files
        and counted == sent_poison
        and not broken
        and names_ok
        and sent == len(files.ticks)
        and files.unparseable == files.duplicates == 0
        and all(live)
        and state_ok
    )
    return r


def _line_problem(line: str, dates: frozenset[str]) -> str:
    try:
        row = json.loads(line)
    except ValueError as e:
        return f"not JSON: {e}"
    return line_problem(row, dates)


def fuzz(root: Path, short: bool) -> Result:
    """Coverage-guided fuzzing of the frame parser (tests/fuzz_frames.py, atheris)."""
    del root
    counts = fuzz_run(5.0 if short else 300.0)
    r = Result(
        "frame fuzzing",
        f"{counts.engine}: frames built from valid records, mutated for "
        f"{counts.seconds:.0f} s, through the C scanner and the pattern parser",
        {
            "inputs": counts.inputs,
            "frames accepted": counts.accepted,
            "escaped exceptions": counts.escaped,
            "crashes": counts.crashes,
            "scanner/pattern disagreements": counts.disagreements,
            "out-of-domain accepted": counts.out_of_domain,
        },
    )
    r.ok = counts.clean and counts.inputs > 0
    return r
