"""Builds the daemon's :class:`~observer.daemon.status.model.Status` from its parts.

The composition root hands over :class:`StatusSources`: exactly the parts status reads,
nothing else of the daemon. Cheap enough to call a few times per second (WatchStatus):
volume usage is one statvfs per written path, mount tables are re-read every 30 s, rates
come from counters sampled once a second by :meth:`StatusBuilder.sample_loop`, which also
keeps ``status.json`` in OBSERVER_SNAPSHOT_DIR for post-mortems.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from observer.daemon import __version__
from observer.daemon import volumes as vol
from observer.daemon.api.health import HealthState
from observer.daemon.backup.service import BackupService
from observer.daemon.clock import MarketCalendar, iso, now_kst, to_kst
from observer.daemon.config import Loaded, written_paths
from observer.daemon.contract import Problem
from observer.daemon.ingest.events import EventBus
from observer.daemon.ingest.hub import Hub
from observer.daemon.ingest.intake import Intake
from observer.daemon.ingest.recovery import RecoveryReport
from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.kis.auth import KisAuth
from observer.daemon.kis.codes import split_code
from observer.daemon.kis.parser import FrameParser
from observer.daemon.kis.session import RealtimeSession, SessionPhase
from observer.daemon.model import Track
from observer.daemon.status import capacity
from observer.daemon.status import model as st
from observer.daemon.stores.parquet import ParquetSink
from observer.daemon.stores.postgres import PostgresSink

_SESSION_STATE = {
    SessionPhase.CONNECTING: st.SessionState.CONNECTING,
    SessionPhase.SUBSCRIBING: st.SessionState.CONNECTING,
    SessionPhase.STREAMING: st.SessionState.CONNECTED,
    SessionPhase.BACKOFF: st.SessionState.BACKOFF,
    SessionPhase.APPKEY_IN_USE: st.SessionState.APPKEY_IN_USE,
    SessionPhase.STOPPED: st.SessionState.DISCONNECTED,
}
_POSTGRES_STATE = {
    "connected": st.SinkState.OK,
    "connecting": st.SinkState.DEGRADED,
    "retrying": st.SinkState.DEGRADED,
    "disabled": st.SinkState.DISABLED,
    "stopped": st.SinkState.DISABLED,
}
SNAPSHOT_EVERY = 10.0
#: Seconds between two walks of the written paths for Observer's own bytes per volume.
OWN_BYTES_EVERY = 5.0
#: Observer's files are measured for the capacity projection this often (seconds).
CAPACITY_EVERY = 60.0


@dataclass(frozen=True)
class StatusSources:
    """The parts of the daemon its status is read from (handed over by the composition root)."""

    loaded: Loaded
    started_at: float
    container: bool
    warnings: Sequence[Problem]
    recovery: RecoveryReport
    events: EventBus
    hub: Hub
    writers: Mapping[Track, SegmentWriter]
    parquet: ParquetSink
    postgres: PostgresSink | None  # None when the sink is off
    backups: BackupService
    health: HealthState
    parser: FrameParser
    session: RealtimeSession
    auth: KisAuth
    source_url: str  # the KIS (or simulator) websocket URL; never carries credentials
    stopping: Callable[[], bool]
    intake: Intake
    fingerprints: Callable[[str], str]  # the installation's keyed fingerprints
    tasks: Callable[[], dict[str, str]]  # background tasks that failed lately (supervisor)
    calendar: MarketCalendar = field(default_factory=MarketCalendar)


def _ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


class StatusBuilder:
    """Fills status snapshots from :class:`StatusSources`; samples rates once a second."""

    def __init__(self, sources: StatusSources) -> None:
        self.d = sources
        self.cfg = sources.loaded.config
        self.host = socket.gethostname()
        self._mounts: list[vol.Mount] = []
        self._mounts_at = 0.0
        self._growth: dict[str, vol.GrowthTracker] = {}
        #: Observer's own bytes per mount point (the last walk), and their growth.
        self._own: dict[str, int] = {}
        self._own_growth: dict[str, vol.GrowthTracker] = {}
        self._counts: deque[tuple[float, dict[Track, int]]] = deque(maxlen=62)
        self._failures: dict[str, str] = {}
        self._gaps_cache: tuple[str, float, list[st.GapRecord]] = ("", 0.0, [])
        self._projections: dict[str, capacity.Projection] = {}

    def _problems(self) -> dict[str, str]:
        """Background tasks that failed lately, and the status's own failures."""
        return {**self.d.tasks(), **self._failures}

    # --- sampling --------------------------------------------------------------------
    def sample(self, now: float, *, walk: bool = False) -> None:
        """One sample of the counters that rates and growth are computed from; with ``walk``
        also of Observer's own bytes per volume (a directory walk: blocks, so the loop
        runs it in a thread)."""
        self._counts.append((now, dict(self.d.hub.published)))
        self.sample_volumes(now, walk=walk)

    async def sample_loop(self) -> None:
        """Sample once a second (off the event loop: statvfs, and every OWN_BYTES_EVERY
        seconds a walk of the written paths); keep ``status.json`` every SNAPSHOT_EVERY
        seconds; project the volumes' capacity every CAPACITY_EVERY seconds."""
        last_snapshot = last_walk = last_capacity = -CAPACITY_EVERY
        while True:
            now = time.monotonic()
            walk = now - last_walk >= OWN_BYTES_EVERY
            if walk:
                last_walk = now
            await asyncio.to_thread(self.sample, now, walk=walk)
            if now - last_capacity >= CAPACITY_EVERY:
                last_capacity = now
                await asyncio.to_thread(self.project_capacity)
            if now - last_snapshot >= SNAPSHOT_EVERY:
                last_snapshot = now
                await asyncio.to_thread(self._write_snapshot, st.to_json(self.build()))
            await asyncio.sleep(1.0)

    def sample_volumes(self, now: float, *, walk: bool) -> None:
        """One sample of every volume's used bytes (statvfs) and, with ``walk``, of Observer's
        own bytes on it (a walk of the written paths there). Blocks: run it in a thread."""
        for v in self._volumes():
            self._growth.setdefault(v.mount_point, vol.GrowthTracker()).add(v.used_bytes, now)
            if walk:
                own = vol.tree_bytes([Path(p) for p in v.paths])
                self._own[v.mount_point] = own
                self._own_growth.setdefault(v.mount_point, vol.GrowthTracker()).add(own, now)

    def project_capacity(self, now: float | None = None) -> None:
        """Measure Observer's files per volume and project each volume at the policy."""
        today = to_kst(time.time() if now is None else now).date()
        b = self.d.backups
        try:
            found = capacity.measure(
                self.cfg, today, mounts=self._mount_table(), snapshots=b.snapshots(),
                repository_bytes=b.repository_size,
            )  # fmt: skip
        except OSError as e:
            self._failures["capacity"] = f"cannot measure Observer's files: {e.strerror or e}"
            return
        self._failures.pop("capacity", None)
        projections = {}
        reserve = self.cfg.min_free_mb * 1024 * 1024
        for v in self._volumes():
            use = found.get(v.mount_point)
            if use is None:
                continue
            projections[v.mount_point] = capacity.project(
                v.capacity_bytes, v.used_bytes, reserve, use.classes, today,
                transient=use.transient,
            )  # fmt: skip
        self._projections = projections

    def _write_snapshot(self, text: str) -> None:
        path = self.cfg.snapshot_dir / "status.json"
        tmp = path.with_suffix(".json.tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except OSError as e:
            self._failures["status-snapshot"] = f"cannot write {path}: {e.strerror}"

    def _rates(self, track: Track) -> tuple[float, float]:
        if len(self._counts) < 2:
            return 0.0, 0.0
        t1, c1 = self._counts[-1]
        t0, c0 = self._counts[-2]
        r1 = (c1[track] - c0[track]) / (t1 - t0) if t1 > t0 else 0.0
        ta, ca = self._counts[0]
        r60 = (c1[track] - ca[track]) / (t1 - ta) if t1 > ta else 0.0
        return r1, r60

    # --- parts -------------------------------------------------------------------------
    def _mount_table(self) -> list[vol.Mount]:
        now = time.monotonic()
        if now - self._mounts_at > 30.0:
            self._mounts, self._mounts_at = vol.read_mounts(), now
        return self._mounts

    def _volumes(self) -> list[st.VolumeStatus]:
        cfg = self.cfg
        by_mount: dict[str, st.VolumeStatus] = {}
        for v, path in written_paths(cfg):
            try:
                u = vol.usage(path, mounts=self._mount_table(), container=self.d.container)
            except OSError:
                continue
            vs = by_mount.get(u.mount_point)
            if vs is None:
                kind = u.kind
                growth = self._growth.get(u.mount_point)
                own = self._own_growth.get(u.mount_point)
                vs = st.VolumeStatus(
                    mount_point=u.mount_point,
                    kind=kind,
                    kind_reason=u.reason,
                    fs_type=u.fstype,
                    capacity_bytes=u.capacity,
                    used_bytes=u.used,
                    free_bytes=u.free,
                    inodes_total=u.inodes_total,
                    inodes_free=u.inodes_free,
                    growth_bytes_per_second=growth.rate() if growth else 0.0,
                    # Observer's own growth, not the filesystem's: another tenant writing to
                    # the same disk must not make Observer's time-to-full jump.
                    seconds_until_full=own.seconds_until_full(u.free) if own else None,
                    writable=not u.read_only,
                    nearly_full=u.free < cfg.min_free_mb * 1024 * 1024,
                    observer_bytes=self._own.get(u.mount_point),
                    observer_growth_bytes_per_second=own.rate() if own else 0.0,
                )
                pr = self._projections.get(u.mount_point)
                if pr is not None:
                    vs.observer_bytes_per_trading_day = pr.bytes_per_trading_day
                    vs.projected_days_until_full = pr.days_until_full
                    vs.projected_peak_bytes = pr.peak_bytes
                    vs.projection = pr.text
                by_mount[u.mount_point] = vs
            vs.paths.append(str(path))
            vs.variables.append(v.name)
        return list(by_mount.values())

    def _parquet_lag(self, track: Track) -> st.SinkLag:
        p = self.d.parquet.status()
        failed = {f: why for f, why in p.failed.items() if f.startswith(f"assets/{track.value}/")}
        if failed:
            state, error = st.SinkState.FAILED, "; ".join(failed.values())
        elif p.last_error and p.pending:
            state, error = st.SinkState.DEGRADED, p.last_error
        else:
            state, error = st.SinkState.OK, ""
        since = p.lag_since.get(track.value)
        return st.SinkLag(
            name="parquet",
            state=state,
            # Lines of the closed segments not yet converted (queued, converting or failed).
            lag_rows=p.lag_rows.get(track.value, 0),
            lag_seconds=max(0.0, time.time() - since) if since is not None else 0.0,
            checkpoint_file=p.last_converted,
            last_error=error,
        )

    def _postgres_lag(self, pg: PostgresSink, track: Track) -> st.SinkLag:
        s = pg.status()
        ck = s.checkpoints.get(track.value)
        return st.SinkLag(
            name="postgres",
            state=_POSTGRES_STATE.get(s.state, st.SinkState.FAILED),
            lag_rows=s.lag_rows,
            lag_seconds=s.lag_seconds,
            checkpoint_file=ck.file if ck else "",
            checkpoint_offset=ck.offset if ck else 0,
            last_error=s.last_error,
        )

    def _sinks(self, track: Track) -> list[st.SinkLag]:
        out = [self._parquet_lag(track)]
        if self.d.postgres is not None:
            out.append(self._postgres_lag(self.d.postgres, track))
        return out

    def _degraded(self, backups: st.BackupStatus) -> list[str]:
        """Degraded-but-collecting conditions: a failed background part, intake paused,
        PostgreSQL away, the RPO over its bound."""
        out = [f"{k}: {v}" for k, v in self._problems().items()]
        out += self.d.intake.paused()
        pg = self.d.postgres
        if pg is not None:
            s = pg.status()
            if s.state in ("retrying", "connecting") and s.last_error:
                out.append(f"{s.last_error} ({s.lag_rows} lines waiting)")
        if backups.rpo_over_bound:
            bound = f"OBSERVER_BACKUP_RPO_MINUTES={self.cfg.backup_rpo_minutes}"
            if backups.rpo_seconds is None and backups.repository and not backups.off_volume:
                what = (f"nothing is off the data volume: the repository {backups.repository} is "
                        "on the data's own disk (set OBSERVER_BACKUP_REPOSITORY to an object store "
                        "or a directory on another disk)")  # fmt: skip
            elif backups.rpo_seconds is None:
                what = "nothing is off the data volume yet"
            else:
                what = (f"the newest data off the volume is {backups.rpo_seconds / 60:.0f} min "
                        "old")  # fmt: skip
            why = f": {backups.last_error}" if backups.last_error else ""
            out.append(f"backups: {what}, over {bound} during market hours{why}")
        return out

    def _streams(self) -> list[st.StreamStatus]:
        out = []
        for t, w in self.d.writers.items():
            s = w.state()
            out.append(
                st.StreamStatus(
                    name=t.value,
                    track=t,
                    current_file=s.current_file or "",
                    lines=s.lines,
                    bytes=s.bytes,
                    opened_at=_ts(s.opened_at),
                    next_rotation_at=_ts(s.next_rotation),
                    last_closed_file=s.last_closed or "",
                    pending=s.pending,
                    last_fsync_at=_ts(s.last_fsync_at),
                    last_error=s.last_error or "",
                    sinks=self._sinks(t),
                )
            )
        ev = self.d.events
        out.append(
            st.StreamStatus(
                name="events",
                current_file=str(ev.path),
                lines=ev.lines,
                bytes=ev.bytes,
                last_error=ev.last_error or "",
            )
        )
        return out

    def _collector(self) -> st.CollectorStatus:
        d = self.d
        now = now_kst()
        c = st.CollectorStatus(
            market=self.cfg.market,
            market_open=d.calendar.in_hours(now),
            market_hours=d.calendar.describe(now),
        )
        s = d.session.status()
        # Refused (OPSP8996) stays the state while it retries, until a subscribe round is
        # accepted again.
        state = st.SessionState.APPKEY_IN_USE if s.refused else _SESSION_STATE[s.state]
        c.session = st.KisSessionStatus(
            state=state,
            url=d.source_url,
            connected_since=s.connected_since,
            reconnects=s.reconnects,
            last_frame_at=s.last_frame_at,
            next_attempt_at=s.backoff_until,
            last_error=s.last_error,
        )
        c.subscriptions = list(s.subscribed)
        c.failed_subscriptions = [
            st.SubscriptionFailure(sym, *split_code(why)) for sym, why in s.failed.items()
        ]
        if d.stopping():
            c.state = st.CollectorState.STOPPING
        elif "kis-session" in (problems := self._problems()):
            c.state, c.last_error = st.CollectorState.FAILED, problems["kis-session"]
        elif s.refused:
            c.state, c.last_error = st.CollectorState.RECONNECTING, s.refused
        elif c.session.state is st.SessionState.CONNECTED:
            c.state = st.CollectorState.RUNNING
        elif c.session.reconnects:
            c.state = st.CollectorState.RECONNECTING
        else:
            c.state = st.CollectorState.STARTING
        today = now_kst().strftime("%Y%m%d")
        for t in Track:
            r1, r60 = self._rates(t)
            c.rates.append(
                st.TrackRate(
                    track=t, rate_1s=r1, rate_1m=r60, total=d.hub.published[t],
                    # seq numbers each track's records of a trade date from 1, across
                    # restarts: the day's last seq is the day's count.
                    today=d.hub.seq.last(t, today), last_at=d.hub.last_at[t],
                )
            )  # fmt: skip
        c.malformed_frames = d.parser.malformed
        return c

    def _secrets(self) -> list[st.SecretStatus]:
        d = self.d
        out = st.secret_statuses(self.cfg, d.loaded.origins, d.fingerprints, loaded_at=d.started_at)
        a = d.auth.status()
        now = time.time()
        out.append(
            st.SecretStatus(
                name="KIS access token",
                present=a.token_present,
                source=f"{a.source} ({a.cache_file})" if a.token_present else a.source,
                age_seconds=now - a.issued_at if a.issued_at else None,
                expires_at=a.expires_at,
            )
        )
        out.append(
            st.SecretStatus(
                name="KIS approval key",
                present=a.approval_key_present,
                source="issued" if a.approval_key_present else "none",
                age_seconds=now - a.approval_issued_at if a.approval_issued_at else None,
                expires_at=a.approval_expires_at,
            )
        )
        return out

    def _warnings(self) -> list[st.ContractWarning]:
        d = self.d
        out = [
            st.ContractWarning(st.Severity.WARNING, p.variable, p.path, p.message, p.fix)
            for p in d.warnings
        ]
        out += [
            st.ContractWarning(
                st.Severity.WARNING,
                u.name,
                "",
                f"{u.name} (from {u.source}) is not a setting of observer-daemon and is ignored.",
                f"rename it to {u.closest}." if u.closest else "remove it.",
            )
            for u in d.loaded.unknown
        ]
        out += [
            st.ContractWarning(
                st.Severity.WARNING,
                "OBSERVER_DATA_DIR",
                str(self.cfg.data_dir),
                line,
                "inspect the quarantine folder; restore from a backup if needed.",
            )
            for line in d.recovery.warnings()
        ]
        for t, w in d.writers.items():
            if not w.healthy:
                out.append(
                    st.ContractWarning(
                        st.Severity.ERROR,
                        "OBSERVER_DATA_DIR",
                        str(w.directory),
                        f"{t.value} writer: {w.last_error}",
                        "free space or fix the volume; accepted ticks are held and retried.",
                    )
                )
        for component, message in self._problems().items():
            out.append(st.ContractWarning(st.Severity.ERROR, "", "", f"{component}: {message}", ""))
        return out

    def _recovery(self) -> list[st.RecoveryReport]:
        r = self.d.recovery
        out = [
            st.RecoveryReport(x.path, "truncated_torn_tail", x.sample, x.removed_bytes)
            for x in r.repairs
        ]
        out += [
            st.RecoveryReport(q.path, "quarantined", f"moved to {q.moved_to}; report {q.report}")
            for q in r.quarantined
        ]
        if r.unclean_stop:
            out.append(
                st.RecoveryReport(
                    str(self.cfg.data_dir),
                    "unclean_stop",
                    "the previous run ended without a clean stop; last durable tick received "
                    + (iso(to_kst(r.last_durable_at)) if r.last_durable_at else "unknown"),
                    at=r.last_durable_at,
                )
            )
        return out

    def _gaps_today(self) -> list[st.GapRecord]:
        path = self.cfg.system_log_dir / f"gap_{now_kst():%Y%m%d}.jsonl"
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return []
        key, cached_mtime, cached = self._gaps_cache
        if key == str(path) and cached_mtime == mtime:
            return cached
        gaps = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                g = json.loads(line)
                gaps.append(
                    st.GapRecord(
                        start=datetime.fromisoformat(g["start"]).timestamp(),
                        end=datetime.fromisoformat(g["end"]).timestamp(),
                        duration_seconds=float(g.get("duration_s", 0.0)),
                        symbols=list(g.get("symbols", [])),
                        reason=str(g.get("reason", "")),
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue
        self._gaps_cache = (str(path), mtime, gaps)
        return gaps

    # --- the whole -------------------------------------------------------------------
    def build(self) -> st.Status:
        d = self.d
        cfg = self.cfg
        subs = d.hub.subscribers()
        backups = d.backups.status()
        return st.Status(
            daemon_version=__version__,
            app_env=cfg.app_env,
            started_at=d.started_at,
            source=st.source_of(cfg),
            source_detail=d.source_url,
            host=self.host,
            pid=os.getpid(),
            collector=self._collector(),
            volumes=self._volumes(),
            streams=self._streams(),
            secrets=self._secrets(),
            backups=backups,
            warnings=self._warnings(),
            health=d.health.probes(),
            tail=st.TailStats(subscribers=len(subs), dropped_total=d.hub.dropped_total),
            recovery=self._recovery(),
            gaps_today=self._gaps_today(),
            degraded=self._degraded(backups),
        )
