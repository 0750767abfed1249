"""The observer-console Textual app: workers that consume the gRPC streams, one coalesced
state, and a refresh timer that draws it (never one re-render per tick).

The app is the console's composition root: it receives the target, the control token and
the optional port-forward supervisor, and builds the client itself on mount.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from observer.console.actions import ACTIONS, TAIL_ACTIONS
from observer.console.client import ConsoleError, ObserverClient
from observer.console.messages import (
    BackupFinished,
    BackupProgressed,
    BackupRequested,
    ConnectionLost,
    ControlFailed,
    ProbesChecked,
    StatusArrived,
    TunnelChanged,
    VerifyFinished,
)
from observer.console.portforward import TunnelFactory, TunnelState
from observer.console.screens.backup import BackupDialog
from observer.console.screens.dashboard import DashboardScreen
from observer.console.screens.help import HelpScreen
from observer.console.screens.tail import TailScreen
from observer.console.state import ConsoleState, DrawsState
from observer.v1 import observer_pb2 as pb

_STREAM_GROUPS = ("status", "tail", "probes")


class ObserverConsole(App[int]):
    """Operations console for one observer-daemon."""

    CSS_PATH = "app.tcss"
    TITLE = "observer-console"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(a.key, a.action, a.footer or a.title, show=bool(a.footer)) for a in ACTIONS
    ]

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        tunnel: TunnelFactory | None = None,
        refresh_every: float = 0.25,
        status_interval_ms: int = 500,
        heartbeat_ms: int = 2000,
        probe_every: float = 2.0,
        replay_last: int = 200,
        sample_rates: bool = True,
        clock: Callable[[], float] = time.monotonic,
        theme: str | None = None,
        freeze_gc: bool = False,
    ) -> None:
        super().__init__()
        #: The port-forward supervisor (``--port-forward``), reporting to this app.
        self.tunnel = tunnel(on_change=self._tunnel_changed) if tunnel is not None else None
        self.target = self.tunnel.target if self.tunnel is not None else target
        self.token = token
        self.refresh_every = refresh_every
        self.status_interval_ms = status_interval_ms
        self.heartbeat_ms = heartbeat_ms
        self.probe_every = probe_every
        self.replay_last = replay_last
        #: Records the next tick stream replays from the files (only the first one does).
        self._replay = replay_last
        self.sample_rates = sample_rates
        self.state = ConsoleState(self.target, clock=clock)
        self.client: ObserverClient | None = None
        #: Redraws done by the refresh timer (the bench reads it).
        self.redraws = 0
        self._drawn = -1
        #: Move start-up objects out of the garbage collector's sight once the dashboard is
        #: up (the command line does; tests leave the process's collector alone).
        self.freeze_gc = freeze_gc
        if theme:
            self.theme = theme

    # --- lifecycle ---------------------------------------------------------------------

    _tty = sys.__stdout__.fileno() if sys.__stdout__ is not None else -1

    def _hang_up(self, signum: int, frame: object) -> None:
        if self.tunnel is not None:
            self.tunnel.hang_up()
        os._exit(128 + signum)

    def _check_terminal(self) -> None:
        try:
            os.write(self._tty, b"")  # EIO once the terminal has hung up
        except OSError:
            self._hang_up(signal.SIGHUP, None)

    def on_mount(self) -> None:
        # The terminal went away (ssh dropped, tmux killed). Textual's own exit would block
        # writing to the dead terminal, so stop the tunnel and leave at once: whatever
        # started the console (make demo stops its daemon) then sees it end. Not every
        # hang-up comes with SIGHUP, so the terminal is also checked every second.
        signal.signal(signal.SIGHUP, self._hang_up)
        if os.isatty(self._tty):
            self.set_interval(1.0, self._check_terminal)
        self.push_screen(DashboardScreen())
        self.client = ObserverClient(self.target, self.token)
        if self.tunnel is not None:
            self.state.apply_tunnel(self.tunnel.state)
            self.run_tunnel()
        self.start_streams()
        self.set_interval(self.refresh_every, self.flush)
        self.screen_change_signal.subscribe(self, self._screen_changed)
        if self.freeze_gc:
            self.call_after_refresh(self._freeze_start_up_objects)
        if self.sample_rates:
            self.set_interval(1.0, self.state.sample_rate)

    async def on_unmount(self) -> None:
        self.workers.cancel_all()
        if self.tunnel is not None:
            await self.tunnel.stop()
        if self.client is not None:
            await self.client.close()

    def _freeze_start_up_objects(self) -> None:
        # Every full collection walks every tracked object, and a full collection runs on
        # this event loop between a key press and its frame. Tens of thousands of objects
        # (Textual, grpc, protobuf, the dashboard's widgets) live as long as the process:
        # leaving them out cuts a full collection from about 60 ms to 10-20 ms of CPU.
        gc.collect()
        gc.freeze()

    def start_streams(self) -> None:
        self.watch_status()
        self.watch_ticks()
        self.watch_probes()

    def flush(self) -> None:
        """Draw the coalesced state on every screen that shows it, if anything changed."""
        if self.state.version == self._drawn:
            return
        self._drawn = self.state.version
        self.redraws += 1
        for screen in self._visible_screens():
            self.draw_screen(screen)

    def _visible_screens(self) -> list[Screen[object]]:
        """The top screen and those a modal above lets show through: a screen hidden
        under a full screen (help, tail) is drawn when it comes back, not meanwhile."""
        visible: list[Screen[object]] = []
        for screen in reversed(self.screen_stack):
            visible.append(screen)
            if not isinstance(screen, ModalScreen):
                break
        return visible

    def _screen_changed(self, screen: Screen[object]) -> None:
        # Published as the stack changes, before the screen's first frame: one that was
        # covered comes back with the current state, not what it showed when it left.
        for visible in self._visible_screens():
            self.draw_screen(visible)

    def draw_screen(self, screen: Screen[object]) -> None:
        """Draw the coalesced state on one screen (those that show it: DrawsState)."""
        if isinstance(screen, DrawsState) and screen.is_attached:
            try:
                screen.draw(self.state)
            except NoMatches:
                # The screen is being composed or torn down (start-up, exit): skip a beat.
                self._drawn = -1

    # --- stream workers ----------------------------------------------------------------

    def _backoff(self, delay: float) -> float:
        return min(delay * 2, 5.0)

    @work(exclusive=True, group="status", exit_on_error=False)
    async def watch_status(self) -> None:
        delay = 0.25
        while self.client is not None:
            try:
                async for status in self.client.watch_status(
                    self.status_interval_ms, self.heartbeat_ms
                ):
                    self.post_message(StatusArrived(status))
                    delay = 0.25
            except ConsoleError as err:
                self.post_message(ConnectionLost(str(err)))
            await asyncio.sleep(delay)
            delay = self._backoff(delay)

    @work(exclusive=True, group="tail", exit_on_error=False)
    async def watch_ticks(self) -> None:
        # Batches go straight into the coalesced state (same event loop, no thread): a
        # message per batch would make the message queue the bottleneck at 5,000 ticks/s.
        delay = 0.25
        while self.client is not None:
            try:
                # The files' recent past once, when the console starts: a reconnect (r, a
                # daemon restart) replaying it again would show ticks twice.
                async for batch in self.client.tail(replay_last=self._replay):
                    self._replay = 0
                    self.state.apply_batch(batch)
                    delay = 0.25
            except ConsoleError as err:
                self.post_message(ConnectionLost(str(err)))
            await asyncio.sleep(delay)
            delay = self._backoff(delay)

    @work(exclusive=True, group="probes", exit_on_error=False)
    async def watch_probes(self) -> None:
        # Also keeps a port-forward busy so it does not idle out.
        while self.client is not None:
            try:
                self.post_message(ProbesChecked(await self.client.probes()))
            except ConsoleError as err:
                self.post_message(ConnectionLost(str(err)))
            await asyncio.sleep(self.probe_every)

    @work(exclusive=True, group="tunnel", exit_on_error=False)
    async def run_tunnel(self) -> None:
        assert self.tunnel is not None
        await self.tunnel.run()

    def _tunnel_changed(self, tunnel: TunnelState) -> None:
        self.post_message(TunnelChanged(tunnel))

    # --- control workers ---------------------------------------------------------------

    def on_backup_requested(self, message: BackupRequested) -> None:
        self.start_backup()

    def start_backup(self) -> None:
        if self.state.backup_running:
            self.notify("A backup from this console is already running.")
            return
        self.state.backup_running = True
        self.state.backup_progress = None
        self.state.backup_manifest = None
        self.state.control_error = ""
        self.state.touch()
        self.run_backup()

    @work(exclusive=True, group="backup", exit_on_error=False)
    async def run_backup(self) -> None:
        assert self.client is not None
        try:
            async for progress in self.client.trigger_backup():
                self.post_message(BackupProgressed(progress))
                if progress.phase == pb.BACKUP_PHASE_DONE:
                    self.post_message(BackupFinished(progress.manifest))
        except ConsoleError as err:
            self.post_message(ControlFailed("backup", str(err)))
        finally:
            self.state.backup_running = False
            self.state.touch()

    @work(exclusive=True, group="control", exit_on_error=False)
    async def run_control(self, action: str) -> None:
        assert self.client is not None
        try:
            if action == "verify":
                backup_id = self._newest_backup_id()
                if not backup_id:
                    self.notify("No backup to verify yet.", severity="warning")
                    return
                self.notify(f"Verifying {backup_id}…")
                self.post_message(VerifyFinished(await self.client.verify_backup(backup_id)))
            elif action == "rotate":
                reply = await self.client.rotate_now()
                closed = ", ".join(c.path.rsplit("/", 1)[-1] for c in reply.closed if c.path)
                self.notify(f"Rotated: {closed or 'no open segment'}")
            elif action == "list":
                self.state.backup_list = await self.client.list_backups()
                self.state.control_error = ""
                self.state.touch()
        except ConsoleError as err:
            self.post_message(ControlFailed(action, str(err)))

    def _newest_backup_id(self) -> str:
        status = self.state.status
        if status is not None and status.backups.newest_snapshot:
            return status.backups.newest_snapshot  # the daemon's newest, whoever took it
        if self.state.backup_manifest is not None:
            return self.state.backup_manifest.id
        if self.state.backup_list:
            return self.state.backup_list[0].id
        return self.state.status.backups.last_id if self.state.status else ""

    # --- messages ----------------------------------------------------------------------

    def on_status_arrived(self, message: StatusArrived) -> None:
        first = self.state.status is None
        back = self.state.disconnected_since is not None
        self.state.apply_status(message.status)
        if back:
            self.notify(f"Reconnected to {self.target}.")
        if (first or back) and self.token:
            self.run_control("list")

    def on_connection_lost(self, message: ConnectionLost) -> None:
        self.state.mark_lost(message.reason)

    def on_probes_checked(self, message: ProbesChecked) -> None:
        self.state.apply_probes(message.probes)

    def on_tunnel_changed(self, message: TunnelChanged) -> None:
        tunnel: TunnelState = message.tunnel
        self.state.apply_tunnel(tunnel)
        target = f"127.0.0.1:{tunnel.local_port}"
        if target != self.target:
            # kubectl had to move to another local port: follow it with a new channel.
            self.target = self.state.target = target
            old, self.client = self.client, ObserverClient(target, self.token)
            self.start_streams()
            if old is not None:
                self.call_later(old.close)

    def on_backup_progressed(self, message: BackupProgressed) -> None:
        self.state.backup_progress = message.progress
        self.state.touch()

    def on_backup_finished(self, message: BackupFinished) -> None:
        self.state.backup_manifest = message.manifest
        self.state.touch()
        self.notify(
            f"Snapshot {message.manifest.id} done, manifest sha256 "
            f"{(message.manifest.manifest_sha256 or message.manifest.archive_sha256)[:16]}…"
        )
        self.run_control("list")

    def on_verify_finished(self, message: VerifyFinished) -> None:
        self.state.verify_result = message.result
        self.state.touch()
        r = message.result
        if r.ok:
            self.notify(f"Backup {r.id} verified: {r.files_checked} files match.")
        else:
            self.notify(f"Backup {r.id} FAILED verification.", severity="error", timeout=15)

    def on_control_failed(self, message: ControlFailed) -> None:
        self.state.control_error = message.error
        self.state.touch()
        self.notify(message.error, title=f"{message.action} failed", severity="error", timeout=10)

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        """One place for unexpected worker failures: say so, restart streams, never crash."""
        if event.state is not WorkerState.ERROR:
            return
        worker = event.worker
        self.notify(f"{worker.group}: {worker.error!r}", title="internal error", severity="error")
        if worker.group in _STREAM_GROUPS:
            self.set_timer(1.0, self.start_streams)
        if worker.group == "backup":
            self.state.backup_running = False

    # --- actions (keys and palette come from observer.console.actions) -----------------

    def action_backup(self) -> None:
        self.push_screen(BackupDialog())

    def action_verify(self) -> None:
        self.run_control("verify")

    def action_rotate(self) -> None:
        self.run_control("rotate")

    def action_tail(self) -> None:
        if not isinstance(self.screen, TailScreen):
            self.push_screen(TailScreen())

    def action_dashboard(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def action_panel(self, name: str) -> None:
        """Show one dashboard panel (the only one below the header in a small terminal)."""
        self.action_dashboard()
        self.dashboard.show_panel(name)

    @property
    def dashboard(self) -> DashboardScreen:
        screen = self.screen_stack[1] if len(self.screen_stack) > 1 else self.screen
        assert isinstance(screen, DashboardScreen)
        return screen

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            # One installed instance: reopening it costs no compose while ticks stream in.
            if not self.is_screen_installed("help"):
                self.install_screen(HelpScreen(), "help")
            self.push_screen("help")

    def action_reconnect(self) -> None:
        if self.tunnel is not None:
            self.tunnel.retry_now()
        self.start_streams()
        self.notify("Reconnecting…")

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        if isinstance(screen, TailScreen):
            # The tail's own keys, reachable from the palette even while the filter types.
            for a in TAIL_ACTIONS:
                yield SystemCommand(
                    f"{a.title} ({a.shown_key})", a.help,
                    partial(self.run_action, f"screen.{a.action}"),
                )  # fmt: skip
        for a in ACTIONS:
            yield SystemCommand(
                f"{a.title} ({a.shown_key})", a.help, partial(self.run_action, a.action)
            )
        for cmd in super().get_system_commands(screen):
            if cmd.title not in ("Theme", "Quit"):
                yield cmd

    # --- screenshots (the palette's Screenshot) ------------------------------------------

    def export_screenshot(self, *, title: str | None = None, simplify: bool = False) -> str:
        svg = super().export_screenshot(title=title, simplify=simplify)
        # Every run of cells is its own positioned <text>: renderers that strip a text's
        # leading and trailing blanks (librsvg, image viewers) would pull words together
        # ("postgres1,840"); xml:space="preserve" keeps every blank where it is.
        return svg.replace("<svg ", '<svg xml:space="preserve" ', 1)

    def deliver_screenshot(
        self,
        filename: str | None = None,
        path: str | None = None,
        time_format: str | None = None,
    ) -> str | None:
        """Save the screen as SVG where it can be saved, and say where (Textual's own saves
        to ~/Downloads and only says "Failed to save screenshot" when that does not exist)."""
        folder = Path(path) if path else screenshot_dir()
        try:
            saved = self.save_screenshot(filename, str(folder), time_format)
        except OSError as e:
            self.notify(
                f"Cannot save the screenshot in {folder}: {e.strerror or e}.",
                title="Screenshot", severity="error",
            )  # fmt: skip
            return None
        self.notify(f"Saved screenshot to {saved}", title="Screenshot")
        return saved


def screenshot_dir() -> Path:
    """~/Downloads when it exists, else the working directory (both exist: nothing to make)."""
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.cwd()
