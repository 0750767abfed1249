"""Plugs the PostgreSQL sink and retention into the daemon (called by the composition root).

``attach(daemon)`` builds both from the daemon's Config, starts their loops with the
daemon's task spawner, registers the sink's stop as a closer, reports PostgreSQL outages as
degraded-but-collecting, and exposes ``daemon.postgres`` and ``daemon.retention``
(``daemon.run_retention`` calls ``retention.run(apply=...)``). ``postgres_reporter`` gives the
status builder a per-track SinkLag for PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from observer.daemon.model import Track
from observer.daemon.status import SinkLag, SinkState
from observer.daemon.stores.postgres import PostgresSink
from observer.daemon.stores.retention import Retention

_STATES = {
    "connected": SinkState.OK,
    "connecting": SinkState.DEGRADED,
    "retrying": SinkState.DEGRADED,
    "disabled": SinkState.DISABLED,
    "stopped": SinkState.DISABLED,
}


def postgres_reporter(sink: PostgresSink) -> Callable[[Track], SinkLag | None]:
    """Status builder hook: PostgreSQL lag, checkpoint and last error per track."""

    def report(track: Track) -> SinkLag | None:
        st = sink.status()
        ck = st.checkpoints.get(track.value)
        return SinkLag(
            name="postgres",
            state=_STATES.get(st.state, SinkState.FAILED),
            lag_rows=st.lag_rows,
            lag_seconds=st.lag_seconds,
            checkpoint_file=ck.file if ck else "",
            checkpoint_offset=ck.offset if ck else 0,
            last_error=st.last_error,
        )

    return report


def postgres_degraded(sink: PostgresSink) -> list[str]:
    st = sink.status()
    if st.state in ("retrying", "connecting") and st.last_error:
        return [f"{st.last_error} ({st.lag_rows} lines waiting)"]
    return []


def attach(daemon: Any) -> None:
    """Build and start the PostgreSQL sink (when enabled) and the retention schedule."""
    cfg = daemon.config
    emit = daemon.events.emit
    sink = PostgresSink.from_config(cfg, emit=emit)
    daemon.postgres = sink
    daemon.retention = Retention(
        cfg,
        datasets=getattr(daemon, "parquet", None),
        postgres=sink if cfg.postgres_enabled else None,
        emit=emit,
    )
    if cfg.postgres_enabled:
        daemon._spawn(sink.run(), "postgres-sink")
        daemon.add_closer(sink.stop)
        daemon.degraded_reporters.append(lambda: postgres_degraded(sink))
        status = getattr(daemon, "_status", None)
        if status is not None:
            status.sink_reporters.append(postgres_reporter(sink))
    daemon._spawn(daemon.retention.schedule_loop(), "retention-schedule")
