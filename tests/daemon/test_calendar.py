"""The market calendar, offline, on known dates: KRX holidays and the year-end closing day
(the holidays package's XKRX calendar), the late open of the year's first trading day,
NXT's and the integrated market's longer hours; and what follows from it: no gap record on
a holiday, no swing snapshot on a closed day, snapshots stamped with the trading day."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest

from observer.daemon.clock import KST, MarketCalendar, closed_reason, in_market_hours
from observer.daemon.kis.auth import KisAuth
from observer.daemon.kis.gaps import GapLog
from observer.daemon.kis.swing import SwingPoller
from observer.daemon.model import Snapshot
from observer.daemon.simulator.server import Simulator
from observer.daemon.simulator.state import SimConfig


def kst(y: int, mo: int, d: int, h: int = 10, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=KST)


@pytest.mark.parametrize(
    ("day", "why"),
    [
        (date(2026, 12, 25), "holiday: Christmas Day"),
        (date(2026, 12, 31), "holiday: End of Year Holiday"),  # the year-end closing day
        (date(2026, 9, 25), "holiday: Chuseok"),
        (date(2026, 6, 3), "holiday: Local Election Day"),
        (date(2027, 2, 9), "holiday: Alternative holiday for Korean New Year"),
        (date(2026, 12, 26), "weekend"),
        (date(2026, 12, 24), ""),
        (date(2026, 11, 20), ""),
    ],
)
def test_known_closed_and_open_days(day: date, why: str) -> None:
    assert closed_reason(day) == why


def test_krx_hours_on_a_trading_day_a_holiday_and_the_first_day_of_the_year() -> None:
    krx = MarketCalendar("KRX")
    assert krx.in_hours(kst(2026, 12, 24, 9, 0)) and krx.in_hours(kst(2026, 12, 24, 15, 29))
    assert not krx.in_hours(kst(2026, 12, 24, 15, 30)) and not krx.in_hours(kst(2026, 12, 24, 8))
    assert not krx.in_hours(kst(2026, 12, 25, 10))  # Christmas
    assert not krx.in_hours(kst(2026, 12, 31, 10))  # year-end closing day
    # 2027-01-04 (Monday) is the first trading day of 2027: KRX opens at 10:00
    assert not krx.in_hours(kst(2027, 1, 4, 9, 30)) and krx.in_hours(kst(2027, 1, 4, 10, 0))
    assert krx.in_hours(kst(2027, 1, 5, 9, 30))
    assert krx.describe(kst(2027, 1, 4)) == "10:00-15:30 KST"
    assert krx.describe(kst(2026, 12, 25)) == "closed (holiday: Christmas Day)"
    # the old helper is the KRX calendar now: a weekday holiday is not market hours
    assert not in_market_hours(kst(2026, 12, 25, 10)) and in_market_hours(kst(2026, 12, 24, 10))


@pytest.mark.parametrize("market", ["NXT", "UN"])
def test_nxt_and_the_integrated_market_trade_08_to_20_on_trading_days(market: str) -> None:
    cal = MarketCalendar(market)
    assert cal.in_hours(kst(2026, 12, 24, 8, 0)) and cal.in_hours(kst(2026, 12, 24, 19, 59))
    assert not cal.in_hours(kst(2026, 12, 24, 20, 0)) and not cal.in_hours(kst(2026, 12, 24, 7))
    assert not cal.in_hours(kst(2026, 12, 25, 12))
    assert cal.describe(kst(2026, 12, 24)) == "08:00-20:00 KST"


def test_after_hours_single_price_trading_extends_krx_to_16_18() -> None:
    cal = MarketCalendar("KRX", after_hours=True)
    assert cal.in_hours(kst(2026, 12, 24, 16, 30)) and not cal.in_hours(kst(2026, 12, 24, 15, 45))
    assert not MarketCalendar("KRX").in_hours(kst(2026, 12, 24, 16, 30))


def test_no_gap_record_on_a_holiday_and_one_on_the_trading_day_before(tmp_path: Path) -> None:
    gaps = GapLog(tmp_path, market_hours=MarketCalendar("KRX").in_hours)
    holiday = kst(2026, 12, 25, 10).timestamp()
    assert not gaps.record(holiday, holiday + 300, ["005930"], "connection lost")
    eve = kst(2026, 12, 24, 10).timestamp()
    assert gaps.record(eve, eve + 300, ["005930"], "connection lost")
    assert [p.name for p in tmp_path.iterdir()] == ["gap_20261224.jsonl"]
    evening = kst(2026, 12, 24, 19).timestamp()
    assert not gaps.record(evening, evening + 60, ["005930"], "drop")
    nxt = GapLog(tmp_path / "nxt", market_hours=MarketCalendar("NXT").in_hours)
    assert nxt.record(evening, evening + 60, ["005930"], "drop")


class _Sink:
    def __init__(self) -> None:
        self.batches: list[list[Snapshot]] = []

    async def __call__(self, snaps: list[Snapshot]) -> None:
        self.batches.append(snaps)


@contextlib.asynccontextmanager
async def _poller(
    tmp_path: Path, clock: Callable[[], float], market: str = "KRX"
) -> AsyncIterator[tuple[Simulator, SwingPoller, _Sink]]:
    sim = Simulator(SimConfig(seed=5))
    ep = await sim.start()
    sink = _Sink()
    try:
        async with httpx.AsyncClient() as client:
            auth = KisAuth(
                ep.rest_url, "PSfakeappkey000000000000000000000000", "s", tmp_path, client
            )
            p = SwingPoller(
                ep.rest_url, auth, ["005930", "000660"], interval=60.0, rate=50.0, min_price=0,
                publish=sink, client=client, clock=clock, market=market,
            )  # fmt: skip
            yield sim, p, sink
    finally:
        await sim.stop()


async def test_no_swing_snapshot_on_a_holiday_or_a_weekend(tmp_path: Path) -> None:
    for closed in (kst(2026, 12, 25, 11).timestamp(), kst(2026, 12, 26, 11).timestamp()):
        async with _poller(tmp_path, lambda c=closed: c) as (sim, p, sink):  # type: ignore[misc]
            assert await p.sweep() == []
            assert sink.batches == [] and sim.stats.rest_requests == 0
            assert p.status().state == "closed" and p.status().closed_skipped == 1


async def test_swing_snapshots_carry_the_trading_day_of_the_calendar(tmp_path: Path) -> None:
    t0 = kst(2026, 12, 24, 11).timestamp()
    start = time.monotonic()
    async with _poller(tmp_path, lambda: t0 + time.monotonic() - start) as (_sim, p, sink):
        await p.sweep()
    (snaps,) = sink.batches
    assert {s.trade_date for s in snaps} == {"20261224"} and len(snaps) == 2


@pytest.mark.parametrize(("market", "code"), [("KRX", "J"), ("NXT", "NX"), ("UN", "UN")])
async def test_the_quote_s_market_code_follows_the_market(
    tmp_path: Path, market: str, code: str
) -> None:
    t0 = kst(2026, 12, 24, 11).timestamp()
    async with _poller(tmp_path, lambda: t0, market) as (sim, p, sink):
        await p.sweep()
    assert sim.stats.quote_markets == {code: 2}
    assert len(sink.batches[0]) == 2
