"""How the PostgreSQL sink shows in the daemon's status (used by the composition root).

``postgres_reporter`` gives the status builder a per-track SinkLag for PostgreSQL;
``postgres_degraded`` reports an outage as degraded-but-collecting.
"""

from __future__ import annotations

from collections.abc import Callable

from observer.daemon.model import Track
from observer.daemon.status import SinkLag, SinkState
from observer.daemon.stores.postgres import PostgresSink

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
