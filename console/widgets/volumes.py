"""Volumes region, per filesystem: the written paths on it, Observer's own bytes and growth
(which drive time-to-full), the volume's usage and free space, the ephemeral warning."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from observer.console import format as fmt
from observer.console.state import ConsoleState
from observer.console.widgets.panel import Panel
from observer.v1 import observer_pb2 as pb

_BAR = 10


def usage_bar(used: int, capacity: int, width: int = _BAR) -> Text:
    share = used / capacity if capacity else 0.0
    full = round(share * width)
    style = "red" if share >= 0.9 else "yellow" if share >= 0.75 else "green"
    return Text.assemble(("█" * full, style), ("░" * (width - full), "dim"))


def paths_label(v: pb.Volume) -> Text:
    """The first variable and how many more written paths share the filesystem."""
    text = Text(v.variables[0] if v.variables else v.mount_point, "bold")
    more = len(v.variables) - 1
    if more > 0:
        text.append(f" + {more} more path{'s' if more > 1 else ''}", "dim")
    return text


def observer_line(v: pb.Volume) -> Text:
    """Observer's own bytes on the volume and their growth, which drives time-to-full."""
    line = Text("  observer ", "dim")
    if not v.HasField("observer_bytes"):
        return line.append("measuring…", "dim")
    line.append(fmt.size(v.observer_bytes), "bold")
    growth = v.observer_growth_bytes_per_second
    if growth:
        line.append(f"  {'+' if growth > 0 else '-'}{fmt.size(abs(growth))}/s")
    if v.HasField("seconds_until_full"):
        line.append(f"  full in {fmt.duration(v.seconds_until_full)}")
    return line


def volume_lines(v: pb.Volume, width: int = 72) -> list[Text]:
    """Three lines (two for an ephemeral volume), the first fitted to ``width`` cells."""
    head = paths_label(v)
    kind = f" ({fmt.volume_kind_label(v.kind, short=True)}, {v.fs_type})"
    room = max(12, width - head.cell_len - len("  on ") - len(kind))
    head.append(f"  on {fmt.middle(v.mount_point, room)}", "dim")
    head.append(kind, "dim")
    if fmt.is_ephemeral(v.kind):
        warn = Text(" EPHEMERAL — lost on restart ", "bold white on red")
        reason = Text(f" {fmt.middle(v.kind_reason, 40)}", "red") if v.kind_reason else Text("")
        return [head, Text.assemble(warn, reason)]
    share = v.used_bytes / v.capacity_bytes * 100 if v.capacity_bytes else 0.0
    figures = (
        f" {fmt.size(v.used_bytes)} used of {fmt.size(v.capacity_bytes)} ({share:.0f}%)"
        f" · {fmt.size(v.free_bytes)} free"
    )
    disk = Text("  volume   ", "dim")
    if disk.cell_len + _BAR + len(figures) <= width:  # the bar only where the figures fit
        disk.append_text(usage_bar(v.used_bytes, v.capacity_bytes))
    disk.append(figures.lstrip() if disk.cell_len == len("  volume   ") else figures)
    if v.nearly_full:
        disk.append("  NEARLY FULL", "bold red")
    if not v.writable:
        disk.append("  NOT WRITABLE", "bold red")
    return [head, observer_line(v), disk]


class Volumes(Panel):
    TITLE = "Volumes"

    def render_state(self, state: ConsoleState) -> RenderableType:
        if state.status is None:
            return Text("no status yet", "dim")
        lines: list[Text] = []
        width = self.content_size.width or 72
        for v in state.status.volumes:
            lines.extend(volume_lines(v, width))
        return Text("\n").join(lines) if lines else Text("daemon reports no volumes", "dim")
