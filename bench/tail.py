"""Tail latency and ingest cost of tail subscribers (prints a table; bounded in time).

  .venv/bin/python bench/tail.py [--seconds 4]

Latency is measured per batch on its first (oldest) tick, so it is the worst case within
each batch; clients decode only that tick (a Python client cannot decode 1M ticks/s).

Server side (this process): real Hub -> real SegmentWriter (tmp dir) + real ApiServer.
Clients run in a separate process (grpc.aio), so their CPU is not charged to the server.

1. Latency from frame arrival (the tick's received_at, set when the feeder publishes) to
   a tail client's receipt, p50/p99, at 20,000 ticks/s with 1, 10 and 50 subscribers.
2. Ingest rate (publish as fast as possible) with 50 subscribers that never read vs none.
3. The limit: a bare grpcio stream of the same pre-encoded payload, no hub (latency at
   20,000 ticks/s with the same subscriber counts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from observer.daemon.api.encode import BatchEncoder  # noqa: E402
from observer.daemon.api.server import ApiServer  # noqa: E402
from observer.daemon.model import Track  # noqa: E402
from tests.daemon.test_api_server import LoopbackDaemon, make_config, tick  # noqa: E402

RATE = 20_000
FRAME = 20  # records per publish (a KIS frame carries several)

CLIENT = r"""
import asyncio, json, sys, time
import grpc
from observer.v1 import observer_pb2 as pb, observer_pb2_grpc as g
port, n, seconds, mode, method = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
lat = []
def first_received(b):
    # only the batch's first (oldest) tick is decoded: the client measures delivery, and a
    # Python client could not decode 50 x 20,000 ticks/s anyway
    if not b or b[0] != 0x0A:
        return None
    n, shift, i = 0, 0, 1
    while True:
        c = b[i]; n |= (c & 0x7F) << shift; i += 1; shift += 7
        if c < 0x80: break
    t = pb.Tick.FromString(b[i:i + n]).received_at
    return t.seconds + t.nanos / 1e9
async def one(ch):
    path = "/observer.v1.TailService/Tail" if method == "tail" else "/bench.Bare/Stream"
    req = pb.TailRequest().SerializeToString()
    call = ch.unary_stream(path, request_serializer=lambda x: x, response_deserializer=lambda x: x)(req)
    if mode == "stall":
        await asyncio.sleep(seconds + 5); call.cancel(); return
    end = time.time() + seconds
    while time.time() < end:
        b = await call.read()
        now = time.time()
        r = first_received(b)
        if r is not None:
            lat.append(now - r)
    call.cancel()
async def main():
    chans = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(n)]
    print("ready", flush=True)
    await asyncio.gather(*(one(c) for c in chans))
    lat.sort()
    out = {"n": len(lat)}
    if lat:
        out.update(p50=lat[len(lat)//2]*1e3, p99=lat[int(len(lat)*0.99)]*1e3)
    print(json.dumps(out), flush=True)
asyncio.run(main())
"""


def spawn(port: int, n: int, seconds: float, mode: str, method: str) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(port), str(n), str(seconds), mode, method],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "ready"
    return p


async def feed(publish, seconds: float, rate: int | None) -> int:
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
        if rate is None and sent % 2000 == 0:
            await asyncio.sleep(0)
    return sent


async def result(p: subprocess.Popen[str]) -> dict[str, float]:
    out, _ = await asyncio.to_thread(p.communicate, timeout=60)
    return json.loads(out.strip().splitlines()[-1])


async def hub_case(
    tmp: Path, subs: int, seconds: float, mode: str, rate: int | None
) -> tuple[dict[str, float], float]:
    cfg, origins = make_config(tmp, OBSERVER_TAIL_BUFFER="20000")
    d = LoopbackDaemon(cfg, origins)
    await d.start()
    server = ApiServer(d, cfg)
    port = await server.start()
    client = spawn(port, subs, seconds, mode, "tail") if subs else None
    await asyncio.sleep(1.0)  # subscriptions established
    t0 = time.perf_counter()
    sent = await feed(lambda items: d.hub.publish(Track.SCALP, items), seconds, rate)
    ingest = sent / (time.perf_counter() - t0)
    if client is not None and mode == "stall":
        client.kill()
        client.wait()
        res: dict[str, float] = {}
    else:
        res = await result(client) if client else {}
    await server.shutdown(0.2)
    await d.stop()
    return res, ingest


async def bare_case(subs: int, seconds: float) -> dict[str, float]:
    """Per-subscriber queues of pre-encoded batches: no hub, no files."""
    enc = BatchEncoder()
    queues: list[asyncio.Queue[bytes]] = []

    async def stream(request: bytes, context: grpc.aio.ServicerContext) -> object:
        q: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10_000)
        queues.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            queues.remove(q)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "bench.Bare",
                {
                    "Stream": grpc.unary_stream_rpc_method_handler(
                        stream, request_deserializer=lambda b: b, response_serializer=lambda b: b
                    )
                },
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = spawn(port, subs, seconds, "read", "bare")
    await asyncio.sleep(1.0)

    async def publish(items: list) -> None:
        b = enc.batch(
            items, dropped_since_last=0, dropped_total=0, replay=False, sent_at=time.time()
        )
        for q in list(queues):
            if not q.full():
                q.put_nowait(b)

    await feed(publish, seconds, RATE)
    res = await result(client)
    await server.stop(0.2)
    return res


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    s = args.seconds
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for n in (1, 10, 50):
            res, rate = await hub_case(Path(td) / f"lat{n}", n, s, "read", RATE)
            bare = await bare_case(n, s)
            rows.append((n, res, rate, bare))
        _, none = await hub_case(Path(td) / "none", 0, s, "read", None)
        _, stalled = await hub_case(Path(td) / "stall", 50, s, "stall", None)
    print(
        f"\ntail latency at {RATE:,} ticks/s ({FRAME} records per frame), {s:g} s per case, cpus={os.cpu_count()}"
    )
    print(
        f"{'subscribers':>11} | {'hub p50 ms':>10} | {'hub p99 ms':>10} | {'fed/s':>8} | {'bare p50 ms':>11} | {'bare p99 ms':>11}"
    )
    for n, res, rate, bare in rows:
        print(
            f"{n:>11} | {res.get('p50', float('nan')):>10.2f} | {res.get('p99', float('nan')):>10.2f} | {rate:>8.0f} | "
            f"{bare.get('p50', float('nan')):>11.2f} | {bare.get('p99', float('nan')):>11.2f}"
        )
    print(f"\ningest (publish -> hub -> JSONL writer, as fast as possible), {s:g} s")
    print(f"  no subscribers:           {none:>10,.0f} ticks/s")
    print(f"  50 stalled subscribers:   {stalled:>10,.0f} ticks/s  ({stalled / none:.0%} of none)")


if __name__ == "__main__":
    asyncio.run(main())
