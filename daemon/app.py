"""The daemon's composition root: the one place that builds the collector's parts
(daemon/parts.py) and runs them; everything else receives what it needs as arguments.

Start order: startup contract -> data-directory lock -> logging -> crash recovery -> the
source (the built-in simulator when no KIS credentials are set) -> every part built at once
-> writers -> KIS session and swing poller -> gRPC API and metrics -> background loops.
Stop order (SIGTERM): health NOT_SERVING -> API stops with a grace period -> intake stops
-> background loops end -> writers flush and fsync -> the rest closes -> lock released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TextIO

from observer.daemon import __version__, contract, logs
from observer.daemon.api.health import HealthState
from observer.daemon.api.server import listen_host
from observer.daemon.backup.service import BackupService
from observer.daemon.clock import iso, shown, to_kst
from observer.daemon.config import Config, Loaded, secrets_of
from observer.daemon.errors import Precondition
from observer.daemon.ingest.events import EventBus
from observer.daemon.ingest.hub import Hub
from observer.daemon.ingest.recovery import check_deep, recover_start
from observer.daemon.ingest.writer import rotate_writers
from observer.daemon.kis.codes import split_code
from observer.daemon.kis.endpoints import endpoints_for, realtime_tr, rest_rate
from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.parts import Parts, Source, build_parts
from observer.daemon.runtime import tune_gc
from observer.daemon.simulator.server import Simulator
from observer.daemon.simulator.state import SimConfig
from observer.daemon.status.model import (
    ClosedSegment,
    RetentionReport,
    Status,
    SubscriptionChange,
    SubscriptionFailure,
)
from observer.daemon.supervisor import Factory, Supervisor
from observer.daemon.symbols import parse_symbols

log = logging.getLogger(__name__)

#: Credentials the daemon presents to its own in-process simulator (not secrets).
SIM_APP_KEY = "SIMULATOR-APPKEY-0000000000000000000000"
SIM_APP_SECRET = "SIMULATOR-APPSECRET-not-a-real-secret"
#: REST requests per second against the simulator.
SIM_REST_RATE = 15.0
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
        self.container_mode = contract.container_mode(self._cfg)
        self.container = self.container_mode.on
        self.warnings: list[contract.Problem] = []
        self._lock: contract.DataDirLock | None = None
        self._simulator: Simulator | None = None
        #: Every part of the collector, once built (None before start, or when it failed early).
        self.parts: Parts | None = None
        self._supervisor = Supervisor(on_failure=self._task_failed, on_restart=self._task_restarted)
        self._stopping = False
        self.port = 0

    @property
    def _p(self) -> Parts:
        if self.parts is None:
            raise Precondition("the daemon is not running yet; try again in a moment.")
        return self.parts

    # --- DaemonPort ------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self._cfg

    @property
    def hub(self) -> Hub:
        return self._p.hub

    @property
    def backups(self) -> BackupService:
        return self._p.backups

    @property
    def health(self) -> HealthState:
        return self._p.health

    def status(self) -> Status:
        return self._p.status.build()

    async def replay_last(
        self, n: int, symbols: frozenset[str] | None, tracks: frozenset[Track] | None
    ) -> list[Tick | Snapshot]:
        return await self._p.replayer.replay(n, symbols, tracks)

    async def rotate_now(self, track: Track | None) -> list[ClosedSegment]:
        return await rotate_writers(self._p.writers, track)

    async def set_subscriptions(self, symbols: list[str]) -> SubscriptionChange:
        wanted = parse_symbols(symbols)
        session = self._p.session
        before = set(session.status().symbols)
        await session.set_subscriptions(wanted)
        now = session.status()
        self._p.events.emit("subscriptions", symbols=wanted)
        return SubscriptionChange(
            subscribed=list(now.symbols),
            added=sorted(set(wanted) - before),
            removed=sorted(before - set(wanted)),
            failed=[SubscriptionFailure(sym, *split_code(why)) for sym, why in now.failed.items()],
        )

    async def run_retention(self, apply: bool) -> RetentionReport:
        return await self._p.retention.run(apply=apply)

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self._cfg
        self.warnings = contract.enforce(
            contract.check(cfg, container=self.container), self.container_mode
        )
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
        events = EventBus(cfg.data_dir / "observer.jsonl")
        recovery = await asyncio.to_thread(recover_start, cfg.data_dir, events)
        if self._lock.previous_ended_uncleanly:
            recovery.note_unclean_stop()
        self.parts = p = build_parts(
            self.loaded,
            port=self,
            events=events,
            recovery=recovery,
            source=await self._open_source(),
            warnings=self.warnings,
            started_at=self.started_at,
            container=self.container,
            stopping=lambda: self._stopping,
            supervisor=self._supervisor,
        )
        for w in p.writers.values():
            await w.start()
        p.health.contract_passed()
        self._spawn(p.session.run, "kis-session")
        if p.swing is not None:
            self._spawn(p.swing.run, "swing-poller")
        self.port = await p.api.start()
        p.health.collector_running(True)
        self._spawn(p.health.run, "health")
        if p.metrics is not None:
            p.metrics.start()
            self._spawn(p.metrics.run, "metrics")
        self._spawn(lambda: self._after_recovery(p), "recovery-check", restart=False)
        self._spawn(p.backups.schedule_loop, "backup-schedule")
        self._spawn(p.retention.schedule_loop, "retention-schedule")
        self._spawn(p.status.sample_loop, "status-sampler")
        tune_gc()
        events.emit(
            "start",
            version=__version__,
            pid=os.getpid(),
            source="simulator" if cfg.uses_simulator else f"kis-{cfg.kis_env or 'custom'}",
            port=self.port,
            symbols=list(cfg.symbols),
            recovered_files=recovery.files,
        )
        if recovery.unclean_stop:
            self._record_unclean_stop(p, recovery.last_durable_at)
        log.info("%s", self.container_mode.explain())
        for unknown in self.loaded.unknown:
            log.warning("settings: %s", unknown.message())
        for line in recovery.warnings():
            log.warning("recovery: %s", line)
        for problem in self.warnings:
            log.warning("contract: %s", problem.line())
        log.info(
            "collecting %d symbols from %s; gRPC on %s:%d; data in %s",
            len(cfg.symbols),
            "the built-in simulator" if cfg.uses_simulator else "KIS",
            listen_host(cfg),
            self.port,
            cfg.data_dir,
        )

    async def _after_recovery(self, p: Parts) -> None:
        """Background, once serving: the full check of the files the previous run may have
        had open, then the derived stores, which read those files."""
        await asyncio.to_thread(check_deep, self._cfg.data_dir, p.events, p.recovery)
        if p.postgres is not None:
            self._spawn(p.postgres.run, "postgres-sink")
        self._spawn(p.parquet.backfill, "parquet-backfill")

    def _record_unclean_stop(self, p: Parts, last_durable_at: float | None) -> None:
        """The hole a crash leaves: from the last durable tick to this start."""
        previous = self._lock.previous if self._lock is not None else None
        symbols = list(self._cfg.symbols)
        for e in reversed(p.events.read(200)):
            if e.get("event") in ("subscriptions", "start") and isinstance(e.get("symbols"), list):
                symbols = [str(x) for x in e["symbols"]]
                break
        start = last_durable_at or (previous.started_at if previous else self.started_at)
        p.events.emit(
            "unclean_stop",
            previous_pid=previous.pid if previous else None,
            previous_started_at=iso(to_kst(previous.started_at)) if previous else None,
            last_durable_tick_at=iso(to_kst(last_durable_at)) if last_durable_at else None,
        )
        p.gaps.record(
            start,
            self.started_at,
            symbols,
            "unclean stop: the previous run ended without a clean stop; ticks it had "
            "received after its last durable one are lost",
            always=True,
        )

    async def _open_source(self) -> Source:
        """KIS from the settings, or the built-in simulator, started here on loopback."""
        cfg = self._cfg
        tr_id = realtime_tr(cfg.market)
        if cfg.uses_simulator:
            self._simulator = Simulator(SimConfig.from_config(cfg))
            ep = await self._simulator.start("127.0.0.1")
            rate = cfg.rest_rate or SIM_REST_RATE
            return Source(
                ep.rest_url, ep.ws_url, tr_id, SIM_APP_KEY, SIM_APP_SECRET, rate,
                f"simulator {ep.ws_url}",
            )  # fmt: skip
        eps = endpoints_for(cfg)
        return Source(
            eps.rest_url, eps.ws_url, tr_id, cfg.kis_app_key, cfg.kis_app_secret,
            rest_rate(cfg), eps.ws_url,
        )  # fmt: skip

    def _spawn(self, factory: Factory, name: str, *, restart: bool = True) -> None:
        """A background task, restarted after a failure (see daemon/supervisor.py)."""
        self._supervisor.spawn(factory, name, restart=restart)

    def _task_failed(self, name: str, exc: BaseException) -> None:
        if name == "kis-session" and self.parts is not None:
            self.parts.health.collector_running(False, f"KIS session stopped: {exc}")

    def _task_restarted(self, name: str) -> None:
        if name == "kis-session" and self.parts is not None:
            self.parts.health.collector_running(True)

    async def stop(self) -> None:
        """Graceful stop: health first, then the API, then intake, then flush everything."""
        if self._stopping:
            return
        self._stopping = True
        t0 = time.monotonic()
        p = self.parts
        if p is not None:
            p.replayer.close()  # no reader holds the stop up
            await p.api.shutdown(API_GRACE, drain=API_DRAIN)  # health NOT_SERVING first
            await _quietly(p.session.stop())
            if p.swing is not None:
                p.swing.stop()
        await self._supervisor.stop()
        if p is not None:
            await asyncio.gather(
                *(w.close(timeout=WRITER_FLUSH) for w in p.writers.values()),
                return_exceptions=True,
            )
            p.hub.close()
            p.overflow.flush()
            if p.postgres is not None:
                await _quietly(p.postgres.stop())
            await _quietly(p.backups.stop())  # a running restic is stopped, its lock removed
            await _quietly(p.parquet.stop())
            if p.metrics is not None:
                p.metrics.stop()
            await p.http.aclose()
        if self._simulator is not None:
            await _quietly(self._simulator.stop())
        if p is not None:
            p.events.emit("stop", seconds=round(time.monotonic() - t0, 3))
        if self._lock is not None:
            self._lock.release()
        log.info("stopped in %.2f s", time.monotonic() - t0)


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
        f"{shown(time.time(), with_date=False)} {c.state.value} kis={c.session.state.value} "
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


#: Seconds the process waits, after a stop, for threads that are still busy (a write hung
#: in the kernel, a reader) before it exits anyway: SIGTERM always ends the process.
EXIT_WAIT = 1.0


def run_daemon(loaded: Loaded, *, status_every: float | None = None) -> int:
    """Run until SIGTERM/SIGINT; the exit code for the CLI."""
    code = asyncio.run(_main(loaded, status_every))
    deadline = time.monotonic() + EXIT_WAIT
    busy = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    for t in busy:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in busy if t.is_alive()]
    if stuck:
        log.error("exiting with threads still busy (%s): not waiting for them", ", ".join(stuck))
        logging.shutdown()
        os._exit(code)
    return code
