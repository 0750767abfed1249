"""Tail latency and ingest cost of tail subscribers (prints a table; bounded in time).

  .venv/bin/python bench/tail.py [--seconds 4] [--per-client 25] [--repeat 3]
                                 [--subscribers 1,10,50] [--max-batch 0]

Server side (this process): real Hub -> real SegmentWriter (tmp dir) + real ApiServer.
Clients (grpc.aio) run in separate processes, ``--per-client`` subscribers each, so their
CPU is not charged to the server; the table reports the CPU each side used.

1. Latency from frame arrival (the tick's received_at, set when the feeder builds the
   frame) to a tail client's receipt, p50/p99, at 20,000 ticks/s with 1, 10 and 50
   subscribers. Measured per message on its first (oldest) tick, so it is the worst case
   within each message; clients decode only that tick (a Python client cannot decode
   50 x 20,000 ticks/s). The first 0.5 s of each subscriber's stream is warm-up and not
   counted (HTTP/2 windows growing).
2. The limit, same run, same clients: a bare grpcio stream of the same payload (each
   frame encoded once; each stream sends what it has pending, at most ``--max-batch``
   ticks per message and drop-oldest beyond the same buffer, the way the Tail servicer
   does), with no hub, no files, no per-subscriber accounting.
   The feeder yields to the event loop after every frame, as websocket reads do: a
   feeder that fell behind and caught up in one burst would starve every stream.
3. Ingest rate (publish as fast as possible) with 50 subscribers that never read vs none,
   measured after a first ``PREFILL`` seconds of feeding (reported apart): until its
   HTTP/2 windows are full (about 4 MB, 30,000 ticks, with grpc's BDP probing), a client
   that never reads still receives, and sending that costs the server once per client.
   Pairs are alternated ``--repeat`` times; the ratio is the median of the per-pair ratios, by wall
   clock and by this process's CPU time (robust when other processes share the cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from observer.daemon.api.encode import BatchEncoder, _sent_at  # noqa: E402
from observer.daemon.api.server import ApiServer  # noqa: E402
from observer.daemon.api.services import DEFAULT_MAX_BATCH  # noqa: E402
from observer.daemon.model import Tick, Track  # noqa: E402
from observer.daemon.runtime import tune_gc  # noqa: E402
from tests.daemon.test_api_server import LoopbackDaemon, make_config, tick  # noqa: E402

RATE = 20_000
FRAME = 20  # records per publish (a KIS frame carries several)
WARMUP = 0.5
BUFFER = 20_000  # ticks per subscriber (OBSERVER_TAIL_BUFFER's default)
MAX_BATCH = 0  # TailRequest.max_batch the clients ask for (0 = server default); --max-batch
PREFILL = 2.0  # ingest cases: seconds fed before measuring (stalled streams fill up)
SETTLE = 1.0  # seconds between starting the clients and the first frame

CLIENT = r"""
import asyncio, json, resource, sys, time
import grpc
from observer.v1 import observer_pb2 as pb
port, n, seconds, mode, method, warmup, max_batch = (
    int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5],
    float(sys.argv[6]), int(sys.argv[7]))
lat, msgs, nbytes = [], 0, 0
def first_received(b):
    # only the message's first (oldest) tick is decoded
    if not b or b[0] != 0x0A:
        return None
    n, shift, i = 0, 0, 1
    while True:
        c = b[i]; n |= (c & 0x7F) << shift; i += 1; shift += 7
        if c < 0x80: break
    t = pb.Tick.FromString(b[i:i + n]).received_at
    return t.seconds + t.nanos / 1e9
async def one(ch):
    global msgs, nbytes
    path = "/observer.v1.TailService/Tail" if method == "tail" else "/bench.Bare/Stream"
    req = pb.TailRequest(max_batch=max_batch).SerializeToString()
    call = ch.unary_stream(path, request_serializer=lambda x: x, response_deserializer=lambda x: x)(req)
    if mode == "stall":
        await asyncio.sleep(seconds + 30); call.cancel(); return
    asyncio.get_running_loop().call_later(seconds, call.cancel)  # ends a read waiting
    try:
        b = await call.read()
        counted = time.time() + warmup
        while True:
            b = await call.read()
            now = time.time()
            r = first_received(b)
            if r is not None and now >= counted:
                lat.append(now - r); msgs += 1; nbytes += len(b)
    except (asyncio.CancelledError, grpc.aio.AioRpcError):
        pass
async def main():
    chans = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(n)]
    print("ready", flush=True)
    await asyncio.gather(*(one(c) for c in chans))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"lat": lat, "msgs": msgs, "bytes": nbytes, "cpu": ru.ru_utime + ru.ru_stime}), flush=True)
asyncio.run(main())
"""


def cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Clients:
    """``n`` subscribers spread over processes of ``per`` subscribers each."""

    def __init__(self, port: int, n: int, per: int, seconds: float, mode: str, method: str):
        self.procs: list[subprocess.Popen[str]] = []
        tail = [str(WARMUP), str(MAX_BATCH)]
        for start in range(0, n, per):
            k = min(per, n - start)
            argv = [sys.executable, "-c", CLIENT, str(port), str(k), str(seconds), mode, method]
            p = subprocess.Popen([*argv, *tail], stdout=subprocess.PIPE, text=True, cwd=ROOT)
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
            self.procs.append(p)

    async def result(self) -> dict[str, Any]:
        outs = await asyncio.gather(
            *(asyncio.to_thread(p.communicate, timeout=120) for p in self.procs)
        )
        parts = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
        lat = sorted(x for p in parts for x in p["lat"])
        res: dict[str, Any] = {
            "msgs": sum(p["msgs"] for p in parts),
            "bytes": sum(p["bytes"] for p in parts),
            "cpu": sum(p["cpu"] for p in parts),
        }
        if lat:
            res.update(p50=lat[len(lat) // 2] * 1e3, p99=lat[int(len(lat) * 0.99)] * 1e3)
        return res

    def kill(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


Publish = Callable[[list[Tick]], Awaitable[None]]


async def feed(publish: Publish, seconds: float, rate: int | None) -> int:
    """Publish ticks at ``rate`` per second (None: as fast as possible); returns the count."""
    sent = 0
    start = time.perf_counter()
    end = start + seconds
    while (now := time.perf_counter()) < end:
        if rate is not None:
            due = (now - start) * rate
            if sent >= due:
                await asyncio.sleep(0.001)
                continue
        await publish([tick(sent + i) for i in range(FRAME)])
        sent += FRAME
        # Frames reach the daemon one event-loop callback at a time (websocket reads); a
        # feeder that fell behind must not publish a long burst without yielding, or the
        # tail streams are starved for the whole burst and the latency measured is ours.
        await asyncio.sleep(0)
    return sent


async def hub_case(
    tmp: Path,
    subs: int,
    per: int,
    seconds: float,
    mode: str,
    rate: int | None,
    *,
    commit_ms: int = 20,
    durable_tails: bool = True,
) -> dict[str, Any]:
    cfg, origins = make_config(tmp, OBSERVER_TAIL_BUFFER=str(BUFFER))
    d = LoopbackDaemon(cfg, origins, commit_interval=commit_ms / 1000, durable_tails=durable_tails)
    await d.start()
    server = ApiServer(d, cfg)
    port = await server.start()
    life = SETTLE + seconds + WARMUP - 0.1  # clients stop reading just before the feed stops
    if rate is None:
        life += PREFILL
    clients = Clients(port, subs, per, life, mode, "tail") if subs else None
    await asyncio.sleep(SETTLE)  # subscriptions established

    def publish(items: list[Tick]) -> Awaitable[None]:
        return d.hub.publish(Track.SCALP, items)

    res: dict[str, Any] = {}
    if rate is None:
        # Until its HTTP/2 windows are full, a client that never reads still takes data
        # (its library receives it): measured apart, as the first seconds' ingest.
        c0, t0 = cpu(), time.perf_counter()
        sent = await feed(publish, PREFILL, None)
        wall, used = time.perf_counter() - t0, cpu() - c0
        res.update(first_ingest=sent / wall, first_per_cpu=sent / used)
    c0, t0 = cpu(), time.perf_counter()
    sent = await feed(publish, seconds + WARMUP, rate)
    wall = time.perf_counter() - t0
    used = cpu() - c0
    res.update(ingest=sent / wall, server_cpu=used / wall, per_cpu=sent / used)
    if clients is not None and mode == "stall":
        clients.kill()
    elif clients is not None:
        res.update(await clients.result())
        res["client_cpu"] = res["cpu"] / wall
    await server.shutdown(0.2)
    await d.stop()
    return res


async def bare_case(subs: int, per: int, seconds: float) -> dict[str, Any]:
    """Each frame encoded once; each stream sends what it has pending, up to the same
    ticks per message as the Tail stream, drop-oldest beyond the same buffer."""
    enc = BatchEncoder()
    per_msg = max(1, (MAX_BATCH or DEFAULT_MAX_BATCH) // FRAME)  # frames per message
    streams: list[tuple[deque[bytes], asyncio.Event]] = []

    async def stream(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        me: tuple[deque[bytes], asyncio.Event] = (deque(maxlen=BUFFER // FRAME), asyncio.Event())
        streams.append(me)
        pending, ready = me
        try:
            while True:
                if not pending:
                    ready.clear()
                    await ready.wait()
                chunks = [pending.popleft() for _ in range(min(per_msg, len(pending)))]
                chunks.append(_sent_at(time.time()))
                yield b"".join(chunks)
        finally:
            streams.remove(me)

    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handler = grpc.unary_stream_rpc_method_handler(
        stream, request_deserializer=lambda b: b, response_serializer=lambda b: b
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("bench.Bare", {"Stream": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    clients = Clients(port, subs, per, SETTLE + seconds + WARMUP - 0.1, "read", "bare")
    await asyncio.sleep(SETTLE)
    seq = 0

    async def publish(items: list[Tick]) -> None:
        nonlocal seq
        for t in items:
            seq += 1
            t.seq = seq
        chunk = b"".join(enc.entries(items, None))
        for pending, ready in streams:
            pending.append(chunk)
            ready.set()

    c0, t0 = cpu(), time.perf_counter()
    await feed(publish, seconds + WARMUP, RATE)
    wall = time.perf_counter() - t0
    res: dict[str, Any] = {"server_cpu": (cpu() - c0) / wall}
    res.update(await clients.result())
    res["client_cpu"] = res["cpu"] / wall
    await server.stop(0.2)
    return res


def fmt(x: float | None, spec: str = ">8.2f") -> str:
    return format(x if x is not None else float("nan"), spec)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--per-client", type=int, default=25, help="subscribers per client process")
    ap.add_argument("--repeat", type=int, default=3, help="ingest none/stalled pairs")
    ap.add_argument("--subscribers", default="1,10,50")
    ap.add_argument(
        "--max-batch", type=int, default=0, help="TailRequest.max_batch (0: the server default)"
    )
    args = ap.parse_args()
    global MAX_BATCH
    MAX_BATCH = args.max_batch
    s, per = args.seconds, args.per_client
    tune_gc()  # as the daemon does once it has started (the loopback daemon here does not)
    load0 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for n in (int(x) for x in args.subscribers.split(",")):
            hub = await hub_case(Path(td) / f"lat{n}", n, per, s, "read", RATE)
            bare = await bare_case(n, per, s)
            rows.append((n, hub, bare))
        # What showing tails only durable records costs in latency, at the daemon's default
        # group commit (OBSERVER_COMMIT_INTERVAL_MS=200), against tails fed at publish.
        durability = []
        for durable in (False, True):
            r = await hub_case(
                Path(td) / f"durable{durable}", 1, per, s, "read", RATE,
                commit_ms=200, durable_tails=durable,
            )  # fmt: skip
            durability.append((durable, r))
        pairs = []
        for k in range(args.repeat):
            none = await hub_case(Path(td) / f"none{k}", 0, per, s, "read", None)
            stalled = await hub_case(Path(td) / f"stall{k}", 50, per, s, "stall", None)
            pairs.append((none, stalled))
    load1 = os.getloadavg()
    print(f"\n`{' '.join([Path(sys.executable).name, *sys.argv])}`")
    print(
        f"cpus={os.cpu_count()}, Python {platform.python_version()}, grpcio {grpc.__version__}, "
        f"load average {load0[0]:.2f} before / {load1[0]:.2f} after; {s:g} s per case "
        f"(+{WARMUP} s warm-up), {per} subscribers per client process, "
        f"max_batch={MAX_BATCH or DEFAULT_MAX_BATCH} ticks per message, buffer {BUFFER:,} ticks\n"
    )
    print(f"tail latency at {RATE:,} ticks/s ({FRAME} records per frame), ms; CPU in cores\n")
    print(
        "| subscribers | hub p50 | hub p99 | msgs/s | server CPU | client CPU "
        "| bare p50 | bare p99 | msgs/s | server CPU | client CPU |"
    )
    print("|---:" * 11 + "|")
    for n, h, b in rows:
        cells = [f"{n:>11}"]
        for r in (h, b):
            rate = r.get("msgs", 0) / s
            cells += [fmt(r.get("p50")), fmt(r.get("p99")), f"{rate:>7.0f}"]
            cells += [fmt(r.get("server_cpu")), fmt(r.get("client_cpu"))]
        print("| " + " | ".join(cells) + " |")
    print("\ntail latency, 1 subscriber, group commit every 200 ms (the daemon's default), ms\n")
    print("| tails see a record | p50 | p99 |")
    print("|---|---:|---:|")
    for durable, r in durability:
        when = "once it is on disk (now)" if durable else "when published (before)"
        print(f"| {when} | {fmt(r.get('p50'))} | {fmt(r.get('p99'))} |")
    if not pairs:
        return
    ratios = [st["ingest"] / no["ingest"] for no, st in pairs]
    cpu_ratios = [st["per_cpu"] / no["per_cpu"] for no, st in pairs]
    print(f"\ningest (publish -> hub -> JSONL writer, as fast as possible), {s:g} s each")
    print("(ticks per second of wall clock, and per second of this process's CPU: the latter")
    print("does not depend on how much of the machine other processes take)\n")
    print("| pair | none /s | 50 stalled /s | ratio | none /CPU-s | 50 stalled /CPU-s | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for k, (no, st) in enumerate(pairs, 1):
        a, b, c, d = no["ingest"], st["ingest"], no["per_cpu"], st["per_cpu"]
        print(f"| {k} | {a:,.0f} | {b:,.0f} | {b / a:.0%} | {c:,.0f} | {d:,.0f} | {d / c:.0%} |")
    print(
        f"\nmedian ratio: {statistics.median(ratios):.0%} wall (best {max(ratios):.0%}), "
        f"{statistics.median(cpu_ratios):.0%} per CPU-second (best {max(cpu_ratios):.0%})"
    )
    first = [st["first_per_cpu"] / no["first_per_cpu"] for no, st in pairs]
    print(
        f"first {PREFILL:g} s (not in the figures above: stalled clients' HTTP/2 windows "
        f"still filling): median {statistics.median(first):.0%} per CPU-second"
    )


if __name__ == "__main__":
    asyncio.run(main())
