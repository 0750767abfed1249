"""What a crash leaves, end to end on real processes: no seq a Tail client saw is given to
another tick, the hole is a gap record, and the next start says the previous run died."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import grpc

from observer.daemon.model import Track
from observer.daemon.segments import segment_files
from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc
from tests.harness import daemon_process, jsonl, start_daemon, wait_for

Seen = dict[tuple[str, int], tuple[str, str, int]]


def _record_tail(target: str, seen: Seen, stop: threading.Event) -> threading.Thread:
    """A Tail client in a thread, keeping (trade date, seq) -> (symbol, ts, price)."""

    def run() -> None:
        with grpc.insecure_channel(target) as ch:
            call = pb_grpc.TailServiceStub(ch).Tail(pb.TailRequest(tracks=[pb.TRACK_SCALP]))
            try:
                for batch in call:
                    for t in batch.ticks:
                        seen[(t.trade_date, t.seq)] = (t.symbol, t.ts, t.price)
                    if stop.is_set():
                        call.cancel()
            except grpc.RpcError:
                return  # the daemon went away

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def _file_ticks(data_dir: Path) -> Seen:
    out: Seen = {}
    for f in segment_files(data_dir, Track.SCALP):
        for line in f.read_text().splitlines():
            d = json.loads(line)
            key = (d["trade_date"], d["seq"])
            assert key not in out, f"seq {key} written twice"
            out[key] = (d["symbol"], d["ts"], d["price"])
    return out


def test_no_seq_a_tail_client_saw_names_another_tick_after_kill_9(tmp_path: Path) -> None:
    seen: Seen = {}
    stop = threading.Event()
    d = start_daemon(tmp_path, OBSERVER_SIM_RATE="5000")
    reader = _record_tail(d.target, seen, stop)
    try:
        assert wait_for(lambda: len(seen) >= 3000, timeout=30)
    finally:
        d.kill9()
    reader.join(10)
    with daemon_process(tmp_path, OBSERVER_SIM_RATE="5000") as d2:
        n = len(_file_ticks(d2.data_dir))
        assert wait_for(lambda: len(_file_ticks(d2.data_dir)) > n + 2000, timeout=30)
    files = _file_ticks(tmp_path / "data")
    assert seen, "the tail saw nothing"
    mismatched = [k for k, v in seen.items() if files.get(k) != v]
    assert mismatched == [], f"{len(mismatched)} seqs seen by the tail name other ticks"


def test_the_start_after_kill_9_records_the_unclean_stop_and_its_gap(tmp_path: Path) -> None:
    d = start_daemon(tmp_path, OBSERVER_SIM_RATE="1000")
    try:
        assert wait_for(lambda: len(segment_files(d.data_dir, Track.SCALP)) > 0, timeout=20)
        assert wait_for(lambda: segment_files(d.data_dir, Track.SCALP)[-1].stat().st_size > 0)
    finally:
        d.kill9()
    with daemon_process(tmp_path) as d2:
        with grpc.insecure_channel(d2.target) as ch:
            status = pb_grpc.StatusServiceStub(ch).GetStatus(pb.GetStatusRequest(), timeout=5)
        assert any(r.action == "unclean_stop" for r in status.recovery)
        assert any("without a clean stop" in w.message for w in status.warnings)
        gaps = [g for f in d2.log_dir.rglob("gap_*.jsonl") for g in jsonl(f)]
        assert any(str(g["reason"]).startswith("unclean stop") for g in gaps)
    events = [e for e in jsonl(tmp_path / "data" / "observer.jsonl")]
    assert [e["event"] for e in events].count("unclean_stop") == 1
    assert events[-1]["event"] == "stop"
    # A clean stop is not reported as an unclean one at the next start.
    with daemon_process(tmp_path) as d3:
        with grpc.insecure_channel(d3.target) as ch:
            status = pb_grpc.StatusServiceStub(ch).GetStatus(pb.GetStatusRequest(), timeout=5)
        assert not any(r.action == "unclean_stop" for r in status.recovery)
