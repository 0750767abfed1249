"""Synthetic H0STCNT0 frames and ticks for the ingest tests (46 fields, official order)."""

from __future__ import annotations

import random

from observer.daemon.clock import to_kst
from observer.daemon.model import Tick

N = 46
#: An arrival time on the records' default trade date: 2026-11-20 11:00:00.25 KST (the
#: parser takes trade dates within a few days of the KST date of arrival).
AT = 1_795_140_000.25


def at() -> float:
    """The parser clock of tests whose records carry the default trade date."""
    return AT


def kst_date(ts: float) -> str:
    """YYYYMMDD of ``ts`` in KST: the trade date a record arriving then may carry."""
    return f"{to_kst(ts):%Y%m%d}"


def record(
    symbol: str = "005930",
    *,
    date: str = "20261120",
    time: str = "090001",
    price: int = 72100,
    change: int = -500,
    pct: str = "-0.69",
    volume: int = 10,
    halted: str = "N",
    extra: int = 0,
) -> list[str]:
    """One record's fields; valid dates/times as python-kis expects."""
    sign = "5" if change < 0 else ("3" if change == 0 else "2")
    f = [
        symbol, time, str(price), sign, str(change), pct, "72055.31", "72600", "72800",
        "71900", str(price + 100), str(price), str(volume), "1234567", "89012345678",
        "3456", "4567", "1111", "103.52", "1234567", "2345678", "1", "0.55", "87.12",
        "090000", "5", "-500", "091512", "5", "-700", "093015", "2", "200", date, "20",
        halted, "1234", "5678", "456789", "567890", "0.02", "1100000", "112.3", "0", "0",
        "71500",
    ]  # fmt: skip
    assert len(f) == N
    return f + [str(i) for i in range(extra)]


def frame(records: list[list[str]], tr_id: str = "H0STCNT0", enc: str = "0") -> str:
    payload = "^".join(x for r in records for x in r)
    return f"{enc}|{tr_id}|{len(records):03d}|{payload}"


def random_tick(rng: random.Random) -> Tick:
    price = rng.randrange(1000, 900000)
    change = rng.randrange(-50000, 50000)
    return Tick(
        symbol=rng.choice(["005930", "000660", "035420", "035720"]),
        trade_date=f"2026{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}",
        time=f"{rng.randrange(0, 24):02d}{rng.randrange(60):02d}{rng.randrange(60):02d}",
        price=price,
        sign=rng.randrange(1, 6),
        change=change,
        change_pct=rng.choice([0.0, -0.69, 1.5, rng.uniform(-30, 30), 1e-7, 29.999999]),
        vwap=rng.choice([price * 1.0, rng.uniform(1000, 900000), 72055.31]),
        open=rng.randrange(1000, 900000),
        high=rng.randrange(1000, 900000),
        low=rng.randrange(1000, 900000),
        ask1=price + 100,
        bid1=price,
        volume=rng.randrange(0, 100000),
        cum_volume=rng.randrange(0, 10**9),
        cum_value=rng.randrange(0, 10**13),
        strength=rng.choice([0.0, 103.52, rng.uniform(0, 500)]),
        side=rng.choice([1, 3, 5]),
        halted=rng.random() < 0.2,
        received_at=rng.choice(
            [
                1_795_000_000.0,
                1_795_000_000.5,
                rng.uniform(1.7e9, 1.9e9),
                float(rng.randrange(10**9, 2 * 10**9)),
            ]
        ),
        seq=rng.randrange(1, 10**7),
        # schema version 2; None as in lines written before it
        market_op=rng.choice([None, "20", "10", "41"]),
        hour_code=rng.choice([None, "0", "A"]),
        random_end=rng.choice([None, "", "1"]),
        vi_price=rng.choice([None, price, rng.randrange(0, 10**6)]),
        market_class=rng.choice([None, "2", "3"]),
        session=rng.choice([None, "regular", "after_hours"]),
    )
