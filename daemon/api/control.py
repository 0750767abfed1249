"""ControlService: backups, rotation, subscriptions, retention, behind a bearer token.

Every call first checks ``authorization: Bearer <token>`` against OBSERVER_CONTROL_TOKEN
with a constant-time compare. The token is never logged or echoed.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc

from observer.daemon.api.ports import DaemonPort
from observer.daemon.api.services import abort_with
from observer.daemon.api.status_proto import (
    retention_to_proto,
    subscription_change_to_proto,
    timestamp,
    track_to_proto,
)
from observer.daemon.backup.archive import Progress
from observer.daemon.backup.manifest import Manifest
from observer.daemon.backup.verify import VerifyResult
from observer.daemon.errors import InvalidRequest, ObserverError, Precondition
from observer.daemon.model import Track
from observer.daemon.status import ClosedSegment
from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc

log = logging.getLogger("observer.api.control")

MAX_SUBSCRIPTIONS = 41
_SYMBOL = re.compile(r"^\d{6}$")
_PHASES = {
    "scanning": pb.BACKUP_PHASE_SCANNING,
    "archiving": pb.BACKUP_PHASE_ARCHIVING,
    "finalizing": pb.BACKUP_PHASE_FINALIZING,
    "verifying": pb.BACKUP_PHASE_VERIFYING,
    "done": pb.BACKUP_PHASE_DONE,
}

Ctx = grpc.aio.ServicerContext[Any, Any]


def check_bearer(
    metadata: Iterable[tuple[str, str | bytes]] | None, token: str
) -> ObserverError | None:
    """None when ``metadata`` carries the control token; otherwise the error to send."""
    if not token:
        return Precondition(
            "control calls are disabled: set OBSERVER_CONTROL_TOKEN on the daemon and send "
            "'authorization: Bearer <token>'."
        )
    header = ""
    for key, value in metadata or ():
        if key.lower() == "authorization":
            header = value.decode() if isinstance(value, bytes) else value
            break
    scheme, _, given = header.partition(" ")
    ok = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    if ok:
        return None
    err = _Unauthenticated(
        "missing or wrong control token: send 'authorization: Bearer <OBSERVER_CONTROL_TOKEN>'."
        if header
        else "control calls need 'authorization: Bearer <OBSERVER_CONTROL_TOKEN>' metadata."
    )
    return err


class _Unauthenticated(ObserverError):
    grpc_code = "UNAUTHENTICATED"


def validate_symbols(symbols: list[str]) -> list[str]:
    """Deduplicated symbols in order; InvalidRequest before anything changes."""
    wanted = list(dict.fromkeys(s.strip() for s in symbols))
    bad = [s for s in wanted if not _SYMBOL.match(s)]
    if bad:
        raise InvalidRequest(
            f"symbols must be 6-digit KRX codes; invalid: {', '.join(repr(b) for b in bad[:5])}. "
            "Nothing was changed."
        )
    if not wanted:
        raise InvalidRequest("give at least one symbol; nothing was changed.")
    if len(wanted) > MAX_SUBSCRIPTIONS:
        raise InvalidRequest(
            f"{len(wanted)} symbols requested; KIS allows at most {MAX_SUBSCRIPTIONS} realtime "
            "registrations per app key. Nothing was changed."
        )
    return wanted


def manifest_to_proto(m: Manifest) -> pb.BackupManifest:
    if m.verified_ok is None:
        state = pb.VERIFICATION_STATE_UNVERIFIED
    else:
        state = pb.VERIFICATION_STATE_VERIFIED if m.verified_ok else pb.VERIFICATION_STATE_FAILED
    return pb.BackupManifest(
        id=m.id,
        created_at=timestamp(m.created_at),
        daemon_version=m.daemon_version,
        archive=m.archive,
        archive_bytes=m.archive_bytes,
        archive_sha256=m.archive_sha256,
        files=[
            pb.BackupFile(
                path=f.path,
                bytes=f.bytes,
                sha256=f.sha256,
                records=f.records,
                first_ts=f.first_ts,
                last_ts=f.last_ts,
            )
            for f in m.files
        ],
        duration_seconds=m.duration_seconds,
        verification=state,
        verified_at=timestamp(m.verified_at),
    )


def verify_to_proto(r: VerifyResult) -> pb.VerifyBackupResponse:
    return pb.VerifyBackupResponse(
        id=r.id,
        ok=r.ok,
        mismatches=[
            pb.Mismatch(
                path=x.path,
                reason=x.reason,
                expected_sha256=x.expected_sha256,
                actual_sha256=x.actual_sha256,
                expected_bytes=x.expected_bytes,
                actual_bytes=x.actual_bytes,
            )
            for x in r.mismatches
        ],
        verified_at=timestamp(r.verified_at),
        files_checked=r.files_checked,
        bytes_checked=r.bytes_checked,
    )


def _progress(p: Progress) -> pb.BackupProgress:
    return pb.BackupProgress(
        phase=_PHASES.get(p.phase, pb.BACKUP_PHASE_UNSPECIFIED),
        files_done=p.files_done,
        files_total=p.files_total,
        bytes_done=p.bytes_done,
        bytes_total=p.bytes_total,
        current_file=p.current_file,
    )


def _closed(c: ClosedSegment) -> pb.ClosedSegment:
    return pb.ClosedSegment(
        track=track_to_proto(c.track), path=c.path, lines=c.lines, bytes=c.bytes
    )


class ControlServicer(pb_grpc.ControlServiceServicer):
    def __init__(self, daemon: DaemonPort) -> None:
        self.daemon = daemon

    async def _authorize(self, context: Ctx) -> bool:
        err = check_bearer(context.invocation_metadata(), self.daemon.config.control_token)
        if err is None:
            return True
        log.warning("control call refused from %s: %s", context.peer(), type(err).__name__)
        await abort_with(context, err)
        return False

    async def TriggerBackup(
        self, request: pb.TriggerBackupRequest, context: Ctx
    ) -> AsyncIterator[pb.BackupProgress]:
        if not await self._authorize(context):
            return
        queue: asyncio.Queue[Progress] = asyncio.Queue()
        # The backup runs to completion even if this client goes away.
        task = asyncio.ensure_future(self.daemon.backups.run(queue.put_nowait))
        try:
            while not task.done():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    p = getter.result()
                    if p.phase != "done":
                        yield _progress(p)
                else:
                    getter.cancel()
            manifest = task.result()
        except ObserverError as e:
            await abort_with(context, e)
            return
        n, size = len(manifest.files), manifest.total_file_bytes
        yield pb.BackupProgress(
            phase=pb.BACKUP_PHASE_DONE,
            files_done=n,
            files_total=n,
            bytes_done=size,
            bytes_total=size,
            manifest=manifest_to_proto(manifest),
        )

    async def ListBackups(
        self, request: pb.ListBackupsRequest, context: Ctx
    ) -> pb.ListBackupsResponse:
        if not await self._authorize(context):
            return pb.ListBackupsResponse()
        ms = await asyncio.to_thread(self.daemon.backups.list)
        return pb.ListBackupsResponse(backups=[manifest_to_proto(m) for m in ms])

    async def VerifyBackup(
        self, request: pb.VerifyBackupRequest, context: Ctx
    ) -> pb.VerifyBackupResponse:
        if not await self._authorize(context):
            return pb.VerifyBackupResponse()
        try:
            r = await self.daemon.backups.verify(request.id)
        except ObserverError as e:
            await abort_with(context, e)
            return pb.VerifyBackupResponse()
        return verify_to_proto(r)

    async def RotateNow(self, request: pb.RotateNowRequest, context: Ctx) -> pb.RotateNowResponse:
        if not await self._authorize(context):
            return pb.RotateNowResponse()
        track = {pb.TRACK_SCALP: Track.SCALP, pb.TRACK_SWING: Track.SWING}.get(request.track)
        try:
            if track is None and request.track != pb.TRACK_UNSPECIFIED:
                raise InvalidRequest(
                    f"unknown track {request.track}; use TRACK_SCALP, TRACK_SWING or leave it unset."
                )
            closed = await self.daemon.rotate_now(track)
        except ObserverError as e:
            await abort_with(context, e)
            return pb.RotateNowResponse()
        return pb.RotateNowResponse(closed=[_closed(c) for c in closed])

    async def SetSubscriptions(
        self, request: pb.SetSubscriptionsRequest, context: Ctx
    ) -> pb.SetSubscriptionsResponse:
        if not await self._authorize(context):
            return pb.SetSubscriptionsResponse()
        try:
            symbols = validate_symbols(list(request.symbols))
            change = await self.daemon.set_subscriptions(symbols)
        except ObserverError as e:
            await abort_with(context, e)
            return pb.SetSubscriptionsResponse()
        return subscription_change_to_proto(change)

    async def RunRetention(
        self, request: pb.RunRetentionRequest, context: Ctx
    ) -> pb.RetentionReport:
        if not await self._authorize(context):
            return pb.RetentionReport()
        try:
            report = await self.daemon.run_retention(request.apply)
        except ObserverError as e:
            await abort_with(context, e)
            return pb.RetentionReport()
        return retention_to_proto(report)
