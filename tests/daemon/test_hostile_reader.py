"""A hostile Tail reader cannot starve the collector: replays are bounded, capped, run on
their own threads, end when the client goes, and SIGTERM still ends the process."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import grpc
import pytest

from observer.daemon.model import Track
from observer.daemon.schema.lines import LineFormatter
from observer.daemon.segments import segment_files
from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc
from tests.faults.common import PROBE_TIMEOUT
from tests.harness import check_health, start_daemon
from tests.storedata import ticks

HISTORY_MB = 60


def _history(data_dir: Path) -> None:
    """Old hourly segments of about HISTORY_MB, written as the writer would."""
    fmt = LineFormatter()
    folder = data_dir / "assets" / "scalp"
    folder.mkdir(parents=True)
    total, hour, seq = 0, 0, 1
    while total < HISTORY_MB << 20:
        items = list(ticks("20261119", 9 + hour % 6, 40_000, start_seq=seq))
        data = "".join(fmt.tick_lines(items)).encode()
        part = "" if hour < 6 else f"_p{hour}"
        (folder / f"20261119_{9 + hour % 6:02d}{part}.jsonl").write_bytes(data)
        total += len(data)
        seq += len(items)
        hour += 1


def _lines(data_dir: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in segment_files(data_dir, Track.SCALP))


def test_replay_floods_leave_ingest_and_health_alone_and_sigterm_still_stops(
    tmp_path: Path,
) -> None:
    _history(tmp_path / "data")
    d = start_daemon(tmp_path, OBSERVER_SIM_RATE="2000")
    codes: list[grpc.StatusCode] = []
    stop = threading.Event()

    def flood() -> None:
        with grpc.insecure_channel(d.target) as ch:
            stub = pb_grpc.TailServiceStub(ch)
            many = [f"{i:06d}" for i in range(200)]  # the most one Tail may name
            while not stop.is_set():
                call = stub.Tail(pb.TailRequest(symbols=many, replay_last=10_000))
                try:
                    next(iter(call))
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as e:
                    codes.append(e.code())
                finally:
                    call.cancel()

    try:
        before = _lines(d.data_dir)
        floods = [threading.Thread(target=flood, daemon=True) for _ in range(8)]
        for t in floods:
            t.start()
        slow_checks = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 6:
            # The kubelet's deadline (the manifests' timeoutSeconds): under a flood the
            # checks stay answered in time (before the fixes every one timed out for 50 s).
            if check_health(d.target, "observer.liveness", timeout=PROBE_TIMEOUT) != "SERVING":
                slow_checks += 1
            time.sleep(0.2)
        during = _lines(d.data_dir) - before
        assert slow_checks == 0
        assert during > 2000 * 6 * 0.5  # ingest went on (at least half the feed's rate)
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes  # more than the cap at once
        too_many = pb.TailRequest(symbols=[f"{i:06d}" for i in range(1000)])
        with grpc.insecure_channel(d.target) as ch, pytest.raises(grpc.RpcError) as e:
            next(iter(pb_grpc.TailServiceStub(ch).Tail(too_many)))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        t1 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)  # while the floods still replay
        d.proc.wait(15)
        assert time.monotonic() - t1 < 10 and d.proc.returncode == 0
    finally:
        stop.set()
        d.stop()
