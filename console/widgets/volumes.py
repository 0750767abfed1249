"""Volumes region: a usage bar per filesystem, growth, time until full, ephemeral warning."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from observer.console import format as fmt
from observer.console.state import ConsoleState
from observer.console.widgets.panel import Panel
from observer.v1 import observer_pb2 as pb

_BAR = 14


def usage_bar(used: int, capacity: int, width: int = _BAR) -> Text:
    share = used / capacity if capacity else 0.0
    full = round(share * width)
    style = "red" if share >= 0.9 else "yellow" if share >= 0.75 else "green"
    return Text.assemble(("█" * full, style), ("░" * (width - full), "dim"))


def volume_lines(v: pb.Volume) -> list[Text]:
    name = v.variables[0] if v.variables else v.mount_point
    head = Text(name, "bold")
    if len(v.variables) > 1:
        head.append(f" +{len(v.variables) - 1}", "dim")
    head.append(f"  {fmt.middle(v.mount_point, 36)}", "dim")
    head.append(f"  {fmt.volume_kind_label(v.kind, short=True)} {v.fs_type}", "dim")
    if fmt.is_ephemeral(v.kind):
        warn = Text(" EPHEMERAL — lost on restart ", "bold white on red")
        reason = Text(f" {fmt.middle(v.kind_reason, 40)}", "red") if v.kind_reason else Text("")
        return [head, Text.assemble(warn, reason)]
    share = v.used_bytes / v.capacity_bytes * 100 if v.capacity_bytes else 0.0
    bar = usage_bar(v.used_bytes, v.capacity_bytes)
    bar.append(f" {fmt.size(v.used_bytes)} of {fmt.size(v.capacity_bytes)} {share:.0f}%")
    if v.growth_bytes_per_second:
        bar.append(f" {fmt.size(v.growth_bytes_per_second)}/s", "dim")
    if v.HasField("seconds_until_full"):
        bar.append(f" full in {fmt.duration(v.seconds_until_full)}")
    if v.nearly_full:
        bar.append("  NEARLY FULL", "bold red")
    if not v.writable:
        bar.append("  NOT WRITABLE", "bold red")
    return [head, bar]


class Volumes(Panel):
    TITLE = "Volumes"

    def render_state(self, state: ConsoleState) -> RenderableType:
        if state.status is None:
            return Text("no status yet", "dim")
        lines: list[Text] = []
        for v in state.status.volumes:
            lines.extend(volume_lines(v))
        return Text("\n").join(lines) if lines else Text("daemon reports no volumes", "dim")
