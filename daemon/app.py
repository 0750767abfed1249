"""The daemon's composition root: the one place that wires sources, hub, writers, derived
sinks and the API together (everything else receives what it needs as arguments).

Start order: startup contract -> data-directory lock -> logging -> crash recovery -> hub and
writers -> derived sinks -> KIS source (the built-in simulator when no credentials are set)
-> gRPC API and metrics -> background loops. Stop order (SIGTERM): health NOT_SERVING ->
API stops with a grace period -> intake stops -> writers flush and fsync -> lock released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TextIO

import httpx

from observer.daemon import __version__, contract, logs
from observer.daemon.api.health import HealthState
from observer.daemon.api.metrics import MetricsServer
from observer.daemon.api.replay import read_last
from observer.daemon.api.server import ApiServer, listen_host
from observer.daemon.backup.service import BackupService
from observer.daemon.config import Config, Loaded, secrets_of
from observer.daemon.ingest.events import EventBus
from observer.daemon.ingest.hub import Hub
from observer.daemon.ingest.overflow import OverflowLog
from observer.daemon.ingest.recovery import RecoveryReport, recover
from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.kis.auth import KisAuth
from observer.daemon.kis.endpoints import endpoints_for, realtime_tr, rest_rate
from observer.daemon.kis.gaps import GapLog
from observer.daemon.kis.parser import FrameParser
from observer.daemon.kis.session import RealtimeSession, validate_symbols
from observer.daemon.kis.swing import SwingPoller
from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.runtime import tune_gc
from observer.daemon.simulator.server import Simulator
from observer.daemon.simulator.state import SimConfig
from observer.daemon.status import (
    ClosedSegment,
    RetentionReport,
    Status,
    SubscriptionChange,
    SubscriptionFailure,
)
from observer.daemon.statusbuild import StatusBuilder, split_code
from observer.daemon.stores.parquet import ParquetSink
from observer.daemon.stores.postgres import PostgresSink
from observer.daemon.stores.retention import Retention
from observer.daemon.stores.wiring import postgres_degraded, postgres_reporter
from observer.daemon.universe import swing_universe

log = logging.getLogger("observer.daemon.app")

#: Credentials the daemon presents to its own in-process simulator (not secrets).
SIM_APP_KEY = "SIMULATOR-APPKEY-0000000000000000000000"
SIM_APP_SECRET = "SIMULATOR-APPSECRET-not-a-real-secret"
#: SIGTERM budget: everything must be flushed and the process gone within 10 s.
API_GRACE = 3.0
#: Seconds health reports NOT_SERVING while the port still answers, so probes and load
#: balancers see the shutdown before connections are refused.
API_DRAIN = 0.5
WRITER_FLUSH = 4.0


class Daemon:
    """One running collector. Implements the API's ``DaemonPort``."""

    def __init__(self, loaded: Loaded, *, log_stream: TextIO | None = sys.stderr) -> None:
        self.loaded = loaded
        self._cfg = loaded.config
        self._log_stream = log_stream
        self.started_at = time.time()
        self.container = contract.is_container_mode(self._cfg)
        self.warnings: list[contract.Problem] = []
        self._lock: contract.DataDirLock | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self.port = 0
        self.simulator: Simulator | None = None
        self.swing: SwingPoller | None = None
        self.api: ApiServer | None = None
        self.metrics: MetricsServer | None = None
        self.session: RealtimeSession | None = None
        self.recovery: RecoveryReport | None = None
        #: Reporters of degraded-but-collecting conditions (e.g. PostgreSQL unreachable).
        self.degraded_reporters: list[Callable[[], list[str]]] = []
        #: Run at stop, after the writers have flushed (e.g. the PostgreSQL sink's stop).
        self._closers: list[Callable[[], Awaitable[object]]] = []

    # --- DaemonPort ------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self._cfg

    @property
    def hub(self) -> Hub:
        return self._hub

    @property
    def backups(self) -> BackupService:
        return self._backups

    @property
    def health(self) -> HealthState:
        return self._health

    def status(self) -> Status:
        return self._status.build()

    def degraded(self) -> list[str]:
        return [msg for report in self.degraded_reporters for msg in report()]

    async def replay_last(
        self, n: int, symbols: frozenset[str] | None, tracks: frozenset[Track] | None
    ) -> list[Tick | Snapshot]:
        return await asyncio.to_thread(
            read_last, self._cfg.data_dir, n, symbols=symbols, tracks=tracks
        )

    async def rotate_now(self, track: Track | None) -> list[ClosedSegment]:
        out = []
        for t, w in self.writers.items():
            if track is not None and t is not track:
                continue
            closed = await w.rotate_now()
            after = w.state()  # the closed file's counts, taken when it was closed
            out.append(
                ClosedSegment(
                    track=t,
                    path=str(closed) if closed else "",
                    lines=after.last_closed_lines if closed else 0,
                    bytes=after.last_closed_bytes if closed else 0,
                )
            )
        return out

    async def set_subscriptions(self, symbols: list[str]) -> SubscriptionChange:
        wanted = validate_symbols(symbols)
        assert self.session is not None
        before = set(self.session.status().symbols)
        await self.session.set_subscriptions(wanted)
        now = self.session.status()
        self.events.emit("subscriptions", symbols=wanted)
        return SubscriptionChange(
            subscribed=list(now.symbols),
            added=sorted(set(wanted) - before),
            removed=sorted(before - set(wanted)),
            failed=[SubscriptionFailure(sym, *split_code(why)) for sym, why in now.failed.items()],
        )

    async def run_retention(self, apply: bool) -> RetentionReport:
        return await self.retention.run(apply=apply)

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self._cfg
        self.warnings = contract.enforce(contract.check(cfg, container=self.container))
        self._lock = contract.DataDirLock(cfg.data_dir)
        self._lock.acquire()
        self.redactor = logs.setup(
            level=cfg.log_level,
            fmt=cfg.log_format,
            log_dir=cfg.log_dir,
            system_dir=cfg.system_log_dir,
            maintenance_dir=cfg.maintenance_log_dir,
            secrets=[v for _, v in secrets_of(cfg) if v],
            stream=self._log_stream,
        )
        self.events = EventBus(cfg.data_dir / "observer.jsonl")
        self.recovery = await asyncio.to_thread(recover, cfg.data_dir, self.events)
        self.overflow = OverflowLog(cfg.system_log_dir)
        self._hub = Hub(seq=self.recovery.seq, overflow=self.overflow)
        self.writers: dict[Track, SegmentWriter] = {}
        for t in Track:
            w = SegmentWriter(
                t,
                cfg.data_dir,
                commit_interval=cfg.commit_interval_ms / 1000.0,
                commit_records=cfg.commit_records,
                events=self.events,
            )
            self._hub.attach_sink(t, w)
            await w.start()
            self.writers[t] = w

        self.parquet = ParquetSink(cfg.data_dir, emit=self._emit_kw)
        for w in self.writers.values():
            w.add_close_listener(self.parquet.on_segment_closed)
        self._backups = BackupService(cfg, events=self._emit)
        for w in self.writers.values():
            w.add_close_listener(self._backups.on_segment_closed)
        self.add_closer(self._backups.stop)
        self._status = StatusBuilder(self)
        self._attach_stores()

        self._health = HealthState(cfg)
        self._health.contract_passed()
        for w in self.writers.values():
            self._health.watch_writer(w)
        await self._start_source()
        self.api = ApiServer(self, cfg)
        self.port = await self.api.start()
        self._health.collector_running(True)
        self._spawn(self._health.run(), "health")
        if cfg.metrics_port:
            self.metrics = MetricsServer(self, cfg)
            self.metrics.start()
            self._spawn(self.metrics.run(), "metrics")

        self._spawn(self.parquet.backfill(), "parquet-backfill")
        self._spawn(self._backups.schedule_loop(), "backup-schedule")
        self._spawn(self._status.sample_loop(), "status-sampler")
        tune_gc()
        self.events.emit(
            "start",
            version=__version__,
            pid=os.getpid(),
            source="simulator" if cfg.uses_simulator else f"kis-{cfg.kis_env or 'custom'}",
            port=self.port,
            symbols=list(cfg.symbols),
            recovered_files=self.recovery.files,
        )
        for line in self.recovery.warnings():
            log.warning("recovery: %s", line)
        for p in self.warnings:
            log.warning("contract: %s", p.line())
        log.info(
            "collecting %d symbols from %s; gRPC on %s:%d; data in %s",
            len(cfg.symbols),
            "the built-in simulator" if cfg.uses_simulator else "KIS",
            listen_host(cfg),
            self.port,
            cfg.data_dir,
        )

    def _attach_stores(self) -> None:
        """PostgreSQL sink (when DB_HOST is set) and the retention schedule."""
        cfg = self._cfg
        self.postgres = PostgresSink.from_config(cfg, emit=self._emit_kw)
        self.retention = Retention(
            cfg,
            datasets=self.parquet,
            postgres=self.postgres if cfg.postgres_enabled else None,
            emit=self._emit_kw,
        )
        if cfg.postgres_enabled:
            pg = self.postgres
            self._spawn(pg.run(), "postgres-sink")
            self.add_closer(pg.stop)
            self.degraded_reporters.append(lambda: postgres_degraded(pg))
            self._status.sink_reporters.append(postgres_reporter(pg))
        self._spawn(self.retention.schedule_loop(), "retention-schedule")

    async def _start_source(self) -> None:
        cfg = self._cfg
        if cfg.uses_simulator:
            self.simulator = Simulator(SimConfig.from_config(cfg))
            ep = await self.simulator.start("127.0.0.1")
            rest_url, ws_url = ep.rest_url, ep.ws_url
            key, secret, rate = SIM_APP_KEY, SIM_APP_SECRET, 15.0
        else:
            eps = endpoints_for(cfg)
            rest_url, ws_url = eps.rest_url, eps.ws_url
            key, secret, rate = cfg.kis_app_key, cfg.kis_app_secret, rest_rate(cfg)
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0))
        self.auth = KisAuth(rest_url, key, secret, cfg.token_cache_dir, self.http)
        tr_id = realtime_tr(cfg.market)
        self.parser = FrameParser(frozenset({tr_id}))
        self.gaps = GapLog(cfg.system_log_dir)
        self.session = RealtimeSession(
            ws_url, self.auth, tr_id, cfg.symbols, self._on_frame, gaps=self.gaps
        )
        self._spawn(self.session.run(), "kis-session")
        if cfg.swing_interval > 0:
            universe = swing_universe(cfg)
            self.swing = SwingPoller(
                rest_url,
                self.auth,
                universe,
                interval=cfg.swing_interval,
                rate=cfg.rest_rate or rate,
                min_price=cfg.min_price,
                publish=self._on_swing,
                client=self.http,
            )
            self._spawn(self.swing.run(), "swing-poller")

    async def _on_frame(self, frame: str) -> None:
        ticks = self.parser.parse(frame)
        if ticks:
            await self._hub.publish(Track.SCALP, ticks)

    async def _on_swing(self, snapshots: list[Snapshot]) -> None:
        await self._hub.publish(Track.SWING, snapshots)

    def _emit(self, event: str, fields: Mapping[str, object]) -> None:
        """Event-bus adapter for components that report (kind, fields)."""
        self.events.emit(event, **fields)

    def _emit_kw(self, event: str, /, **fields: object) -> None:
        """Event-bus adapter for components that report (kind, **fields)."""
        self.events.emit(event, **fields)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self._stopping:
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s stopped: %s", task.get_name(), exc, exc_info=exc)
            self._status.note_failure(task.get_name(), str(exc))
            if task.get_name() == "kis-session":
                self._health.collector_running(False, f"KIS session stopped: {exc}")

    async def stop(self) -> None:
        """Graceful stop: health first, then the API, then intake, then flush everything."""
        if self._stopping:
            return
        self._stopping = True
        t0 = time.monotonic()
        if self.api is not None:
            await self.api.shutdown(API_GRACE, drain=API_DRAIN)  # health NOT_SERVING first
        if self.session is not None:
            await _quietly(self.session.stop())
        if self.swing is not None:
            self.swing.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(
            *(w.close(timeout=WRITER_FLUSH) for w in getattr(self, "writers", {}).values()),
            return_exceptions=True,
        )
        if hasattr(self, "_hub"):
            self._hub.close()
            self.overflow.flush()
        for closer in self._closers:
            await _quietly(closer())
        if hasattr(self, "parquet"):
            await _quietly(self.parquet.stop())
        if self.metrics is not None:
            self.metrics.stop()
        if self.simulator is not None:
            await _quietly(self.simulator.stop())
        if hasattr(self, "http"):
            await self.http.aclose()
        if hasattr(self, "events"):
            self.events.emit("stop", seconds=round(time.monotonic() - t0, 3))
        if self._lock is not None:
            self._lock.release()
        log.info("stopped in %.2f s", time.monotonic() - t0)

    def add_closer(self, fn: Callable[[], Awaitable[object]]) -> None:
        """Register a coroutine function run at stop, after the writers have flushed."""
        self._closers.append(fn)


async def _quietly(aw: Awaitable[object]) -> None:
    try:
        await aw
    except Exception as e:  # shutdown goes on whatever one component does
        log.warning("during shutdown: %s", e)


def status_line(d: Daemon) -> str:
    """The one-line status ``observer-daemon demo`` prints every few seconds."""
    s = d.status()
    c = s.collector
    rates = " ".join(f"{r.track.value} {r.rate_1s:,.0f}/s ({r.total:,})" for r in c.rates)
    files = " ".join(
        f"{Path(st.current_file).name or '-'}:{st.lines:,}" for st in s.streams if st.track
    )
    vol = next((v for v in s.volumes if "OBSERVER_DATA_DIR" in v.variables), None)
    free = f"{vol.free_bytes / 2**30:,.1f} GiB free ({vol.kind.value})" if vol else "?"
    warn = f" | {len(s.warnings)} warning(s)" if s.warnings else ""
    return (
        f"{time.strftime('%H:%M:%S')} {c.state.value} kis={c.session.state.value} "
        f"subs={len(c.subscriptions)} | {rates} | {files} | data {free} | "
        f"gRPC :{d.port}{warn}"
    )


async def _main(loaded: Loaded, status_every: float | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    quiet = status_every is not None
    daemon = Daemon(loaded, log_stream=None if quiet else sys.stderr)
    try:
        await daemon.start()
    except BaseException:
        await daemon.stop()
        raise
    if quiet:
        print(
            f"observer-daemon {__version__} collecting on "
            f"{'the built-in simulator' if loaded.config.uses_simulator else 'KIS'}; "
            f"data in {loaded.config.data_dir}; logs in {loaded.config.log_dir}; "
            f"gRPC on port {daemon.port}. Ctrl-C stops.",
            flush=True,
        )
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=status_every or 3600)
            if quiet and not stop.is_set():
                print(status_line(daemon), flush=True)
    finally:
        await daemon.stop()
    return 0


def run_daemon(loaded: Loaded, *, status_every: float | None = None) -> int:
    """Run until SIGTERM/SIGINT; the exit code for the CLI."""
    return asyncio.run(_main(loaded, status_every))
