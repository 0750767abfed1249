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


def _probe(name: str, serving: bool | None) -> Text:
    short = name.removeprefix("observer.")
    if serving is None:
        return Text.assemble((f"{short} ", "dim"), ("?", "dim"))
    return Text.assemble(f"{short} ", ("●", "green") if serving else ("✖", "bold red"))


class HeaderBar(Horizontal):
    """Two lines of who/where/how-healthy, plus the ticks/s sparkline."""

    def compose(self) -> ComposeResult:
        yield Static("", id="header-info")
        with Vertical(id="header-rate"):
            yield Static("", id="header-rate-text")
            yield Sparkline([0.0] * 60, id="header-spark")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[Text, Text] | None = None

    def draw(self, state: ConsoleState) -> None:
        info = self._info(state)
        stale = state.stale
        rate = Text.assemble(
            ("ticks/s ", "dim"), (fmt.rate(state.tick_rate).removesuffix("/s"), "bold")
        )
        if stale:
            rate.append("  (stale)", "dim")
        # Heights are fixed by the stylesheet: repaint without a layout pass, and only
        # when the text changed (the header changes about once a second).
        if self._shown is None or self._shown[0] != info:
            self.query_one("#header-info", Static).update(info, layout=False)
        if self._shown is None or self._shown[1] != rate:
            self.query_one("#header-rate-text", Static).update(rate, layout=False)
        self._shown = (info, rate)
        self.query_one("#header-spark", Sparkline).data = list(state.rates)

    def _info(self, state: ConsoleState) -> Text:
        line = Text.assemble(("observer ", "bold"), ("→ ", "dim"), (state.target, "bold"))
        if state.tunnel is not None:
            t = state.tunnel
            line.append("  tunnel ", "dim")
            text = t.describe()
            line.append(text if len(text) < 60 else text[:57] + "…", _TUNNEL_STYLE[t.phase])
        line.append("  │ ", "dim")
        for name in PROBES:
            line.append_text(_probe(name, state.probes.get(name)))
            line.append(" ")
        st = state.status
        second = Text()
        if st is None:
            second.append("no status yet", "dim")
            return Text("\n").join([line, second])
        session = st.collector.session.state
        second.append("KIS ", "dim")
        second.append(fmt.session_label(session), _SESSION_STYLE.get(session, "dim"))
        if st.collector.state != pb.COLLECTOR_STATE_RUNNING:
            collector = fmt.collector_label(st.collector.state)
            second.append(f" · collector {collector}", "bold red")
        second.append("  up ", "dim")
        second.append(fmt.duration(st.uptime_seconds))
        src = fmt.enum_label(pb.Source, st.source)
        second.append(f"  {src}", "bold magenta" if st.source == pb.SOURCE_SIMULATOR else "")
        second.append(f"  {st.app_env} · {st.host} · v{st.daemon_version}", "dim")
        if state.stale:
            second.stylize("dim")
        return Text("\n").join([line, second])


class Banner(Static):
    """Red line when the daemon or the tunnel is gone; hidden when all is well."""

    _shown: Text | None = None

    def draw(self, state: ConsoleState) -> None:
        lines: list[Text] = []
        tunnel = state.tunnel
        if tunnel is not None and tunnel.phase is not TunnelPhase.CONNECTED:
            lines.append(
                Text(f"⚠ TUNNEL {tunnel.describe()} (kubectl port-forward {tunnel.resource})")
            )
        down = state.down_for()
        if down is not None:
            lines.append(
                Text(
                    f"⚠ DAEMON UNREACHABLE for {fmt.duration(down)} — reconnecting by itself; "
                    f"values below are stale. {state.error}"
                )
            )
        elif state.status is None and state.error == "":
            lines.append(Text(f"connecting to {state.target} …"))
        if state.status is not None:
            for v in state.status.volumes:
                if fmt.is_ephemeral(v.kind):
                    names = ", ".join(v.variables) or v.mount_point
                    kind = fmt.volume_kind_label(v.kind)
                    lines.append(
                        Text(f"⚠ EPHEMERAL — lost on restart: {names} on {kind} {v.mount_point}")
                    )
        self.display = bool(lines)
        text = Text("\n").join(lines)
        if lines and text != self._shown:
            # Its height follows its lines, so a new text may need a layout pass.
            self.update(text)
        self._shown = text if lines else None
