"""ControlService: backups, rotation, subscriptions, retention.

Every method sits behind the control token, checked before it runs by the server's
interceptor (daemon/api/auth.py); the servicer itself only does the work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from observer.daemon.api.ports import DaemonPort
from observer.daemon.api.services import abort_with
from observer.daemon.backup.archive import Progress
from observer.daemon.errors import InvalidRequest, ObserverError
from observer.daemon.model import Track
from observer.daemon.status.proto import (
    closed_segment_to_proto,
    manifest_to_proto,
    progress_to_proto,
    retention_to_proto,
    subscription_change_to_proto,
    verify_to_proto,
)
from observer.daemon.symbols import SymbolError, parse_symbols
from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc

Ctx = grpc.aio.ServicerContext[Any, Any]


class ControlServicer(pb_grpc.ControlServiceServicer):
    def __init__(self, daemon: DaemonPort) -> None:
        self.daemon = daemon

    async def TriggerBackup(
        self, request: pb.TriggerBackupRequest, context: Ctx
    ) -> AsyncIterator[pb.BackupProgress]:
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
                        yield progress_to_proto(p)
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
            percent=100.0,
            manifest=manifest_to_proto(manifest),
        )

    async def ListBackups(
        self, request: pb.ListBackupsRequest, context: Ctx
    ) -> pb.ListBackupsResponse:
        ms = await asyncio.to_thread(self.daemon.backups.list)
        return pb.ListBackupsResponse(backups=[manifest_to_proto(m) for m in ms])

    async def VerifyBackup(
        self, request: pb.VerifyBackupRequest, context: Ctx
    ) -> pb.VerifyBackupResponse:
        try:
            r = await self.daemon.backups.verify(request.id)
        except ObserverError as e:
            await abort_with(context, e)
            return pb.VerifyBackupResponse()
        return verify_to_proto(r)

    async def RotateNow(self, request: pb.RotateNowRequest, context: Ctx) -> pb.RotateNowResponse:
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
        return pb.RotateNowResponse(closed=[closed_segment_to_proto(c) for c in closed])

    async def SetSubscriptions(
        self, request: pb.SetSubscriptionsRequest, context: Ctx
    ) -> pb.SetSubscriptionsResponse:
        try:
            try:
                symbols = parse_symbols(request.symbols)
            except SymbolError as e:
                raise InvalidRequest(f"{e}. Nothing was changed.") from None
            change = await self.daemon.set_subscriptions(symbols)
        except ObserverError as e:
            await abort_with(context, e)
            return pb.SetSubscriptionsResponse()
        return subscription_change_to_proto(change)

    async def RunRetention(
        self, request: pb.RunRetentionRequest, context: Ctx
    ) -> pb.RetentionReport:
        try:
            report = await self.daemon.run_retention(request.apply)
        except ObserverError as e:
            await abort_with(context, e)
            return pb.RetentionReport()
        return retention_to_proto(report)
