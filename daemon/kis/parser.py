"""Realtime trade frame parser (H0STCNT0 and its NXT/UN twins): the ingest hot path.

A KIS realtime frame is ``<enc>|<tr_id>|<count>|<payload>`` where ``payload`` holds
``count`` records of N = 46 ``^``-separated fields back to back. KIS has grown field
lists before, so a payload of ``count x M`` fields with M > 46 is accepted and the first
46 of each record are used. Anything else is counted, logged (rate-limited, sample
truncated) and dropped: the parser never raises, so a bad frame never costs the
connection.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from itertools import repeat

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
    ) -> None:
        self.tr_ids = tr_ids
        self._clock = clock
        self._log = log or logging.getLogger("observer.daemon.kis.parser")
        self.frames = 0
        self.ticks = 0
        self.malformed = 0
        self.reasons: Counter[str] = Counter()
        self._last_log = -LOG_EVERY
        self._suppressed = 0

    def parse(self, frame: str) -> list[Tick]:
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
        try:
            pcts = list(map(float, f[_PCT::w]))
            vwaps = list(map(float, f[_VWAP::w]))
            strengths = list(map(float, f[_STRENGTH::w]))
            # float() accepts "nan"/"inf"; no real quote is either (a sum catches all).
            chk = sum(pcts) + sum(vwaps) + sum(strengths)
            if chk - chk != 0.0:
                return self._reject("number", frame)
            out = list(
                map(
                    Tick, syms, dates, times, map(int, f[_PRICE::w]), map(int, f[_SIGN::w]),
                    map(int, f[_CHANGE::w]), pcts, vwaps, map(int, f[_OPEN::w]),
                    map(int, f[_HIGH::w]), map(int, f[_LOW::w]), map(int, f[_ASK1::w]),
                    map(int, f[_BID1::w]), map(int, f[_VOL::w]), map(int, f[_CUMVOL::w]),
                    map(int, f[_CUMVAL::w]), strengths, map(_side, f[_SIDE::w]),
                    map(_YES.__eq__, f[_HALT::w]), repeat(self._clock(), count),
                )
            )  # fmt: skip
        except ValueError:
            return self._reject("number", frame)
        self.ticks += len(out)
        return out

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
