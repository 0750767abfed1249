"""StatusService and TailService servicers (read-only, no authentication).

Tail is registered by hand (see ``tail_handler``) so it can send TickBatch messages that
``BatchEncoder`` assembled as bytes: every subscriber shares one encoding per record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from observer.daemon.api.encode import BatchEncoder
from observer.daemon.api.ports import DaemonPort
from observer.daemon.api.replay import MAX_REPLAY
from observer.daemon.api.tail import live_batches, replay_then_live
from observer.daemon.errors import InvalidRequest, ObserverError
from observer.daemon.model import Track
from observer.daemon.status.proto import status_to_proto
from observer.daemon.symbols import parse_symbols
from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc

_TRACKS = {pb.TRACK_SCALP: Track.SCALP, pb.TRACK_SWING: Track.SWING}


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], e: ObserverError) -> None:
    """End the call with the status mapped from the error class and its operator message."""
    await context.abort(grpc.StatusCode[e.grpc_code], str(e))


def _comparable(s: pb.Status) -> bytes:
    """The snapshot without the fields that change every time (for change detection)."""
    c = pb.Status()
    c.CopyFrom(s)
    c.ClearField("generated_at")
    c.ClearField("uptime_seconds")
    for v in c.volumes:
        v.ClearField("seconds_until_full")
    return c.SerializeToString(deterministic=True)


#: WatchStatus: the fewest milliseconds between two snapshots a client may ask for, and the
#: defaults for 0 (see WatchStatusRequest in the proto).
MIN_STATUS_INTERVAL_MS = 100
DEFAULT_STATUS_INTERVAL_MS = 250
DEFAULT_STATUS_HEARTBEAT_MS = 5000


class StatusServicer(pb_grpc.StatusServiceServicer):
    def __init__(self, daemon: DaemonPort) -> None:
        self.daemon = daemon

    async def GetStatus(
        self,
        request: pb.GetStatusRequest,
        context: grpc.aio.ServicerContext[pb.GetStatusRequest, pb.Status],
    ) -> pb.Status:
        return status_to_proto(self.daemon.status())

    async def WatchStatus(
        self,
        request: pb.WatchStatusRequest,
        context: grpc.aio.ServicerContext[pb.WatchStatusRequest, pb.Status],
    ) -> AsyncIterator[pb.Status]:
        if 0 < request.min_interval_ms < MIN_STATUS_INTERVAL_MS:
            await abort_with(
                context,
                InvalidRequest(
                    f"min_interval_ms={request.min_interval_ms} is below the floor of "
                    f"{MIN_STATUS_INTERVAL_MS} ms; ask for {MIN_STATUS_INTERVAL_MS} or more "
                    f"(0 = the default {DEFAULT_STATUS_INTERVAL_MS} ms)."
                ),
            )
            return
        interval = (request.min_interval_ms or DEFAULT_STATUS_INTERVAL_MS) / 1000
        heartbeat = max(interval, (request.heartbeat_ms or DEFAULT_STATUS_HEARTBEAT_MS) / 1000)
        last = b""
        last_sent = 0.0
        while True:
            snap = status_to_proto(self.daemon.status())
            key = _comparable(snap)
            now = time.monotonic()
            if key != last or now - last_sent >= heartbeat:
                yield snap
                last, last_sent = key, now
            await asyncio.sleep(interval)


#: Ticks per Tail message at most, unless the client asks for fewer (see TailRequest).
DEFAULT_MAX_BATCH = 5000
#: Symbols one Tail may filter on (the watchlist is at most 41; the swing universe larger).
MAX_TAIL_SYMBOLS = 200


def parse_tail_request(
    req: pb.TailRequest,
) -> tuple[frozenset[str] | None, frozenset[Track] | None, int, int]:
    """Validated (symbols, tracks, replay_last, max_batch); InvalidRequest names the bad value."""
    symbols = parse_symbols(req.symbols, limit=None, allow_empty=True)
    if len(symbols) > MAX_TAIL_SYMBOLS:
        raise InvalidRequest(
            f"{len(symbols)} symbols in one Tail; at most {MAX_TAIL_SYMBOLS}: split them over "
            "several Tail calls, or leave symbols empty for every symbol."
        )
    tracks: set[Track] = set()
    for t in req.tracks:
        if t == pb.TRACK_UNSPECIFIED:
            continue
        if t not in _TRACKS:
            raise InvalidRequest(f"unknown track {t}; use TRACK_SCALP or TRACK_SWING.")
        tracks.add(_TRACKS[t])
    if req.replay_last > MAX_REPLAY:
        raise InvalidRequest(
            f"replay_last={req.replay_last} is above the limit {MAX_REPLAY}; ask for fewer."
        )
    return (
        frozenset(symbols) or None,
        frozenset(tracks) or None,
        int(req.replay_last),
        int(req.max_batch) or DEFAULT_MAX_BATCH,
    )


class TailServicer:
    """The Tail stream: optional replay from the files, then live batches from the hub."""

    def __init__(self, daemon: DaemonPort, encoder: BatchEncoder | None = None) -> None:
        self.daemon = daemon
        self.encoder = encoder or BatchEncoder()

    async def Tail(
        self, request: pb.TailRequest, context: grpc.aio.ServicerContext[pb.TailRequest, bytes]
    ) -> AsyncIterator[bytes]:
        try:
            symbols, tracks, replay_n, max_batch = parse_tail_request(request)
        except ObserverError as e:
            await abort_with(context, e)
            return
        enc = self.encoder
        # Subscribe before reading the files so nothing falls between replay and live.
        sub = self.daemon.hub.subscribe(
            symbols=symbols, tracks=tracks, maxlen=self.daemon.config.tail_buffer
        )
        try:
            try:
                replayed = (
                    await self.daemon.replay_last(replay_n, symbols, tracks) if replay_n else []
                )
            except ObserverError as e:
                await abort_with(context, e)
                return
            stream = (symbols, tracks)  # subscribers with one filter share encoded runs
            live = live_batches(sub, max_batch)
            async for chunk in replay_then_live(replayed, live, max_batch):
                yield enc.batch(
                    chunk.items,
                    dropped_since_last=chunk.dropped_since_last,
                    dropped_total=chunk.dropped_total,
                    replay=chunk.replay,
                    sent_at=time.time(),
                    stream=stream if chunk.contiguous and not chunk.replay else None,
                )
        finally:
            sub.close()


def _identity(b: bytes) -> bytes:
    return b


def tail_handler(servicer: TailServicer) -> grpc.GenericRpcHandler[Any, Any]:
    """observer.v1.TailService with a pass-through response serializer (pre-encoded batches)."""
    return grpc.method_handlers_generic_handler(
        "observer.v1.TailService",
        {
            "Tail": grpc.unary_stream_rpc_method_handler(
                servicer.Tail,
                request_deserializer=pb.TailRequest.FromString,
                response_serializer=_identity,
            )
        },
    )
