"""Secrets region: presence, source, fingerprint, age, token expiry — never a value."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from observer.console import format as fmt
from observer.console.state import ConsoleState
from observer.console.widgets import columns
from observer.console.widgets.panel import Panel
from observer.v1 import observer_pb2 as pb


def short_source(source: str) -> str:
    """``cache /a/b/.kis-token`` -> ``cache …/.kis-token`` (the kind and the file name)."""
    kind, _, path = source.partition(" ")
    if "/" in path:
        return f"{kind} …/{path.rstrip('/').rsplit('/', 1)[-1]}"
    return source


_COLUMNS = (
    columns.Column("secret"),
    columns.Column("sha256"),
    columns.Column("source", max_width=18),
    columns.Column("age", right=True),
    columns.Column("expires in", right=True),
)


def secret_cells(s: pb.SecretStatus, now: float) -> tuple[columns.Cell, ...]:
    expires = fmt.ts_seconds(s.expires_at)
    if expires is None:
        exp: columns.Cell = ("—", "dim")
    else:
        left = expires - now
        exp = (fmt.duration(left), "bold red" if left < 3600 else "")
    return (
        (s.name, ""),
        (f"✔ {s.fingerprint}", "green") if s.present else ("✖ missing", "yellow"),
        (short_source(s.source), "dim"),
        (fmt.duration(s.age_seconds), "") if s.HasField("age_seconds") else ("—", "dim"),
        exp,
    )


def secrets_table(cells: list[tuple[columns.Cell, ...]]) -> Table:
    """The same rows as a Rich table: before the first layout, or too narrow to fit."""
    table = Table(box=None, expand=True, padding=(0, 1, 0, 0), show_edge=False)
    table.add_column("secret", no_wrap=True)
    table.add_column("sha256", no_wrap=True)
    table.add_column("source", no_wrap=True, overflow="ellipsis", max_width=18)
    table.add_column("age", no_wrap=True, justify="right")
    table.add_column("expires in", no_wrap=True, justify="right")
    for row in cells:
        table.add_row(*(Text(text, style) for text, style in row))
    return table


class Secrets(Panel):
    TITLE = "Secrets"

    def render_state(self, state: ConsoleState) -> RenderableType:
        if state.status is None:
            return Text("no status yet", "dim")
        now = fmt.ts_seconds(state.status.generated_at) or 0.0
        cells = [secret_cells(s, now) for s in state.status.secrets]
        width = self.content_size.width
        text = columns.layout(_COLUMNS, cells, width) if width > 0 else None
        return text if text is not None else secrets_table(cells)
