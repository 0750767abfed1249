"""The KIS-protocol simulator: REST and websocket servers on loopback, with fault knobs.

Part of the product: the daemon's default mode starts it in-process and talks to it through
the same client code as the real KIS servers; ``observer-daemon simulate`` runs it alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from websockets.asyncio.server import Server, serve

from observer.daemon.simulator.httpd import HttpServer
from observer.daemon.simulator.rest import RestApi
from observer.daemon.simulator.state import SimConfig, SimState, SimStats
from observer.daemon.simulator.ws import WsFeed


@dataclass(frozen=True)
class SimEndpoints:
    rest_url: str
    ws_url: str


class Simulator:
    def __init__(self, cfg: SimConfig | None = None) -> None:
        self.cfg = cfg or SimConfig()
        self._state = SimState(self.cfg)
        self._http = HttpServer(RestApi(self._state))
        self._feed = WsFeed(self._state)
        self._ws: Server | None = None
        self.endpoints: SimEndpoints | None = None

    @property
    def stats(self) -> SimStats:
        return self._state.stats

    @property
    def seed(self) -> int:
        return self._state.seed

    async def start(
        self, host: str = "127.0.0.1", rest_port: int = 0, ws_port: int = 0
    ) -> SimEndpoints:
        rport = await self._http.start(host, rest_port)
        self._ws = await serve(
            self._feed.handler, host, ws_port, ping_interval=None, max_size=1 << 20
        )
        wport = next(iter(self._ws.sockets)).getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.endpoints = SimEndpoints(f"http://{shown}:{rport}", f"ws://{shown}:{wport}")
        return self.endpoints

    async def stop(self) -> None:
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
            self._ws = None
        await self._http.stop()

    # --- runtime fault knobs (also settable as attributes of ``cfg``) ------------------
    def set_faults(
        self,
        *,
        drop_every: float | None = None,
        malformed: float | None = None,
        stall_every: float | None = None,
        stall_for: float | None = None,
        refuse_tokens: bool | None = None,
        rate: float | None = None,
    ) -> None:
        c = self.cfg
        if drop_every is not None:
            c.drop_every = drop_every
        if malformed is not None:
            c.malformed = malformed
        if stall_every is not None:
            c.stall_every = stall_every
        if stall_for is not None:
            c.stall_for = stall_for
        if refuse_tokens is not None:
            c.refuse_tokens = refuse_tokens
        if rate is not None:
            c.rate = rate

    def drop_connections(self) -> int:
        """Abort every websocket connection now; returns how many were dropped."""
        return self._feed.drop_all()

    def inject(self, frames: list[str]) -> None:
        """Send these frames as they are (a poison corpus, say) on the next connection
        with a subscription, before any new trade."""
        self._state.injected.extend(frames)

    def stall(self, seconds: float) -> None:
        """Send nothing on any connection for ``seconds`` (connections stay open)."""
        self._state.stall_until = time.monotonic() + seconds
