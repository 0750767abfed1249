"""Hostile readers: Tail replay floods over a long history, stalled subscribers, and
connections that are opened and abandoned."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import grpc

from observer.daemon.schema.lines import LineFormatter
from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc
from tests.faults.common import Result, fds, health_latency, lines, p99
from tests.harness import start_daemon
from tests.storedata import ticks

_STALLED = textwrap.dedent(
    """
    import sys, time, grpc
    from observer.v1 import observer_pb2 as pb, observer_pb2_grpc as pb_grpc
    target, n = sys.argv[1], int(sys.argv[2])
    channels = [grpc.insecure_channel(target) for _ in range((n + 49) // 50)]
    calls = [pb_grpc.TailServiceStub(channels[i // 50]).Tail(pb.TailRequest()) for i in range(n)]
    print("subscribed", flush=True)
    time.sleep(3600)  # never reads
    """
)


def _history(data_dir: Path, mb: int) -> None:
    fmt = LineFormatter()
    folder = data_dir / "assets" / "scalp"
    folder.mkdir(parents=True)
    total, n, seq = 0, 0, 1
    while total < mb << 20:
        items = list(ticks("20261119", 9 + n % 6, 40_000, start_seq=seq))
        data = "".join(fmt.tick_lines(items)).encode()
        part = "" if n < 6 else f"_p{n}"
        (folder / f"20261119_{9 + n % 6:02d}{part}.jsonl").write_bytes(data)
        total, n, seq = total + len(data), n + 1, seq + len(items)


def replay_flood(root: Path, short: bool) -> Result:
    mb, rate, floods, seconds, stalled = (40, 2000, 4, 4, 20) if short else (312, 5000, 8, 30, 200)
    _history(root / "data", mb)
    d = start_daemon(root, OBSERVER_SIM_RATE=str(rate))
    stop = threading.Event()
    codes: dict[str, int] = {}
    lock = threading.Lock()

    def flood() -> None:
        with grpc.insecure_channel(d.target) as ch:
            stub = pb_grpc.TailServiceStub(ch)
            many = [f"{i:06d}" for i in range(200)]
            while not stop.is_set():
                call = stub.Tail(pb.TailRequest(symbols=many, replay_last=10_000))
                try:
                    next(iter(call))
                    code = "OK"
                except grpc.RpcError as e:
                    code = e.code().name
                finally:
                    call.cancel()
                with lock:
                    codes[code] = codes.get(code, 0) + 1

    quiet_rate = 0.0
    sub = None
    try:
        before, t0 = lines(d.data_dir), time.monotonic()
        time.sleep(2)
        quiet_rate = (lines(d.data_dir) - before) / (time.monotonic() - t0)
        sub = subprocess.Popen(
            [sys.executable, "-c", _STALLED, d.target, str(stalled)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert sub.stdout is not None and sub.stdout.readline().startswith("subscribed")
        threads = [threading.Thread(target=flood, daemon=True) for _ in range(floods)]
        for t in threads:
            t.start()
        latencies: list[float] = []
        not_serving = 0
        before, t0 = lines(d.data_dir), time.monotonic()
        while time.monotonic() - t0 < seconds:
            took, ok = health_latency(d)
            latencies.append(took)
            not_serving += not ok
            time.sleep(0.2)
        loaded_rate = (lines(d.data_dir) - before) / (time.monotonic() - t0)
        t1 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)  # while the floods still replay
        d.proc.wait(30)
        stop_s = time.monotonic() - t1
    finally:
        stop.set()
        if sub is not None:
            sub.kill()
            sub.wait(5)
            if sub.stdout is not None:
                sub.stdout.close()
        d.stop()
    kept = loaded_rate / quiet_rate if quiet_rate else 0.0
    r = Result(
        "Tail replay flood",
        f"{floods} Tails x 200 symbols x replay_last 10,000 over {mb} MB of history, plus "
        f"{stalled} subscribers that never read, at {rate:,} ticks/s for {seconds} s",
        {
            "ingest kept": f"{kept:.0%}",
            "health p99 ms": round(p99(latencies) * 1000, 1),
            "health not SERVING": not_serving,
            "replays refused as busy": codes.get("RESOURCE_EXHAUSTED", 0),
            "replays served": codes.get("OK", 0),
            "SIGTERM -> exit s": round(stop_s, 2),
        },
    )
    r.ok = kept >= (0.5 if short else 0.8) and not_serving == 0 and stop_s < 10
    r.ok = r.ok and d.proc.returncode == 0
    return r


def abandoned_connections(root: Path, short: bool) -> Result:
    n, wait_s = (100, 8) if short else (500, 36)
    d = start_daemon(root)
    socks: list[socket.socket] = []
    try:
        base = fds(d.proc.pid)
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", d.port))
            if i % 2 and not short:  # half send only the HTTP/2 preface (then idle)
                s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            socks.append(s)
        time.sleep(1)
        peak = fds(d.proc.pid)
        time.sleep(wait_s)
        after = fds(d.proc.pid)
        serving = d.health() == "SERVING"
    finally:
        for s in socks:
            s.close()
        d.stop()
    what = "half sending nothing, half only the HTTP/2 preface" if not short else "sending nothing"
    r = Result(
        "abandoned connections",
        f"{n} connections opened and left ({what}); the daemon's fds after {wait_s} s",
        {"fds before": base, "fds with them": peak, f"fds after {wait_s} s": after},
    )
    r.ok = after <= base + 5 and serving
    return r
