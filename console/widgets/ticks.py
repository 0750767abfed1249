"""Live ticks region: latest tick per symbol, and a moving tape of the newest trades.

Colours follow the KRX convention: up is red, down is blue.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from observer.console import format as fmt
from observer.console.state import ConsoleState, TickRow
from observer.console.widgets import columns
from observer.console.widgets.panel import Panel

UP = "bold red"
DOWN = "bold dodger_blue2"


def change_style(change: int) -> str:
    return UP if change > 0 else DOWN if change < 0 else ""


def arrow(move: int) -> Text:
    return Text("▲", UP) if move > 0 else Text("▼", DOWN) if move < 0 else Text("·", "dim")


def watchlist_first(state: ConsoleState) -> list[TickRow]:
    """The latest tick of each watchlist symbol in the watchlist's order, then the other
    symbols seen (the swing universe, polled once a minute) by code."""
    watch = list(state.status.collector.subscriptions) if state.status is not None else []
    first = [state.latest[s] for s in watch if s in state.latest]
    listed = set(watch)
    rest = sorted((r for s, r in state.latest.items() if s not in listed), key=lambda r: r.symbol)
    return first + rest


class LatestTicks(Panel):
    """One row per symbol, newest values: the watchlist first, as tall as the watchlist."""

    TITLE = "Live ticks"
    FIXED_HEIGHT = True
    #: Lines the tape below keeps at least.
    TAPE_MIN = 6

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._height = 0

    def redraw_key(self, state: ConsoleState) -> object:
        return state.version

    def draw(self, state: ConsoleState) -> None:
        self._fit_height(state)
        super().draw(state)

    def _fit_height(self, state: ConsoleState) -> None:
        """As tall as the watchlist (a header line and the borders besides): the room below
        goes to the tape rather than to rows that stay empty."""
        n = len(state.status.collector.subscriptions) if state.status is not None else 0
        if not n:
            return  # watchlist unknown yet: the stylesheet's share
        column = self.parent.size.height if isinstance(self.parent, Widget) else 0
        want = n + 3
        if column:
            want = max(4, min(want, column - self.TAPE_MIN))
        if want != self._height:
            self._height = want
            self.styles.height = want

    def render_state(self, state: ConsoleState) -> RenderableType:
        if not state.latest:
            quiet = "waiting for the first tick"
            return Text(quiet, "dim")
        rows = watchlist_first(state)
        room = max(1, self.size.height - 1) if self.size.height else len(rows)
        rows = rows[:room]
        width = self.content_size.width
        if width > 0:
            cells = [_cells(r) for r in rows]
            text = columns.layout(_COLUMNS, cells, width)
            if text is not None:
                return text
        return _table(rows)


_COLUMNS = (
    columns.Column("symbol", style="bold"),
    columns.Column("price", right=True),
    columns.Column("", width=1),
    columns.Column("change", right=True),
    columns.Column("%", right=True),
    columns.Column("time KST", style="dim"),
)
_ARROWS: dict[int, tuple[str, str]] = {1: ("▲", UP), -1: ("▼", DOWN), 0: ("·", "dim")}


def _cells(r: TickRow) -> tuple[columns.Cell, ...]:
    style = change_style(r.change)
    return (
        (r.symbol, ""),
        (fmt.price(r.price), ""),
        _ARROWS[r.move],
        (f"{r.change:+,}", style),
        (f"{r.change_pct:+.2f}", style),
        (r.time, ""),
    )


def _table(rows: list[TickRow]) -> Table:
    """The same rows as a Rich table: before the first layout, or too narrow to fit."""
    table = Table(box=None, expand=True, padding=(0, 1, 0, 0), show_edge=False)
    table.add_column("symbol", style="bold", no_wrap=True)
    table.add_column("price", justify="right", no_wrap=True)
    table.add_column("", width=1, no_wrap=True)
    table.add_column("change", justify="right", no_wrap=True)
    table.add_column("%", justify="right", no_wrap=True)
    table.add_column("time KST", style="dim", no_wrap=True)
    for r in rows:
        style = change_style(r.change)
        table.add_row(
            r.symbol,
            fmt.price(r.price),
            arrow(r.move),
            Text(f"{r.change:+,}", style),
            Text(f"{r.change_pct:+.2f}", style),
            r.time,
        )
    return table


def tape_line(r: TickRow) -> Text:
    return Text.assemble(
        (r.time, "dim"),
        " ",
        (r.symbol, "bold"),
        " ",
        (f"{fmt.price(r.price):>9}", change_style(r.change)),
        " ",
        arrow(r.move),
        (f" {r.volume:>6,}", ""),
    )


class Tape(Panel):
    """The newest trades, newest at the top; only the visible rows are built."""

    TITLE = "Tape"
    FIXED_HEIGHT = True

    def redraw_key(self, state: ConsoleState) -> object:
        return state.version

    def render_state(self, state: ConsoleState) -> RenderableType:
        room = max(1, self.size.height) if self.size.height else 8
        rows = [state.tape[-1 - i] for i in range(min(room, len(state.tape)))]
        if not rows:
            return Text("no trades yet", "dim")
        return Text("\n").join(tape_line(r) for r in rows)
