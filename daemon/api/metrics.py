"""Prometheus metrics on their own port (OBSERVER_METRICS_PORT, 0 = off).

A private CollectorRegistry (never the global default) with one collector that turns the
latest :class:`Status` snapshot into metric families. The snapshot is taken on the event
loop (``run``) and only read by the HTTP thread, so scrapes never touch live components.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from observer.daemon.api.ports import DaemonPort
from observer.daemon.api.server import listen_host
from observer.daemon.config import Config
from observer.daemon.errors import ContractError
from observer.daemon.status.model import BackupResult, BackupStatus, SessionState, Status

log = logging.getLogger(__name__)

_SESSION = {s: i for i, s in enumerate(SessionState)}


def families(s: Status) -> Iterator[Any]:
    """Metric families for one status snapshot."""
    ticks = CounterMetricFamily(
        "observer_records", "Records ingested since start", labels=["track"]
    )
    r1 = GaugeMetricFamily(
        "observer_ingest_rate_1s", "Records per second, last second", labels=["track"]
    )
    r60 = GaugeMetricFamily(
        "observer_ingest_rate_1m", "Records per second, last minute", labels=["track"]
    )
    for r in s.collector.rates:
        ticks.add_metric([r.track.value], r.total)
        r1.add_metric([r.track.value], r.rate_1s)
        r60.add_metric([r.track.value], r.rate_1m)
    yield from (ticks, r1, r60)
    yield CounterMetricFamily(
        "observer_malformed_frames",
        "Realtime frames that failed to parse",
        value=s.collector.malformed_frames,
    )
    session = GaugeMetricFamily(
        "observer_kis_session_state",
        "KIS websocket session state (1 for the current state)",
        labels=["state"],
    )
    for st in SessionState:
        session.add_metric([st.value], 1.0 if s.collector.session.state is st else 0.0)
    yield session
    yield CounterMetricFamily(
        "observer_kis_reconnects",
        "KIS websocket reconnections",
        value=s.collector.session.reconnects,
    )
    pending = GaugeMetricFamily(
        "observer_writer_pending_records", "Records queued for the writer", labels=["stream"]
    )
    size = GaugeMetricFamily(
        "observer_segment_bytes", "Bytes in the open segment", labels=["stream"]
    )
    lag = GaugeMetricFamily(
        "observer_sink_lag_rows", "Rows a derived sink is behind", labels=["stream", "sink"]
    )
    for st2 in s.streams:
        pending.add_metric([st2.name], st2.pending)
        size.add_metric([st2.name], st2.bytes)
        for k in st2.sinks:
            lag.add_metric([st2.name, k.name], k.lag_rows)
    yield from (pending, size, lag)
    yield GaugeMetricFamily(
        "observer_tail_subscribers", "Open tail streams", value=s.tail.subscribers
    )
    yield CounterMetricFamily(
        "observer_tail_dropped",
        "Ticks dropped for slow tail subscribers",
        value=s.tail.dropped_total,
    )
    yield GaugeMetricFamily(
        "observer_gaps_today", "Feed gaps of today's trade date", value=len(s.gaps_today)
    )
    labels = ["mount_point", "kind"]
    cap = GaugeMetricFamily("observer_volume_capacity_bytes", "Volume capacity", labels=labels)
    free = GaugeMetricFamily("observer_volume_free_bytes", "Volume free bytes", labels=labels)
    growth = GaugeMetricFamily(
        "observer_volume_growth_bytes_per_second", "Volume growth", labels=labels
    )
    ifree = GaugeMetricFamily("observer_volume_inodes_free", "Free inodes", labels=labels)
    written = GaugeMetricFamily(
        "observer_volume_observer_bytes_per_trading_day",
        "Observer's own bytes written to the volume per trading day (its files, by trade date)",
        labels=labels,
    )
    full = GaugeMetricFamily(
        "observer_volume_projected_days_until_full",
        "Days until the volume is full at the retention policy and Observer's rate "
        "(absent: never, or no rate yet)",
        labels=labels,
    )
    peak = GaugeMetricFamily(
        "observer_volume_projected_peak_bytes",
        "Used bytes at the retention policy's steady state (absent when it grows forever)",
        labels=labels,
    )
    for v in s.volumes:
        key = [v.mount_point, v.kind.value]
        cap.add_metric(key, v.capacity_bytes)
        free.add_metric(key, v.free_bytes)
        growth.add_metric(key, v.growth_bytes_per_second)
        ifree.add_metric(key, v.inodes_free)
        written.add_metric(key, v.observer_bytes_per_trading_day)
        if v.projected_days_until_full is not None:
            full.add_metric(key, v.projected_days_until_full)
        if v.projected_peak_bytes is not None:
            peak.add_metric(key, v.projected_peak_bytes)
    yield from (cap, free, growth, ifree, written, full, peak)
    b = s.backups
    if b.last_success_at is not None:
        yield GaugeMetricFamily(
            "observer_backup_last_success_timestamp_seconds",
            "Last successful backup",
            value=b.last_success_at,
        )
    yield GaugeMetricFamily(
        "observer_backup_last_duration_seconds",
        "Duration of the last backup",
        value=b.last_duration_seconds,
    )
    yield GaugeMetricFamily(
        "observer_backup_last_failed",
        "1 when the last backup failed",
        value=1.0 if b.last_result is BackupResult.FAILED else 0.0,
    )
    yield GaugeMetricFamily("observer_backups", "Backups kept", value=b.count)
    yield from _off_volume(b)
    health = GaugeMetricFamily(
        "observer_health_serving", "1 when the probe is SERVING", labels=["service"]
    )
    for h in s.health:
        health.add_metric([h.service or "overall"], 1.0 if h.serving else 0.0)
    yield health
    yield GaugeMetricFamily(
        "observer_uptime_seconds", "Seconds since the daemon started", value=s.uptime_seconds
    )


def _gauge(name: str, doc: str, value: float, repository: str | None = None) -> Any:
    """One gauge, labelled with the repository (never its credentials) when given."""
    if repository is None:
        return GaugeMetricFamily(name, doc, value=value)
    g = GaugeMetricFamily(name, doc, labels=["repository"])
    g.add_metric([repository], value)
    return g


def _off_volume(b: BackupStatus) -> Iterator[Any]:
    """The RPO, the repository, the last verified snapshot and the drill."""
    repo = b.repository
    if b.rpo_seconds is not None:
        yield _gauge("observer_backup_rpo_seconds",
                     "Age of the newest data off the data volume (absent: nothing off it)",
                     b.rpo_seconds, repo)  # fmt: skip
    yield _gauge("observer_backup_rpo_bound_seconds",
                 "Bound on the RPO during market hours (OBSERVER_BACKUP_RPO_MINUTES)",
                 b.rpo_bound_seconds)  # fmt: skip
    yield _gauge("observer_backup_rpo_over_bound",
                 "1 when, during market hours, the RPO is above its bound or nothing is off the volume",
                 float(b.rpo_over_bound))  # fmt: skip
    yield _gauge("observer_backup_off_volume",
                 "1 when the repository is off the data volume's filesystem",
                 float(b.off_volume), repo)  # fmt: skip
    if b.repository_bytes is not None:
        yield _gauge("observer_backup_repository_bytes", "Bytes the repository holds",
                     b.repository_bytes, repo)  # fmt: skip
    yield _gauge("observer_backup_snapshots", "Snapshots recorded for the repository", b.snapshots)
    if b.last_verified_at is not None:
        yield _gauge("observer_backup_last_verified_timestamp_seconds",
                     "When the newest verified snapshot was verified (restored, every sha256 "
                     "matched)", b.last_verified_at)  # fmt: skip
    if b.last_drill_at is not None:
        yield _gauge("observer_backup_last_drill_timestamp_seconds",
                     "When the last restore drill ran", b.last_drill_at)  # fmt: skip
        yield _gauge("observer_backup_last_drill_ok",
                     "1 when the last restore drill matched every sha256",
                     float(bool(b.last_drill_ok)))  # fmt: skip


class _StatusCollector(Collector):
    def __init__(self) -> None:
        self.latest: Status | None = None
        self.connections: int | None = None

    def collect(self) -> Iterator[Any]:
        if self.latest is not None:
            yield from families(self.latest)
        if self.connections is not None:
            yield GaugeMetricFamily(
                "observer_grpc_connections",
                "Connections to the gRPC port (bounded; idle ones are closed)",
                value=self.connections,
            )


class MetricsServer:
    """Serves /metrics from the daemon's status snapshots."""

    def __init__(
        self, port: DaemonPort, cfg: Config, *, connections: Callable[[], int] | None = None
    ) -> None:
        self.daemon = port
        self.cfg = cfg
        self._connections = connections
        self.registry = CollectorRegistry(auto_describe=False)
        self._collector = _StatusCollector()
        self.registry.register(self._collector)
        self._server: Any = None
        self.bound_port = 0

    def update(self) -> None:
        self._collector.latest = self.daemon.status()
        if self._connections is not None:
            self._collector.connections = self._connections()

    def start(self) -> int:
        """Start the HTTP endpoint (0 when OBSERVER_METRICS_PORT=0); returns the port."""
        if self.cfg.metrics_port == 0:
            return 0
        host = listen_host(self.cfg).strip("[]")
        self.update()
        try:
            self._server, _ = start_http_server(
                self.cfg.metrics_port, addr=host, registry=self.registry
            )
        except OSError as e:
            raise ContractError(
                f"cannot serve metrics on {host}:{self.cfg.metrics_port} "
                f"(OBSERVER_METRICS_PORT): {e.strerror}. Choose another port or set 0 to turn metrics off."
            ) from None
        self.bound_port = int(self._server.server_port)
        return self.bound_port

    async def run(self, interval: float = 1.0) -> None:
        """Refresh the snapshot every ``interval`` seconds (a task on the event loop)."""
        while True:
            self.update()
            await asyncio.sleep(interval)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
