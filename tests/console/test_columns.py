"""The live-ticks panel's column layout looks exactly like the Rich table it replaces."""

from __future__ import annotations

import io

import pytest
from rich.console import Console, RenderableType
from rich.style import Style

from observer.console.state import TickRow
from observer.console.widgets import columns
from observer.console.widgets.secrets import _COLUMNS as secrets_columns
from observer.console.widgets.secrets import secret_cells, secrets_table
from observer.console.widgets.ticks import _COLUMNS, _cells, _table
from observer.v1 import observer_pb2 as pb


def _cells_on_screen(renderable: RenderableType, width: int) -> list[list[tuple[str, Style]]]:
    """Every character cell with its effective style (how segments split does not show)."""
    console = Console(file=io.StringIO(), width=width, color_system="truecolor")
    lines = console.render_lines(renderable, console.options, pad=False)
    return [[(ch, seg.style or Style()) for seg in line for ch in seg.text] for line in lines]


def _rows() -> list[TickRow]:
    out = []
    for i, (price, change, move) in enumerate(
        [(70800, -500, -1), (1_182_250, 12_450, 1), (980, 0, 0), (48_700, 350, 1)]
    ):
        out.append(
            TickRow(f"{i:06d}", price, change, change / price * 100, 10, 100,
                    f"2026-11-20T10:34:5{i}+09:00", move, 1, 0.0)
        )  # fmt: skip
    return out


@pytest.mark.parametrize("width", [43, 50, 61, 80, 118])
def test_ticks_columns_put_the_same_characters_and_styles_on_screen_as_the_rich_table(
    width: int,
) -> None:
    rows = _rows()
    text = columns.layout(_COLUMNS, [_cells(r) for r in rows], width)
    assert text is not None
    assert _cells_on_screen(text, width) == _cells_on_screen(_table(rows), width)


def test_columns_too_wide_for_the_panel_leave_it_to_the_rich_table() -> None:
    rows = _rows()
    assert columns.layout(_COLUMNS, [_cells(r) for r in rows], 20) is None


def _secrets() -> list[pb.SecretStatus]:
    expiring = pb.SecretStatus(name="KIS_ACCESS_TOKEN", present=True, fingerprint="1a2b3c4d")
    expiring.source = "cache /opt/platform/runtime/observer/config/.kis-token-cache"
    expiring.age_seconds = 4000
    expiring.expires_at.FromSeconds(1_000_000 + 1800)
    return [
        pb.SecretStatus(name="KIS_APP_KEY", present=True, fingerprint="9f8e7d6c", source="env"),
        pb.SecretStatus(name="DB_PASSWORD", present=False),
        expiring,
    ]


@pytest.mark.parametrize("width", [64, 70, 75, 90])
def test_secrets_columns_put_the_same_characters_and_styles_on_screen_as_the_rich_table(
    width: int,
) -> None:
    cells = [secret_cells(s, 1_000_000.0) for s in _secrets()]
    text = columns.layout(secrets_columns, cells, width)
    assert text is not None
    assert _cells_on_screen(text, width) == _cells_on_screen(secrets_table(cells), width)
