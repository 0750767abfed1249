"""What the fault scenarios share: the result row, a Tail client that records what it saw,
the files read back, and small probes of a running daemon."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from observer.daemon.model import Track
from observer.daemon.segments import segment_files
from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc
from tests.harness import DaemonProcess, check_health

Seen = dict[tuple[str, int], tuple[str, str, int]]


@dataclass
class Result:
    """One row of the table."""

    scenario: str
    done: str  # what was done, in words
    figures: dict[str, object] = field(default_factory=dict)
    ok: bool = True
    skipped: str = ""  # the reason, when it could not run here

    @property
    def verdict(self) -> str:
        return f"skipped: {self.skipped}" if self.skipped else ("pass" if self.ok else "FAIL")

    def figure_text(self) -> str:
        def show(v: object) -> str:
            if isinstance(v, bool):
                return "yes" if v else "no"
            if isinstance(v, float):
                return f"{v:,.2f}"
            if isinstance(v, int):
                return f"{v:,}"
            return str(v)

        return "; ".join(f"{k} {show(v)}" for k, v in self.figures.items())


Scenario = Callable[[Path, bool], Result]


class TailRecorder:
    """A Tail client in a thread keeping (trade date, seq) -> (symbol, ts, price)."""

    def __init__(self, target: str, **request: object) -> None:
        self.seen: Seen = {}
        self._stop = threading.Event()
        self._target = target
        self._request = pb.TailRequest(**request)  # type: ignore[arg-type]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with grpc.insecure_channel(self._target) as ch:
            call = pb_grpc.TailServiceStub(ch).Tail(self._request)
            try:
                for batch in call:
                    for t in batch.ticks:
                        self.seen[(t.trade_date, t.seq)] = (t.symbol, t.ts, t.price)
                    if self._stop.is_set():
                        call.cancel()
            except grpc.RpcError:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@dataclass
class FileTicks:
    ticks: Seen
    unparseable: int
    duplicates: int
    seq_gaps: int  # holes in a trade date's seqs


def file_ticks(data_dir: Path, track: Track = Track.SCALP) -> FileTicks:
    out: Seen = {}
    bad = dups = 0
    for f in segment_files(data_dir, track):
        for line in f.read_bytes().split(b"\n"):
            if not line:
                continue
            try:
                d = json.loads(line)
                key = (d["trade_date"], int(d["seq"]))
                value = (d["symbol"], d["ts"], int(d["price"]))
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            if key in out:
                dups += 1
            out[key] = value
    gaps = 0
    by_date: dict[str, list[int]] = {}
    for date, seq in out:
        by_date.setdefault(date, []).append(seq)
    for seqs in by_date.values():
        seqs.sort()
        gaps += sum(1 for a, b in itertools.pairwise(seqs) if b != a + 1)
        gaps += seqs[0] != 1
    return FileTicks(out, bad, dups, gaps)


def lines(data_dir: Path, track: Track = Track.SCALP) -> int:
    return sum(p.read_bytes().count(b"\n") for p in segment_files(data_dir, track))


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def status(target: str) -> pb.Status:
    with grpc.insecure_channel(target) as ch:
        return pb_grpc.StatusServiceStub(ch).GetStatus(pb.GetStatusRequest(), timeout=5)


def health_latency(d: DaemonProcess, service: str = "observer.liveness") -> tuple[float, bool]:
    """Seconds a health Check takes (1 s deadline), and whether it answered SERVING."""
    t0 = time.monotonic()
    ok = check_health(d.target, service, timeout=1.0) == "SERVING"
    return time.monotonic() - t0, ok


def p99(xs: list[float]) -> float:
    if not xs:
        return float("nan")
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(len(ys) * 0.99))]


def events(data_dir: Path) -> list[dict[str, object]]:
    path = data_dir / "observer.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x]


def gap_records(log_dir: Path) -> list[dict[str, object]]:
    return [
        json.loads(x) for f in log_dir.rglob("gap_*.jsonl") for x in f.read_text().splitlines() if x
    ]
