"""Secrets region: presence, source, fingerprint, age, token expiry — never a value."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from observer.console import format as fmt
from observer.console.state import ConsoleState
from observer.console.widgets.panel import Panel


def short_source(source: str) -> str:
    """``cache /a/b/.kis-token`` -> ``cache …/.kis-token`` (the kind and the file name)."""
    kind, _, path = source.partition(" ")
    if "/" in path:
        return f"{kind} …/{path.rstrip('/').rsplit('/', 1)[-1]}"
    return source


class Secrets(Panel):
    TITLE = "Secrets"

    def render_state(self, state: ConsoleState) -> RenderableType:
        if state.status is None:
            return Text("no status yet", "dim")
        table = Table(box=None, expand=True, padding=(0, 1, 0, 0), show_edge=False)
        table.add_column("secret", no_wrap=True)
        table.add_column("sha256", no_wrap=True)
        table.add_column("source", no_wrap=True, overflow="ellipsis", max_width=18)
        table.add_column("age", no_wrap=True, justify="right")
        table.add_column("expires in", no_wrap=True, justify="right")
        now = fmt.ts_seconds(state.status.generated_at) or 0.0
        for s in state.status.secrets:
            expires = fmt.ts_seconds(s.expires_at)
            if expires is None:
                exp = Text("—", "dim")
            else:
                left = expires - now
                exp = Text(fmt.duration(left), "bold red" if left < 3600 else "")
            table.add_row(
                s.name,
                Text(f"✔ {s.fingerprint}", "green") if s.present else Text("✖ missing", "yellow"),
                Text(short_source(s.source), "dim"),
                fmt.duration(s.age_seconds) if s.HasField("age_seconds") else Text("—", "dim"),
                exp,
            )
        return table
