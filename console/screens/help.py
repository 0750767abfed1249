"""Help screen (``?``): every key, what the colours mean, where the numbers come from."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from observer.console.actions import ACTIONS, PANELS, TAIL_ACTIONS


def help_text() -> Group:
    keys = Table(box=None, padding=(0, 2), show_header=False)
    keys.add_column(style="bold cyan")
    keys.add_column()
    for a in ACTIONS:
        if a.action.startswith("panel("):
            continue  # one row for the panel keys, below
        keys.add_row(a.shown_key, f"{a.title} — {a.help}")
    panels = ", ".join(f"{n} {title}" for n, (_, title) in enumerate(PANELS, 1))
    keys.add_row(f"1-{len(PANELS)}", f"Dashboard panels: {panels} (one at a time below 100x30)")
    keys.add_row("ctrl+p", "Command palette: every action above, by name (the tail's too)")
    tail = Table(box=None, padding=(0, 2), show_header=False)
    tail.add_column(style="bold cyan")
    tail.add_column()
    for a in TAIL_ACTIONS:
        tail.add_row(a.shown_key, a.help)
    tail.add_row("enter / tab", "in the filter: apply it / leave it (the keys above work again)")
    return Group(
        Text("Keys", "bold underline"),
        keys,
        Text("\nTail screen", "bold underline"),
        tail,
        Text("\nReading the dashboard", "bold underline"),
        Text.assemble(
            "Colours of price, change and %: the change versus the previous close, ",
            ("red up", "bold red"),
            ", ",
            ("blue down", "bold dodger_blue2"),
            " (KRX convention).\nThe arrow beside the price is this trade against the one "
            "before it: ",
            ("▲", "bold red"),
            " higher, ",
            ("▼", "bold dodger_blue2"),
            " lower, · the same. A ",
            ("▼", "bold dodger_blue2"),
            " beside a red +200 is a trade\nbelow the last one on a day that is still up.\n"
            "Times are KST. Probes: ● serving, ✖ not serving, ? unknown.\nA red ",
            (" EPHEMERAL — lost on restart ", "bold white on red"),
            " volume is the container's own filesystem: data there vanishes with the pod.\n"
            "Volumes: observer is the size and growth of Observer's own files (what drives "
            "full in);\nvolume is the whole filesystem, other tenants included.\n"
            "When the daemon or the tunnel is gone a red banner says so, panels are marked\n"
            "'stale · last seen Ns ago', the header's KIS state ends in ?, and the console "
            "reconnects by itself.\n"
            "Control actions (backup, verify, rotate) need the daemon's OBSERVER_CONTROL_TOKEN:\n"
            "--token-file FILE, the OBSERVER_CONTROL_TOKEN variable, or --token-from-secret NAME\n"
            "(after make demo: --token-file observer-runtime/demo-token).",
        ),
    )


class HelpScreen(Screen[None]):
    """A full screen rather than a modal: drawing a dimmed dashboard behind it costs more
    than the help itself while thousands of ticks per second stream in."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_text())

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "Help — esc to close"

    def action_close(self) -> None:
        self.app.pop_screen()
