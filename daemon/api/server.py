"""The gRPC server bootstrap: servicers, grpc.health.v1, reflection, graceful shutdown.

Listen address: OBSERVER_LISTEN_ADDRESS, where ``auto`` means 127.0.0.1 on a laptop and
``[::]`` in a container (the kubelet probes the pod IP). Port: SERVICE_PORT (0 = any free
port, used by tests). Shutdown flips every health service to NOT_SERVING first, so probes
and load balancers see the daemon leaving before the port closes.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from observer.daemon.api.auth import BearerAuth
from observer.daemon.api.control import ControlServicer
from observer.daemon.api.decoding import RequestDecoding
from observer.daemon.api.ports import DaemonPort
from observer.daemon.api.services import StatusServicer, TailServicer, tail_handler
from observer.daemon.config import Config
from observer.daemon.contract import is_container_mode
from observer.daemon.errors import ContractError
from observer.v1 import observer_pb2 as pb
from observer.v1 import observer_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)


def listen_host(cfg: Config) -> str:
    """The address to bind, resolving ``auto``."""
    if cfg.listen_address and cfg.listen_address != "auto":
        return cfg.listen_address
    return "[::]" if is_container_mode(cfg) else "127.0.0.1"


def service_names() -> list[str]:
    """Every service this server offers, from the descriptors (for reflection)."""
    ours = [s.full_name for s in pb.DESCRIPTOR.services_by_name.values()]
    health = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    return [*ours, health, reflection.SERVICE_NAME]


#: A connection that has not finished the HTTP/2 handshake by then is closed (ms).
HANDSHAKE_TIMEOUT_MS = 5_000
#: A connection with no call in flight for this long is closed (ms); clients reconnect.
IDLE_TIMEOUT_MS = 30_000
#: Connections accepted at once at most; more are refused until some close.
MAX_CONNECTIONS = 128

# TCP states of /proc/net/tcp that hold a socket of ours: ESTABLISHED, SYN_RECV, CLOSE_WAIT.
_HELD = {"01", "03", "08"}


def count_connections(
    port: int, tables: tuple[str, ...] = ("/proc/net/tcp", "/proc/net/tcp6")
) -> int:
    """Sockets connected to ``port`` on this host (what the connection cap counts)."""
    n = 0
    for table in tables:
        try:
            with open(table, encoding="ascii") as f:
                next(f, None)
                for row in f:
                    cols = row.split()
                    if (
                        len(cols) > 3
                        and cols[3] in _HELD
                        and int(cols[1].rsplit(":", 1)[1], 16) == port
                    ):
                        n += 1
        except (OSError, ValueError):
            continue
    return n


class ApiServer:
    """One grpc.aio server serving status, tail, control, health and reflection.

    Connections are bounded: an unfinished handshake is closed after
    ``handshake_timeout_ms``, a connection without a call after ``idle_timeout_ms``, and at
    most ``max_connections`` are accepted at once.
    """

    def __init__(
        self,
        port: DaemonPort,
        cfg: Config,
        *,
        handshake_timeout_ms: int = HANDSHAKE_TIMEOUT_MS,
        idle_timeout_ms: int = IDLE_TIMEOUT_MS,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.daemon = port
        self.cfg = cfg
        self.server: grpc.aio.Server | None = None
        self.bound_port = 0
        self._limits = [
            ("grpc.server_handshake_timeout_ms", handshake_timeout_ms),
            ("grpc.max_connection_idle_ms", idle_timeout_ms),
            ("grpc.max_allowed_incoming_connections", max_connections),
        ]

    def connections(self) -> int:
        """Connections to the gRPC port right now (for metrics)."""
        return count_connections(self.bound_port) if self.bound_port else 0

    async def start(self) -> int:
        """Bind and start; returns the bound port. ContractError when the port is taken."""
        server = grpc.aio.server(
            # The token is checked first: a refused control call is refused whatever its body.
            interceptors=[BearerAuth(self.cfg.control_token), RequestDecoding()],
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                *self._limits,
            ],
        )
        pb_grpc.add_StatusServiceServicer_to_server(StatusServicer(self.daemon), server)  # type: ignore[no-untyped-call]
        server.add_generic_rpc_handlers((tail_handler(TailServicer(self.daemon)),))
        pb_grpc.add_ControlServiceServicer_to_server(ControlServicer(self.daemon), server)  # type: ignore[no-untyped-call]
        health_pb2_grpc.add_HealthServicer_to_server(self.daemon.health.servicer, server)
        reflection.enable_server_reflection(service_names(), server)
        # Every probe name answers from the first call on (NOT_SERVING while starting).
        await self.daemon.health.publish()
        address = f"{listen_host(self.cfg)}:{self.cfg.service_port}"
        try:
            self.bound_port = server.add_insecure_port(address)
        except RuntimeError as e:
            raise ContractError(
                f"cannot listen on {address} (SERVICE_PORT={self.cfg.service_port}, "
                f"OBSERVER_LISTEN_ADDRESS={self.cfg.listen_address}): {e}. Another process "
                "probably holds the port; stop it or choose another SERVICE_PORT."
            ) from None
        if self.bound_port == 0:
            raise ContractError(
                f"cannot listen on {address} (SERVICE_PORT={self.cfg.service_port}); another "
                "process probably holds the port: stop it or choose another SERVICE_PORT."
            )
        await server.start()
        self.server = server
        self.daemon.health.api_up()
        await self.daemon.health.publish()
        log.info("gRPC API listening on %s", f"{listen_host(self.cfg)}:{self.bound_port}")
        return self.bound_port

    async def shutdown(self, grace: float, drain: float = 0.0) -> None:
        """Health NOT_SERVING first, optionally wait ``drain`` seconds, then stop with ``grace``."""
        await self.daemon.health.shutting_down()
        if drain > 0:
            await asyncio.sleep(drain)
        if self.server is not None:
            await self.server.stop(grace)
            self.server = None
