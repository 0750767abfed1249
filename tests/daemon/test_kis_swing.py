"""SwingPoller against the simulator's inquire-price: pacing, EGW00201 backoff, token errors."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import httpx

from observer.daemon.clock import KST
from observer.daemon.kis.auth import KisAuth
from observer.daemon.kis.swing import SwingPoller, to_snapshot
from observer.daemon.model import Snapshot
from observer.daemon.simulator.market import load_universe
from observer.daemon.simulator.server import Simulator
from observer.daemon.simulator.state import SimConfig

KEY = "PSfakeappkey000000000000000000000000"
SECRET = "fake-secret"


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[Snapshot]] = []

    async def __call__(self, snaps: list[Snapshot]) -> None:
        self.batches.append(snaps)


def trading_day_clock() -> Callable[[], float]:
    """Time running from 2026-12-24 11:00 KST (a trading day): sweeps happen whatever day
    the tests run on."""
    t0, start = datetime(2026, 12, 24, 11, tzinfo=KST).timestamp(), time.monotonic()
    return lambda: t0 + time.monotonic() - start


@contextlib.asynccontextmanager
async def poller(
    tmp_path: Path, cfg: SimConfig, symbols: list[str], **kw: object
) -> AsyncIterator[tuple[Simulator, SwingPoller, Sink]]:
    sim = Simulator(cfg)
    ep = await sim.start()
    sink = Sink()
    try:
        async with httpx.AsyncClient() as client:
            auth = KisAuth(ep.rest_url, KEY, SECRET, tmp_path, client)
            args: dict[str, object] = {"interval": 60.0, "rate": 50.0, "min_price": 0,
                                       "clock": trading_day_clock()}  # fmt: skip
            args.update(kw)
            p = SwingPoller(ep.rest_url, auth, symbols, publish=sink, client=client, **args)  # type: ignore[arg-type]
            yield sim, p, sink
    finally:
        await sim.stop()


async def test_sweep_publishes_one_snapshot_per_symbol_as_one_list(tmp_path: Path) -> None:
    syms = ["005930", "000660", "035420"]
    async with poller(tmp_path, SimConfig(seed=5), syms) as (_sim, p, sink):
        await p.sweep()
    assert len(sink.batches) == 1
    snaps = sink.batches[0]
    assert [s.symbol for s in snaps] == syms
    base = load_universe()["005930"].base_price
    assert abs(snaps[0].price - base) <= base * 0.3
    assert snaps[0].upper_limit > snaps[0].price > snaps[0].lower_limit > 0
    assert len(snaps[0].trade_date) == 8 and len(snaps[0].time) == 6


async def test_rate_limited_requests_back_off_and_every_symbol_is_still_quoted(
    tmp_path: Path,
) -> None:
    syms = list(load_universe())[:8]
    cfg = SimConfig(seed=5, rest_rate_limit=4)
    async with poller(tmp_path, cfg, syms, rate=200.0, backoff_initial=0.25) as (sim, p, sink):
        await asyncio.wait_for(p.sweep(), 30)
    assert sim.stats.rate_limited >= 1
    assert p.status().rate_limited == sim.stats.rate_limited
    assert sorted(s.symbol for s in sink.batches[0]) == sorted(syms)
    # backoff, not hammering: far fewer refused requests than a tight retry loop would make
    assert sim.stats.rate_limited <= 10


async def test_symbols_below_min_price_are_skipped(tmp_path: Path) -> None:
    uni = load_universe()
    cheap, dear = "010140", "005930"  # 9,000 and 72,000 won in the universe file
    assert uni[cheap].base_price < 20_000 < uni[dear].base_price
    async with poller(tmp_path, SimConfig(seed=5), [cheap, dear], min_price=20_000) as (
        _s,
        p,
        sink,
    ):
        await p.sweep()
    assert [s.symbol for s in sink.batches[0]] == [dear]
    assert p.status().skipped_below_min == 1


async def test_token_rejected_mid_session_is_reissued_once_and_the_quote_retried(
    tmp_path: Path,
) -> None:
    async with poller(tmp_path, SimConfig(seed=5, reissue_limit=0), ["005930"]) as (sim, p, sink):
        await p.sweep()
        sim._state.tokens.clear()  # KIS forgets the token: EGW00122 on the next call
        await p.sweep()
    assert [len(b) for b in sink.batches] == [1, 1]
    assert sim.stats.token_issuances == 2
    assert p.status().failures == 0


async def test_a_token_of_another_shape_is_invalid_and_reissued_once(tmp_path: Path) -> None:
    async with poller(tmp_path, SimConfig(seed=5, reissue_limit=0), ["005930"]) as (sim, p, sink):
        await p.sweep()
        tokens = sim._state.tokens
        token, entry = tokens.popitem()
        tokens[token + "x"] = entry  # what the client holds is no token of this server: EGW00121
        await p.sweep()
    assert [len(b) for b in sink.batches] == [1, 1] and sim.stats.token_issuances == 2


async def test_run_sweeps_until_stopped(tmp_path: Path) -> None:
    async with poller(tmp_path, SimConfig(seed=5), ["005930"], interval=0.05) as (_s, p, sink):
        task = asyncio.create_task(p.run())
        async with asyncio.timeout(10):
            while len(sink.batches) < 3:  # noqa: ASYNC110 - bounded polling of a live poller
                await asyncio.sleep(0.01)
        p.stop()
        await asyncio.wait_for(task, 5)
    assert p.status().state == "stopped"
    assert p.status().sweeps >= 3


def test_output_with_missing_and_empty_values_maps_to_zeros() -> None:
    snap = to_snapshot("005930", {"stck_prpr": "71000", "per": "", "acml_vol": "x"}, 0.0)
    assert snap.price == 71000
    assert snap.per == 0.0 and snap.cum_volume == 0 and snap.high == 0
    assert snap.sign == 3 and snap.halted is False
