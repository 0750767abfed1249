"""Base class of the dashboard panels: a bordered Static drawn from the coalesced state."""

from __future__ import annotations

from rich.console import RenderableType
from textual.widgets import Static

from observer.console import format as fmt
from observer.console.state import ConsoleState


class Panel(Static):
    """A titled panel; subclasses implement :meth:`render_state`."""

    TITLE = ""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.border_title = self.TITLE

    def draw(self, state: ConsoleState) -> None:
        """Redraw from the state; stale values are marked, never shown as current."""
        stale = state.stale and state.status is not None
        self.set_class(stale, "-stale")
        age = state.status_age()
        self.border_subtitle = f"stale · last seen {fmt.duration(age)} ago" if stale else ""
        self.update(self.render_state(state))

    def render_state(self, state: ConsoleState) -> RenderableType:
        raise NotImplementedError
