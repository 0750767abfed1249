"""Rotation region: per stream the current file, lines, bytes, next rotation, and each
derived sink's lag, checkpoint and last error."""

from __future__ import annotations

import posixpath

from rich.console import RenderableType
from rich.text import Text

from observer.console import format as fmt
from observer.console.state import ConsoleState
from observer.console.widgets.panel import Panel
from observer.v1 import observer_pb2 as pb

_SINK_STYLE = {
    pb.SINK_STATE_OK: "green",
    pb.SINK_STATE_DEGRADED: "bold yellow",
    pb.SINK_STATE_DISABLED: "dim",
    pb.SINK_STATE_FAILED: "bold red",
}


def _lag(s: pb.SinkLag) -> str:
    return (
        f" {s.lag_rows:,} rows/{fmt.duration(s.lag_seconds)}" if s.lag_rows or s.lag_seconds else ""
    )


def _troubled(s: pb.SinkLag) -> bool:
    return bool(s.last_error) and s.state not in (pb.SINK_STATE_OK, pb.SINK_STATE_DISABLED)


def sink_text(s: pb.SinkLag) -> Text:
    label = fmt.enum_label(pb.SinkState, s.state)
    text = Text.assemble((s.name, ""), " ", (label, _SINK_STYLE.get(s.state, "")))
    if not _troubled(s):  # a troubled sink's lag goes on its own line (sink_problem)
        text.append(_lag(s))
    return text


def sink_problem(s: pb.SinkLag) -> Text | None:
    """A line for a sink that is behind with an error: lag, checkpoint and why."""
    if not _troubled(s):
        return None
    text = Text("       ")
    text.append(s.name, "bold")
    text.append(_lag(s))
    if s.checkpoint_file:
        at = f"{posixpath.basename(s.checkpoint_file)}:{s.checkpoint_offset:,}"
        text.append(f" at {at}", "dim")
    text.append(f": {s.last_error}", _SINK_STYLE.get(s.state, ""))
    return text


def stream_lines(s: pb.Stream, now: float) -> list[Text]:
    """Two lines: the open segment, then what was closed and how far the sinks are behind."""
    head = Text.assemble((f"{s.name:<6} ", "bold"))
    head.append(posixpath.basename(s.current_file) or "none open", "" if s.current_file else "dim")
    head.append(f"  {s.lines:,} lines  {fmt.size(s.bytes)}")
    nxt = fmt.ts_seconds(s.next_rotation_at)
    if nxt is not None:
        head.append(f"  rotates in {fmt.duration(nxt - now)}", "dim")
    tail = Text("       ")
    closed = posixpath.basename(s.last_closed_file)
    parts = [Text(f"closed {closed}", "dim")] if closed else []
    parts.extend(sink_text(sink) for sink in s.sinks)
    if not parts:
        return [head]
    tail.append_text(Text(" · ", "dim").join(parts))
    out = [head, tail]
    out += [line for sink in s.sinks if (line := sink_problem(sink)) is not None]
    if s.last_error:
        out.append(Text(f"       write error: {s.last_error}", "bold red"))
    return out


class Rotation(Panel):
    TITLE = "Rotation"

    def render_state(self, state: ConsoleState) -> RenderableType:
        if state.status is None:
            return Text("no status yet", "dim")
        now = fmt.ts_seconds(state.status.generated_at) or 0.0
        lines: list[Text] = []
        for s in state.status.streams:
            lines.extend(stream_lines(s, now))
        return Text("\n").join(lines) if lines else Text("no streams", "dim")
