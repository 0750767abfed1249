"""The console's gRPC client over ``observer.v1`` and ``grpc.health.v1``.

Every call the console makes goes through :class:`ObserverClient`; gRPC failures come out
as :class:`ConsoleError` subclasses whose message tells the operator what failed, against
which target, and what to do. The client never imports daemon code: the proto is the contract.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from types import TracebackType
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc

#: Health service names the daemon serves, one per Kubernetes probe (see the proto).
PROBES: tuple[str, ...] = ("observer.startup", "observer.liveness", "observer.readiness")

# Reconnect quickly after a daemon restart: grpc's default backoff grows to two minutes,
# which would leave the console showing a banner long after the daemon is back.
_CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.keepalive_time_ms", 20000),
    ("grpc.keepalive_timeout_ms", 5000),
]

_TOKEN_HELP = (
    "give the console the daemon's OBSERVER_CONTROL_TOKEN with --token-file FILE, "
    "the OBSERVER_CONTROL_TOKEN environment variable, or --token-from-secret NAME "
    "(against make demo: --token-file observer-runtime/demo-token)"
)


class ConsoleError(Exception):
    """A foreseeable failure talking to the daemon, with an operator-facing message."""

    #: The console's exit code when this ends it (2: the daemon or the cluster does not answer).
    exit_code = 2


class Unreachable(ConsoleError):
    """The daemon (or the tunnel to it) does not answer."""


class Unauthorized(ConsoleError):
    """A control call without a token, or with a token the daemon refused."""


class ControlDisabled(ConsoleError):
    """The daemon has no control token configured, or refused for a precondition."""


class Busy(ConsoleError):
    """The daemon is already doing it (a backup is running)."""


class RequestFailed(ConsoleError):
    """Any other refusal (bad argument, unknown backup id, internal error)."""


def explain(err: grpc.aio.AioRpcError, target: str, what: str) -> ConsoleError:
    """Turn a gRPC error into the ConsoleError an operator can act on."""
    code = err.code()
    details = err.details() or ""
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unreachable(
            f"{what}: the daemon at {target} does not answer ({code.name}: {details}). "
            "Is it running, and is the port-forward up?"
        )
    if code is grpc.StatusCode.UNAUTHENTICATED:
        return Unauthorized(
            f"{what}: the daemon at {target} refused the control token ({details}); {_TOKEN_HELP}."
        )
    if code is grpc.StatusCode.FAILED_PRECONDITION:
        return ControlDisabled(f"{what}: refused by the daemon at {target}: {details}")
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        return Busy(f"{what}: the daemon is busy: {details}")
    return RequestFailed(f"{what} failed at {target} ({code.name}): {details}")


class ObserverClient:
    """Typed async calls to one daemon. Use as ``async with ObserverClient(target) as c``."""

    def __init__(self, target: str, token: str | None = None, *, timeout: float = 5.0) -> None:
        self.target = target
        self.timeout = timeout
        self._token = token or None
        self._channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self._status = pb_grpc.StatusServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._tail = pb_grpc.TailServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._control = pb_grpc.ControlServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def __aenter__(self) -> ObserverClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close(grace=None)

    def _auth(self, what: str) -> tuple[tuple[str, str], ...]:
        if self._token is None:
            raise Unauthorized(f"{what}: no control token; {_TOKEN_HELP}.")
        return (("authorization", f"Bearer {self._token}"),)

    # --- status and health -------------------------------------------------------------

    async def get_status(self) -> pb.Status:
        try:
            status: pb.Status = await self._status.GetStatus(
                pb.GetStatusRequest(), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as err:
            raise explain(err, self.target, "status") from None
        return status

    async def watch_status(
        self, min_interval_ms: int = 250, heartbeat_ms: int = 2000
    ) -> AsyncIterator[pb.Status]:
        """Snapshots as the daemon sends them; ends only by an error (raised as ConsoleError)."""
        request = pb.WatchStatusRequest(min_interval_ms=min_interval_ms, heartbeat_ms=heartbeat_ms)
        async with aclosing(self._stream(self._status.WatchStatus(request), "status stream")) as s:
            async for status in s:
                yield status

    async def _stream(
        self, call: Any, what: str, *, endless: bool = True
    ) -> AsyncGenerator[Any, None]:
        """A server stream's messages; errors, and the end of an ``endless`` stream, become
        ConsoleErrors naming ``what``. The call is cancelled however the caller stops."""
        try:
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as err:
            raise explain(err, self.target, what) from None
        finally:
            call.cancel()
        if endless:
            raise Unreachable(f"{what}: the daemon at {self.target} closed the stream")

    async def check(self, service: str) -> bool:
        """One grpc.health.v1 Check; False for NOT_SERVING or an unknown service."""
        try:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as err:
            if err.code() is grpc.StatusCode.NOT_FOUND:
                return False
            raise explain(err, self.target, f"health check {service!r}") from None
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def probes(self) -> dict[str, bool]:
        """Startup, liveness and readiness in one go."""
        return {name: await self.check(name) for name in PROBES}

    # --- tail --------------------------------------------------------------------------

    async def tail(
        self, symbols: Sequence[str] = (), replay_last: int = 0, max_batch: int = 0
    ) -> AsyncIterator[pb.TickBatch]:
        """Tick batches as they come; ends only by an error (raised as ConsoleError)."""
        request = pb.TailRequest(
            symbols=list(symbols), replay_last=replay_last, max_batch=max_batch
        )
        async with aclosing(self._stream(self._tail.Tail(request), "tick stream")) as s:
            async for batch in s:
                yield batch

    # --- control -----------------------------------------------------------------------

    async def trigger_backup(self) -> AsyncIterator[pb.BackupProgress]:
        """Progress messages; the last one has phase DONE and the manifest."""
        metadata = self._auth("backup")
        call = self._control.TriggerBackup(pb.TriggerBackupRequest(), metadata=metadata)
        async with aclosing(self._stream(call, "backup", endless=False)) as s:
            async for progress in s:
                yield progress

    async def list_backups(self) -> list[pb.BackupManifest]:
        metadata = self._auth("list backups")
        try:
            reply = await self._control.ListBackups(
                pb.ListBackupsRequest(), metadata=metadata, timeout=self.timeout
            )
        except grpc.aio.AioRpcError as err:
            raise explain(err, self.target, "list backups") from None
        return list(reply.backups)

    async def verify_backup(self, backup_id: str) -> pb.VerifyBackupResponse:
        metadata = self._auth("verify backup")
        try:
            reply: pb.VerifyBackupResponse = await self._control.VerifyBackup(
                pb.VerifyBackupRequest(id=backup_id), metadata=metadata, timeout=120.0
            )
        except grpc.aio.AioRpcError as err:
            raise explain(err, self.target, f"verify backup {backup_id}") from None
        return reply

    async def rotate_now(self) -> pb.RotateNowResponse:
        metadata = self._auth("rotate")
        try:
            reply: pb.RotateNowResponse = await self._control.RotateNow(
                pb.RotateNowRequest(), metadata=metadata, timeout=self.timeout
            )
        except grpc.aio.AioRpcError as err:
            raise explain(err, self.target, "rotate") from None
        return reply

    async def run_retention(self, apply: bool = False) -> pb.RetentionReport:
        metadata = self._auth("retention")
        try:
            reply: pb.RetentionReport = await self._control.RunRetention(
                pb.RunRetentionRequest(apply=apply), metadata=metadata, timeout=60.0
            )
        except grpc.aio.AioRpcError as err:
            raise explain(err, self.target, "retention") from None
        return reply
