"""Background tasks that never die silently: each failure is logged, reported, and the task
restarted with capped backoff.

The daemon runs its long-lived parts (KIS session, swing poller, health, metrics, status
sampler, PostgreSQL sink, schedules) as tasks of a :class:`Supervisor`. A task that raises
is restarted after 1, 2, 4 ... up to :data:`BACKOFF_CAP` seconds; status lists it (degraded)
while its last failure is recent, and a task that keeps failing — :data:`LOOP_FAILURES`
times within :data:`LOOP_WINDOW` seconds — makes liveness NOT_SERVING, so the kubelet
restarts the pod instead of leaving a part of the collector dead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

BACKOFF_CAP = 60.0
#: A failure stays in status this long after it happened (seconds).
REPORT_FOR = 600.0
LOOP_FAILURES = 5
LOOP_WINDOW = 300.0

Factory = Callable[[], Coroutine[Any, Any, Any]]


@dataclass
class _Record:
    name: str
    restart: bool
    failures: deque[float] = field(default_factory=lambda: deque(maxlen=LOOP_FAILURES))
    restarts: int = 0
    last_error: str = ""
    last_failed_at: float = 0.0


class Supervisor:
    """Runs, watches and restarts the daemon's background tasks."""

    def __init__(
        self,
        *,
        on_failure: Callable[[str, BaseException], object] | None = None,
        on_restart: Callable[[str], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        backoff_initial: float = 1.0,
    ) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._records: dict[str, _Record] = {}
        self._on_failure = on_failure
        self._on_restart = on_restart
        self._clock = clock
        self._initial = backoff_initial
        self._stopping = False

    def spawn(self, factory: Factory, name: str, *, restart: bool = True) -> None:
        """Run ``factory()`` as task ``name``; restarted after a failure unless ``restart``
        is False (one-shot tasks are reported, then left)."""
        self._records[name] = _Record(name, restart)
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._run(factory, self._records[name]), name=name
        )

    async def _run(self, factory: Factory, rec: _Record) -> None:
        delay = self._initial
        while True:
            started = self._clock()
            try:
                await factory()
                return  # finished on its own (a one-shot task, or a loop told to stop)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if self._stopping:
                    return
                now = self._clock()
                rec.failures.append(now)
                rec.last_error, rec.last_failed_at = f"{type(e).__name__}: {e}", now
                log.error("%s failed: %s", rec.name, e, exc_info=e)
                if self._on_failure is not None:
                    self._on_failure(rec.name, e)
                if not rec.restart:
                    return
                if now - started > BACKOFF_CAP:
                    delay = self._initial  # it had run well for a while
                log.warning("%s restarts in %.0f s", rec.name, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_CAP)
                rec.restarts += 1
                if self._on_restart is not None:
                    self._on_restart(rec.name)

    def report(self) -> dict[str, str]:
        """Tasks whose last failure is recent: name -> what happened (for status)."""
        now = self._clock()
        out = {}
        for rec in self._records.values():
            if rec.failures and now - rec.last_failed_at < REPORT_FOR:
                done = self._tasks[rec.name].done()
                state = (
                    "not restarted" if done and not rec.restart
                    else f"restarted {rec.restarts} time(s)" if rec.restarts
                    else "restarting"
                )  # fmt: skip
                out[rec.name] = f"{rec.last_error} ({state})"
        return out

    def crash_looping(self) -> list[str]:
        """Tasks that failed LOOP_FAILURES times within LOOP_WINDOW seconds (for liveness)."""
        now = self._clock()
        return [
            f"{rec.name} failed {len(rec.failures)} times in {now - rec.failures[0]:.0f} s "
            f"(last: {rec.last_error})"
            for rec in self._records.values()
            if len(rec.failures) >= LOOP_FAILURES and now - rec.failures[0] <= LOOP_WINDOW
        ]

    async def stop(self) -> None:
        """Cancel every task and wait for them."""
        self._stopping = True
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
