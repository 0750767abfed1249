"""The simulated market: a random walk on real KRX tick sizes, rendered as KIS would send it.

One :class:`Market` holds per-symbol state (price, open/high/low, cumulative volume and
value, buy/sell counts) and renders H0STCNT0 records (46 fields in the official order, 47
with MARKET_CLS_CODE as newer servers send), H0STOUP0 after-hours records (their first 43)
and inquire-price ``output`` objects, with the values real frames show: a buy prints at the
ask and a sell at the bid, SHNU_RATE is a fraction, MRKT_TRTM_CLS_CODE is empty and
VI_STND_PRC a price. Records are built in batches per call because benchmarks drive the
simulator at tens of thousands of ticks per second.

The day's phases, when the simulator keeps KRX hours (:func:`phase`): the opening
single-price auction 08:30-09:00 (no trade; its result is each symbol's first print at
09:00, NEW_MKOP_CLS_CODE 10), continuous trading to 15:20 (20), the closing auction to
15:30 (no trade; one print per symbol at 15:30, 21: the closing price) and after-hours
single-price trading 16:00-18:00 on H0STOUP0 (40). The codes follow their documented
meaning (first character: 1 pre-open, 2 regular, 4 after-hours single price; second: 0
normal, 1 closing price).
"""

from __future__ import annotations

import csv
import random
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

from observer.daemon.clock import to_kst

FIELDS_PER_RECORD = 46
#: H0STOUP0 (after-hours single price) carries the first 43 of them.
AFTER_HOURS_FIELDS = 43
#: NEW_MKOP_CLS_CODE per kind of print.
MARKET_OP = {"open": "10", "regular": "20", "close": "21", "after_hours": "40"}


def phase(k: datetime) -> str:
    """The KRX phase at ``k`` (KST): opening_auction, regular, closing_auction, closing
    (the minute of the closing print), after_hours or closed."""
    hm = (k.hour, k.minute)
    if k.weekday() >= 5:
        return "closed"
    if (8, 30) <= hm < (9, 0):
        return "opening_auction"
    if (9, 0) <= hm < (15, 20):
        return "regular"
    if (15, 20) <= hm < (15, 30):
        return "closing_auction"
    if hm == (15, 30):
        return "closing"
    if (16, 0) <= hm < (18, 0):
        return "after_hours"
    return "closed"


def tick_size(price: int) -> int:
    """KRX tick size (from 2023) for a price in won."""
    if price < 2_000:
        return 1
    if price < 5_000:
        return 5
    if price < 20_000:
        return 10
    if price < 50_000:
        return 50
    if price < 200_000:
        return 100
    if price < 500_000:
        return 500
    return 1_000


def on_tick(price: int) -> bool:
    return price > 0 and price % tick_size(price) == 0


def floor_to_tick(price: int) -> int:
    return max(1, price - price % tick_size(price))


def ceil_to_tick(price: int) -> int:
    t = tick_size(price)
    return price if price % t == 0 else floor_to_tick(price + t)


@dataclass(frozen=True)
class Listing:
    symbol: str
    name: str
    base_price: int


def load_universe(text: str | None = None) -> dict[str, Listing]:
    """The shipped universe file (or ``text`` in the same CSV format), keyed by symbol."""
    if text is None:
        text = (
            resources.files("observer.daemon.simulator")
            .joinpath("universe.csv")
            .read_text(encoding="utf-8")
        )
    out: dict[str, Listing] = {}
    for row in csv.DictReader(text.splitlines()):
        sym = row["symbol"].strip()
        out[sym] = Listing(sym, row["name"].strip(), int(row["base_price"]))
    return out


def synthetic_base(symbol: str) -> int:
    """A stable plausible price for a symbol missing from the universe file."""
    return floor_to_tick(5_000 + zlib.crc32(symbol.encode()) % 195_000)


class _Sym:
    __slots__ = (
        "buy_count", "buy_vol", "closed", "cum_value", "cum_vol", "high", "high_t", "low",
        "low_t", "lower", "open", "open_t", "prev_close", "prev_vol", "price", "sell_count",
        "sell_vol", "symbol", "upper",
    )  # fmt: skip

    def __init__(self, symbol: str, base: int) -> None:
        self.symbol = symbol
        self.prev_close = floor_to_tick(base)
        self.upper = floor_to_tick(self.prev_close * 13 // 10)
        self.lower = ceil_to_tick(self.prev_close * 7 // 10)
        self.price = self.prev_close
        self.open = self.high = self.low = 0
        self.open_t = self.high_t = self.low_t = "090000"
        self.cum_vol = self.cum_value = 0
        self.buy_count = self.sell_count = self.buy_vol = self.sell_vol = 0
        self.prev_vol = 1_000_000 + zlib.crc32(symbol.encode()) % 9_000_000
        self.closed = False  # the closing auction's print is out


def _sign(diff: int, price: int, s: _Sym) -> str:
    if price >= s.upper:
        return "1"
    if price <= s.lower:
        return "4"
    return "2" if diff > 0 else "5" if diff < 0 else "3"


class Market:
    def __init__(
        self,
        universe: dict[str, Listing],
        rng: random.Random,
        clock: Callable[[], float],
    ) -> None:
        self.universe = universe
        self._rng = rng
        self._clock = clock
        self._syms: dict[str, _Sym] = {}
        #: symbols the websocket feed trades; the others trade when quoted (see quote)
        self._fed: set[str] = set()
        self._quoted_at: dict[str, float] = {}

    def knows(self, symbol: str) -> bool:
        return symbol in self.universe

    def _state(self, symbol: str) -> _Sym:
        s = self._syms.get(symbol)
        if s is None:
            listing = self.universe.get(symbol)
            base = listing.base_price if listing else synthetic_base(symbol)
            s = self._syms[symbol] = _Sym(symbol, base)
        return s

    def clock_fields(self) -> tuple[str, str]:
        """(YYYYMMDD, HHMMSS) KST of now."""
        k = to_kst(self._clock())
        return f"{k:%Y%m%d}", f"{k:%H%M%S}"

    def records(
        self, symbols: Iterable[str], n: int, *, kind: str = "regular", wide: bool = False
    ) -> list[str]:
        """``n`` trades spread at random over ``symbols``, each a ``^`` record: 46 fields,
        47 when ``wide`` (MARKET_CLS_CODE), 43 for ``kind`` "after_hours" (H0STOUP0). A
        symbol's first trade of the day is the opening auction's print."""
        syms = [self._state(s) for s in symbols]
        if not syms or n <= 0:
            return []
        now = self.clock_fields()
        pick = self._rng.choice
        return [self._record(pick(syms), kind, wide, now) for _ in range(n)]

    def auction_prints(self, symbols: Iterable[str], *, wide: bool = False) -> list[str]:
        """The closing auction's print of every symbol that has none yet today."""
        out = []
        now = self.clock_fields()
        for sym in symbols:
            s = self._state(sym)
            if not s.closed:
                s.closed = True
                out.append(self._record(s, "close", wide, now))
        return out

    def _record(self, s: _Sym, kind: str, wide: bool, now: tuple[str, str]) -> str:
        self._fed.add(s.symbol)
        date, hms = now
        rnd = self._rng.random
        expo = self._rng.expovariate
        p = s.price
        r = rnd()
        if r < 0.4:
            p = max(s.lower, p - tick_size(p - 1))
        elif r > 0.6:
            p = min(s.upper, p + tick_size(p))
        s.price = p
        opening = s.open == 0
        vol = int(expo(0.02)) + 1
        if opening or kind == "close":  # an auction's print matches the book at once
            vol *= 50
        buy = rnd() < 0.5
        if buy:
            s.buy_count += 1
            s.buy_vol += vol
        else:
            s.sell_count += 1
            s.sell_vol += vol
        if opening:
            s.open = s.high = s.low = p
            s.open_t = s.high_t = s.low_t = hms
            kind = "open" if kind == "regular" else kind
        if p > s.high:
            s.high, s.high_t = p, hms
        if p < s.low:
            s.low, s.low_t = p, hms
        s.cum_vol += vol
        s.cum_value += vol * p
        diff = p - s.prev_close
        pc = s.prev_close
        # A buy takes the best ask and a sell hits the best bid: the print is at that side.
        ask1, bid1 = (p, max(1, p - tick_size(p - 1))) if buy else (p + tick_size(p), p)
        strength = s.buy_vol * 100 / s.sell_vol if s.sell_vol else 100.0
        buy_rate = s.buy_vol / s.cum_vol  # SHNU_RATE: a fraction, as in real frames
        ask_q = int(expo(0.001)) + 1
        bid_q = int(expo(0.001)) + 1
        rec = (
            f"{s.symbol}^{hms}^{p}^{_sign(diff, p, s)}^{diff}^{diff * 100 / pc:.2f}^"
            f"{s.cum_value / s.cum_vol:.2f}^{s.open}^{s.high}^{s.low}^{ask1}^{bid1}^"
            f"{vol}^{s.cum_vol}^{s.cum_value}^{s.sell_count}^{s.buy_count}^"
            f"{s.buy_count - s.sell_count}^{strength:.2f}^{s.sell_vol}^{s.buy_vol}^"
            f"{'1' if buy else '5'}^{buy_rate:.2f}^{s.cum_vol * 100 / s.prev_vol:.2f}^"
            f"{s.open_t}^{_sign(p - s.open, p, s)}^{p - s.open}^"
            f"{s.high_t}^{_sign(p - s.high, p, s)}^{p - s.high}^"
            f"{s.low_t}^{_sign(p - s.low, p, s)}^{p - s.low}^"
            f"{date}^{MARKET_OP[kind]}^N^{ask_q}^{bid_q}^{ask_q * 37}^{bid_q * 41}^"
            f"{s.cum_vol * 100 / (s.prev_vol * 50):.2f}^{s.prev_vol}^"
            f"{s.cum_vol * 100 / s.prev_vol:.2f}"
        )
        if kind == "after_hours":
            return rec  # H0STOUP0: 43 columns
        # HOUR_CLS_CODE 0, MRKT_TRTM_CLS_CODE empty, VI_STND_PRC: the static VI reference
        # (the day's open), and MARKET_CLS_CODE (2 regular) on servers that send 47.
        return rec + f"^0^^{s.open}" + ("^2" if wide else "")

    def quote(self, symbol: str) -> dict[str, str]:
        """An inquire-price ``output`` (official keys, string values) for ``symbol``.

        A symbol no websocket session trades still trades on the market: it takes about two
        trades per second since its last quote (at most 50), so swing snapshots move.
        """
        if symbol not in self._fed:
            now = self._clock()
            last = self._quoted_at.get(symbol)
            n = 1 if last is None else min(50, max(1, int((now - last) * 2)))
            self._quoted_at[symbol] = now
            self.records([symbol], n)
            self._fed.discard(symbol)  # traded for the quote, not fed to a session
        s = self._state(symbol)
        p = s.price
        diff = p - s.prev_close
        eps = max(1, s.prev_close // 12)
        return {
            "iscd_stat_cls_code": "55",
            "marg_rate": "20.00",
            "rprs_mrkt_kor_name": "KOSPI200",
            "bstp_kor_isnm": "",
            "temp_stop_yn": "N",
            "stck_prpr": str(p),
            "prdy_vrss": str(diff),
            "prdy_vrss_sign": _sign(diff, p, s),
            "prdy_ctrt": f"{diff * 100 / s.prev_close:.2f}",
            "acml_tr_pbmn": str(s.cum_value),
            "acml_vol": str(s.cum_vol),
            "prdy_vrss_vol_rate": f"{s.cum_vol * 100 / s.prev_vol:.2f}",
            "stck_oprc": str(s.open or p),
            "stck_hgpr": str(s.high or p),
            "stck_lwpr": str(s.low or p),
            "stck_mxpr": str(s.upper),
            "stck_llam": str(s.lower),
            "stck_sdpr": str(s.prev_close),
            "wghn_avrg_stck_prc": f"{(s.cum_value / s.cum_vol) if s.cum_vol else p:.2f}",
            "per": f"{p / eps:.2f}",
            "pbr": f"{p / (eps * 8):.2f}",
            "eps": f"{eps:.2f}",
            "bps": f"{eps * 8:.2f}",
            "w52_hgpr": str(floor_to_tick(s.prev_close * 14 // 10)),
            "w52_lwpr": str(ceil_to_tick(s.prev_close * 6 // 10)),
            "hts_avls": str(p * 5_000_000 // 100_000_000),
            "vi_cls_code": "N",
            "hts_frgn_ehrt": "30.00",
            "stck_fcam": "100",
            "stck_shrn_iscd": symbol,
        }


def frame(tr_id: str, records: list[str]) -> str:
    """One realtime frame: ``0|tr_id|NNN|rec^rec...`` (plain, not encrypted)."""
    return f"0|{tr_id}|{len(records):03d}|{'^'.join(records)}"


def malformed(tr_id: str, records: list[str], rng: random.Random) -> str:
    """A broken frame of one of the kinds seen in the wild (the parser must count it)."""
    kind = rng.randrange(3)
    if kind == 0 and records:  # field count not count x the TR's columns
        fields = "^".join(records).split("^")
        widths = {43, 46, 47} | {len(r.split("^")) for r in records}
        fields.pop()  # cut short; a 47-column record cut by one would be a good 46-column one
        while len(fields) % len(records) == 0 and len(fields) // len(records) in widths:
            fields.pop()
        return f"0|{tr_id}|{len(records):03d}|{'^'.join(fields)}"
    if kind == 1:  # count that is not a number
        return f"0|{tr_id}|0x{len(records)}|{'^'.join(records)}"
    return f"0|{tr_id}|001|garbage^{rng.getrandbits(32):x}"
