"""Realtime trade frame parser (H0STCNT0 and its NXT/UN twins): the ingest hot path.

A KIS realtime frame is ``<enc>|<tr_id>|<count>|<payload>`` where ``payload`` holds
``count`` records of N = 46 ``^``-separated fields back to back. KIS has grown field
lists before, so a payload of ``count x M`` fields with M > 46 is accepted and the first
46 of each record are used. Anything else is counted, logged (rate-limited, sample
truncated) and dropped: the parser never raises, so a bad frame never costs the
connection.

Fast path: when every number of a frame is spelled the way JSON (and therefore the file
line) spells it, and the records share a trade date and an hour, the frame's lines are
laid out straight from the raw fields with one join (:class:`FrameBatch`) and the typed
ticks are only built if someone reads them. Anything else takes the general path
(``int``/``float`` per field, lines formatted from the ticks); both accept the same
frames and give byte-identical lines.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import itemgetter

from observer.daemon.ingest.lines import FrameBatch, LineFormatter
from observer.daemon.model import Tick

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
_DIGITS = b"0123456789"


def _json_ints(s: str, n: int) -> bool:
    """Whether ``,,a,,b,,...,,`` holds only integers spelled as json.dumps(int(x)) would.

    Bulk checks on the joined fields (each is one C call): digits with an optional
    leading "-", no leading zero, no "-0", and short enough for int(). The separator is
    doubled so that counting ",0," does not miss neighbours (counts do not overlap); the
    number of separators proves no field held a comma of its own.
    """
    if not s.isascii() or len(s) > 4000:
        return False
    b = s.encode()
    return (
        not b.translate(None, _DIGITS + b"-,")
        and b.count(b",") == 2 * n + 2 and b",,,," not in b and b"-," not in b and b",-0" not in b
        and b.count(b"-") == b.count(b",-")
        and b.count(b",0") == b.count(b",0,")
    )  # fmt: skip


def _json_floats(s: str, n: int) -> bool:
    """Whether ``,a,b,...,`` (``n`` fields) holds decimals that repr(float(x)) gives back
    once trailing zeros of the fraction are dropped.

    Each field is ``-?(0|[1-9][0-9]*)\\.[0-9]+`` of at most 16 characters: at most 15
    significant digits (so the double rounds back to them) below 1e15 (so repr keeps fixed
    notation); and no "0.0000" (repr switches to exponents below 1e-4).
    """
    if not s.isascii() or len(s) > 17 * n + 1:
        return False
    b = s.encode()
    return (
        b.translate(None, _DIGITS + b"-") == b",." * n + b","
        and b",." not in b and b".," not in b and b"-." not in b and b"0.0000" not in b
        and b.count(b"-") == b.count(b",-")
        and b.count(b",0") == b.count(b",0.") and b.count(b",-0") == b.count(b",-0.")
    )  # fmt: skip


_SIDE_JSON = {"": "0", **{str(i): str(i) for i in range(10)}}
_HALT_JSON = {"Y": "true", "N": "false", "": "false"}
_LINE_KEYS = (
    '{"seq":%d,', ',"symbol":"', '","price":', ',"sign":', ',"change":', ',"change_pct":',
    ',"vwap":', ',"open":', ',"high":', ',"low":', ',"ask1":', ',"bid1":', ',"volume":',
    ',"cum_volume":', ',"cum_value":', ',"strength":', ',"side":', ',"halted":',
    ',"received_at":"', '"}\n',
)  # fmt: skip


class _Plan:
    """Per (records, fields per record): what to pick from a frame's fields, in order."""

    __slots__ = ("floats", "ints", "layout")

    def __init__(self, count: int, width: int) -> None:
        total = count * width
        self.ints = itemgetter(*[k * width + c for c in _INT_COLS for k in range(count)])
        self.floats = itemgetter(*[k * width + c for c in _FLOAT_COLS for k in range(count)])
        # The picked list is the fields + the float spellings (3 x count between two empty
        # strings) + per record: date part, then sides, then halted + received_at + the
        # constant pieces of a line.
        fl, dp = total + 1, total + 3 * count + 2
        side, halt, recv, keys = dp + count, dp + 2 * count, dp + 3 * count, dp + 3 * count + 1
        order: list[int] = []
        for k in range(count):
            b = k * width
            values = (
                dp + k, b + _SYMBOL, b + _PRICE, b + _SIGN, b + _CHANGE, fl + k,
                fl + count + k, b + _OPEN, b + _HIGH, b + _LOW, b + _ASK1, b + _BID1,
                b + _VOL, b + _CUMVOL, b + _CUMVAL, fl + 2 * count + k, side + k, halt + k,
                recv,
            )  # fmt: skip
            for j, v in enumerate(values):
                order += (keys + j, v)
            order.append(keys + len(values))
        self.layout = itemgetter(*order)


class _ParsedFrame(FrameBatch):
    """A fast-path frame: keeps the raw fields to build its ticks on demand."""

    __slots__ = ("_payload", "_received_at", "_width")

    def __init__(
        self, template: str, count: int, date: str, hour: str,
        payload: str, width: int, received_at: float,
    ) -> None:  # fmt: skip
        super().__init__(template, count, date, hour)
        self._payload, self._width, self._received_at = payload, width, received_at

    def _build(self) -> list[Tick]:
        return _ticks(self._payload.split("^"), self._width, self.size, self._received_at)


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
        self._fmt = LineFormatter()

    def parse(self, frame: str) -> Sequence[Tick]:
        """The ticks of one frame, or [] when the frame is malformed (never raises)."""
        self.frames += 1
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
        f = payload.split("^")
        total = len(f)
        if count == 0 or total % count or total // count < N_FIELDS:
            return self._reject("field_count", frame)
        w = total // count
        # Column-wise: one slice and one map per field over all records of the frame is
        # much cheaper than a Python-level loop per record (frames carry several records).
        syms = f[_SYMBOL::w]
        dates = f[_DATE::w]
        times = f[_TIME::w]
        # Dates and times go into file names and ISO strings: insist on digits.
        digits = "".join(dates) + "".join(times)
        if (
            not (digits.isascii() and digits.isdigit())
            or set(map(len, dates)) != _EIGHT or set(map(len, times)) != _SIX
        ):  # fmt: skip
            return self._reject("datetime", frame)
        if not all(syms):
            return self._reject("symbol", frame)
        received_at = self._clock()
        out: Sequence[Tick] | None = None
        # The fast path wants one trade date and one hour: one segment key per frame.
        first, last = min(times), max(times)
        if self._lines and dates.count(dates[0]) == count and first[:2] == last[:2]:
            out = self._fast(payload, f, count, w, syms, dates[0], times, received_at)
        if out is None:
            try:
                out = _ticks(f, w, count, received_at)
            except ValueError:
                return self._reject("number", frame)
        self.ticks += len(out)
        return out

    def _fast(
        self, payload: str, f: list[str], count: int, w: int, syms: list[str], date: str,
        times: list[str], received_at: float,
    ) -> FrameBatch | None:  # fmt: skip
        """The frame laid out from its raw fields, or None when the general path must decide."""
        plan = self._plans.get((count, w))
        if plan is None:
            if len(self._plans) >= 64:
                self._plans.clear()
            plan = self._plans[(count, w)] = _Plan(count, w)
        s = "".join(syms)
        floats = "," + ",".join(plan.floats(f)) + ","
        if not (
            s.isascii() and s.isalnum()
            and _json_ints(",," + ",,".join(plan.ints(f)) + ",,", len(_INT_COLS) * count)
            and _json_floats(floats, 3 * count)
        ):  # fmt: skip
            return None
        flags = [*map(_SIDE_JSON.get, f[_SIDE::w]), *map(_HALT_JSON.get, f[_HALT::w])]
        if None in flags:
            return None
        if "0," in floats:  # repr drops trailing zeros of the fraction (keeping one)
            floats = ",".join(map(str.rstrip, floats.split(","), repeat("0"))).replace(".,", ".0,")
        fl = floats.split(",")
        dp = self._fmt.date_part
        f += fl
        if count == 1 or times.count(times[0]) == count:  # the common case: one second
            f += [dp(date, times[0])] * count
        else:
            f += [dp(date, t) for t in times]
        f += flags  # type: ignore[arg-type]  # no None: checked above
        f.append(self._fmt.received_iso(received_at))
        f += _LINE_KEYS
        template = "".join(plan.layout(f))
        # Keep the payload (a str), not the field list: less for the garbage collector.
        return _ParsedFrame(template, count, date, times[0][:2], payload, w, received_at)

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
