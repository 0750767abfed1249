"""The gRPC API on loopback against a daemon built from real components.

``LoopbackDaemon`` implements DaemonPort with the real Hub, SegmentWriter (real files in
a tmp dir), BackupService and HealthState; ``api`` starts the real ApiServer on a free
port. Every RPC is called through a real grpc.aio channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.internal.encoder import _VarintBytes  # type: ignore[attr-defined]
from grpc_health.v1 import health_pb2, health_pb2_grpc

from observer.daemon import __version__, probes
from observer.daemon.api import replay
from observer.daemon.api.auth import check_bearer
from observer.daemon.api.encode import BatchEncoder, _varint
from observer.daemon.api.health import HealthState, VolumeCheck
from observer.daemon.api.server import ApiServer
from observer.daemon.backup.service import BackupService
from observer.daemon.config import Config, load_config
from observer.daemon.fingerprints import Fingerprints
from observer.daemon.ingest.hub import Hub
from observer.daemon.ingest.recovery import SeqState
from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.status.model import (
    ClosedSegment,
    RetentionAction,
    RetentionItem,
    RetentionReport,
    Status,
    StreamStatus,
    SubscriptionChange,
    TailStats,
    secret_statuses,
    source_of,
)
from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc

TOKEN = "control-token-CANARY-7f3a"
CANARY = "CANARY-SECRET-91d2"
SECRET_ENV = {
    "KIS_HTS_ID": CANARY + "-hts",
    "DB_PASSWORD": CANARY + "-db",
    "OBSERVER_CONTROL_TOKEN": TOKEN,
}


def make_config(tmp_path: Path, **env: str) -> tuple[Config, dict[str, object]]:
    base = {
        "OBSERVER_DATA_DIR": str(tmp_path / "data"),
        "OBSERVER_LOG_DIR": str(tmp_path / "logs"),
        "OBSERVER_CONFIG_DIR": str(tmp_path / "config"),
        "SERVICE_PORT": "0",
        "OBSERVER_LISTEN_ADDRESS": "127.0.0.1",
        "OBSERVER_TAIL_BUFFER": "1000",
        **SECRET_ENV,
    }
    base.update(env)
    loaded = load_config(environ=base, cwd=tmp_path)
    return loaded.config, dict(loaded.origins)


def tick(i: int, symbol: str = "005930", date: str = "20261120") -> Tick:
    return Tick(
        symbol=symbol, trade_date=date, time=f"09{(i // 60) % 60:02d}{i % 60:02d}", price=70000 + i,
        sign=2, change=100, change_pct=0.14, vwap=70010.5, open=69900, high=70500, low=69800,
        ask1=70100 + i, bid1=70000 + i, volume=10, cum_volume=1000 + i, cum_value=70_000_000 + i,
        strength=101.5, side=1, halted=False, received_at=time.time(),
    )  # fmt: skip


class LoopbackDaemon:
    """DaemonPort over real components in a tmp dir."""

    def __init__(
        self,
        cfg: Config,
        origins: dict[str, object],
        *,
        commit_interval: float = 0.02,
        durable_tails: bool = True,
    ) -> None:
        self.config = cfg
        self._origins = origins
        self.started = time.time()
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.hub = Hub(seq=SeqState(), durable_tails=durable_tails)
        self.writer = SegmentWriter(Track.SCALP, cfg.data_dir, commit_interval=commit_interval)
        self.hub.attach_sink(Track.SCALP, self.writer)
        self.backups = BackupService(cfg)
        self.health = HealthState(cfg)
        self.health.watch_writer(self.writer)
        self.subscriptions = list(cfg.symbols)
        self.retention_calls: list[bool] = []
        self.fingerprints = Fingerprints.ephemeral()

    async def start(self) -> None:
        await self.writer.start()
        self.health.contract_passed()
        self.health.collector_running(True)

    async def stop(self) -> None:
        self.hub.close()
        await self.writer.close()

    def status(self) -> Status:
        st = self.writer.state()
        return Status(
            daemon_version=__version__,
            app_env=self.config.app_env,
            started_at=self.started,
            source=source_of(self.config),
            pid=os.getpid(),
            streams=[
                StreamStatus(
                    name="scalp",
                    track=Track.SCALP,
                    current_file=st.current_file or "",
                    lines=st.lines,
                    bytes=st.bytes,
                    pending=st.pending,
                    last_error=st.last_error or "",
                )
            ],
            secrets=secret_statuses(
                self.config,
                self._origins,  # type: ignore[arg-type]
                self.fingerprints,
                loaded_at=self.started,
            ),
            backups=self.backups.status(),
            health=self.health.probes(),
            tail=TailStats(len(self.hub.subscribers()), self.hub.dropped_total),
        )

    async def replay_last(
        self, n: int, symbols: frozenset[str] | None, tracks: frozenset[Track] | None
    ) -> list[Tick | Snapshot]:
        return await replay.replay([self.writer], self.config.data_dir, n, symbols, tracks)

    async def rotate_now(self, track: Track | None) -> list[ClosedSegment]:
        path = await self.writer.rotate_now()
        st = self.writer.state()
        return [
            ClosedSegment(Track.SCALP, str(path or ""), st.last_closed_lines, st.last_closed_bytes)
        ]

    async def set_subscriptions(self, symbols: list[str]) -> SubscriptionChange:
        old = self.subscriptions
        self.subscriptions = symbols
        return SubscriptionChange(
            subscribed=symbols,
            added=[s for s in symbols if s not in old],
            removed=[s for s in old if s not in symbols],
        )

    async def run_retention(self, apply: bool) -> RetentionReport:
        self.retention_calls.append(apply)
        action = RetentionAction.DELETED if apply else RetentionAction.WOULD_DELETE
        return RetentionReport(
            dry_run=not apply,
            items=[
                RetentionItem("logs/scalp/x.log", "scalp_log", action, "older than 3 days", 10, 4.0)
            ],
        )


@dataclass
class Running:
    daemon: LoopbackDaemon
    server: ApiServer
    port: int
    channel: grpc.aio.Channel

    @property
    def status(self) -> pb_grpc.StatusServiceStub:
        return pb_grpc.StatusServiceStub(self.channel)

    @property
    def tail(self) -> pb_grpc.TailServiceStub:
        return pb_grpc.TailServiceStub(self.channel)

    @property
    def control(self) -> pb_grpc.ControlServiceStub:
        return pb_grpc.ControlServiceStub(self.channel)

    @property
    def health(self) -> health_pb2_grpc.HealthStub:
        return health_pb2_grpc.HealthStub(self.channel)


AUTH = (("authorization", f"Bearer {TOKEN}"),)


async def start_api(tmp_path: Path, **env: str) -> Running:
    cfg, origins = make_config(tmp_path, **env)
    d = LoopbackDaemon(cfg, origins)
    await d.start()
    server = ApiServer(d, cfg)
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    return Running(d, server, port, channel)


async def stop_api(r: Running) -> None:
    await r.channel.close()  # type: ignore[call-arg]  # grpc-stubs 1.53 lag grpcio: grace is optional
    await r.server.shutdown(0.5)
    await r.daemon.stop()


@contextlib.asynccontextmanager
async def running_api(tmp_path: Path, **env: str) -> AsyncIterator[Running]:
    r = await start_api(tmp_path, **env)
    try:
        yield r
    finally:
        await stop_api(r)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_api(tmp_path) as r:
        yield r


async def test_get_status_reports_version_source_and_secret_fingerprints_only(api: Running) -> None:
    s = await api.status.GetStatus(pb.GetStatusRequest())
    assert s.daemon_version == __version__ and s.source == pb.SOURCE_SIMULATOR
    secrets = {x.name: x for x in s.secrets}
    assert secrets["DB_PASSWORD"].present and len(secrets["DB_PASSWORD"].fingerprint) == 8
    assert not secrets["KIS_APP_KEY"].present and secrets["KIS_APP_KEY"].fingerprint == ""
    assert {h.service for h in s.health} == set(probes.ALL)
    assert (
        CANARY.encode() not in s.SerializeToString() and TOKEN.encode() not in s.SerializeToString()
    )


async def test_watch_status_sends_a_new_snapshot_when_something_changes(api: Running) -> None:
    call = api.status.WatchStatus(pb.WatchStatusRequest(min_interval_ms=100, heartbeat_ms=60_000))
    first = await asyncio.wait_for(call.read(), 5)
    await api.daemon.hub.publish(Track.SCALP, [tick(i) for i in range(5)])
    second = await asyncio.wait_for(call.read(), 5)
    call.cancel()
    assert first.streams[0].lines == 0 or first.streams[0].pending == 0
    assert second.SerializeToString() != first.SerializeToString()
    assert second.generated_at.ToNanoseconds() > first.generated_at.ToNanoseconds()


async def _read_ticks(call: grpc.aio.UnaryStreamCall, n: int, wait: float = 5) -> list[pb.Tick]:
    got: list[pb.Tick] = []
    while len(got) < n:
        batch: pb.TickBatch = await asyncio.wait_for(call.read(), wait)  # type: ignore[arg-type]
        got.extend(batch.ticks)
    return got


async def test_tail_streams_live_ticks_filtered_by_symbol(api: Running) -> None:
    call = api.tail.Tail(pb.TailRequest(symbols=["000660"]))
    await asyncio.sleep(0.2)  # let the server subscribe
    await api.daemon.hub.publish(
        Track.SCALP, [tick(i, "005930" if i % 2 else "000660") for i in range(20)]
    )
    got = await _read_ticks(call, 10)
    call.cancel()
    assert {t.symbol for t in got} == {"000660"} and len(got) == 10
    t = got[0]
    assert (t.track, t.trade_date, t.ts, t.price) == (
        pb.TRACK_SCALP,
        "2026-11-20",
        "2026-11-20T09:00:00+09:00",
        70000,
    )
    assert t.seq >= 1 and t.received_at.seconds > 0


async def test_tail_replays_the_last_records_from_the_files_then_goes_live_without_duplicates(
    api: Running,
) -> None:
    await api.daemon.hub.publish(Track.SCALP, [tick(i) for i in range(30)])
    await api.daemon.writer.rotate_now()  # everything on disk
    call = api.tail.Tail(pb.TailRequest(replay_last=10))
    replayed = await _read_ticks(call, 10)
    await api.daemon.hub.publish(Track.SCALP, [tick(i) for i in range(30, 35)])
    live = await _read_ticks(call, 5)
    call.cancel()
    assert [t.seq for t in replayed] == list(range(21, 31))
    assert [t.seq for t in live] == list(range(31, 36))


@pytest.mark.parametrize(
    "req", [pb.TailRequest(symbols=["5930"]), pb.TailRequest(replay_last=10_001)]
)
async def test_tail_rejects_bad_requests_as_invalid_argument(
    api: Running, req: pb.TailRequest
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await _read_ticks(api.tail.Tail(req), 1)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_stalled_tail_client_loses_oldest_ticks_but_the_files_get_everything(
    tmp_path: Path,
) -> None:
    r = await start_api(tmp_path, OBSERVER_TAIL_BUFFER="50")
    try:
        call = r.tail.Tail(pb.TailRequest())
        first = await _published_then_read(r, call)
        total = 20_000
        deadline = time.monotonic() + 20
        sent = 1
        while sent < total and time.monotonic() < deadline:
            await r.daemon.hub.publish(Track.SCALP, [tick(sent + i) for i in range(500)])
            sent += 500
        await r.daemon.writer.rotate_now()
        dropped = 0
        seqs = [t.seq for t in first.ticks]
        while True:
            try:
                b = await asyncio.wait_for(call.read(), 1.0)
            except TimeoutError:
                break
            dropped += b.dropped_since_last
            seqs.extend(t.seq for t in b.ticks)
        call.cancel()
        lines = [
            json.loads(x)
            for p in sorted((r.daemon.config.data_dir / "assets" / "scalp").glob("*.jsonl"))
            for x in p.read_text().splitlines()
        ]
        assert [x["seq"] for x in lines] == list(range(1, sent + 1))
        assert dropped > 0 and len(seqs) + dropped == sent
        assert seqs == sorted(seqs) and seqs[-1] == sent
    finally:
        await stop_api(r)


def _decoded(b: bytes) -> list[tuple[str, int]]:
    return [(t.symbol, t.price) for t in pb.TickBatch.FromString(b).ticks]


def test_batch_encoder_runs_give_the_same_bytes_as_encoding_each_record() -> None:
    stream = [tick(i, "005930" if i % 3 else "000660") for i in range(40)]
    for n, t in enumerate(stream, 1):
        t.seq = n
    enc = BatchEncoder()
    kw = {"dropped_since_last": 3, "dropped_total": 7, "replay": False, "sent_at": 1.25}
    # batches cut where one subscriber woke up, then other cuts of the same stream:
    # whole runs, several runs, a start inside a run (after drops), an end inside a run.
    cuts = [(0, 10), (10, 25), (0, 25), (5, 25), (12, 40), (0, 40), (3, 7)]
    got = [enc.batch(stream[a:b], stream="all", **kw) for a, b in cuts]  # type: ignore[arg-type]
    want = [BatchEncoder().batch(stream[a:b], **kw) for a, b in cuts]  # type: ignore[arg-type]
    assert got == want


def test_hand_written_varints_match_protobufs_at_every_width() -> None:
    edges = [0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**28 - 1, 2**28, 2**35, 2**63]
    for n in edges + [e + d for e in edges for d in (-1, 1) if e + d >= 0]:
        assert _varint(n) == _VarintBytes(n), n


def test_batch_encoder_caches_stay_bounded_in_records_and_stay_correct_across_clears() -> None:
    enc = BatchEncoder(limit=100)
    kw = {"dropped_since_last": 0, "dropped_total": 0, "replay": False, "sent_at": 2.5}
    for k in range(30):
        frame = [tick(k * 20 + i) for i in range(20)]
        for _sub in range(3):  # three subscribers with one filter send each frame
            got = enc.batch(frame, stream="all", **kw)  # type: ignore[arg-type]
            assert got == BatchEncoder().batch(frame, **kw)  # type: ignore[arg-type]
        assert len(enc._cache) <= 100 and enc._run_records <= 100


def test_batch_encoder_never_reuses_a_run_across_different_filters() -> None:
    # first, a, b, last: filter {X, Y} sees first, a, last; filter {X, Z} sees first, b, last.
    # Same first and last record, same length: only the filter tells the runs apart.
    first, a, b, last = tick(0, "000001"), tick(1, "000002"), tick(2, "000003"), tick(3, "000001")
    enc = BatchEncoder()
    kw = {"dropped_since_last": 0, "dropped_total": 0, "replay": False, "sent_at": 1.0}
    xy = enc.batch([first, a, last], stream=("X", "Y"), **kw)  # type: ignore[arg-type]
    xz = enc.batch([first, b, last], stream=("X", "Z"), **kw)  # type: ignore[arg-type]
    assert [s for s, _ in _decoded(xy)] == ["000001", "000002", "000001"]
    assert [s for s, _ in _decoded(xz)] == ["000001", "000003", "000001"]


async def test_tail_subscribers_with_different_filters_each_get_exactly_their_ticks(
    api: Running,
) -> None:
    filters = [["005930"], ["005930", "000660"], [], ["000660"], []]
    calls = [api.tail.Tail(pb.TailRequest(symbols=f)) for f in filters]
    await asyncio.sleep(0.3)  # let the server subscribe
    symbols = ["005930", "000660", "035720"]
    published = [tick(i, symbols[i % 3]) for i in range(300)]
    for start in range(0, 300, 7):  # uneven frames, so subscribers' batches cut differently
        await api.daemon.hub.publish(Track.SCALP, published[start : start + 7])
    for f, call in zip(filters, calls, strict=True):
        want = [t.seq for t in published if not f or t.symbol in f]
        got = await _read_ticks(call, len(want))
        call.cancel()
        assert [t.seq for t in got] == want
        assert all(not f or t.symbol in f for t in got)


async def _published_then_read(r: Running, call: grpc.aio.UnaryStreamCall) -> pb.TickBatch:
    await asyncio.sleep(0.2)
    await r.daemon.hub.publish(Track.SCALP, [tick(0)])
    return await asyncio.wait_for(call.read(), 5)  # type: ignore[arg-type]  # stubs: read() is untyped


@pytest.mark.parametrize(
    "metadata", [(), (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)]
)
async def test_control_calls_without_the_right_token_are_unauthenticated(
    api: Running, metadata: tuple
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await api.control.SetSubscriptions(
            pb.SetSubscriptionsRequest(symbols=["005930"]), metadata=metadata
        )
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert TOKEN not in (e.value.details() or "")
    assert api.daemon.subscriptions == list(api.daemon.config.symbols)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await _drain(api.control.TriggerBackup(pb.TriggerBackupRequest(), metadata=metadata))
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),  # RFC 6750/7235: the scheme is case-insensitive
        (f"BEARER {TOKEN}", True),
        (f"Bearer  {TOKEN}", True),  # "Bearer" 1*SP b64token
        (f"Bearer {TOKEN} ", False),  # a blank is not part of the token
        (f" Bearer {TOKEN}", False),
        (f"Bearer\t{TOKEN}", False),
        (f"Basic {TOKEN}", False),
        ("Bearer", False),
        (f"Bearer {TOKEN[:-1]}", False),
    ],
)
def test_bearer_credentials_are_spelled_as_rfc_6750_writes_them(
    header: str, accepted: bool
) -> None:
    err = check_bearer([("authorization", header)], TOKEN)
    assert (err is None) is accepted
    if err is not None:
        assert err.grpc_code == "UNAUTHENTICATED" and TOKEN not in str(err)


async def test_every_control_method_is_behind_the_token(api: Running) -> None:
    service = pb.DESCRIPTOR.services_by_name["ControlService"]
    for method in service.methods:
        request = getattr(pb, method.input_type.name)()
        path = f"/{service.full_name}/{method.name}"
        ser, des = type(request).SerializeToString, getattr(pb, method.output_type.name).FromString
        with pytest.raises(grpc.aio.AioRpcError) as e:
            if method.server_streaming:
                async for _ in api.channel.unary_stream(path, ser, des)(request):
                    pass
            else:
                await api.channel.unary_unary(path, ser, des)(request)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED, method.name
    assert api.daemon.retention_calls == []


async def test_control_calls_are_disabled_without_a_configured_token(tmp_path: Path) -> None:
    r = await start_api(tmp_path, OBSERVER_CONTROL_TOKEN="")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await r.control.ListBackups(pb.ListBackupsRequest(), metadata=AUTH)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "OBSERVER_CONTROL_TOKEN" in (e.value.details() or "")
    finally:
        await stop_api(r)


async def _drain(call: grpc.aio.UnaryStreamCall) -> list:
    return [m async for m in call]


async def test_trigger_backup_streams_progress_then_the_manifest_which_lists_and_verifies(
    api: Running,
) -> None:
    await api.daemon.hub.publish(Track.SCALP, [tick(i) for i in range(100)])
    await api.daemon.writer.rotate_now()
    msgs = await _drain(api.control.TriggerBackup(pb.TriggerBackupRequest(), metadata=AUTH))
    assert msgs[0].phase == pb.BACKUP_PHASE_SCANNING
    last = msgs[-1]
    assert last.phase == pb.BACKUP_PHASE_DONE and last.HasField("manifest")
    m = last.manifest
    assert len(m.archive_sha256) == 64 and m.files[0].records == 100
    listed = await api.control.ListBackups(pb.ListBackupsRequest(), metadata=AUTH)
    assert [b.id for b in listed.backups] == [m.id]
    v = await api.control.VerifyBackup(pb.VerifyBackupRequest(id=m.id), metadata=AUTH)
    assert v.ok and v.files_checked == len(m.files) and not v.mismatches
    s = await api.status.GetStatus(pb.GetStatusRequest())
    assert s.backups.count == 1 and s.backups.verification == pb.VERIFICATION_STATE_VERIFIED


@pytest.mark.parametrize(
    ("backup_id", "code"),
    [
        ("../../etc/passwd", grpc.StatusCode.INVALID_ARGUMENT),
        ("/etc/passwd", grpc.StatusCode.INVALID_ARGUMENT),
        ("a/b", grpc.StatusCode.INVALID_ARGUMENT),
        ("20261120-160000-1a2b", grpc.StatusCode.NOT_FOUND),
    ],
)
async def test_verify_backup_maps_bad_and_unknown_ids(
    api: Running, backup_id: str, code: grpc.StatusCode
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await api.control.VerifyBackup(pb.VerifyBackupRequest(id=backup_id), metadata=AUTH)
    assert e.value.code() == code


async def test_a_second_concurrent_backup_is_resource_exhausted(api: Running) -> None:
    big = api.daemon.config.data_dir / "assets" / "scalp" / "20261119_09.jsonl"
    big.parent.mkdir(parents=True, exist_ok=True)
    big.write_text(
        json.dumps({"ts": "x", "pad": "y" * 200}) * 0
        + "".join(f'{{"seq":{i},"ts":"t","pad":"{i * 7919 % 100003}"}}\n' for i in range(300_000))
    )
    first = api.control.TriggerBackup(pb.TriggerBackupRequest(), metadata=AUTH)
    await asyncio.wait_for(first.read(), 10)  # it has started
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await _drain(api.control.TriggerBackup(pb.TriggerBackupRequest(), metadata=AUTH))
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    last = await asyncio.wait_for(first.read(), 30)
    while last is not grpc.aio.EOF and not last.HasField("manifest"):  # type: ignore[attr-defined]
        last = await asyncio.wait_for(first.read(), 30)
    assert last is not grpc.aio.EOF and last.manifest.archive_sha256  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "symbols",
    [["005930", "12345"], ["005930", "00593a"], [f"{i:06d}" for i in range(42)], []],
)
async def test_set_subscriptions_rejects_bad_symbols_before_changing_anything(
    api: Running, symbols: list[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await api.control.SetSubscriptions(
            pb.SetSubscriptionsRequest(symbols=symbols), metadata=AUTH
        )
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert api.daemon.subscriptions == list(api.daemon.config.symbols)


async def test_set_subscriptions_replaces_the_watchlist(api: Running) -> None:
    r = await api.control.SetSubscriptions(
        pb.SetSubscriptionsRequest(symbols=["005930", "000660", "005930"]), metadata=AUTH
    )
    assert list(r.subscribed) == ["005930", "000660"] and api.daemon.subscriptions == [
        "005930",
        "000660",
    ]
    assert "035420" in r.removed


async def test_rotate_now_closes_the_open_segment(api: Running) -> None:
    await api.daemon.hub.publish(Track.SCALP, [tick(i) for i in range(3)])
    await asyncio.sleep(0.1)
    r = await api.control.RotateNow(pb.RotateNowRequest(), metadata=AUTH)
    assert r.closed[0].path.endswith("20261120_09.jsonl") and r.closed[0].track == pb.TRACK_SCALP
    assert api.daemon.writer.state().current_file is None


async def test_run_retention_is_a_dry_run_unless_apply_is_set(api: Running) -> None:
    dry = await api.control.RunRetention(pb.RunRetentionRequest(), metadata=AUTH)
    applied = await api.control.RunRetention(pb.RunRetentionRequest(apply=True), metadata=AUTH)
    assert api.daemon.retention_calls == [False, True]
    assert (
        dry.dry_run
        and dry.items[0].action == pb.RETENTION_ACTION_WOULD_DELETE
        and dry.bytes_freed == 10
    )
    assert not applied.dry_run and applied.items[0].action == pb.RETENTION_ACTION_DELETED


async def test_every_probe_name_is_serving_once_started(api: Running) -> None:
    await api.daemon.health.refresh()
    for name in probes.ALL:
        r = await api.health.Check(health_pb2.HealthCheckRequest(service=name))
        assert r.status == health_pb2.HealthCheckResponse.SERVING, name


async def test_shutdown_flips_health_to_not_serving_before_the_port_closes(tmp_path: Path) -> None:
    r = await start_api(tmp_path)
    try:
        await r.daemon.health.refresh()
        watch = r.health.Watch(health_pb2.HealthCheckRequest(service=probes.READINESS))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.create_task(r.server.shutdown(grace=1.0, drain=0.5))
        assert (
            await asyncio.wait_for(watch.read(), 5)
        ).status == health_pb2.HealthCheckResponse.NOT_SERVING
        during = await r.health.Check(health_pb2.HealthCheckRequest(service=probes.LIVENESS))
        assert during.status == health_pb2.HealthCheckResponse.NOT_SERVING
        await stopping
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await r.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        await r.channel.close()  # type: ignore[call-arg]  # grpc-stubs 1.53 lag grpcio: grace is optional
        await r.daemon.stop()


async def test_no_secret_appears_in_any_response_or_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = await start_api(tmp_path)
    try:
        await r.daemon.hub.publish(Track.SCALP, [tick(i) for i in range(10)])
        await r.daemon.health.refresh()
        out: list[bytes] = []
        out.append((await r.status.GetStatus(pb.GetStatusRequest())).SerializeToString())
        msgs = await _drain(r.control.TriggerBackup(pb.TriggerBackupRequest(), metadata=AUTH))
        out += [m.SerializeToString() for m in msgs]
        out.append(
            (
                await r.control.ListBackups(pb.ListBackupsRequest(), metadata=AUTH)
            ).SerializeToString()
        )
        out.append(
            (
                await r.control.VerifyBackup(
                    pb.VerifyBackupRequest(id=msgs[-1].manifest.id), metadata=AUTH
                )
            ).SerializeToString()
        )
        out.append(
            (
                await r.control.RunRetention(pb.RunRetentionRequest(), metadata=AUTH)
            ).SerializeToString()
        )
        out.append(
            (
                await r.control.SetSubscriptions(
                    pb.SetSubscriptionsRequest(symbols=["005930"]), metadata=AUTH
                )
            ).SerializeToString()
        )
        for md in [(("authorization", "Bearer " + CANARY),), ()]:
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.control.ListBackups(pb.ListBackupsRequest(), metadata=md)
            out.append((e.value.details() or "").encode())
        call = r.tail.Tail(pb.TailRequest(replay_last=5))
        out.append((await asyncio.wait_for(call.read(), 5)).SerializeToString())
        call.cancel()
        status_json = r.daemon.config.data_dir / "status.json"
        from observer.daemon.status.model import to_json

        status_json.write_text(to_json(r.daemon.status()))
        out.append(status_json.read_bytes())
    finally:
        await stop_api(r)
    logs = "\n".join(rec.getMessage() for rec in caplog.records)
    for secret in [CANARY, TOKEN]:
        assert all(secret.encode() not in b for b in out)
        assert secret not in logs
    assert len(out) >= 8


def test_health_state_liveness_flips_when_a_writer_stalls_past_the_threshold(
    tmp_path: Path,
) -> None:
    cfg, _ = make_config(tmp_path, OBSERVER_WATCHDOG_SECONDS="5")

    class Writer:
        stalled = 0.0
        last_error: str | None = None

        def stalled_for(self) -> float:
            return self.stalled

    h = HealthState(cfg)
    w = Writer()
    h.watch_writer(w)
    h.contract_passed()
    h.api_up()
    h.collector_running(True)
    assert h.evaluate()[probes.LIVENESS] == (True, "")
    w.stalled = 6.0
    ok, why = h.evaluate()[probes.LIVENESS]
    assert not ok and "writer" in why and h.evaluate()[probes.OVERALL][0] is False
    assert h.evaluate()[probes.READINESS][0] is True


def test_health_state_watchdog_latches_an_event_loop_stall(tmp_path: Path) -> None:
    cfg, _ = make_config(tmp_path, OBSERVER_WATCHDOG_SECONDS="5")
    now = [100.0]
    h = HealthState(cfg, clock=lambda: now[0])
    h.beat()
    now[0] += 4.0
    h.check_loop()
    assert h.evaluate()[probes.LIVENESS][0]
    now[0] += 2.0
    h.check_loop()
    h.beat()  # the loop came back: a stall that long is still reported
    ok, why = h.evaluate()[probes.LIVENESS]
    assert not ok and "event loop stalled" in why


async def test_readiness_goes_not_serving_when_the_data_volume_is_unwritable_or_full(
    tmp_path: Path,
) -> None:
    cfg, _ = make_config(tmp_path)
    state = [VolumeCheck(True, 10**9)]
    h = HealthState(cfg, volume_check=lambda: state[0])
    h.contract_passed()
    h.api_up()
    h.collector_running(True)
    await h.refresh()
    assert h.evaluate()[probes.READINESS][0]
    state[0] = VolumeCheck(True, 1000, "data volume has 0 MiB free, below OBSERVER_MIN_FREE_MB=64")
    await h.refresh()
    assert not h.evaluate()[probes.READINESS][0] and h.evaluate()[probes.LIVENESS][0]
    h.collector_running(False, "collector stopped: KIS session closed")
    state[0] = VolumeCheck(True, 10**9)
    await h.refresh()
    ok, why = h.evaluate()[probes.READINESS]
    assert not ok and "collector stopped" in why


async def test_silent_and_idle_connections_are_closed_and_the_count_is_bounded(
    tmp_path: Path,
) -> None:
    import socket

    from observer.daemon.api.server import count_connections

    cfg, origins = make_config(tmp_path)
    d = LoopbackDaemon(cfg, origins)
    await d.start()
    server = ApiServer(d, cfg, handshake_timeout_ms=500, idle_timeout_ms=800, max_connections=20)
    port = await server.start()
    socks = []
    try:
        for i in range(30):
            s = socket.create_connection(("127.0.0.1", port))
            if i % 2:
                s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            socks.append(s)
        await asyncio.sleep(0.2)
        assert server.connections() <= 20  # the cap
        for _ in range(50):  # at most 10 s
            if not server.connections():
                break
            await asyncio.sleep(0.2)
        assert server.connections() == 0  # silent ones after the handshake limit, idle after theirs
        assert count_connections(port) == 0
        # A real client still gets through.
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            await pb_grpc.StatusServiceStub(ch).GetStatus(pb.GetStatusRequest(), timeout=5)
    finally:
        for s in socks:
            s.close()
        await server.shutdown(0.2)
        await d.stop()
