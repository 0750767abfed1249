"""STAND-IN for the daemon's gRPC API, for console tests only.

A small real gRPC server on loopback implementing observer.v1 (status, tail, control) and
grpc.health.v1 with canned, deterministic data. The pilot tests run against the real
daemon when it can serve (see conftest); the snapshot tests use this stand-in on purpose,
because a screenshot needs every number fixed (times, sizes, prices), which a live
simulator cannot give. Both go through the same console client code path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc

#: 2026-11-20 10:15:00 KST, the fixed "now" of every canned snapshot.
NOW = 1_795_138_500.0
TOKEN = "standin-control-token"
REPOSITORY = "s3:https://objectstorage.example/observer-backups/observer-prod"

SYMBOLS = ["005930", "000660", "035420", "005380", "051910", "006400", "035720", "068270"]
_BASE = [71_000, 182_500, 201_000, 245_000, 388_000, 402_500, 48_650, 176_300]


def ts(seconds: float) -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(int(seconds * 1e9))
    return t


def canned_status(
    *, ephemeral: bool = False, backups: int = 2, rpo_seconds: float = 1500.0
) -> pb.Status:
    """A realistic snapshot of a daemon collecting on the simulator, every value fixed."""
    st = pb.Status(
        generated_at=ts(NOW),
        daemon_version="0.1.0",
        app_env="production",
        started_at=ts(NOW - 3725),
        uptime_seconds=3725,
        source=pb.SOURCE_SIMULATOR,
        source_detail="simulator 127.0.0.1:39211",
        host="observer-7d9f-abcde",
        pid=1,
    )
    c = st.collector
    c.state = pb.COLLECTOR_STATE_RUNNING
    c.market = "KRX"
    c.subscriptions.extend(SYMBOLS)
    c.session.state = pb.SESSION_STATE_CONNECTED
    c.session.url = "ws://127.0.0.1:39211"
    c.session.connected_since.CopyFrom(ts(NOW - 3700))
    c.session.reconnects = 1
    c.session.last_frame_at.CopyFrom(ts(NOW - 0.2))
    c.rates.add(
        track=pb.TRACK_SCALP,
        rate_1s=212,
        rate_1m=198.5,
        total=736_412,
        today=736_412,
        last_at=ts(NOW),
    )
    c.rates.add(
        track=pb.TRACK_SWING, rate_1s=0, rate_1m=0.13, total=480, today=480, last_at=ts(NOW - 40)
    )
    gib = 1024**3
    data = st.volumes.add(
        mount_point="/opt/platform/runtime/observer/data",
        paths=["/opt/platform/runtime/observer/data"],
        variables=["OBSERVER_DATA_DIR", "KIS_TOKEN_CACHE_DIR", "OBSERVER_SNAPSHOT_DIR"],
        kind=pb.VOLUME_KIND_PERSISTENT_VOLUME,
        kind_reason="device 0:52 differs from / (0:34); mountinfo: ext4 /dev/sdb",
        fs_type="ext4",
        capacity_bytes=20 * gib,
        used_bytes=int(6.4 * gib),
        free_bytes=int(13.6 * gib),
        inodes_total=1_310_720,
        inodes_free=1_309_000,
        growth_bytes_per_second=61_000,
        writable=True,
        observer_bytes=int(5.9 * gib),
        observer_growth_bytes_per_second=52_000,
    )
    data.seconds_until_full = 13.6 * gib / 52_000
    st.volumes.add(
        mount_point="/opt/platform/runtime/observer/logs",
        paths=["/opt/platform/runtime/observer/logs"],
        variables=["OBSERVER_LOG_DIR", "OBSERVER_SYSTEM_LOG_DIR", "OBSERVER_MAINTENANCE_LOG_DIR"],
        kind=pb.VOLUME_KIND_PERSISTENT_VOLUME,
        fs_type="ext4",
        capacity_bytes=5 * gib,
        used_bytes=int(0.7 * gib),
        free_bytes=int(4.3 * gib),
        growth_bytes_per_second=0,
        writable=True,
        observer_bytes=int(0.6 * gib),
    )
    if ephemeral:
        st.volumes.add(
            mount_point="/",
            paths=["/opt/platform/runtime/observer/config"],
            variables=["OBSERVER_CONFIG_DIR"],
            kind=pb.VOLUME_KIND_CONTAINER_ROOT_FS,
            kind_reason="same device 0:34 as /; mountinfo: overlay",
            fs_type="overlay",
            capacity_bytes=40 * gib,
            used_bytes=12 * gib,
            free_bytes=28 * gib,
            growth_bytes_per_second=1200,
            writable=True,
        )
        st.warnings.add(
            severity=pb.SEVERITY_ERROR,
            variable="OBSERVER_CONFIG_DIR",
            path="/opt/platform/runtime/observer/config",
            message="on the container's root filesystem: lost at every restart",
            fix="mount a volume at /opt/platform/runtime/observer/config",
        )
    sink_pq = pb.SinkLag(name="parquet", state=pb.SINK_STATE_OK, lag_rows=0, lag_seconds=0)
    sink_pg = pb.SinkLag(
        name="postgres",
        state=pb.SINK_STATE_DEGRADED,
        lag_rows=1840,
        lag_seconds=9.2,
        last_error="connection refused",
    )
    st.streams.add(
        name="scalp", track=pb.TRACK_SCALP,
        current_file="/opt/platform/runtime/observer/data/assets/scalp/20261120_10.jsonl",
        lines=183_220, bytes=71_345_112, opened_at=ts(NOW - 900), next_rotation_at=ts(NOW + 2700),
        last_closed_file="20261120_09.jsonl", sinks=[sink_pq, sink_pg],
    )  # fmt: skip
    st.streams.add(
        name="swing", track=pb.TRACK_SWING,
        current_file="/opt/platform/runtime/observer/data/assets/swing/20261120.jsonl",
        lines=480, bytes=301_002, opened_at=ts(NOW - 4200), next_rotation_at=ts(NOW + 49500),
        sinks=[pb.SinkLag(name="parquet", state=pb.SINK_STATE_OK)],
    )  # fmt: skip
    st.streams.add(
        name="events", current_file="/opt/platform/runtime/observer/data/observer.jsonl",
        lines=77, bytes=18_211, opened_at=ts(NOW - 3725),
    )  # fmt: skip
    st.secrets.add(name="KIS_APP_KEY", present=False, source="default")
    st.secrets.add(name="KIS_APP_SECRET", present=False, source="default")
    st.secrets.add(
        name="DB_PASSWORD", present=True, source="env", fingerprint="9f2c41d0", age_seconds=3725
    )
    st.secrets.add(
        name="OBSERVER_CONTROL_TOKEN",
        present=True,
        source="env",
        fingerprint="5be1a7c3",
        age_seconds=3725,
    )
    st.secrets.add(
        name="KIS_ACCESS_TOKEN", present=True, source="cache /opt/platform/runtime/observer/data/.kis-token",
        fingerprint="c0ffee12", age_seconds=7300, expires_at=ts(NOW + 79100),
    )  # fmt: skip
    b = st.backups
    b.last_result = pb.BACKUP_RESULT_OK if backups else pb.BACKUP_RESULT_NONE
    b.repository = REPOSITORY
    b.off_volume = True
    b.rpo_bound_seconds = 90 * 60
    if backups:
        b.last_id = b.newest_snapshot = b.last_verified_snapshot = "1a2b3c4d"
        b.last_success_at.CopyFrom(ts(NOW - rpo_seconds))
        b.newest_snapshot_at.CopyFrom(ts(NOW - rpo_seconds))
        b.rpo_seconds = rpo_seconds
        b.last_duration_seconds = 14.2
        b.verification = pb.VERIFICATION_STATE_VERIFIED
        b.last_verified_at.CopyFrom(ts(NOW - rpo_seconds + 20))
        b.last_drill_at.CopyFrom(ts(NOW - 2 * 86400 - 3600))
        b.last_drill_ok = True
    b.rpo_over_bound = not backups or rpo_seconds > b.rpo_bound_seconds  # 10:15, market hours
    b.next_scheduled_at.CopyFrom(ts(NOW + 20700))
    b.next_snapshot_at.CopyFrom(ts(NOW + 2700 + 600))
    b.count = b.snapshots = backups
    b.total_bytes = b.repository_bytes = backups * 512 * 1024**2
    b.repository_measured_at.CopyFrom(ts(NOW - 600))
    b.retain_days = 14
    b.contents = (
        "the tick files (assets/), the Parquet datasets (datasets/), the event bus "
        "(observer.jsonl) and the config directory, as a restic snapshot in the repository off "
        "the data volume; PostgreSQL rows are derived from the tick files and are not in it, "
        "nor are the logs"
    )
    for name in ("", "observer.startup", "observer.liveness", "observer.readiness"):
        st.health.add(service=name, serving=True)
    st.tail.subscribers = 1
    st.degraded.append("PostgreSQL unreachable: rows are queued in the files")
    return st


def canned_ticks(n: int, start: int = 0) -> list[pb.Tick]:
    """n deterministic scalp ticks cycling over SYMBOLS."""
    out = []
    for i in range(start, start + n):
        k = i % len(SYMBOLS)
        step = ((i * 7919) % 11) - 5
        price = _BASE[k] + step * 50
        change = price - _BASE[k] + (k - 3) * 100
        second = int(NOW) - n + i
        out.append(
            pb.Tick(
                seq=i + 1, track=pb.TRACK_SCALP, symbol=SYMBOLS[k], trade_date="2026-11-20",
                ts=f"2026-11-20T10:{(second // 60) % 60:02d}:{second % 60:02d}+09:00",
                price=price, sign=2 if change > 0 else (5 if change < 0 else 3), change=change,
                change_pct=round(change / _BASE[k] * 100, 2), volume=(i * 37) % 900 + 1,
                cum_volume=1_000_000 + i * 13, received_at=ts(NOW),
            )
        )  # fmt: skip
    return out


def manifest(snapshot_id: str) -> pb.BackupManifest:
    """A snapshot's manifest as the daemon sends it (the deprecated archive fields filled in
    their snapshot meaning, as the daemon does for older clients)."""
    digest = hashlib.sha256(snapshot_id.encode()).hexdigest()
    files = [
        pb.BackupFile(path=f"assets/scalp/20261120_0{i}.jsonl", bytes=107_374_182,
                      sha256=hashlib.sha256(f"{snapshot_id}{i}".encode()).hexdigest())
        for i in range(5)
    ]  # fmt: skip
    return pb.BackupManifest(
        id=snapshot_id[:8], created_at=ts(NOW), daemon_version="0.1.0",
        archive=f"{REPOSITORY}#{snapshot_id}", archive_bytes=88_080_384,
        archive_sha256=digest, files=files, duration_seconds=14.2,
        verification=pb.VERIFICATION_STATE_VERIFIED, verified_at=ts(NOW),
        snapshot_id=snapshot_id, repository=REPOSITORY, manifest_sha256=digest,
        data_added=88_080_384, total_file_bytes=5 * 107_374_182,
    )  # fmt: skip


@dataclass
class StandIn:
    """Behaviour knobs and counters of a running stand-in."""

    port: int = 0
    #: Listen on this gRPC address instead of 127.0.0.1:port (e.g. "unix-abstract:NAME").
    address: str = ""
    status: pb.Status = field(default_factory=canned_status)
    ticks: list[pb.Tick] = field(default_factory=lambda: canned_ticks(40))
    live_rate: float = 0.0  # extra live ticks per second after the canned ones (0 = none)
    backup_steps: int = 5
    backup_step_seconds: float = 0.05
    backups_taken: int = 0
    hold_backup: asyncio.Event | None = None  # when set, the backup waits for it before DONE
    hold_after_files: int = 0  # ... or, when > 0, after this many files; < 0: before any
    tail_requests: list[pb.TailRequest] = field(default_factory=list)

    @property
    def target(self) -> str:
        return self.address or f"127.0.0.1:{self.port}"


def _authorized(
    context: grpc.aio.ServicerContext,
) -> bool:
    md = dict(context.invocation_metadata() or ())
    return md.get("authorization") == f"Bearer {TOKEN}"


class _Status(pb_grpc.StatusServiceServicer):
    def __init__(self, s: StandIn) -> None:
        self.s = s

    async def GetStatus(self, request, context):
        return self.s.status

    async def WatchStatus(self, request, context):
        while True:
            yield self.s.status
            await asyncio.sleep(max(request.min_interval_ms, 100) / 1000)


class _Tail(pb_grpc.TailServiceServicer):
    def __init__(self, s: StandIn) -> None:
        self.s = s

    async def Tail(self, request, context):
        wanted = set(request.symbols)
        self.s.tail_requests.append(request)
        if request.replay_last:  # the canned ticks stand for the files' recent past
            ticks = [t for t in self.s.ticks if not wanted or t.symbol in wanted]
            yield pb.TickBatch(ticks=ticks[-request.replay_last :], replay=True, sent_at=ts(NOW))
        i = len(self.s.ticks)
        while True:
            if self.s.live_rate <= 0:
                await asyncio.sleep(0.2)
                continue
            await asyncio.sleep(0.05)
            n = max(1, int(self.s.live_rate * 0.05))
            batch = [t for t in canned_ticks(n, i) if not wanted or t.symbol in wanted]
            i += n
            yield pb.TickBatch(ticks=batch, sent_at=ts(NOW))


class _Control(pb_grpc.ControlServiceServicer):
    def __init__(self, s: StandIn) -> None:
        self.s = s

    async def _check(self, context: grpc.aio.ServicerContext) -> None:
        if not _authorized(context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

    async def TriggerBackup(self, request, context):
        await self._check(context)
        n = self.s.backup_steps
        size = 107_374_182
        if self.s.hold_backup is not None and self.s.hold_after_files < 0:
            await self.s.hold_backup.wait()  # restic still opening the repository
        yield pb.BackupProgress(phase=pb.BACKUP_PHASE_SCANNING, files_total=n, bytes_total=n * size)
        for i in range(1, n + 1):
            await asyncio.sleep(self.s.backup_step_seconds)
            yield pb.BackupProgress(
                phase=pb.BACKUP_PHASE_ARCHIVING, files_done=i, files_total=n,
                bytes_done=i * size, bytes_total=n * size, percent=100.0 * i / n,
                current_file=f"assets/scalp/20261120_0{i}.jsonl",
            )  # fmt: skip
            if self.s.hold_backup is not None and i == self.s.hold_after_files:
                await self.s.hold_backup.wait()
        if self.s.hold_backup is not None and not self.s.hold_after_files:
            await self.s.hold_backup.wait()
        yield pb.BackupProgress(
            phase=pb.BACKUP_PHASE_FINALIZING, files_done=n, files_total=n, percent=100.0
        )
        self.s.backups_taken += 1
        m = manifest(f"5e1f0c{self.s.backups_taken:02x}" + "9a" * 28)
        yield pb.BackupProgress(
            phase=pb.BACKUP_PHASE_DONE, files_done=n, files_total=n, bytes_done=n * size,
            bytes_total=n * size, percent=100.0, manifest=m,
        )  # fmt: skip

    async def ListBackups(self, request, context):
        await self._check(context)
        return pb.ListBackupsResponse(backups=[manifest("1a2b3c4d" + "7e" * 28)])

    async def VerifyBackup(self, request, context):
        await self._check(context)
        return pb.VerifyBackupResponse(
            id=request.id, ok=True, verified_at=ts(NOW), files_checked=12, bytes_checked=536_870_912
        )

    async def RotateNow(self, request, context):
        await self._check(context)
        return pb.RotateNowResponse(
            closed=[
                pb.ClosedSegment(
                    track=pb.TRACK_SCALP, path="assets/scalp/20261120_10.jsonl", lines=5, bytes=900
                )
            ]
        )


@contextlib.asynccontextmanager
async def run_standin(s: StandIn | None = None) -> AsyncIterator[StandIn]:
    """Serve the stand-in on 127.0.0.1 (an unused port unless ``s.port`` is set)."""
    s = s or StandIn()
    server = grpc.aio.server()
    pb_grpc.add_StatusServiceServicer_to_server(_Status(s), server)
    pb_grpc.add_TailServiceServicer_to_server(_Tail(s), server)
    pb_grpc.add_ControlServiceServicer_to_server(_Control(s), server)
    hs = health.aio.HealthServicer()  # type: ignore[attr-defined]  # no stubs for grpc_health.aio
    for name in ("", "observer.startup", "observer.liveness", "observer.readiness"):
        await hs.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(hs, server)
    if s.address:
        server.add_insecure_port(s.address)
    else:
        s.port = server.add_insecure_port(f"127.0.0.1:{s.port}")
    await server.start()
    try:
        yield s
    finally:
        await server.stop(grace=None)
