"""The data that flows through the daemon, and its JSONL line schema.

Two tracks:

* ``scalp`` (Track B): realtime trades from the KIS websocket (H0STCNT0 and its NXT/UN
  twins), one :class:`Tick` per trade, hourly files ``assets/scalp/YYYYMMDD_HH.jsonl``.
* ``swing`` (Track A): periodic REST quotes (inquire-price), one :class:`Snapshot` per
  symbol per sweep, daily files ``assets/swing/YYYYMMDD.jsonl``.

Line schema (one JSON object per line, UTF-8, ``\\n``-terminated; keys in this order):

=============  =======  ============================================================
key            type     meaning
=============  =======  ============================================================
seq            int      per track, per trade date, strictly increasing from 1; never
                        reused or skipped across restarts
trade_date     str      KRX business date, ``YYYY-MM-DD`` (from the feed, KST)
ts             str      trade (scalp) or quote (swing) time, ISO-8601 ``+09:00``
symbol         str      6-digit KRX code
price          int      won
sign           int      change sign vs. previous close: 1 limit-up, 2 up, 3 flat,
                        4 limit-down, 5 down
change         int      won vs. previous close (negative when down)
change_pct     float    percent vs. previous close
...            ...      track-specific fields, see SCALP_FIELDS / SWING_FIELDS
received_at    str      when the daemon received it, ISO-8601 ``+09:00`` microseconds
=============  =======  ============================================================

Prices and values are integer won; volumes are shares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Track(StrEnum):
    SCALP = "scalp"
    SWING = "swing"


@dataclass(slots=True)
class Tick:
    """One realtime trade (H0STCNT0 record)."""

    symbol: str
    trade_date: str  # YYYYMMDD (BSOP_DATE)
    time: str  # HHMMSS KST (STCK_CNTG_HOUR)
    price: int
    sign: int
    change: int
    change_pct: float
    vwap: float
    open: int
    high: int
    low: int
    ask1: int
    bid1: int
    volume: int  # this trade
    cum_volume: int
    cum_value: int  # won
    strength: float  # CTTR, buy/sell strength %
    side: int  # CCLD_DVSN: 1 buy, 3 pre-market, 5 sell
    halted: bool  # TRHT_YN == "Y"
    received_at: float  # POSIX seconds
    seq: int = 0  # assigned by the hub


@dataclass(slots=True)
class Snapshot:
    """One REST quote of the swing universe (inquire-price output)."""

    symbol: str
    trade_date: str  # YYYYMMDD
    time: str  # HHMMSS KST of the quote
    price: int
    sign: int
    change: int
    change_pct: float
    open: int
    high: int
    low: int
    upper_limit: int
    lower_limit: int
    cum_volume: int
    cum_value: int
    per: float
    pbr: float
    eps: float
    bps: float
    w52_high: int
    w52_low: int
    market_cap: int  # hts_avls, 100 million won
    halted: bool
    vi: str
    received_at: float
    seq: int = 0


#: JSON keys of a scalp line, in order (``ts`` and ``received_at`` are derived).
SCALP_FIELDS: Final = (
    "seq", "symbol", "trade_date", "ts", "price", "sign", "change", "change_pct", "vwap",
    "open", "high", "low", "ask1", "bid1", "volume", "cum_volume", "cum_value", "strength",
    "side", "halted", "received_at",
)  # fmt: skip

#: JSON keys of a swing line, in order.
SWING_FIELDS: Final = (
    "seq", "symbol", "trade_date", "ts", "price", "sign", "change", "change_pct", "open",
    "high", "low", "upper_limit", "lower_limit", "cum_volume", "cum_value", "per", "pbr",
    "eps", "bps", "w52_high", "w52_low", "market_cap", "halted", "vi", "received_at",
)  # fmt: skip


def iso_date(yyyymmdd: str) -> str:
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:8]}"


def iso_ts(yyyymmdd: str, hhmmss: str) -> str:
    return (
        f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:8]}"
        f"T{hhmmss[:2]}:{hhmmss[2:4]}:{hhmmss[4:6]}+09:00"
    )


def reference_line(item: Tick | Snapshot) -> str:
    """The line for ``item`` built with json.dumps: the schema's definition.

    The writer uses a faster formatter; a test holds it equal to this one.
    """
    from observer.daemon.clock import iso, to_kst

    fields = SCALP_FIELDS if isinstance(item, Tick) else SWING_FIELDS
    obj: dict[str, object] = {}
    for k in fields:
        if k == "trade_date":
            obj[k] = iso_date(item.trade_date)
        elif k == "ts":
            obj[k] = iso_ts(item.trade_date, item.time)
        elif k == "received_at":
            obj[k] = iso(to_kst(item.received_at))
        else:
            obj[k] = getattr(item, k)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
