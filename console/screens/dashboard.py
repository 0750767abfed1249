"""The dashboard: every region of the daemon on one screen at 120x36; in a smaller terminal
(under 100 columns or 30 lines) a one-line header, a panel switcher and one panel at a time,
the live ticks of the watchlist first."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Static

from observer.console.actions import PANELS
from observer.console.state import ConsoleState
from observer.console.widgets.backups import Backups
from observer.console.widgets.footer import KeysFooter
from observer.console.widgets.header import Banner, HeaderBar
from observer.console.widgets.panel import Panel
from observer.console.widgets.rotation import Rotation
from observer.console.widgets.secrets import Secrets
from observer.console.widgets.ticks import LatestTicks, Tape
from observer.console.widgets.volumes import Volumes

#: Below this many columns or lines the dashboard shows one panel at a time.
COMPACT_WIDTH, COMPACT_HEIGHT = 100, 30


def panel_bar(selected: str) -> Text:
    """``1 Ticks  2 Volumes …`` with the panel on show highlighted."""
    bar = Text()
    for n, (name, title) in enumerate(PANELS, 1):
        style = "bold reverse" if name == selected else ""
        bar.append(f" {n} ", "bold cyan" if name != selected else style)
        bar.append(f"{title} ", style)
        bar.append(" ")
    return bar


class DashboardScreen(Screen[None]):
    """Header, banner, ticks and tape on the left; volumes, rotation, secrets, backups right."""

    def __init__(self) -> None:
        super().__init__()
        #: The panel shown in a small terminal (and scrolled to in a large one).
        self.panel = PANELS[0][0]
        self.compact = False

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield Banner("", id="banner")
        yield Static(panel_bar(self.panel), id="panel-bar")
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

    def on_resize(self, event: Resize) -> None:
        self._lay_out()

    def show_panel(self, name: str) -> None:
        """Show panel ``name`` ("ticks" is the live ticks and the tape)."""
        self.panel = name
        self._lay_out()
        if not self.compact and name != "ticks":
            self.query_one(f"#{name}", Panel).scroll_visible(animate=False)

    def _lay_out(self) -> None:
        compact = self.size.width < COMPACT_WIDTH or self.size.height < COMPACT_HEIGHT
        self.compact = compact
        self.set_class(compact, "-compact")
        self.query_one(HeaderBar).compact = compact
        self.query_one("#panel-bar", Static).update(panel_bar(self.panel))
        self.query_one("#left").display = not compact or self.panel == "ticks"
        self.query_one("#right").display = not compact or self.panel != "ticks"
        for panel in self.query_one("#right").query(Panel):
            panel.display = not compact or panel.id == self.panel

    def draw(self, state: ConsoleState) -> None:
        self.query_one(HeaderBar).draw(state)
        self.query_one(Banner).draw(state)
        for panel in (LatestTicks, Tape, Volumes, Rotation, Secrets, Backups):
            self.query_one(panel).draw(state)
