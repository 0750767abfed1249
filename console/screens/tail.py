"""Tail screen: the newest ticks, filtered by symbol, paused or following."""

from __future__ import annotations

import re
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input, Static

from observer.console import format as fmt
from observer.console.state import ConsoleState, TickRow
from observer.console.widgets.footer import KeysFooter
from observer.console.widgets.header import Banner
from observer.console.widgets.ticks import tape_line

#: Seconds without a matching tick before the screen says so instead of waiting silently.
QUIET_AFTER = 3.0


def parse_filter(text: str) -> frozenset[str]:
    """``"005930, 000660"`` -> the set of 6-digit symbols in it; empty = everything."""
    return frozenset(re.findall(r"(?<!\d)\d{6}(?!\d)", text))


class TailScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Dashboard"),
        Binding("space,p", "pause", "Pause/follow"),
        Binding("slash", "filter", "Filter"),
        Binding("c", "clear", "Clear filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.symbols: frozenset[str] = frozenset()
        self.paused = False
        self._frozen: list[TickRow] = []

    def compose(self) -> ComposeResult:
        yield Banner("", id="banner")
        yield Input(
            placeholder="filter: 6-digit symbols, comma separated (enter to apply)",
            id="tail-filter",
        )
        yield Static("", id="tail-status")
        yield Static("", id="tail-lines")
        yield KeysFooter()

    def on_mount(self) -> None:
        # Keys belong to the screen until the operator asks for the filter ("/").
        self.set_focus(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.symbols = parse_filter(event.value)
        self.query_one("#tail-lines").focus()

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
        self.symbols = frozenset()

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
            "PAUSED (space to follow)" if self.paused else "following",
            "bold yellow" if self.paused else "bold green",
        )
        status.append(
            f" · {fmt.rate(state.tick_rate)} · seen {state.ticks_seen:,} · dropped {state.dropped_total:,}"
        )
        status.append(
            f" · filter {', '.join(sorted(self.symbols)) if self.symbols else 'all symbols'}", "dim"
        )
        quiet = self._quiet_for(state)
        if quiet is not None and quiet >= QUIET_AFTER:
            status.append(f"\nno ticks for {fmt.duration(quiet)}", "bold yellow")
            if state.down_for() is not None:
                status.append(" — the daemon is unreachable", "bold red")
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
