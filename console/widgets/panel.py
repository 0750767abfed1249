"""Base class of the dashboard panels: a bordered Static drawn from the coalesced state."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import RenderableType
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual.geometry import Size
from textual.strip import Strip
from textual.widgets import Static

from observer.console import format as fmt
from observer.console.state import ConsoleState


class Panel(Static):
    """A titled panel; subclasses implement :meth:`render_state`."""

    TITLE = ""
    #: Panels whose height the stylesheet fixes never need a layout pass for new content.
    FIXED_HEIGHT = False

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.border_title = self.TITLE
        self._drawn: object = None
        self._lines: int | None = None
        #: Text of a fixed-height panel drawn line by line (None: drawn by Static).
        self._text: Text | None = None
        self._strips: list[Strip] = []
        self._strips_size = Size(0, 0)
        self._state: ConsoleState | None = None

    def on_resize(self) -> None:
        # Content is laid out for the size at draw time (columns, visible rows): follow a
        # new size at once rather than at the next change of state.
        if self._state is not None:
            self.draw(self._state)

    def draw(self, state: ConsoleState) -> None:
        """Redraw from the state; stale values are marked, never shown as current."""
        self._state = state
        stale = state.stale and state.status is not None
        age = state.status_age()
        subtitle = f"stale · last seen {fmt.duration(age)} ago" if stale else ""
        key = (self.redraw_key(state), subtitle, self.size)
        if key == self._drawn:
            return
        self._drawn = key
        self.set_class(stale, "-stale")
        self.border_subtitle = subtitle
        content = self.render_state(state)
        if self.FIXED_HEIGHT and isinstance(content, Text) and self.size.width > 0:
            # The live panels change four times a second: render their lines straight to
            # strips (Rich's own Text rendering) instead of through Static's generic
            # visual pipeline, which costs several times more per line.
            self._text = content
            self._render_strips()
            self.refresh()
            return
        self._text = None
        # A layout pass re-measures every widget on the screen (tens of ms at 120x36), and
        # the event loop, keys included, waits for it: only ask for one when the height
        # of this panel may change.
        lines = None if self.FIXED_HEIGHT else height_hint(content, self.content_size.width)
        relayout = not self.FIXED_HEIGHT and (lines is None or lines != self._lines)
        self._lines = lines
        self.update(content, layout=relayout)

    def redraw_key(self, state: ConsoleState) -> object:
        """A value that changes whenever what this panel shows may have changed (its size
        and staleness are compared besides). By default the status snapshot: a panel
        showing ticks or this console's own actions declares what else it shows."""
        return state.status_at

    def render_state(self, state: ConsoleState) -> RenderableType:
        raise NotImplementedError

    def _render_strips(self) -> None:
        assert self._text is not None
        width = self.size.width
        console = self.app.console
        base = self.visual_style.rich_style
        strips = []
        for line in self._text.split("\n", allow_blank=True)[: self.size.height]:
            segments = Segment.apply_style(line.render(console, end=""), base)
            strips.append(Strip(segments).crop(0, width))
        self._strips = strips
        self._strips_size = self.size

    def render_line(self, y: int) -> Strip:
        if self._text is None:
            return super().render_line(y)
        if self._strips_size != self.size:
            # Resized since the last draw: cut the same lines to the new size.
            self._render_strips()
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)


def height_hint(content: RenderableType, width: int) -> int | None:
    """Lines the content takes at this width when that is certain without rendering it
    (no wrapping can happen), else None."""
    if width <= 0:
        return None
    if isinstance(content, Text):
        lines = content.plain.split("\n")
        return len(lines) if all(cell_len(line) <= width for line in lines) else None
    if (
        isinstance(content, Table)
        and content.box is None
        and not (content.show_footer or content.show_lines or content.leading)
        and content.title is None
        and content.caption is None
        and content.padding[0] == content.padding[2] == 0
        and all(c.no_wrap for c in content.columns)
    ):
        return content.row_count + (1 if content.show_header else 0)
    return None
