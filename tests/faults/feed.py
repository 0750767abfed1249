"""Feed faults: a websocket that drops every few seconds and sends malformed frames."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from observer.daemon.clock import in_market_hours
from observer.daemon.simulator.state import SimConfig
from tests.faults.common import Result, file_ticks, gap_records, status
from tests.harness import external_simulator, kis_env, start_daemon


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
