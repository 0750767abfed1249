"""Column layout for the live panels: the look of a borderless, expanded Rich ``Table``
built straight as ``Text``.

A Rich table measures and renders every cell through its generic renderable machinery
(about 10 ms of CPU for the live-ticks panel at 120x36, four times a second, on the event
loop that also serves key presses). The panels' cells are short single-line strings, so the
same layout is a few string joins: widths are the widest cell plus one column of padding,
grown in proportion to fill the panel the way ``Table(expand=True)`` distributes spare
width, right-justified columns padded on the left, the header in the table-header style.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import ceil

from rich.cells import cell_len
from rich.text import Text

#: Rich's default theme styles a table header bold.
HEADER_STYLE = "bold"


@dataclass(frozen=True)
class Column:
    header: str
    #: Style of every body cell, padding included (Rich's column style).
    style: str = ""
    right: bool = False
    #: Fixed content width (Rich's column ``width``); None = the widest cell.
    width: int | None = None
    #: Widest the column measures (Rich's ``max_width``); longer cells end in an ellipsis
    #: when the final column is narrower than they are.
    max_width: int | None = None


#: One cell: its text and the style layered over the column style.
Cell = tuple[str, str]


def _distribute(total: int, ratios: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``ratios`` (rounding up, front first), as Rich
    spreads the spare width of an expanded table."""
    remaining_ratio = sum(ratios)
    remaining = total
    out: list[int] = []
    for ratio in ratios:
        part = ceil(ratio * remaining / remaining_ratio) if remaining_ratio > 0 else remaining
        out.append(part)
        remaining_ratio -= ratio
        remaining -= part
    return out


def layout(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> Text | None:
    """The rows under a header line, filling ``width`` cells; None when the content does not
    fit (the caller then falls back to a Rich table, which knows how to squeeze)."""
    widths = [
        min(
            c.width
            if c.width is not None
            else max([cell_len(c.header), *(cell_len(r[i][0]) for r in rows)]),
            c.max_width or width,
        )
        + 1
        for i, c in enumerate(columns)
    ]
    spare = width - sum(widths)
    if spare < 0:
        return None
    if spare:
        widths = [w + pad for w, pad in zip(widths, _distribute(spare, widths), strict=True)]
    lines = [
        _line(
            ((gap + c.header if c.right else c.header + gap) + " ", HEADER_STYLE)
            for c, w in zip(columns, widths, strict=True)
            for gap in (" " * (w - 1 - cell_len(c.header)),)
        )
    ]
    for row in rows:
        runs: list[Cell] = []
        for c, w, (text, style) in zip(columns, widths, row, strict=True):
            # As in a Rich table: the justification gap takes the cell's own style, the
            # padding column only the column's.
            if cell_len(text) > w - 1:
                cut = Text(text)
                cut.truncate(w - 1, overflow="ellipsis")
                text = cut.plain
            gap = " " * (w - 1 - cell_len(text))
            cell_style = f"{c.style} {style}".strip()
            runs.append((gap + text if c.right else text + gap, cell_style))
            runs.append((" ", c.style))
        lines.append(_line(runs))
    return Text("\n").join(lines)


def _line(runs: Iterable[Cell]) -> Text:
    """One line, neighbouring runs of the same style merged into one span (so the line
    renders to the same segments as the Rich table it stands in for)."""
    merged: list[Cell] = []
    for text, style in runs:
        if merged and merged[-1][1] == style:
            merged[-1] = (merged[-1][0] + text, style)
        elif text:
            merged.append((text, style))
    return Text.assemble(*merged)
