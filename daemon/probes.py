"""Health service names served on grpc.health.v1, one per Kubernetes probe.

The manifests' native ``grpc:`` probes name these in ``service:``; ``doctor`` checks that
a manifest names only these. ``""`` (the whole server) is served too.
"""

from __future__ import annotations

from typing import Final

#: SERVING once the startup contract passed and the API is up.
STARTUP: Final = "observer.startup"
#: NOT_SERVING when the event loop or the tick writer has stalled past the watchdog threshold.
LIVENESS: Final = "observer.liveness"
#: NOT_SERVING when the data volume is unwritable or nearly full, the contract failed, the
#: collector stopped, or KIS refuses the session (another one uses the app key). A
#: PostgreSQL outage only degrades status.
READINESS: Final = "observer.readiness"
#: The whole server (grpc.health.v1 convention).
OVERALL: Final = ""

ALL: Final = (OVERALL, STARTUP, LIVENESS, READINESS)
