"""The records that flow through the daemon.

Two tracks:

* ``scalp`` (Track B): realtime trades from the KIS websocket (H0STCNT0 and its NXT/UN
  twins), one :class:`Tick` per trade, hourly files ``assets/scalp/YYYYMMDD_HH.jsonl``.
* ``swing`` (Track A): periodic REST quotes (inquire-price), one :class:`Snapshot` per
  symbol per sweep, daily files ``assets/swing/YYYYMMDD.jsonl``.

What a line of each track holds — keys, types, units, domains — is the schema table in
daemon/schema/fields.py; these classes carry one record each (a test holds their
attributes to the table).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    side: int  # CCLD_DVSN: 1 buy, 3 pre-market, 5 sell, 0 not given
    halted: bool  # TRHT_YN == "Y"
    received_at: float  # POSIX seconds
    seq: int = 0  # assigned by the hub
    # Schema version 2 (None in lines written before it; see daemon/schema/fields.py).
    market_op: str | None = None  # NEW_MKOP_CLS_CODE
    hour_code: str | None = None  # HOUR_CLS_CODE
    random_end: str | None = None  # MRKT_TRTM_CLS_CODE
    vi_price: int | None = None  # VI_STND_PRC, won
    market_class: str | None = None  # MARKET_CLS_CODE (47th column), when sent
    session: str | None = None  # "regular" or "after_hours" (H0STOUP0)


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
