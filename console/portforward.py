"""Supervisor for ``kubectl port-forward``: start it, notice when it dies, restart it.

kubectl's port-forward dies or hangs when the pod restarts ("lost connection to pod"), and
idles out when nothing crosses it. :class:`PortForward` runs kubectl itself on a fixed local
port, waits for its "Forwarding from" line, watches its exit and its stderr, keeps the
tunnel busy with a periodic health Check through it, and restarts it with capped
exponential backoff. After ``give_up_after`` consecutive failed starts it stops trying and
reports kubectl's own error text until :meth:`retry_now` is called.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

_FORWARDING = re.compile(r"Forwarding from [^\s]+:(\d+)")
#: kubectl's client-side log lines ("E1201 22:23:03.452538 31773 memcache.go:265] ..."):
#: noise beside the one sentence that says what went wrong.
_KLOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w.-]+:\d+\] ")
#: stderr text meaning the tunnel is dead even if kubectl is still running.
_DEATH_MARKERS = ("lost connection to pod",)
_PORT_IN_USE = ("address already in use", "unable to listen on any of the requested ports")


class TunnelPhase(StrEnum):
    STARTING = "starting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    GAVE_UP = "gave up"
    STOPPED = "stopped"


@dataclass(frozen=True)
class TunnelState:
    """One observable state of the tunnel (immutable: a new one on every change)."""

    phase: TunnelPhase
    resource: str
    local_port: int
    #: monotonic time of the next start attempt while RECONNECTING.
    retry_at: float | None = None
    #: Consecutive failed starts.
    failures: int = 0
    #: Times the tunnel was re-established after being connected.
    restarts: int = 0
    #: kubectl's own error text (last stderr lines), or why the supervisor killed it.
    last_error: str = ""

    def describe(self, now: float | None = None) -> str:
        """One line for the header: ``connected`` / ``reconnecting in 3s`` / ``gave up: ...``."""
        now = time.monotonic() if now is None else now
        if self.phase is TunnelPhase.RECONNECTING and self.retry_at is not None:
            wait = max(0, round(self.retry_at - now))
            text = f"reconnecting in {wait}s"
        else:
            text = self.phase.value
        if self.phase in (TunnelPhase.RECONNECTING, TunnelPhase.GAVE_UP) and self.last_error:
            text += f": {self.last_error}"
        return text


Probe = Callable[[int], Awaitable[bool]]


class TunnelFactory(Protocol):
    """Builds the supervisor around the callback that hears of every state change: the
    console's app passes its own, so the tunnel reports to whoever built it."""

    def __call__(self, *, on_change: Callable[[TunnelState], None]) -> PortForward: ...


def free_local_port() -> int:
    """An unused TCP port on 127.0.0.1 (kept for the life of the supervisor)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def grpc_probe(port: int) -> bool:
    """Default keep-alive: a grpc.health.v1 Check of the whole server through the tunnel."""
    from observer.console.client import ConsoleError, ObserverClient

    async with ObserverClient(f"127.0.0.1:{port}", timeout=3.0) as client:
        try:
            await client.check("")
        except ConsoleError:
            return False
    return True


def meaningful(lines: list[str]) -> str:
    """kubectl's own words without its client log noise: the plain sentences when there are
    any, else the log lines' messages once each."""
    lines = [line.strip() for line in lines if line.strip()]
    plain = [line for line in lines if not _KLOG.match(line)]
    if not plain:
        plain = [_KLOG.sub("", line) for line in lines]
    return " | ".join(dict.fromkeys(plain))


class PortForward:
    """Keeps ``kubectl port-forward RESOURCE LOCAL:REMOTE`` alive."""

    def __init__(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        context: str | None = None,
        remote_port: int = 50051,
        local_port: int = 0,
        kubectl: str = "kubectl",
        on_change: Callable[[TunnelState], None] | None = None,
        probe: Probe | None = grpc_probe,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        give_up_after: int = 6,
        keepalive_every: float = 10.0,
        probe_failures: int = 2,
        start_timeout: float = 15.0,
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self.context = context
        self.remote_port = remote_port
        self._auto_port = local_port == 0
        self.kubectl = kubectl
        self._on_change = on_change
        self._probe = probe
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.give_up_after = give_up_after
        self.keepalive_every = keepalive_every
        self.probe_failures = probe_failures
        self.start_timeout = start_timeout
        self._stderr: deque[str] = deque(maxlen=5)
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._stdout_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopped = False
        self.state = TunnelState(TunnelPhase.STARTING, resource, local_port or free_local_port())

    @property
    def local_port(self) -> int:
        return self.state.local_port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.local_port}"

    def command(self) -> list[str]:
        cmd = [self.kubectl, "port-forward"]
        if self.context:
            cmd += ["--context", self.context]
        if self.namespace:
            cmd += ["-n", self.namespace]
        cmd += ["--address", "127.0.0.1", self.resource, f"{self.local_port}:{self.remote_port}"]
        return cmd

    def _set(self, **changes: object) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]
        if self._on_change is not None:
            self._on_change(self.state)

    # --- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Supervise until :meth:`stop`. Never raises for kubectl's failures."""
        try:
            while not self._stopped:
                unconfigured = await self._cluster_problem()
                if unconfigured:
                    # Nothing to retry until the operator fixes it: say why at once, and
                    # try again on retry_now (r), not every few seconds for nothing.
                    self._set(phase=TunnelPhase.GAVE_UP, retry_at=None, last_error=unconfigured)
                    await self._sleep(None)
                    continue
                error = await self._start()
                if error is None:
                    self._set(phase=TunnelPhase.CONNECTED, failures=0, retry_at=None)
                    error = await self._supervise()
                    if self._stopped:
                        break
                    self._set(restarts=self.state.restarts + 1)
                    failures = 0
                else:
                    failures = self.state.failures + 1
                    if self._auto_port and any(m in error.lower() for m in _PORT_IN_USE):
                        self._set(local_port=free_local_port())
                if failures >= self.give_up_after:
                    self._set(phase=TunnelPhase.GAVE_UP, failures=failures, last_error=error)
                    await self._sleep(None)
                    self._set(failures=0)
                    continue
                delay = min(self.backoff_initial * 2 ** max(failures - 1, 0), self.backoff_max)
                self._set(
                    phase=TunnelPhase.RECONNECTING,
                    failures=failures,
                    retry_at=time.monotonic() + delay,
                    last_error=error,
                )
                await self._sleep(delay)
        finally:
            await self._kill()
            self._set(phase=TunnelPhase.STOPPED, retry_at=None)

    async def _cluster_problem(self) -> str:
        """Why kubectl cannot reach any cluster ("" when a context is configured)."""
        if self.context:
            args = ["config", "get-contexts", self.context, "-o", "name"]
        else:
            args = ["config", "current-context"]
        try:
            proc = await asyncio.create_subprocess_exec(
                self.kubectl, *args, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except OSError as err:
            return f"cannot run {self.kubectl!r}: {err.strerror or err}"
        try:
            _, err_bytes = await asyncio.wait_for(proc.communicate(), self.start_timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return ""  # kubectl is slow, not unconfigured: let port-forward say what it says
        if proc.returncode == 0:
            return ""
        said = meaningful(err_bytes.decode(errors="replace").splitlines()) or "no context"
        which = f"context {self.context!r}" if self.context else "a current context"
        return (
            f"kubectl has no cluster configured ({which}: {said}); point KUBECONFIG at a "
            "kubeconfig, or pass --context"
        )

    def retry_now(self) -> None:
        """Skip the backoff wait (or leave GAVE_UP) and start kubectl again."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        await self._kill()

    async def _sleep(self, seconds: float | None) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _start(self) -> str | None:
        """Start kubectl; None once it forwards, else its error text."""
        self._stderr.clear()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as err:
            return f"cannot run {self.kubectl!r}: {err.strerror or err}"
        self._proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        self._stderr_task = asyncio.create_task(self._read_stderr(proc.stderr))
        try:
            async with asyncio.timeout(self.start_timeout):
                while line := await proc.stdout.readline():
                    if _FORWARDING.search(line.decode(errors="replace")):
                        self._stdout_task = asyncio.create_task(self._drain(proc.stdout))
                        return None
        except TimeoutError:
            await self._kill()
            return f"kubectl printed no 'Forwarding from' within {self.start_timeout:.0f}s"
        await proc.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stderr_task, 1.0)
        return self._error_text(f"kubectl exited with code {proc.returncode}")

    async def _supervise(self) -> str:
        """Wait until the tunnel is dead; return why."""
        proc = self._proc
        assert proc is not None
        waits = [
            asyncio.create_task(proc.wait(), name="exit"),
            asyncio.create_task(self._death_in_stderr(), name="stderr"),
            asyncio.create_task(self._keepalive(), name="keepalive"),
            asyncio.create_task(self._wake_on_stop(), name="stop"),
        ]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in waits:
                t.cancel()
        first = done.pop()
        await self._kill()
        if first.get_name() == "keepalive":
            return str(first.result())
        if first.get_name() == "exit":
            return self._error_text(f"kubectl exited with code {proc.returncode}")
        return self._error_text("kubectl lost its connection")

    async def _wake_on_stop(self) -> None:
        while not self._stopped:
            self._wake.clear()
            await self._wake.wait()

    async def _death_in_stderr(self) -> None:
        while True:
            if any(m in line for line in self._stderr for m in _DEATH_MARKERS):
                return
            await asyncio.sleep(0.1)

    async def _keepalive(self) -> str:
        """Probe through the tunnel so it never idles out; returns when it stops answering."""
        if self._probe is None:
            await asyncio.Event().wait()
        misses = 0
        while True:
            await asyncio.sleep(self.keepalive_every)
            assert self._probe is not None
            ok = await self._probe(self.local_port)
            misses = 0 if ok else misses + 1
            if misses >= self.probe_failures:
                return f"no answer through the tunnel {misses} times in a row"

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").strip()
            if text:
                self._stderr.append(text)

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass

    def _error_text(self, fallback: str) -> str:
        return meaningful(list(self._stderr)) or fallback

    def hang_up(self) -> None:
        """Terminate kubectl now, without the event loop (the console's terminal is gone)."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 3.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        tasks = [t for t in (self._stderr_task, self._stdout_task) if t is not None]
        self._stderr_task = self._stdout_task = None
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
