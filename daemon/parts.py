"""The parts of one collector, built once, in one place (the composition root's wiring).

:func:`build_parts` constructs every component from the settings, the crash-recovery
report and the KIS (or simulator) endpoints, and connects them: the hub feeds the JSONL
writers, closed segments feed Parquet, the files feed PostgreSQL, status reads what it
reports. Building starts nothing — no task, no socket, no thread — so a failure while
building leaves nothing to clean up, and :class:`~observer.daemon.app.Daemon` starts and
stops the complete :class:`Parts` record in its own order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from observer.daemon.api.health import HealthState
from observer.daemon.api.metrics import MetricsServer
from observer.daemon.api.ports import DaemonPort
from observer.daemon.api.replay import Replayer
from observer.daemon.api.server import ApiServer
from observer.daemon.backup.service import BackupService
from observer.daemon.clock import MarketCalendar
from observer.daemon.config import Loaded
from observer.daemon.contract import Problem
from observer.daemon.fingerprints import load_or_create
from observer.daemon.ingest.events import EventBus
from observer.daemon.ingest.hub import Hub
from observer.daemon.ingest.intake import Intake
from observer.daemon.ingest.overflow import OverflowLog
from observer.daemon.ingest.recovery import RecoveryReport
from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.kis.auth import KisAuth
from observer.daemon.kis.endpoints import AFTER_HOURS_TR
from observer.daemon.kis.gaps import GapLog
from observer.daemon.kis.parser import FrameParser
from observer.daemon.kis.session import RealtimeSession
from observer.daemon.kis.swing import SwingPoller
from observer.daemon.model import Snapshot, Track
from observer.daemon.status.build import StatusBuilder, StatusSources
from observer.daemon.stores.parquet import ParquetSink
from observer.daemon.stores.postgres import PostgresSink
from observer.daemon.stores.retention import Retention
from observer.daemon.supervisor import Supervisor
from observer.daemon.universe import swing_universe


@dataclass(frozen=True)
class Source:
    """Where ticks come from: KIS, or the built-in simulator, and how to talk to it."""

    rest_url: str
    ws_url: str
    tr_id: str
    app_key: str
    app_secret: str
    rest_rate: float  # requests per second for the swing poller
    shown_url: str  # what status shows (never credentials)


@dataclass(frozen=True)
class Parts:
    """Everything one running collector is made of."""

    events: EventBus
    recovery: RecoveryReport
    overflow: OverflowLog
    hub: Hub
    intake: Intake
    writers: dict[Track, SegmentWriter]
    parquet: ParquetSink
    postgres: PostgresSink | None  # None when DB_HOST is unset or OBSERVER_STANDALONE
    retention: Retention
    backups: BackupService
    health: HealthState
    http: httpx.AsyncClient
    auth: KisAuth
    parser: FrameParser
    gaps: GapLog
    session: RealtimeSession
    swing: SwingPoller | None  # None when OBSERVER_SWING_INTERVAL is 0
    status: StatusBuilder
    replayer: Replayer
    api: ApiServer
    metrics: MetricsServer | None  # None when OBSERVER_METRICS_PORT is 0


def build_parts(
    loaded: Loaded,
    *,
    port: DaemonPort,
    events: EventBus,
    recovery: RecoveryReport,
    source: Source,
    warnings: Sequence[Problem],
    started_at: float,
    container: bool,
    stopping: Callable[[], bool],
    supervisor: Supervisor | None = None,
) -> Parts:
    """Construct and connect every part (``port`` is what the API and metrics serve)."""
    cfg = loaded.config
    overflow = OverflowLog(cfg.system_log_dir)
    hub = Hub(seq=recovery.seq, overflow=overflow)
    parquet = ParquetSink(cfg.data_dir, emit=events.emit)
    writers = {}
    for t in Track:
        w = SegmentWriter(
            t,
            cfg.data_dir,
            commit_interval=cfg.commit_interval_ms / 1000.0,
            commit_records=cfg.commit_records,
            events=events,
        )
        hub.attach_sink(t, w)
        w.add_close_listener(parquet.on_segment_closed)
        writers[t] = w
    postgres = PostgresSink.from_config(cfg, emit=events.emit) if cfg.postgres_enabled else None
    retention = Retention(cfg, datasets=parquet, postgres=postgres, emit=events.emit)
    backups = BackupService(cfg, events=lambda kind, fields: events.emit(kind, **fields))
    for w in writers.values():
        w.add_close_listener(backups.on_segment_closed)  # closed segments go off-volume soon
    health = HealthState(cfg)
    for w in writers.values():
        health.watch_writer(w)
    supervisor = supervisor or Supervisor()
    health.watch_tasks(supervisor.crash_looping)

    # The built-in simulator trades around the clock unless told to keep KRX hours.
    always = cfg.uses_simulator and cfg.sim_market_hours == "always"
    calendar = MarketCalendar(cfg.market, after_hours=cfg.after_hours, always=always)
    tr_ids = (source.tr_id, AFTER_HOURS_TR) if cfg.after_hours else (source.tr_id,)
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0))
    fingerprints = load_or_create(cfg.data_dir)
    auth = KisAuth(
        source.rest_url, source.app_key, source.app_secret, cfg.token_cache_dir, http,
        fingerprint=fingerprints,
    )  # fmt: skip
    parser = FrameParser(frozenset(tr_ids))

    gaps = GapLog(cfg.system_log_dir, market_hours=calendar.in_hours)
    universe = swing_universe(cfg) if cfg.swing_interval > 0 else []

    def symbols_of(track: Track) -> list[str]:
        return list(session.status().symbols) if track is Track.SCALP else universe

    intake = Intake(hub, writers, gaps, symbols_of)

    async def on_frame(frame: str) -> None:
        ticks = parser.parse(frame)
        if ticks:
            await intake.publish(Track.SCALP, ticks)

    async def on_swing(snapshots: list[Snapshot]) -> None:
        await intake.publish(Track.SWING, snapshots)

    session = RealtimeSession(source.ws_url, auth, tr_ids, cfg.symbols, on_frame, gaps=gaps)
    health.watch_session(lambda: session.status().refused)
    swing = None
    if cfg.swing_interval > 0:
        swing = SwingPoller(
            source.rest_url,
            auth,
            universe,
            interval=cfg.swing_interval,
            rate=source.rest_rate,
            min_price=cfg.min_price,
            publish=on_swing,
            client=http,
            calendar=calendar,
            market=cfg.market,
        )
    status = StatusBuilder(
        StatusSources(
            loaded=loaded,
            started_at=started_at,
            container=container,
            warnings=warnings,
            recovery=recovery,
            events=events,
            hub=hub,
            writers=writers,
            parquet=parquet,
            postgres=postgres,
            backups=backups,
            health=health,
            parser=parser,
            session=session,
            auth=auth,
            source_url=source.shown_url,
            intake=intake,
            stopping=stopping,
            fingerprints=fingerprints,
            tasks=supervisor.report,
            calendar=calendar,
        )
    )
    api = ApiServer(port, cfg)
    return Parts(
        events=events,
        recovery=recovery,
        overflow=overflow,
        hub=hub,
        intake=intake,
        writers=writers,
        parquet=parquet,
        postgres=postgres,
        retention=retention,
        backups=backups,
        health=health,
        http=http,
        auth=auth,
        parser=parser,
        gaps=gaps,
        session=session,
        swing=swing,
        status=status,
        replayer=Replayer(cfg.data_dir, writers.values()),
        api=api,
        metrics=MetricsServer(port, cfg, connections=api.connections) if cfg.metrics_port else None,
    )
