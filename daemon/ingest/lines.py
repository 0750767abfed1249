"""Fast JSONL line formatting for ticks and snapshots.

The line schema is defined by :func:`observer.daemon.model.reference_line` (json.dumps);
this module produces the very same bytes several times faster: one ``%`` template per
track, JSON-encoded strings cached per value (symbols, trade dates, times) and the
``received_at`` ISO string cached per timestamp (every record of a frame shares one).
A test holds the two equal over many random items.

:class:`FrameBatch` is the parser's fast path: a whole realtime frame whose raw KIS fields
are proven canonical JSON numbers, kept as the pieces of its lines; the writer joins them
once the hub has given the seqs. The typed :class:`Tick` objects are only built when
someone reads them (tail subscribers, tests), not for the file.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, overload

from observer.daemon.clock import KST
from observer.daemon.model import Snapshot, Tick, iso_date, reference_line

# Caches are bounded so a long run (or garbage input) cannot grow them without limit.
_CACHE_LIMIT = 8192

_BOOL = ("false", "true")

_SNAP_TEMPLATE = (
    '{"seq":%d,"symbol":%s,%s,"price":%d,"sign":%d,"change":%d,"change_pct":%r,'
    '"open":%d,"high":%d,"low":%d,"upper_limit":%d,"lower_limit":%d,"cum_volume":%d,'
    '"cum_value":%d,"per":%r,"pbr":%r,"eps":%r,"bps":%r,"w52_high":%d,"w52_low":%d,'
    '"market_cap":%d,"halted":%s,"vi":%s,"received_at":"%s"}\n'
)


_SEQ = attrgetter("seq")


if TYPE_CHECKING:
    _Base = Sequence[Tick]
else:
    # Registered below rather than inherited: isinstance(x, FrameBatch) on the hot path
    # then stays a plain type check instead of a trip through ABCMeta.
    _Base = object


class FrameBatch(_Base):
    """The records of one realtime frame, their file lines ready but for ``seq``.

    Every record shares one trade date and one hour (one segment key). Subclasses keep
    the frame's line pieces and render them with the seqs the hub gave (``_render``); the
    typed :class:`Tick` objects are built on first access and then kept (same objects on
    every access); they are read-only as far as the file is concerned: only ``seq`` is
    taken from them.
    """

    __slots__ = ("_first", "_ticks", "key", "size", "trade_date")

    def __init__(self, count: int, trade_date: str, hour: str) -> None:
        self.size = count
        self.trade_date = trade_date
        self.key = f"{trade_date}_{hour}"
        self._first = 0
        self._ticks: list[Tick] | None = None

    def _build(self) -> list[Tick]:
        """The typed records (subclasses know the raw fields)."""
        raise NotImplementedError

    def _render(self, seqs: Iterable[int]) -> str:
        """The frame's lines with these seqs (one per record; 0 before numbering)."""
        raise NotImplementedError

    @property
    def ticks(self) -> list[Tick]:
        out = self._ticks
        if out is None:
            out = self._ticks = self._build()
            if self._first:
                for i, t in enumerate(out, self._first):
                    t.seq = i
        return out

    def number(self, first: int) -> None:
        """Give the records seq ``first``, ``first + 1``, ... (what the hub does)."""
        self._first = first
        if self._ticks is not None:
            for i, t in enumerate(self._ticks, first):
                t.seq = i

    def _seqs(self) -> Iterable[int]:
        if self._ticks is not None:
            return map(_SEQ, self._ticks)
        first = self._first
        return range(first, first + self.size) if first else (0,) * self.size

    def lines(self) -> str:
        """The frame's lines, with each record's current seq."""
        return self._render(self._seqs())

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    @overload
    def __getitem__(self, i: int) -> Tick: ...
    @overload
    def __getitem__(self, i: slice) -> list[Tick]: ...
    def __getitem__(self, i: int | slice) -> Tick | list[Tick]:
        return self.ticks[i]

    def __iter__(self) -> Iterator[Tick]:
        return iter(self.ticks)

    def __reversed__(self) -> Iterator[Tick]:
        return reversed(self.ticks)

    def __contains__(self, item: object) -> bool:
        return item in self.ticks

    def index(self, value: Tick, start: int = 0, stop: int = sys.maxsize) -> int:
        return self.ticks.index(value, start, stop)

    def count(self, value: Tick) -> int:
        return self.ticks.count(value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrameBatch):
            return self.ticks == other.ticks
        return isinstance(other, list) and self.ticks == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FrameBatch({self.key}, {self.size} records)"


Sequence.register(FrameBatch)


def _received_iso(ts: float) -> str:
    """``clock.iso(clock.to_kst(ts))`` without building a datetime per call."""
    return datetime.fromtimestamp(ts, KST).isoformat()


class LineFormatter:
    """Formats items into JSONL lines identical to ``model.reference_line``.

    Not thread-safe (its caches are plain dicts): one formatter per writer.
    """

    __slots__ = ("_dates", "_floats", "_recv", "_secs", "_strs")

    def __init__(self) -> None:
        self._strs: dict[str, str] = {}
        self._dates: dict[tuple[str, str], str] = {}
        self._recv: dict[float, str] = {}
        self._secs: dict[int, str] = {}
        self._floats: dict[float, str] = {}

    def _jstr(self, s: str) -> str:
        out = self._strs.get(s)
        if out is None:
            if len(self._strs) >= _CACHE_LIMIT:
                self._strs.clear()
            out = self._strs[s] = json.dumps(s, ensure_ascii=False)
        return out

    def date_part(self, trade_date: str, time: str) -> str:
        """The ``"trade_date":...,"ts":...`` part of a line (cached)."""
        return self._dates.get((trade_date, time)) or self._date_part(trade_date, time)

    def received_iso(self, ts: float) -> str:
        """``received_at`` as in a line, without quotes: ``clock.iso(clock.to_kst(ts))``.

        Built from the second (cached) and the microseconds, rounded half to even as
        ``datetime.fromtimestamp`` rounds them; a test holds the two equal.
        """
        if not 0.0 <= ts < 1e11:
            return _received_iso(ts)
        sec = int(ts)
        us = round((ts - sec) * 1e6)
        if us >= 1_000_000:
            sec += 1
            us -= 1_000_000
        base = self._secs.get(sec) or self._second(sec)
        return f"{base}.{us:06d}+09:00" if us else base + "+09:00"

    def _second(self, sec: int) -> str:
        if len(self._secs) >= _CACHE_LIMIT:
            self._secs.clear()
        out = self._secs[sec] = datetime.fromtimestamp(sec, KST).isoformat()[:-6]
        return out

    def _date_part(self, trade_date: str, time: str) -> str:
        key = (trade_date, time)
        out = self._dates.get(key)
        if out is None:
            if len(self._dates) >= _CACHE_LIMIT:
                self._dates.clear()
            # Built with json.dumps so odd input (never seen from KIS) is still escaped
            # exactly as the reference does.
            d = iso_date(trade_date)
            ts = f"{d}T{time[:2]}:{time[2:4]}:{time[4:6]}+09:00"
            out = self._dates[key] = (
                f'"trade_date":{json.dumps(d, ensure_ascii=False)},'
                f'"ts":{json.dumps(ts, ensure_ascii=False)}'
            )
        return out

    def _recv_iso(self, ts: float) -> str:
        out = self._recv.get(ts)
        if out is None:
            if len(self._recv) >= _CACHE_LIMIT:
                self._recv.clear()
            out = self._recv[ts] = self.received_iso(ts)
        return out

    def _float(self, x: float) -> str:
        out = self._floats.get(x)
        if out is None:
            if len(self._floats) >= _CACHE_LIMIT:
                self._floats.clear()
            # json spells finite floats with repr, and nan/inf as NaN/Infinity.
            out = repr(x)
            if out[-1] in "nf":
                out = json.dumps(x)
            elif not x:  # 0.0 and -0.0 are one dict key but spelled apart: not cached
                return out
            self._floats[x] = out
        return out

    def tick_lines(self, items: Sequence[Tick]) -> list[str]:
        """One line per tick, in order.

        Float fields must hold floats (the parser guarantees it): the float cache would
        spell an int 1 as 1.0.
        """
        out: list[str] = []
        append = out.append
        fget = self._floats.get
        sget = self._strs.get
        last_date = last_time = ""
        dp = ""
        last_ra = -1.0
        ra = ""
        for t in items:
            # Records of one frame share a time and a received_at: compare, don't look up.
            if t.time != last_time or t.trade_date != last_date:
                last_time, last_date = t.time, t.trade_date
                dp = self._date_part(last_date, last_time)
            if t.received_at != last_ra:
                last_ra = t.received_at
                ra = self._recv_iso(last_ra)
            x = t.change_pct
            cp = fget(x) or self._float(x)
            x = t.vwap
            vw = fget(x) or self._float(x)
            x = t.strength
            st = fget(x) or self._float(x)
            sym = sget(t.symbol) or self._jstr(t.symbol)
            append(
                f'{{"seq":{t.seq},"symbol":{sym},{dp},"price":{t.price},"sign":{t.sign},'
                f'"change":{t.change},"change_pct":{cp},"vwap":{vw},"open":{t.open},'
                f'"high":{t.high},"low":{t.low},"ask1":{t.ask1},"bid1":{t.bid1},'
                f'"volume":{t.volume},"cum_volume":{t.cum_volume},"cum_value":{t.cum_value},'
                f'"strength":{st},"side":{t.side},"halted":{_BOOL[t.halted]},'
                f'"received_at":"{ra}"}}\n'
            )
        return out

    def snapshot_lines(self, items: Sequence[Snapshot]) -> list[str]:
        """One line per snapshot, in order (the swing track is slow; clarity over speed)."""
        out: list[str] = []
        for s in items:
            floats = (s.change_pct, s.per, s.pbr, s.eps, s.bps)
            if not all(math.isfinite(x) for x in floats):
                out.append(reference_line(s))
                continue
            out.append(
                _SNAP_TEMPLATE
                % (
                    s.seq, self._jstr(s.symbol), self._date_part(s.trade_date, s.time),
                    s.price, s.sign, s.change, s.change_pct, s.open, s.high, s.low,
                    s.upper_limit, s.lower_limit, s.cum_volume, s.cum_value, s.per, s.pbr,
                    s.eps, s.bps, s.w52_high, s.w52_low, s.market_cap,
                    "true" if s.halted else "false", self._jstr(s.vi),
                    self._recv_iso(s.received_at),
                )
            )  # fmt: skip
        return out

    def lines(self, items: Sequence[Tick] | Sequence[Snapshot]) -> list[str]:
        """Lines for a homogeneous batch (all ticks or all snapshots)."""
        if not items:
            return []
        if isinstance(items[0], Tick):
            return self.tick_lines(items)  # type: ignore[arg-type]
        return self.snapshot_lines(items)  # type: ignore[arg-type]


def format_line(item: Tick | Snapshot, formatter: LineFormatter | None = None) -> str:
    """The line for one item (convenience for callers outside the hot path)."""
    f = formatter or LineFormatter()
    if isinstance(item, Tick):
        return f.tick_lines([item])[0]
    return f.snapshot_lines([item])[0]
