"""Realtime trade frame parser (H0STCNT0 and its NXT/UN twins): the ingest hot path.

A KIS realtime frame is ``<enc>|<tr_id>|<count>|<payload>`` where ``payload`` holds
``count`` records of N = 46 ``^``-separated fields back to back. KIS has grown field
lists before, so a payload of ``count x M`` fields with M > 46 is accepted and the first
46 of each record are used. Anything else is counted, logged (rate-limited, sample
truncated) and dropped: the parser never raises, so a bad frame never costs the
connection.

Fast path: one compiled regular expression per record count matches the whole payload
(or its C twin ``_scan.scan``, when a C compiler built it at install time).
When every number of the frame is spelled the way JSON (and therefore the file line)
spells it, and the records share a trade date and an hour, its groups are the line's
values in order, and the frame's lines are one join of constant pieces and those groups
(:class:`FrameBatch`); the typed ticks are only built if someone reads them. Anything else
takes the general path (``int``/``float`` per field, lines formatted from the ticks); both
accept the same frames and give byte-identical lines (a test holds them equal).
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat

from observer.daemon.ingest.lines import FrameBatch, LineFormatter
from observer.daemon.model import Tick, iso_date

_Scan = Callable[[str, int, int, int], tuple[str, ...] | None]
_scan: _Scan | None
try:  # the C twin of the fast-path pattern (built when a C compiler was there)
    from observer.daemon.kis import _scan as _scan_c

    _scan = _scan_c.scan
except ImportError:  # pragma: no cover - depends on the build
    _scan = None

#: Fields per record of the realtime trade TRs.
N_FIELDS = 46
#: Trade TRs sharing the 46-field layout (KRX, NXT, integrated).
TRADE_TR_IDS: frozenset[str] = frozenset({"H0STCNT0", "H0NXCNT0", "H0UNCNT0"})
#: Longest sample of a bad frame put in a log line.
SAMPLE_CHARS = 120
#: Minimum seconds between two malformed-frame log lines (the rest are only counted).
LOG_EVERY = 5.0

# Field positions (KIS.md, H0STCNT0 order).
_SYMBOL, _TIME, _PRICE, _SIGN, _CHANGE, _PCT, _VWAP = 0, 1, 2, 3, 4, 5, 6
_OPEN, _HIGH, _LOW, _ASK1, _BID1, _VOL, _CUMVOL, _CUMVAL = 7, 8, 9, 10, 11, 12, 13, 14
_STRENGTH, _SIDE, _DATE, _HALT = 18, 21, 33, 35
_EIGHT, _SIX = {8}, {6}
_YES = "Y"
_SIDES = {"1": 1, "3": 3, "5": 5, "": 0}


_INT_COLS = (_PRICE, _SIGN, _CHANGE, _OPEN, _HIGH, _LOW, _ASK1, _BID1, _VOL, _CUMVOL, _CUMVAL)
_FLOAT_COLS = (_PCT, _VWAP, _STRENGTH)

# --- fast path: one regular expression checks a whole frame and picks its fields --------
# (daemon/kis/_scan.c is its C twin, used when it was built; a test holds them equal)
#
# A field is taken as it stands only when json.dumps(int(x)) / repr(float(x)) spells it
# the same way (after the fraction's trailing zeros, which the pattern leaves outside its
# group); anything else fails the match and the general path decides.
#: An integer as JSON spells it: no sign on zero, no leading zeros, at most 18 digits.
_RX_INT = r"(0|-?[1-9][0-9]{0,17}+)"
#: A decimal whose repr is the captured text: at most 15 significant digits (9 + 6) and
#: the fraction's trailing zeros outside the group. repr switches to exponents below 1e-4:
#: frames holding "0.0000" anywhere take the general path (a substring test, see _fast).
_RX_FLOAT = r"(-?(?:0|[1-9][0-9]{0,8}+)\.(?:[0-9]{0,5}[1-9]|0))0*+"
_RX_SKIP = r"[^^]*+"
# The groups of a record come out in the order their values appear in its line (the
# line's keys follow the field order for this), so the line is one join of pieces and the
# groups, taken every other piece:
#
#   {"seq":SEQ,"symbol":"SYM","trade_date":"D","ts":"DTHH:MM:SS+09:00","price":P,...
#   ...,"strength":S,"side":SIDE,"halted":false,"received_at":"RECV"}\n
#
# The piece before SYM carries the seq (written in once the hub has numbered the frame).
# The trade date's group (field 33) comes last: once read, its place takes the line's end
# (one string per frame, with received_at). The other records must repeat record 0's date
# and hour (back references), so a frame is one segment key. TRHT_YN must be "N" or empty
# (a halted stock does not trade): "Y" takes the general path.
_RX_VALUES: dict[int, str] = {
    **dict.fromkeys(_INT_COLS, _RX_INT),
    **dict.fromkeys(_FLOAT_COLS, _RX_FLOAT),
    _SIDE: r"([0-9]?)",
    _HALT: r"N?",
}
_LINE_VALUES = (
    _PRICE, _SIGN, _CHANGE, _PCT, _VWAP, _OPEN, _HIGH, _LOW, _ASK1, _BID1, _VOL, _CUMVOL,
    _CUMVAL, _STRENGTH, _SIDE,
)  # fmt: skip
#: Groups per record: SYMBOL, HH, MM, SS, the values above, DATE.
_G = 4 + len(_LINE_VALUES) + 1
_G_HOUR, _G_SIDE, _G_DATE = 1, _G - 2, _G - 1
#: Records per frame the fast path compiles a pattern for (more take the general path).
FAST_MAX_RECORDS = 40
#: Length of a frame header with a 3-digit count: ``0|H0STCNT0|005|``.
_HEAD = 15
_SIDE_JSON = {"": "0", **{str(i): str(i) for i in range(10)}}
#: The pieces before each group of a record: the seq's (``_SEQ % seq``), the date prefix's
#: (set per frame), then constants.
_PIECES = (
    "", "", ":", ":", '+09:00","price":', ',"sign":', ',"change":', ',"change_pct":',
    ',"vwap":', ',"open":', ',"high":', ',"low":', ',"ask1":', ',"bid1":', ',"volume":',
    ',"cum_volume":', ',"cum_value":', ',"strength":', ',"side":', "",
)  # fmt: skip
_SEQ = '{"seq":%d,"symbol":"'
_TAIL = ',"halted":false,"received_at":"%s"}\n'


def _record_pattern(first: bool, width: int) -> str:
    hour = "(?P<hour>[0-9]{2})" if first else "((?P=hour))"
    date = "(?P<date>[0-9]{8})" if first else "((?P=date))"
    fields = [
        {
            _SYMBOL: r"([0-9A-Za-z]++)", _TIME: hour + "([0-9]{2})([0-9]{2})", _DATE: date,
        }.get(i) or _RX_VALUES.get(i, _RX_SKIP)
        for i in range(N_FIELDS)
    ] + [_RX_SKIP] * (width - N_FIELDS)  # fmt: skip
    return r"\^".join(fields)


class _Plan:
    """Per (records, fields per record): the frame pattern and its line pieces.

    ``pieces`` holds the constant pieces at even positions and room for the groups at odd
    positions; a frame copies it and fills in its groups, date prefix, line ends and (once
    the hub has numbered it) the seqs, each with one slice assignment.
    """

    __slots__ = ("count", "dated", "match", "pieces", "stride", "width")

    def __init__(self, count: int, width: int) -> None:
        rx = re.compile(r"\^".join(_record_pattern(k == 0, width) for k in range(count)), re.ASCII)
        assert rx.groups == _G * count, (rx.groups, _G * count)
        self.match = rx.fullmatch
        self.count, self.width = count, width
        self.dated: dict[str, list[str]] = {}  # pieces with a trade date's prefix in place
        self.stride = 2 * _G
        pieces: list[str] = []
        for _ in range(count):
            for p in _PIECES:
                pieces += (p, "")
        pieces.append("")  # after the last record's end
        self.pieces = pieces

    # Positions in ``pieces`` (first record; add k * stride for record k).
    seq_at, prefix_at, side_at, date_at = 0, 2 * _G_HOUR, 2 * _G_SIDE + 1, 2 * _G_DATE + 1


class _ParsedFrame(FrameBatch):
    """A fast-path frame: its line pieces, and the payload to build its ticks on demand."""

    __slots__ = ("_pieces", "_received_at", "_start", "_stride", "_text", "_width")

    def __init__(
        self, plan: _Plan, pieces: list[str], date: str, hour: str, text: str, start: int,
        received_at: float,
    ) -> None:  # fmt: skip
        # FrameBatch's fields, set here: this runs once per frame.
        self.size, self.trade_date, self.key = plan.count, date, f"{date}_{hour}"
        self._first, self._ticks = 0, None
        self._pieces: list[str] | None = pieces
        self._stride, self._width = plan.stride, plan.width
        # text[start:] is the payload (the frame is kept whole: no copy on the hot path)
        self._text, self._start, self._received_at = text, start, received_at

    def _render(self, seqs: Iterable[int]) -> str:
        p = self._pieces
        if p is None:  # rendered before: from the ticks (same bytes; a test holds them equal)
            return "".join(LineFormatter().tick_lines(self.ticks))
        # The writer renders a frame once; the tail's shared log may keep the frame for a
        # while, so the pieces (several times the size of the lines) go now.
        self._pieces = None
        p[_Plan.seq_at : -1 : self._stride] = map(_SEQ.__mod__, seqs)
        return "".join(p)

    def _build(self) -> list[Tick]:
        payload = self._text[self._start :]
        return _ticks(payload.split("^"), self._width, self.size, self._received_at)


def _ticks(f: list[str], w: int, count: int, received_at: float) -> list[Tick]:
    """Typed ticks of a frame's fields; ValueError when a number does not parse."""
    pcts = list(map(float, f[_PCT::w]))
    vwaps = list(map(float, f[_VWAP::w]))
    strengths = list(map(float, f[_STRENGTH::w]))
    # float() accepts "nan"/"inf"; no real quote is either (a sum catches all).
    chk = sum(pcts) + sum(vwaps) + sum(strengths)
    if chk - chk != 0.0:
        raise ValueError("non-finite number")
    return list(
        map(
            Tick, f[_SYMBOL::w], f[_DATE::w], f[_TIME::w], map(int, f[_PRICE::w]),
            map(int, f[_SIGN::w]), map(int, f[_CHANGE::w]), pcts, vwaps,
            map(int, f[_OPEN::w]), map(int, f[_HIGH::w]), map(int, f[_LOW::w]),
            map(int, f[_ASK1::w]), map(int, f[_BID1::w]), map(int, f[_VOL::w]),
            map(int, f[_CUMVOL::w]), map(int, f[_CUMVAL::w]), strengths,
            map(_side, f[_SIDE::w]), map(_YES.__eq__, f[_HALT::w]), repeat(received_at, count),
        )
    )  # fmt: skip


def _side(s: str) -> int:
    """CCLD_DVSN as int; empty (seen outside the regular session) is 0."""
    v = _SIDES.get(s)
    return int(s) if v is None else v


class FrameParser:
    """Parses realtime trade frames into :class:`Tick` objects; counts what it rejects.

    Counters: ``frames`` (all frames seen), ``ticks`` (records produced), ``malformed``
    (frames rejected) and ``reasons`` (rejections per reason).
    """

    def __init__(
        self,
        tr_ids: frozenset[str] = TRADE_TR_IDS,
        *,
        clock: Callable[[], float] = time.time,
        log: logging.Logger | None = None,
        lines: bool = True,
    ) -> None:
        """``lines=False``: always return plain typed ticks (no pre-built file lines), for
        consumers that never write the JSONL files."""
        self.tr_ids = tr_ids
        self._lines = lines
        self._clock = clock
        self._log = log or logging.getLogger("observer.daemon.kis.parser")
        self.frames = 0
        self.ticks = 0
        self.malformed = 0
        self.reasons: Counter[str] = Counter()
        self._last_log = -LOG_EVERY
        self._suppressed = 0
        self._plans: dict[tuple[int, int], _Plan] = {}
        self._heads: dict[str, _Plan] = {}  # by a frame's first _HEAD characters
        self._fmt = LineFormatter()
        self._tail_sec = -1  # the second _tail_fmt is for
        self._tail_fmt = ""

    def parse(self, frame: str) -> Sequence[Tick]:
        """The ticks of one frame, or [] when the frame is malformed (never raises)."""
        self.frames += 1
        # A header seen before ("0|H0STCNT0|005|"): straight to its pattern, no splitting.
        plan = self._heads.get(frame[:_HEAD])
        if plan is not None:
            fast = self._fast(plan, frame, _HEAD)
            if fast is not None:
                self.ticks += plan.count
                return fast
        parts = frame.split("|", 3)
        if len(parts) != 4:
            return self._reject("shape", frame)
        enc, tr_id, count_s, payload = parts
        if enc != "0":
            return self._reject("encrypted" if enc == "1" else "enc_flag", frame)
        if tr_id not in self.tr_ids:
            return self._reject("tr_id", frame)
        if not count_s.isdigit():
            return self._reject("count", frame)
        count = int(count_s)
        if plan is None and self._lines and 0 < count <= FAST_MAX_RECORDS:
            total = payload.count("^") + 1
            if not total % count and total // count >= N_FIELDS:
                plan = self._plan(count, total // count)
                if plan.width == N_FIELDS and len(frame) - len(payload) == _HEAD:
                    if len(self._heads) >= 64:
                        self._heads.clear()
                    self._heads[frame[:_HEAD]] = plan
                fast = self._fast(plan, payload, 0)
                if fast is not None:
                    self.ticks += count
                    return fast
        return self._general(frame, payload, count)

    def _general(self, frame: str, payload: str, count: int) -> Sequence[Tick]:
        """Typed ticks from the split fields (any spelling int()/float() accept)."""
        f = payload.split("^")
        total = len(f)
        if count == 0 or total % count or total // count < N_FIELDS:
            return self._reject("field_count", frame)
        w = total // count
        # Column-wise: one slice and one map per field over all records of the frame is
        # much cheaper than a Python-level loop per record (frames carry several records).
        dates = f[_DATE::w]
        times = f[_TIME::w]
        # Dates and times go into file names and ISO strings: insist on digits.
        digits = "".join(dates) + "".join(times)
        if (
            not (digits.isascii() and digits.isdigit())
            or set(map(len, dates)) != _EIGHT or set(map(len, times)) != _SIX
        ):  # fmt: skip
            return self._reject("datetime", frame)
        if not all(f[_SYMBOL::w]):
            return self._reject("symbol", frame)
        try:
            out = _ticks(f, w, count, self._clock())
        except ValueError:
            return self._reject("number", frame)
        self.ticks += len(out)
        return out

    def _plan(self, count: int, width: int) -> _Plan:
        plan = self._plans.get((count, width))
        if plan is None:
            if len(self._plans) >= 64:
                self._plans.clear()
            plan = self._plans[(count, width)] = _Plan(count, width)
        return plan

    def _fast(self, plan: _Plan, text: str, start: int) -> FrameBatch | None:
        """The frame's line pieces when one pattern match of ``text[start:]`` (the payload)
        proves every field canonical and the records share a trade date and an hour (one
        segment key); else None."""
        if "0.0000" in text:
            return None
        g: tuple[str, ...] | None
        if _scan is not None and text.isascii():
            g = _scan(text, start, plan.count, plan.width)  # the pattern's groups, in C
        else:
            m = plan.match(text, start)
            g = None if m is None else m.groups()
        if g is None:
            return None
        count = plan.count
        date, hour = g[_G_DATE], g[_G_HOUR]
        received_at = self._clock()
        p = (plan.dated.get(date) or self._dated(plan, date)).copy()
        p[1::2] = g
        s = plan.stride
        p[_Plan.date_at :: s] = (self._tail(received_at),) * count
        sides = p[_Plan.side_at :: s]
        if "" in sides:
            p[_Plan.side_at :: s] = map(_SIDE_JSON.__getitem__, sides)
        return _ParsedFrame(plan, p, date, hour, text, start, received_at)

    def _tail(self, ts: float) -> str:
        """A line's end with ``received_at`` = ts: the second's part is kept between calls."""
        sec = int(ts)
        if sec == self._tail_sec:
            us = round((ts - sec) * 1e6)
            if 0 < us < 1_000_000:
                return self._tail_fmt % us
        self._tail_sec = sec
        iso = self._fmt.received_iso(float(sec))  # 'YYYY-MM-DDTHH:MM:SS+09:00'
        self._tail_fmt = _TAIL.replace("%s", iso[:-6].replace("%", "%%") + ".%06d" + iso[-6:])
        return _TAIL % self._fmt.received_iso(ts)

    def _dated(self, plan: _Plan, date: str) -> list[str]:
        """The plan's pieces with the date prefix of ``date`` in place (cached per plan)."""
        if len(plan.dated) >= 8:
            plan.dated.clear()
        pieces = plan.pieces.copy()
        d = iso_date(date)
        prefix = f'","trade_date":"{d}","ts":"{d}T'  # between the symbol and the hour
        pieces[_Plan.prefix_at :: plan.stride] = (prefix,) * plan.count
        plan.dated[date] = pieces
        return pieces

    def _reject(self, reason: str, frame: str) -> list[Tick]:
        self.malformed += 1
        self.reasons[reason] += 1
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY:
            sample = frame[:SAMPLE_CHARS] + ("..." if len(frame) > SAMPLE_CHARS else "")
            more = f" ({self._suppressed} more since the last report)" if self._suppressed else ""
            self._log.warning(
                "dropped a malformed realtime frame (%s); %d malformed of %d frames so far%s; "
                "sample: %r",
                _REASONS.get(reason, reason), self.malformed, self.frames, more, sample,
            )  # fmt: skip
            self._last_log = now
            self._suppressed = 0
        else:
            self._suppressed += 1
        return []

    def counters(self) -> dict[str, int]:
        """Frames, ticks, malformed and one entry per rejection reason (for status/metrics)."""
        out = {"frames": self.frames, "ticks": self.ticks, "malformed": self.malformed}
        out.update({f"malformed_{k}": v for k, v in self.reasons.items()})
        return out


_REASONS = {
    "shape": "not <enc>|<tr_id>|<count>|<payload>",
    "encrypted": "encrypted frame, no key to decrypt it",
    "enc_flag": "unknown encryption flag",
    "tr_id": "unexpected tr_id",
    "count": "record count is not a number",
    "field_count": f"field count is not count x {N_FIELDS} or more",
    "datetime": "trade date/time is not YYYYMMDD/HHMMSS",
    "symbol": "empty symbol",
    "number": "a numeric field is not a number",
}
