"""Market time. KST is UTC+09:00 with no daylight saving; never depend on the machine's TZ.

:class:`MarketCalendar` says which days the Korea Exchange trades and when each market's
session runs. Trading days come from the ``holidays`` package's Korea Exchange calendar
(XKRX: public holidays, election days, the year-end closing day), maintained upstream
rather than by hand here; NXT and the integrated market trade on the same days. Session
hours per OBSERVER_MARKET:

* KRX 09:00-15:30, opening at 10:00 on the first trading day of the year (the market's
  opening ceremony); with the after-hours single-price feed (H0STOUP0) also 16:00-18:00;
* NXT and UN (integrated) 08:00-20:00.

The college entrance exam day also opens late (10:00-16:30) but no calendar library short
of exchange_calendars (which pulls in pandas) knows its date, so it keeps the normal hours.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock_time
from functools import lru_cache

import holidays

KST = timezone(timedelta(hours=9), "KST")
MARKET_OPEN = (9, 0)
MARKET_CLOSE = (15, 30)
#: Markets (OBSERVER_MARKET) and their sessions: (open, close) KST, close excluded.
SESSIONS: dict[str, tuple[tuple[clock_time, clock_time], ...]] = {
    "KRX": ((clock_time(9), clock_time(15, 30)),),
    "NXT": ((clock_time(8), clock_time(20)),),
    "UN": ((clock_time(8), clock_time(20)),),
}
#: KRX after-hours single-price trading (H0STOUP0).
AFTER_HOURS = (clock_time(16), clock_time(18))
#: KRX opens an hour late on the first trading day of the year.
NEW_YEAR_OPEN = clock_time(10)


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


@lru_cache(maxsize=64)
def _closed_days(year: int) -> holidays.HolidayBase:
    return holidays.financial_holidays("XKRX", years=year)


def closed_reason(d: date) -> str:
    """Why the exchange does not trade on ``d`` ("" when it trades)."""
    if d.weekday() >= 5:
        return "weekend"
    name = _closed_days(d.year).get(d)
    return f"holiday: {name}" if name else ""


def is_trading_day(d: date) -> bool:
    return not closed_reason(d)


def first_trading_day(year: int) -> date:
    d = date(year, 1, 1)
    while not is_trading_day(d):
        d += timedelta(days=1)
    return d


@dataclass(frozen=True)
class MarketCalendar:
    """Trading days and session hours of one market (KRX, NXT or UN)."""

    market: str = "KRX"
    #: KRX after-hours single-price trading (16:00-18:00) is collected too.
    after_hours: bool = False
    #: Every day and hour is a session (the built-in simulator trading around the clock).
    always: bool = False

    def __post_init__(self) -> None:
        if self.market not in SESSIONS:
            raise ValueError(f"market {self.market!r}: one of {', '.join(SESSIONS)}")

    def sessions(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        """The sessions of ``d`` as (open, close) KST datetimes; () on a closed day."""
        if self.always:
            return (
                (
                    datetime.combine(d, clock_time(0), KST),
                    datetime.combine(d, clock_time(0), KST) + timedelta(days=1),
                ),
            )
        if not is_trading_day(d):
            return ()
        out = []
        for opens, closes in SESSIONS[self.market]:
            if self.market == "KRX" and d == first_trading_day(d.year):
                opens = max(opens, NEW_YEAR_OPEN)
            out.append((opens, closes))
        if self.after_hours and self.market == "KRX":
            out.append(AFTER_HOURS)
        return tuple((datetime.combine(d, a, KST), datetime.combine(d, b, KST)) for a, b in out)

    def in_hours(self, dt: datetime) -> bool:
        """True while one of the market's sessions runs (KST)."""
        k = dt.astimezone(KST)
        return any(a <= k < b for a, b in self.sessions(k.date()))

    def trade_date(self, dt: datetime) -> date | None:
        """The trading day ``dt`` (KST) belongs to, or None on a day the market is closed."""
        d = dt.astimezone(KST).date()
        return d if self.always or is_trading_day(d) else None

    def describe(self, dt: datetime) -> str:
        """Today's hours for status: "09:00-15:30 KST" or why the market is closed."""
        d = dt.astimezone(KST).date()
        if self.always:
            return "around the clock (simulator)"
        why = closed_reason(d)
        if why:
            return f"closed ({why})"
        return ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in self.sessions(d)) + " KST"


def in_market_hours(dt: datetime) -> bool:
    """True during KRX's regular session on a trading day (see :class:`MarketCalendar`)."""
    return MarketCalendar().in_hours(dt)


def monotonic() -> float:
    return time.monotonic()
