"""Base class of the dashboard panels: a bordered Static drawn from the coalesced state."""

from __future__ import annotations

from rich.console import RenderableType
from textual.widgets import Static

from observer.console import format as fmt
from observer.console.state import ConsoleState


class Panel(Static):
    """A titled panel; subclasses implement :meth:`render_state`."""

    TITLE = ""
    #: Panels drawn from the status only skip redraws while the status did not change.
    STATUS_ONLY = True

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.border_title = self.TITLE
        self._drawn: object = None

    def draw(self, state: ConsoleState) -> None:
        """Redraw from the state; stale values are marked, never shown as current."""
        stale = state.stale and state.status is not None
        age = state.status_age()
        subtitle = f"stale · last seen {fmt.duration(age)} ago" if stale else ""
        key: object = (
            (state.status_at, subtitle, self.size, state.control_error, state.backup_manifest,
             state.verify_result, len(state.backup_list))
            if self.STATUS_ONLY
            else (state.version, subtitle, self.size)
        )  # fmt: skip
        if key == self._drawn:
            return
        self._drawn = key
        self.set_class(stale, "-stale")
        self.border_subtitle = subtitle
        self.update(self.render_state(state))

    def render_state(self, state: ConsoleState) -> RenderableType:
        raise NotImplementedError
