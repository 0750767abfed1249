"""Health for the K3s probes: what startup, liveness and readiness mean, and a watchdog.

* startup   SERVING once the startup contract passed and the API is up.
* liveness  NOT_SERVING when the event loop stalled past OBSERVER_WATCHDOG_SECONDS (seen
            by a watchdog thread that checks a heartbeat the loop updates), or a writer
            has had data pending without progress for that long.
* readiness NOT_SERVING when the data volume is not writable or below OBSERVER_MIN_FREE_MB,
            the contract failed, the collector stopped, or KIS refuses the session
            (another session uses the app key). A PostgreSQL outage is not unreadiness
            (the files keep collecting); it only shows in status.
* ""        the whole process: SERVING while the other three are.

The grpc.health.v1 servicer is updated from the event loop (``refresh``); the watchdog
thread only records a loop stall, because a stalled loop answers no probe anyway (the
kubelet's probe times out) and the stall must still be reported once it recovers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

from observer.daemon import probes
from observer.daemon.config import Config
from observer.daemon.status.model import ProbeHealth

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class WriterLike(Protocol):
    """A JSONL writer as the watchdog sees it (daemon/ingest/writer.py SegmentWriter)."""

    @property
    def last_error(self) -> str | None: ...

    def stalled_for(self) -> float: ...


@dataclass
class VolumeCheck:
    writable: bool
    free_bytes: int
    reason: str = ""


def check_volume(path: Path, min_free_mb: int) -> VolumeCheck:
    """Can the daemon write under ``path``, and is there more than ``min_free_mb`` free?"""
    probe = path / ".health-probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"ok\n")
        finally:
            os.close(fd)
        probe.unlink()
        st = os.statvfs(path)
    except OSError as e:
        return VolumeCheck(False, 0, f"data volume {path} is not writable: {e.strerror or e}")
    free = st.f_bavail * st.f_frsize
    if free < min_free_mb * 1024 * 1024:
        return VolumeCheck(
            True,
            free,
            f"data volume {path} has {free // (1024 * 1024)} MiB free, below "
            f"OBSERVER_MIN_FREE_MB={min_free_mb}",
        )
    return VolumeCheck(True, free)


class HealthService(health_aio.HealthServicer):  # type: ignore[misc]  # no stubs
    """grpc.health.v1, answering a name it does not serve with NOT_FOUND and the names it
    does (the library's own answer carries no message)."""

    async def Check(
        self,
        request: health_pb2.HealthCheckRequest,
        context: grpc.aio.ServicerContext[
            health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
        ],
    ) -> health_pb2.HealthCheckResponse:
        if request.service not in probes.ALL:
            known = ", ".join(name or '""' for name in probes.ALL)
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"unknown health service {request.service!r}; this server answers for "
                f'{known} ("" is the whole server).',
            )
        response: health_pb2.HealthCheckResponse = await super().Check(request, context)
        return response


class HealthState:
    """Decides each probe's status and drives the grpc.health.v1 servicer."""

    def __init__(
        self,
        cfg: Config,
        *,
        clock: Callable[[], float] = time.monotonic,
        volume_check: Callable[[], VolumeCheck] | None = None,
    ) -> None:
        self.cfg = cfg
        self.threshold = cfg.watchdog_seconds
        self._clock = clock
        self._volume_check = volume_check or (lambda: check_volume(cfg.data_dir, cfg.min_free_mb))
        self.servicer = HealthService()
        self._contract_ok = False
        self._contract_reason = "startup contract not checked yet"
        self._api_up = False
        self._collector_ok = False
        self._collector_reason = "collector not started yet"
        self._writers: list[WriterLike] = []
        self._session_refused: Callable[[], str] = lambda: ""
        self._crash_looping: Callable[[], list[str]] = list
        self._volume = VolumeCheck(True, 0)
        self._heartbeat = clock()
        self._loop_stall = ""  # latched: a loop that stalled this long is broken
        self._shutting_down = False
        self._published: dict[str, int] = {}
        #: Services that have been SERVING at least once since start.
        self._served: set[str] = set()
        self._watchdog: threading.Thread | None = None
        self._stop = threading.Event()

    # --- inputs from the composition root ------------------------------------------------
    def contract_passed(self) -> None:
        self._contract_ok, self._contract_reason = True, ""

    def api_up(self) -> None:
        self._api_up = True

    def collector_running(self, running: bool, reason: str = "") -> None:
        self._collector_ok = running
        self._collector_reason = "" if running else (reason or "collector stopped")

    def watch_writer(self, writer: WriterLike) -> None:
        self._writers.append(writer)

    def watch_session(self, refused: Callable[[], str]) -> None:
        """``refused()``: why KIS refuses the realtime session as a whole ("" when it does
        not), e.g. another session uses the app key: the pod is then not ready."""
        self._session_refused = refused

    def watch_tasks(self, crash_looping: Callable[[], list[str]]) -> None:
        """Liveness also fails while a background task keeps failing (daemon/supervisor.py)."""
        self._crash_looping = crash_looping

    def beat(self) -> None:
        """Called from the event loop: proves it is running."""
        self._heartbeat = self._clock()

    # --- evaluation ---------------------------------------------------------------------
    def evaluate(self) -> dict[str, tuple[bool, str]]:
        """Service name -> (serving, reason when not)."""
        if self._shutting_down:
            down = (False, "shutting down")
            return dict.fromkeys(probes.ALL, down)
        startup_reasons = [r for ok, r in ((self._contract_ok, self._contract_reason),) if not ok]
        if not self._api_up:
            startup_reasons.append("API not up yet")
        live_reasons = []
        if self._loop_stall:
            live_reasons.append(self._loop_stall)
        live_reasons += self._crash_looping()
        ready_reasons = []
        for w in self._writers:
            if w.last_error:
                # A writer that reports its error (disk full, read-only volume) is alive and
                # retrying with the ticks held: not ready, but a restart would only lose them.
                ready_reasons.append(w.last_error)
                continue
            stalled = w.stalled_for()
            if stalled > self.threshold:
                live_reasons.append(
                    f"writer has had data pending for {stalled:.1f} s without a successful "
                    f"write and without an error (hung I/O?; OBSERVER_WATCHDOG_SECONDS="
                    f"{self.threshold:g})"
                )
        if not self._contract_ok:
            ready_reasons.append(self._contract_reason)
        if not self._collector_ok:
            ready_reasons.append(self._collector_reason)
        refused = self._session_refused()
        if refused:
            ready_reasons.append(f"KIS session refused: {refused}")
        if self._volume.reason:
            ready_reasons.append(self._volume.reason)
        out = {
            probes.STARTUP: (not startup_reasons, "; ".join(startup_reasons)),
            probes.LIVENESS: (not live_reasons, "; ".join(live_reasons)),
            probes.READINESS: (not ready_reasons, "; ".join(ready_reasons)),
        }
        bad = [f"{k}: {r}" for k, (ok, r) in out.items() if not ok]
        out[probes.OVERALL] = (not bad, "; ".join(bad))
        return out

    def probes(self) -> list[ProbeHealth]:
        """Each probe for the status snapshot."""
        return [ProbeHealth(name, ok, why) for name, (ok, why) in self.evaluate().items()]

    async def refresh(self) -> None:
        """Re-check the volume and publish changed statuses to the health servicer."""
        self.beat()
        try:
            self._volume = await asyncio.wait_for(asyncio.to_thread(self._volume_check), 5.0)
        except TimeoutError:
            self._volume = VolumeCheck(
                False, 0, f"data volume {self.cfg.data_dir} did not answer a write within 5 s"
            )
        await self.publish()

    async def publish(self) -> None:
        if self._shutting_down:
            return
        for name, (ok, why) in self.evaluate().items():
            status = SERVING if ok else NOT_SERVING
            if self._published.get(name) != status:
                if self._published.get(name) is not None or not ok:
                    # NOT_SERVING before a service ever served is the expected start, not
                    # a warning; losing it once it served is.
                    starting = not ok and name not in self._served
                    log.log(
                        logging.INFO if ok or starting else logging.WARNING,
                        "health %r -> %s %s%s",
                        name,
                        "SERVING" if ok else "NOT_SERVING",
                        why,
                        " (starting)" if starting else "",
                    )
                self._published[name] = status
                await self.servicer.set(name, status)
            if ok:
                self._served.add(name)

    async def run(self, interval: float = 1.0) -> None:
        """Event-loop side: heartbeat and refresh every ``interval`` seconds (a task)."""
        self.start_watchdog()
        try:
            while not self._shutting_down:
                await self.refresh()
                await asyncio.sleep(interval)
        finally:
            self.stop_watchdog()

    async def shutting_down(self) -> None:
        """Every service NOT_SERVING, for good (SIGTERM, before the server stops)."""
        self._shutting_down = True
        await self.servicer.enter_graceful_shutdown()
        self._published = dict.fromkeys(probes.ALL, NOT_SERVING)

    # --- watchdog thread -----------------------------------------------------------------
    def check_loop(self) -> None:
        """Watchdog step: latch a loop stall longer than the threshold."""
        age = self._clock() - self._heartbeat
        if age > self.threshold and not self._loop_stall:
            self._loop_stall = (
                f"event loop stalled for {age:.1f} s (OBSERVER_WATCHDOG_SECONDS={self.threshold:g})"
            )
            log.error("%s; liveness goes NOT_SERVING", self._loop_stall)

    def start_watchdog(self, period: float | None = None) -> None:
        if self._watchdog is not None:
            return
        every = period if period is not None else max(0.05, self.threshold / 4)
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(every):
                self.check_loop()

        self._watchdog = threading.Thread(target=loop, name="observer-watchdog", daemon=True)
        self._watchdog.start()

    def stop_watchdog(self) -> None:
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=2)
            self._watchdog = None
