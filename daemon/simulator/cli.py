"""``observer-daemon simulate``: run the KIS-protocol simulator on its own until a signal."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from observer.daemon.errors import UsageError
from observer.daemon.simulator.server import Simulator
from observer.daemon.simulator.state import SimConfig
from observer.daemon.symbols import SymbolError, parse_symbols
from observer.daemon.usage import ArgumentParser


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="observer-daemon simulate",
        description="Serve the KIS Open API protocol (REST + websocket) on loopback.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--rest-port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--ws-port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--rate", type=float, default=200.0, help="ticks per second per session")
    p.add_argument("--seed", type=int, default=0, help="random seed (0 = random)")
    p.add_argument("--symbols", nargs="*", default=[], help="extra 6-digit symbols")
    p.add_argument("--drop-every", type=float, default=0.0, metavar="S")
    p.add_argument("--malformed", type=float, default=0.0, metavar="F", help="fraction 0..1")
    p.add_argument("--stall-every", type=float, default=0.0, metavar="S")
    p.add_argument("--stall-for", type=float, default=0.0, metavar="S")
    p.add_argument("--refuse-tokens", action="store_true")
    p.add_argument(
        "--pingpong-every",
        type=float,
        default=100.0,
        metavar="S",
        help="seconds between PINGPONGs on a connection (KIS: about 100 s)",
    )
    p.add_argument(
        "--pingpong-jitter",
        type=float,
        default=0.3,
        metavar="F",
        help="each gap is up to this fraction longer",
    )
    p.add_argument("--market-hours", choices=("always", "krx"), default="always")
    p.add_argument(
        "--wide-share",
        type=float,
        default=0.2,
        metavar="F",
        help="fraction of frames with the 47th column (MARKET_CLS_CODE)",
    )
    return p


def config_from_args(argv: list[str]) -> tuple[SimConfig, tuple[str, int, int]]:
    """The simulator settings and (host, REST port, websocket port) from the command line."""
    a = _parser().parse_args(argv)
    try:
        symbols = parse_symbols(a.symbols, limit=None, allow_empty=True)
    except SymbolError as e:
        raise UsageError(f"--symbols: {e}") from None
    for name in ("malformed", "wide_share"):
        value = getattr(a, name)
        if not 0.0 <= value <= 1.0:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be a fraction between 0 and 1; got {value}")
    return SimConfig(
        symbols=tuple(symbols),
        rate=a.rate,
        seed=a.seed,
        drop_every=a.drop_every,
        malformed=a.malformed,
        stall_every=a.stall_every,
        stall_for=a.stall_for,
        refuse_tokens=a.refuse_tokens,
        pingpong_every=a.pingpong_every,
        pingpong_jitter=a.pingpong_jitter,
        market_hours=a.market_hours,
        wide_share=a.wide_share,
    ), (a.host, a.rest_port, a.ws_port)


async def _serve(cfg: SimConfig, host: str, rest_port: int, ws_port: int) -> None:
    sim = Simulator(cfg)
    try:
        ep = await sim.start(host, rest_port, ws_port)
    except OSError as e:
        raise SystemExit(
            f"simulator cannot listen on {host} (REST port {rest_port}, websocket port "
            f"{ws_port}): {e.strerror}. Pick free ports or 0."
        ) from None
    print(f"KIS_REST_URL={ep.rest_url}", flush=True)
    print(f"KIS_WS_URL={ep.ws_url}", flush=True)
    print(f"seed={sim.seed} rate={cfg.rate}/s; stop with Ctrl-C", flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    try:
        await done.wait()
    finally:
        await sim.stop()
        st = sim.stats
        print(
            f"served {st.ticks_sent} ticks in {st.frames_sent} frames over {st.connections} "
            f"connections; {st.token_issuances} tokens issued",
            file=sys.stderr,
        )


def main(argv: list[str]) -> int:
    cfg, (host, rest_port, ws_port) = config_from_args(argv)
    asyncio.run(_serve(cfg, host, rest_port, ws_port))
    return 0
