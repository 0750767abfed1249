"""The dashboard: every region of the daemon on one screen (120x36; scrolls at 80x24)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Container, Vertical, VerticalScroll
from textual.screen import Screen

from observer.console.state import ConsoleState
from observer.console.widgets.backups import Backups
from observer.console.widgets.footer import KeysFooter
from observer.console.widgets.header import Banner, HeaderBar
from observer.console.widgets.rotation import Rotation
from observer.console.widgets.secrets import Secrets
from observer.console.widgets.ticks import LatestTicks, Tape
from observer.console.widgets.volumes import Volumes


class DashboardScreen(Screen[None]):
    """Header, banner, ticks and tape on the left; volumes, rotation, secrets, backups right."""

    # Textual declares this on Screen; "-narrow" stacks the panels in one scrolling column.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield Banner("", id="banner")
        with Container(id="body"):
            with Vertical(id="left"):
                yield LatestTicks(id="ticks")
                yield Tape(id="tape")
            with VerticalScroll(id="right"):
                yield Volumes(id="volumes")
                yield Rotation(id="rotation")
                yield Secrets(id="secrets")
                yield Backups(id="backups")
        yield KeysFooter()

    def draw(self, state: ConsoleState) -> None:
        self.query_one(HeaderBar).draw(state)
        self.query_one(Banner).draw(state)
        for panel in (LatestTicks, Tape, Volumes, Rotation, Secrets, Backups):
            self.query_one(panel).draw(state)
