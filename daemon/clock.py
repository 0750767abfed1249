"""Market time. KST is UTC+09:00 with no daylight saving; never depend on the machine's TZ."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")
MARKET_OPEN = (9, 0)
MARKET_CLOSE = (15, 30)


def now_kst() -> datetime:
    return datetime.now(KST)


def to_kst(ts: float) -> datetime:
    """A POSIX timestamp as an aware KST datetime."""
    return datetime.fromtimestamp(ts, KST)


def iso(dt: datetime) -> str:
    """ISO-8601 with the +09:00 offset, e.g. 2026-11-20T09:00:01.123456+09:00."""
    return dt.astimezone(KST).isoformat()


def shown(ts: float, *, with_date: bool = True) -> str:
    """A time as an operator reads it: KST with its offset, ``2026-11-20 09:00:01+09:00``
    (``09:00:01+09:00`` without the date), whatever the machine's time zone."""
    t = to_kst(ts)
    if with_date:
        return t.isoformat(sep=" ", timespec="seconds")
    return t.timetz().isoformat(timespec="seconds")


def trade_date(dt: datetime) -> date:
    return dt.astimezone(KST).date()


def in_market_hours(dt: datetime) -> bool:
    """True between 09:00 and 15:30 KST on a weekday (holidays are not modelled)."""
    k = dt.astimezone(KST)
    if k.weekday() >= 5:
        return False
    hm = (k.hour, k.minute)
    return MARKET_OPEN <= hm < MARKET_CLOSE


def monotonic() -> float:
    return time.monotonic()
