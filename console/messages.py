"""Messages the console's workers post to the app: small dataclasses, one per event.

Tick batches are not posted one by one: the tail worker folds them into the coalesced
state (same event loop, no thread) and the refresh timer draws that state, so the console
stays responsive at thousands of ticks per second.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from observer.console.portforward import TunnelState
from observer.v1 import observer_pb2 as pb


@dataclass
class StatusArrived(Message):
    """A new status snapshot from WatchStatus."""

    status: pb.Status

    def can_replace(self, message: Message) -> bool:
        # Only the newest snapshot matters; an older one still queued is dropped.
        return isinstance(message, StatusArrived)


@dataclass
class ConnectionLost(Message):
    """A stream or call found the daemon unreachable."""

    reason: str


@dataclass
class ProbesChecked(Message):
    """Result of one round of health checks (startup, liveness, readiness)."""

    probes: dict[str, bool]


@dataclass
class TunnelChanged(Message):
    """The port-forward supervisor changed state."""

    tunnel: TunnelState

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TunnelChanged)


@dataclass
class BackupRequested(Message):
    """The operator confirmed a backup in the dialog; the app runs it (one at a time)."""


@dataclass
class BackupProgressed(Message):
    """One streamed progress message of a running backup."""

    progress: pb.BackupProgress

    def can_replace(self, message: Message) -> bool:
        # Progress is cumulative: the newest message says everything the older one did.
        return (
            isinstance(message, BackupProgressed) and message.progress.phase != pb.BACKUP_PHASE_DONE
        )


@dataclass
class BackupFinished(Message):
    """The snapshot is done; its manifest carries the snapshot id and the manifest's sha256."""

    manifest: pb.BackupManifest


@dataclass
class VerifyFinished(Message):
    """A VerifyBackup call returned."""

    result: pb.VerifyBackupResponse


@dataclass
class ControlFailed(Message):
    """A control call failed (no/wrong token, busy, unreachable...): shown as is."""

    action: str
    error: str
