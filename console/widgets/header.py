"""Header region: target, tunnel, probe health, KIS session, uptime, ticks/s sparkline."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from observer.console import format as fmt
from observer.console.client import PROBES
from observer.console.portforward import TunnelPhase
from observer.console.state import ConsoleState
from observer.v1 import observer_pb2 as pb

_SESSION_STYLE = {
    pb.SESSION_STATE_CONNECTED: "bold green",
    pb.SESSION_STATE_CONNECTING: "yellow",
    pb.SESSION_STATE_BACKOFF: "bold yellow",
    pb.SESSION_STATE_DISCONNECTED: "bold red",
    pb.SESSION_STATE_APPKEY_IN_USE: "bold red",  # another session holds the app key
}
_TUNNEL_STYLE = {
    TunnelPhase.CONNECTED: "green",
    TunnelPhase.STARTING: "yellow",
    TunnelPhase.RECONNECTING: "bold yellow",
    TunnelPhase.GAVE_UP: "bold red",
    TunnelPhase.STOPPED: "red",
}


def _probe(name: str, serving: bool | None, *, short: bool = False) -> Text:
    dot = ("?", "dim") if serving is None else ("●", "green") if serving else ("✖", "bold red")
    if short:
        return Text(*dot)
    return Text.assemble(
        (f"{name.removeprefix('observer.')} ", "dim" if serving is None else ""), dot
    )


def _fit(line: Text, width: int) -> Text:
    """One line that never wraps: cut with an ellipsis when wider than ``width``."""
    line.no_wrap = True
    if width > 0 and line.cell_len > width:
        line.truncate(width, overflow="ellipsis")
    return line


class HeaderBar(Horizontal):
    """Who/where/how-healthy and the ticks/s sparkline: two lines, or one in a small terminal."""

    def compose(self) -> ComposeResult:
        yield Static("", id="header-info")
        with Vertical(id="header-rate"):
            yield Static("", id="header-rate-text")
            yield Sparkline([0.0] * 60, id="header-spark")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[Text, Text] | None = None
        #: One line (small terminal) rather than two with the sparkline.
        self.compact = False

    def draw(self, state: ConsoleState) -> None:
        info_widget = self.query_one("#header-info", Static)
        width = info_widget.content_size.width or max(0, self.size.width - 36)
        info = self._one_line(state, width) if self.compact else self._info(state, width)
        rate = Text.assemble(
            ("ticks/s ", "dim"), (fmt.rate(state.tick_rate).removesuffix("/s"), "bold")
        )
        today = _today(state)
        if today is not None:
            rate.append(f" · today {today:,}", "dim")
        if state.stale:
            rate.append(" (stale)", "dim")
        # Heights are fixed by the stylesheet: repaint without a layout pass, and only
        # when the text changed (the header changes about once a second).
        if self._shown is None or self._shown[0] != info:
            info_widget.update(info, layout=False)
        if self._shown is None or self._shown[1] != rate:
            self.query_one("#header-rate-text", Static).update(rate, layout=False)
        self._shown = (info, rate)
        self.query_one("#header-spark", Sparkline).data = list(state.rates)

    def _where(self, state: ConsoleState, room: int) -> Text:
        line = Text.assemble(("observer ", "bold"), ("→ ", "dim"))
        line.append(fmt.middle(state.target, max(12, room)), "bold")
        if state.tunnel is not None:
            t = state.tunnel
            line.append("  tunnel ", "dim")
            text = t.describe()
            line.append(text if len(text) < 40 else text[:37] + "…", _TUNNEL_STYLE[t.phase])
        return line

    def _probes(self, state: ConsoleState, short: bool) -> Text:
        parts = [_probe(name, state.probes.get(name), short=short) for name in PROBES]
        return Text.assemble(("probes " if short else "", "dim"), *_spaced(parts, short))

    def _info(self, state: ConsoleState, width: int) -> Text:
        probes = self._probes(state, short=False)
        room = width - probes.cell_len - len("observer → ") - len("  │ ")
        line = self._where(state, room)
        line.append("  │ ", "dim")
        line.append_text(probes)
        second = _session(state)
        st = state.status
        if st is not None:
            second.append(f"  {st.app_env} · {st.host} · v{st.daemon_version}", "dim")
        return Text("\n").join([_fit(line, width), _fit(second, width)])

    def _one_line(self, state: ConsoleState, width: int) -> Text:
        probes = self._probes(state, short=True)
        rate = Text(f" │ {fmt.rate(state.tick_rate)}", "dim" if state.stale else "")
        session = _session(state, short=True)
        fixed = len("observer → ") + 3 + session.cell_len + 3 + probes.cell_len + rate.cell_len
        line = self._where(state, width - fixed)
        for part in (Text(" │ ", "dim"), session, Text(" │ ", "dim"), probes, rate):
            line.append_text(part)
        return _fit(line, width)


def _spaced(parts: list[Text], tight: bool) -> list[Text]:
    out: list[Text] = []
    for i, part in enumerate(parts):
        if i:
            out.append(Text("" if tight else " "))
        out.append(part)
    return out


def _today(state: ConsoleState) -> int | None:
    st = state.status
    if st is None:
        return None
    return sum(r.today for r in st.collector.rates if r.track == pb.TRACK_SCALP)


def _session(state: ConsoleState, *, short: bool = False) -> Text:
    """The KIS session and uptime; marked as last known while the daemon is away."""
    st = state.status
    if st is None:
        return Text("no status yet", "dim")
    session = st.collector.session.state
    text = Text("KIS ", "dim")
    if state.stale:
        age = state.status_age()
        text.append(f"{fmt.session_label(session)}?", "bold yellow")
        text.append(f" (as of {fmt.duration(age)} ago)", "yellow")
        return text
    text.append(fmt.session_label(session), _SESSION_STYLE.get(session, "dim"))
    if st.collector.state != pb.COLLECTOR_STATE_RUNNING:
        text.append(f" · collector {fmt.collector_label(st.collector.state)}", "bold red")
    text.append(" · up " if short else "  up ", "dim")
    text.append(fmt.duration(st.uptime_seconds))
    if not short:
        src = fmt.enum_label(pb.Source, st.source)
        text.append(f"  {src}", "bold magenta" if st.source == pb.SOURCE_SIMULATOR else "")
    return text


#: Lines the banner shows at most (the stylesheet gives it as many).
BANNER_LINES = 4


class Banner(Static):
    """Red lines when the daemon or the tunnel is gone or a volume is ephemeral; hidden when
    all is well. Each line is one sentence cut to the width, never wrapped mid-sentence."""

    _shown: Text | None = None

    def draw(self, state: ConsoleState) -> None:
        lines: list[str] = []
        tunnel = state.tunnel
        if tunnel is not None and tunnel.phase is not TunnelPhase.CONNECTED:
            lines.append(f"⚠ TUNNEL {tunnel.phase.value} (kubectl port-forward {tunnel.resource})")
            why = tunnel.describe().removeprefix(tunnel.phase.value).lstrip(": ")
            if why:
                lines.append(f"  {why}")
        down = state.down_for()
        if down is not None:
            lines.append(
                f"⚠ DAEMON UNREACHABLE for {fmt.duration(down)}: reconnecting by itself; "
                "values below are stale."
            )
            if state.error:
                lines.append(f"  {state.error}")
        elif state.status is None and state.error == "":
            lines.append(f"connecting to {state.target} …")
        if state.status is not None:
            for v in state.status.volumes:
                if fmt.is_ephemeral(v.kind):
                    names = ", ".join(v.variables) or v.mount_point
                    kind = fmt.volume_kind_label(v.kind)
                    lines.append(
                        f"⚠ EPHEMERAL — lost on restart: {names} on {kind} {v.mount_point}"
                    )
        if len(lines) > BANNER_LINES:
            lines[BANNER_LINES - 1 :] = [f"  … and {len(lines) - BANNER_LINES + 1} more line(s)"]
        self.display = bool(lines)
        width = self.content_size.width or max(0, self.size.width - 2)
        text = Text("\n").join(_fit(Text(line), width) for line in lines)
        if lines and text != self._shown:
            # Its height follows its lines, so a new text may need a layout pass.
            self.update(text)
        self._shown = text if lines else None
