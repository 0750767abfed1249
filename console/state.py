"""The console's coalesced state: everything the screens draw, updated by the workers.

Workers fold stream data in here as fast as it comes (cheap dictionary and ring-buffer
updates); the app's refresh timer reads it a few times per second. ``version`` grows on
every change so a widget redraws only when something it shows changed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

from observer.console.portforward import TunnelState
from observer.v1 import observer_pb2 as pb

#: Status older than this (seconds) without a newer one is stale even when no error was seen.
STALE_AFTER = 10.0


class TickRow(NamedTuple):
    """What the console keeps of one tick: enough for the table, the tape and the tail.

    A named tuple of plain values rather than a dataclass: thousands arrive per second and
    each lives a fraction of a second in the tape, long enough to reach the oldest garbage
    collector generation. Tuples of atoms drop out of the collector's tracking, dataclass
    instances do not, and every full collection (tens of ms, on the event loop that also
    serves key presses) walks all tracked objects.
    """

    symbol: str
    price: int
    change: int
    change_pct: float
    volume: int
    cum_volume: int
    ts: str
    #: +1 up, -1 down, 0 unchanged versus the previous tick of the same symbol.
    move: int
    track: int
    #: Console clock (monotonic seconds) when it arrived.
    seen_at: float

    @property
    def time(self) -> str:
        """``HH:MM:SS`` of the trade in KST, as written by the daemon."""
        return self.ts[11:19] if len(self.ts) >= 19 else self.ts


@runtime_checkable
class DrawsState(Protocol):
    """A screen the app's refresh timer draws: it shows (part of) the coalesced state.

    The app draws every visible screen that follows this protocol; a screen without it
    (help) is static and never drawn.
    """

    def draw(self, state: ConsoleState) -> None:
        """Bring the screen up to date with ``state`` (cheap when nothing it shows changed)."""


@dataclass
class ConsoleState:
    """Latest known facts about the daemon, its ticks and the tunnel."""

    target: str
    clock: Callable[[], float] = time.monotonic
    status: pb.Status | None = None
    status_at: float | None = None
    connected: bool = False
    #: Why the daemon is unreachable ("" when connected or never tried).
    error: str = ""
    disconnected_since: float | None = None
    reconnects: int = 0
    probes: dict[str, bool | None] = field(default_factory=dict)
    tunnel: TunnelState | None = None
    latest: dict[str, TickRow] = field(default_factory=dict)
    tape: deque[TickRow] = field(default_factory=lambda: deque(maxlen=2000))
    ticks_seen: int = 0
    dropped_total: int = 0
    last_tick_at: float | None = None
    #: Ticks per second, one sample per second (newest last) for the sparkline.
    rates: deque[float] = field(default_factory=lambda: deque([0.0] * 60, maxlen=60))
    #: Backups as listed by ListBackups (needs the control token), newest first.
    backup_list: list[pb.BackupManifest] = field(default_factory=list)
    #: Newest progress of a backup triggered from this console (None when none ran).
    backup_progress: pb.BackupProgress | None = None
    #: Manifest of the last backup triggered from this console.
    backup_manifest: pb.BackupManifest | None = None
    backup_running: bool = False
    verify_result: pb.VerifyBackupResponse | None = None
    #: The last control-call failure (no/wrong token, busy...), "" when the last one worked.
    control_error: str = ""
    version: int = 0
    _window_start: float = 0.0
    _window_count: int = 0

    # --- updates from workers ----------------------------------------------------------

    def apply_status(self, status: pb.Status) -> None:
        was_down = self.disconnected_since is not None
        self.status = status
        self.status_at = self.clock()
        self.connected = True
        self.error = ""
        if was_down:
            self.reconnects += 1
        self.disconnected_since = None
        self.probes.update({p.service: p.serving for p in status.health if p.service})
        self.version += 1

    def apply_batch(self, batch: pb.TickBatch) -> None:
        now = self.clock()
        latest = self.latest
        tape = self.tape
        for t in batch.ticks:
            prev = latest.get(t.symbol)
            move = 0 if prev is None else (t.price > prev.price) - (t.price < prev.price)
            row = TickRow(
                t.symbol,
                t.price,
                t.change,
                t.change_pct,
                t.volume,
                t.cum_volume,
                t.ts,
                move,
                t.track,
                now,
            )
            latest[t.symbol] = row
            tape.append(row)
        n = len(batch.ticks)
        self.ticks_seen += n
        if not batch.replay:  # the files' past is not today's rate
            self._window_count += n
        self.dropped_total = max(self.dropped_total, batch.dropped_total)
        if n:
            self.last_tick_at = now
            self.connected = True
        self.version += 1

    def touch(self) -> None:
        """Something drawn changed (backup progress, control result)."""
        self.version += 1

    def apply_probes(self, probes: dict[str, bool]) -> None:
        self.probes.update(probes)
        self.version += 1

    def apply_tunnel(self, tunnel: TunnelState) -> None:
        self.tunnel = tunnel
        self.version += 1

    def mark_lost(self, reason: str) -> None:
        if self.disconnected_since is None:
            self.disconnected_since = self.clock()
        self.connected = False
        self.error = reason
        self.probes = {name: None for name in self.probes}
        self.version += 1

    def sample_rate(self) -> None:
        """Close the current one-second window of the ticks/s sparkline (timer-driven)."""
        now = self.clock()
        elapsed = now - self._window_start if self._window_start else 1.0
        self.rates.append(self._window_count / max(elapsed, 1e-3))
        self._window_start = now
        self._window_count = 0
        self.version += 1

    # --- questions from widgets --------------------------------------------------------

    @property
    def stale(self) -> bool:
        """True when the status on screen may no longer be true."""
        if self.status is None or not self.connected or self.status_at is None:
            return True
        return self.clock() - self.status_at > STALE_AFTER

    def status_age(self) -> float | None:
        return None if self.status_at is None else self.clock() - self.status_at

    def down_for(self) -> float | None:
        if self.disconnected_since is None:
            return None
        return self.clock() - self.disconnected_since

    def quiet_for(self) -> float | None:
        """Seconds since the last tick (None before the first)."""
        return None if self.last_tick_at is None else self.clock() - self.last_tick_at

    @property
    def tick_rate(self) -> float:
        return self.rates[-1] if self.rates else 0.0
