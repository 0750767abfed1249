"""Tail screen: the newest ticks, filtered by symbol, paused or following."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input, Static

from observer.console import format as fmt
from observer.console.actions import ACTIONS, TAIL_ACTIONS
from observer.console.state import ConsoleState, TickRow
from observer.console.widgets.footer import KeysFooter
from observer.console.widgets.header import Banner
from observer.console.widgets.ticks import tape_line

#: Seconds without a matching tick before the screen says so instead of waiting silently.
QUIET_AFTER = 3.0
#: A symbol as the daemon accepts one: 6 digits, or Q and 6 digits or capitals (an ETN).
_SYMBOL = re.compile(r"[0-9]{6}|Q[0-9A-Z]{6}")


@dataclass(frozen=True)
class Filter:
    """What the operator typed, as symbols, and what of it was not a symbol."""

    symbols: frozenset[str] = frozenset()
    rejected: tuple[str, ...] = ()


def parse_filter(text: str) -> Filter:
    """``"005930, 000660"`` -> those symbols; empty = every symbol. A piece that is not a
    symbol ("12345", "abc", "p005930") is kept aside to be shown, never guessed at."""
    pieces = [p.strip() for p in re.split(r"[,\s]+", text) if p.strip()]
    good = [p.upper() if p[:1] in "qQ" else p for p in pieces]
    symbols = frozenset(p for p in good if _SYMBOL.fullmatch(p))
    rejected = tuple(p for p, g in zip(pieces, good, strict=True) if g not in symbols)
    return Filter(symbols, rejected)


class FilterInput(Input):
    """The filter: Enter applies it, Escape and Tab leave it (the screen's keys work again)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,tab,shift+tab", "leave", "Leave filter", show=True),
    ]

    def action_leave(self) -> None:
        self.screen.set_focus(None)


class TailScreen(Screen[None]):
    """The newest ticks; its keys work wherever the focus is except in the filter, which
    gets the focus only when asked for (``/``) and gives it back on Enter, Escape or Tab."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(a.key, a.action, a.footer, show=bool(a.footer)) for a in TAIL_ACTIONS),
        # The app's keys work here too, but only help and quit share the footer with the
        # tail's own: at 80 columns all of them would not fit.
        *(
            Binding(a.key, f"app.{a.action}", a.title, show=False)
            for a in ACTIONS
            if a.footer and a.key not in ("question_mark", "q")
        ),
    ]
    #: Nothing takes the focus on open: the keys belong to the screen.
    AUTO_FOCUS = ""

    def __init__(self) -> None:
        super().__init__()
        self.filter = Filter()
        self.paused = False
        self._frozen: list[TickRow] = []

    @property
    def symbols(self) -> frozenset[str]:
        return self.filter.symbols

    def compose(self) -> ComposeResult:
        yield Banner("", id="banner")
        yield FilterInput(
            placeholder="/ to filter: symbols, comma separated (enter applies, esc or tab leaves)",
            id="tail-filter",
        )
        yield Static("", id="tail-status")
        yield Static("", id="tail-lines")
        yield KeysFooter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.filter = parse_filter(event.value)
        self._frozen = []
        self.set_focus(None)

    def action_back(self) -> None:
        if self.focused is self.query_one(Input):
            self.set_focus(None)
            return
        self.app.pop_screen()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._frozen = []

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_clear(self) -> None:
        self.query_one(Input).value = ""
        self.filter = Filter()
        self._frozen = []

    def _matching(self, state: ConsoleState, room: int) -> list[TickRow]:
        out: list[TickRow] = []
        for row in reversed(state.tape):
            if not self.symbols or row.symbol in self.symbols:
                out.append(row)
                if len(out) >= room:
                    break
        return out

    def draw(self, state: ConsoleState) -> None:
        self.query_one(Banner).draw(state)
        lines = self.query_one("#tail-lines", Static)
        room = max(1, lines.size.height or 20)
        if self.paused:
            if not self._frozen:
                self._frozen = self._matching(state, room)
            rows = self._frozen
        else:
            rows = self._matching(state, room)
        status = Text()
        status.append(
            "PAUSED (p follows)" if self.paused else "following (p pauses)",
            "bold yellow" if self.paused else "bold green",
        )
        status.append(
            f" · {fmt.rate(state.tick_rate)} · seen {state.ticks_seen:,} · dropped {state.dropped_total:,}"
        )
        status.append(
            f" · filter {', '.join(sorted(self.symbols)) if self.symbols else 'all symbols'}", "dim"
        )
        second = Text()
        if self.filter.rejected:
            second.append(
                f"not understood: {', '.join(self.filter.rejected)} (a symbol is 6 digits, or "
                "Q and 6 for an ETN)",
                "bold yellow",
            )
        quiet = self._quiet_for(state)
        if quiet is not None and quiet >= QUIET_AFTER:
            second.append(" · " if second else "")
            second.append(f"no ticks for {fmt.duration(quiet)}", "bold yellow")
            if state.down_for() is not None:
                second.append(" — the daemon is unreachable", "bold red")
        width = self.query_one("#tail-status", Static).content_size.width
        said = [status, second] if second else [status]
        for line in said:  # each stays one line (the stylesheet gives the status two)
            line.no_wrap = True
            if width and line.cell_len > width:
                line.truncate(width, overflow="ellipsis")
        status = Text("\n").join(said)
        # Both heights are fixed by the stylesheet: repaint without a layout pass.
        self.query_one("#tail-status", Static).update(status, layout=False)
        if rows:
            lines.update(Text("\n").join(tape_line(r) for r in rows), layout=False)
        else:
            lines.update(Text("no matching ticks yet", "dim"), layout=False)

    def _quiet_for(self, state: ConsoleState) -> float | None:
        if not self.symbols:
            return state.quiet_for() if state.last_tick_at is not None else state.down_for()
        seen = [r.seen_at for s in self.symbols if (r := state.latest.get(s)) is not None]
        if not seen:
            return state.quiet_for()
        return state.clock() - max(seen)
