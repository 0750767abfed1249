"""The console's app-screen contract: screens the app draws follow a protocol, dialogs ask
the app by message, the tunnel reports to the callback it was built with, and each panel
declares what its redraws depend on."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from observer.console.app import ObserverConsole
from observer.console.messages import BackupRequested
from observer.console.portforward import PortForward, TunnelPhase
from observer.console.screens.backup import BackupDialog
from observer.console.screens.dashboard import DashboardScreen
from observer.console.screens.help import HelpScreen
from observer.console.screens.tail import TailScreen
from observer.console.state import ConsoleState, DrawsState
from observer.console.widgets.backups import Backups
from observer.console.widgets.volumes import Volumes
from tests.console.helpers import eventually
from tests.console.screen_text import screen_text
from tests.console.standin import run_standin
from tests.console.test_portforward import fake_kubectl


def test_the_screens_that_show_the_state_follow_the_drawing_protocol() -> None:
    assert isinstance(DashboardScreen(), DrawsState)
    assert isinstance(TailScreen(), DrawsState)
    assert isinstance(BackupDialog(), DrawsState)
    assert not isinstance(HelpScreen(), DrawsState)


class _Counter(Screen[None]):
    def __init__(self) -> None:
        super().__init__()
        self.drawn: list[int] = []

    def compose(self) -> ComposeResult:
        yield Static("counter")

    def draw(self, state: ConsoleState) -> None:
        self.drawn.append(state.version)


async def test_the_app_draws_any_screen_that_follows_the_protocol() -> None:
    app = ObserverConsole("127.0.0.1:9", sample_rates=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = _Counter()
        await app.push_screen(screen)
        await pilot.pause()
        app.state.touch()
        version = app.state.version
        app.flush()
        assert screen.drawn[-1] == version


class _Host(App[None]):
    """Any app: the dialog must not know the console's method names."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def on_mount(self) -> None:
        self.push_screen(BackupDialog())

    def on_backup_requested(self, message: BackupRequested) -> None:
        self.requests += 1


async def test_the_backup_dialog_asks_for_a_backup_with_a_message() -> None:
    app = _Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("y")
        await eventually(lambda: app.requests == 1)


async def test_the_console_builds_its_tunnel_with_its_own_change_callback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with run_standin() as daemon:
        kubectl = fake_kubectl(monkeypatch, tmp_path, daemon.port)
        tunnel = partial(PortForward, "svc/observer", namespace="observer-prod", kubectl=kubectl)
        app = ObserverConsole("ignored:1", tunnel=tunnel, sample_rates=False)
        assert app.tunnel is not None and app.target == app.tunnel.target
        async with app.run_test(size=(120, 36)):
            await eventually(
                lambda: (
                    app.state.tunnel is not None and app.state.tunnel.phase is TunnelPhase.CONNECTED
                )
            )
            await eventually(lambda: "tunnel connected" in screen_text(app))
            await eventually(lambda: app.state.status is not None)


def test_each_panel_declares_what_its_redraws_depend_on() -> None:
    state = ConsoleState("t")
    volumes, backups = Volumes(), Backups()
    before = (volumes.redraw_key(state), backups.redraw_key(state))
    state.control_error = "backup: refused"
    # A control result changes the backups panel, not the volumes panel.
    assert volumes.redraw_key(state) == before[0]
    assert backups.redraw_key(state) != before[1]
