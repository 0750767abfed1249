"""What the API needs from the daemon: the ``DaemonPort`` protocol.

The composition root (daemon/app.py) implements it from the live components; the gRPC
servicers, the metrics exporter and the health watchdog see nothing else of the daemon.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from observer.daemon.config import Config
from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.status.model import ClosedSegment, RetentionReport, Status, SubscriptionChange

if TYPE_CHECKING:
    from observer.daemon.api.health import HealthState
    from observer.daemon.backup.service import BackupService

Item = Tick | Snapshot


class TailBatchLike(Protocol):
    """What ``Subscription.next_batch`` returns (daemon/ingest/hub.py ``TailBatch``)."""

    @property
    def items(self) -> list[Item]: ...

    @property
    def dropped(self) -> int: ...


class SubscriptionLike(Protocol):
    """One tail reader on the hub: bounded, drops oldest, counts drops."""

    @property
    def closed(self) -> bool: ...

    async def next_batch(
        self,
        max_items: int = 500,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> TailBatchLike | None: ...

    def close(self) -> None: ...


class HubLike(Protocol):
    """The fan-out point (daemon/ingest/hub.py ``Hub``), as the Tail RPC uses it."""

    def subscribe(
        self,
        *,
        symbols: frozenset[str] | None = None,
        tracks: frozenset[Track] | None = None,
        maxlen: int,
    ) -> SubscriptionLike: ...


class DaemonPort(Protocol):
    """Everything the API calls on the daemon."""

    @property
    def config(self) -> Config: ...

    @property
    def hub(self) -> HubLike: ...

    @property
    def backups(self) -> BackupService: ...

    @property
    def health(self) -> HealthState: ...

    def status(self) -> Status:
        """A fresh snapshot of the whole daemon (cheap: called a few times per second)."""
        ...

    async def replay_last(
        self, n: int, symbols: frozenset[str] | None, tracks: frozenset[Track] | None
    ) -> list[Item]:
        """The last ``n`` matching records from the files, oldest first.

        ``observer.daemon.api.replay.read_last`` implements it on the data directory.
        """
        ...

    async def rotate_now(self, track: Track | None) -> list[ClosedSegment]:
        """Close the open segment of ``track`` (None: every track) now."""
        ...

    async def set_subscriptions(self, symbols: list[str]) -> SubscriptionChange:
        """Replace the scalp watchlist (already validated: 6 digits, <= 41, no duplicates)."""
        ...

    async def run_retention(self, apply: bool) -> RetentionReport:
        """Apply (apply=True) or only report (dry run) the retention rules."""
        ...
