"""A corpus of poison frames through the real session into the real writer: the daemon (a
real process) reads them from the simulator's websocket among good frames, writes no line
that breaks the schema, counts them, and its status and metrics stay live."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import grpc

from observer.daemon import probes
from observer.daemon.clock import now_kst
from observer.daemon.kis.parser import trade_dates
from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc
from tests.daemon.ingest_support import frame, record
from tests.fuzz_frames import line_problem
from tests.harness import daemon_process, external_simulator, kis_env, wait_for

TOO_BIG = str(2**63)


def corpus(day: str) -> list[str]:
    """Frames a broken or hostile feed could send; every one must be refused whole."""

    def one(**at: str) -> list[str]:
        r = record("005930", date=day, time="100000")
        for column, value in at.items():
            r[int(column[1:])] = value
        return r

    good = record("000660", date=day, time="100000")
    bad_records = [
        one(c1="245959"), one(c1="096000"), one(c1="090060"), one(c1="24:00:"),
        one(c33="20261399"), one(c33="20261131"), one(c33="19991231"), one(c33="99999999"),
        one(c2=TOO_BIG), one(c2="99999999999999999999"), one(c13=TOO_BIG), one(c14=TOO_BIG),
        one(c4="-" + TOO_BIG), one(c5="nan"), one(c6="inf"), one(c18="1e400"),
        one(c3="0"), one(c3="7"), one(c21="2"), one(c35="X"), one(c34="2a"), one(c45=TOO_BIG),
        one(c0="00593"), one(c0="../../x"),
    ]  # fmt: skip
    out = [frame([r]) for r in bad_records]
    out += [frame([good, r, good]) for r in bad_records[:6]]  # mixed: good records around
    good4 = [record(s, date=day, time="100000") for s in ("005930", "000660", "035420", "035720")]
    payload = "^".join(x for r in good4 for x in r)
    out += [f"0|H0STCNT0|001|{payload}", f"0|H0STCNT0|002|{payload}"]  # understated counts
    return out


def _check_line(line: str) -> str:
    """What breaks the schema table in one written line, or ""."""
    try:
        row = json.loads(line)
        datetime.fromisoformat(row["received_at"])
    except (ValueError, KeyError) as e:
        return f"not a line: {e}"
    return line_problem(row, trade_dates(time.time()))


def _metric(port: str, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^{name}(?:_total)? ([0-9.e+]+)$", text, re.M)
    assert m, f"{name} not in the metrics"
    return float(m.group(1))


def test_poison_frames_write_no_line_that_breaks_the_schema_and_status_stays_live(
    tmp_path: Path,
) -> None:
    poison = corpus(f"{now_kst():%Y%m%d}")
    with (
        external_simulator() as (sim, ep),
        daemon_process(tmp_path, **kis_env(ep), OBSERVER_SWING_INTERVAL="0") as d,
    ):
        scalp = d.data_dir / "assets" / "scalp"
        assert wait_for(lambda: any(scalp.glob("*.jsonl")), timeout=20)
        sim.inject(poison)
        assert wait_for(lambda: sim.stats.injected_sent >= len(poison), timeout=20)
        port = d.env["OBSERVER_METRICS_PORT"]
        assert wait_for(lambda: _metric(port, "observer_malformed_frames") >= len(poison), 20)
        before = sum(f.read_bytes().count(b"\n") for f in scalp.glob("*.jsonl"))
        time.sleep(1.5)  # ingest goes on after the poison
        with grpc.insecure_channel(d.target) as ch:
            st = pb_grpc.StatusServiceStub(ch).GetStatus(pb.GetStatusRequest(), timeout=5)
        assert st.collector.malformed_frames >= len(poison)
        assert st.collector.session.state == pb.SESSION_STATE_CONNECTED
        assert d.health(probes.READINESS) == "SERVING"
        d.stop()
    lines = [x for f in sorted(scalp.glob("*.jsonl")) for x in f.read_text().splitlines()]
    assert len(lines) > before > 0
    broken = [(problem, line[:160]) for line in lines if (problem := _check_line(line))]
    assert broken == []
    names = {f.name for f in scalp.glob("*.jsonl")}
    assert all(re.fullmatch(r"\d{8}_(0\d|1\d|2[0-3])\.jsonl", n) for n in names), names
    assert "dropped a malformed realtime frame" in d.output()
