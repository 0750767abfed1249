"""Realtime trade frame parser (H0STCNT0 and its NXT/UN twins): the ingest hot path.

A KIS realtime frame is ``<enc>|<tr_id>|<count>|<payload>`` where ``payload`` holds
``count`` records of N = 46 ``^``-separated fields back to back. KIS has grown field
lists before, so a payload of ``count x M`` fields with M > 46 is accepted and the first
46 of each record are used. Anything else is counted, logged (rate-limited, sample
truncated) and dropped: the parser never raises, so a bad frame never costs the
connection.

Fast path (daemon/kis/frames.py, derived from the scalp line schema): one compiled regular
expression per record count matches the whole payload (or its C twin ``_scan.Scanner``,
when a C compiler built it at install time). When every number of the frame is spelled the way JSON (and therefore the file line)
spells it, and the records share a trade date and an hour, its groups are the line's
values in order, and the frame's lines are one join of constant pieces and those groups
(:class:`FrameBatch`); the typed ticks are only built if someone reads them. Anything else
takes the general path (``int``/``float`` per column, records built by a function
generated from the schema, lines formatted from the records); both
accept the same frames and give byte-identical lines (a test holds them equal).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Any

from observer.daemon.kis.frames import N_FIELDS, SEQ_PIECE, Layout, frame_pattern, layout
from observer.daemon.kis.frames import scanner_config as _scanner_config
from observer.daemon.model import Tick
from observer.daemon.schema.fields import SCALP, Kind, LineSchema
from observer.daemon.schema.lines import FrameBatch, LineFormatter, iso_date

_Scanner: Any
try:  # the C twin of the fast-path pattern (built when a C compiler was there)
    from observer.daemon.kis._scan import Scanner as _Scanner
except ImportError:  # pragma: no cover - depends on the build
    _Scanner = None

#: Trade TRs sharing the 46-field layout (KRX, NXT, integrated).
TRADE_TR_IDS: frozenset[str] = frozenset({"H0STCNT0", "H0NXCNT0", "H0UNCNT0"})
#: Longest sample of a bad frame put in a log line.
SAMPLE_CHARS = 120
#: Minimum seconds between two malformed-frame log lines (the rest are only counted).
LOG_EVERY = 5.0
#: Records per frame the fast path compiles a pattern for (more take the general path).
FAST_MAX_RECORDS = 40
#: Length of a frame header with a 3-digit count: ``0|H0STCNT0|005|``.
_HEAD = 15
_SIDE_JSON = {"": "0", **{str(i): str(i) for i in range(10)}}
_SIDES = {"1": 1, "3": 3, "5": 5, "": 0}
_YES = "Y"
_EIGHT, _SIX = {8}, {6}


class _Plan:
    """Per (records, columns per record): the frame pattern and its line pieces.

    ``pieces`` holds the constant pieces at even positions and room for the groups at odd
    positions; a frame copies it and fills in its groups, date prefix, line ends and (once
    the hub has numbered it) the seqs, each with one slice assignment.
    """

    __slots__ = ("count", "dated", "layout", "match", "pieces", "stride", "width")

    def __init__(self, lay: Layout, count: int, width: int) -> None:
        self.match = frame_pattern(lay, count, width).fullmatch
        self.layout = lay
        self.count, self.width = count, width
        self.dated: dict[str, list[str]] = {}  # pieces with a trade date's prefix in place
        self.stride = lay.stride
        pieces: list[str] = []
        for _ in range(count):
            for piece in lay.pieces:
                pieces += (piece, "")
        pieces.append("")  # after the last record's end
        self.pieces = pieces


Builder = Callable[[list[str], int, int, float], list[Tick]]


def record_builder(schema: LineSchema) -> Builder:
    """The general path's record maker for ``schema``: typed records from a frame's split
    columns, generated from the schema table (one ``map`` per attribute over all records of
    the frame); ValueError when a number does not parse or is not finite."""
    column = {f.name: f.column for f in schema}
    kind = {f.name: f.kind for f in schema}
    column["time"], kind["time"] = column["ts"], Kind.STR
    floats: list[str] = []
    args: list[str] = []
    for attr in dataclasses.fields(schema.record):
        name = attr.name
        if name == "received_at":
            args.append("repeat(received_at, count)")
            continue
        if name == "seq":
            args.append("repeat(0, count)")
            continue
        if column.get(name) is None:
            raise ValueError(f"{schema.record.__name__}.{name} comes from no KIS column")
        cols = f"f[{column[name]}::w]"
        if name == "side":
            args.append(f"map(_side, {cols})")
        elif name == "halted":
            args.append(f"map(_YES.__eq__, {cols})")
        elif kind[name] is Kind.INT:
            args.append(f"map(int, {cols})")
        elif kind[name] is Kind.FLOAT:
            floats.append(f"c_{name} = list(map(float, {cols}))")
            args.append(f"c_{name}")
        else:
            args.append(cols)
    check = " + ".join(f"sum(c_{x.split(' ', 1)[0][2:]})" for x in floats) or "0.0"
    src = "\n".join(
        [
            "def build(f, w, count, received_at):",
            *(f"    {x}" for x in floats),
            # float() accepts "nan"/"inf"; no real quote is either (a sum catches all).
            f"    chk = {check}",
            "    if chk - chk != 0.0:",
            "        raise ValueError('non-finite number')",
            f"    return list(map(record, {', '.join(args)}))",
        ]
    )
    namespace: dict[str, Any] = {
        "record": schema.record, "repeat": repeat, "_side": _side, "_YES": _YES,
    }  # fmt: skip
    exec(compile(src, f"<{schema.track.value} record builder>", "exec"), namespace)
    build: Builder = namespace["build"]
    return build


def _side(s: str) -> int:
    """CCLD_DVSN as int; empty (seen outside the regular session) is 0."""
    v = _SIDES.get(s)
    return int(s) if v is None else v


class _ParsedFrame(FrameBatch):
    """A fast-path frame: its line pieces, and the payload to build its ticks on demand."""

    __slots__ = ("_build_ticks", "_formatter", "_pieces", "_received_at", "_seq_at",
                 "_start", "_stride", "_text", "_width")  # fmt: skip

    def __init__(
        self, plan: _Plan, pieces: list[str], date: str, hour: str, text: str, start: int,
        received_at: float, build: Builder, formatter: Callable[[], LineFormatter],
    ) -> None:  # fmt: skip
        # FrameBatch's fields, set here: this runs once per frame.
        self.size, self.trade_date, self.key = plan.count, date, f"{date}_{hour}"
        self._first, self._ticks = 0, None
        self._pieces: list[str] | None = pieces
        self._stride, self._width = plan.stride, plan.width
        self._seq_at = plan.layout.seq_at
        # text[start:] is the payload (the frame is kept whole: no copy on the hot path)
        self._text, self._start, self._received_at = text, start, received_at
        self._build_ticks = build
        self._formatter = formatter

    def _render(self, seqs: Iterable[int]) -> str:
        p = self._pieces
        if p is None:  # rendered before: from the ticks (same bytes; a test holds them equal)
            return "".join(self._formatter().tick_lines(self.ticks))
        # The writer renders a frame once; the tail's shared log may keep the frame for a
        # while, so the pieces (several times the size of the lines) go now.
        self._pieces = None
        p[self._seq_at : -1 : self._stride] = map(SEQ_PIECE.__mod__, seqs)
        return "".join(p)

    def _build(self) -> list[Tick]:
        payload = self._text[self._start :]
        return self._build_ticks(payload.split("^"), self._width, self.size, self._received_at)


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
        schema: LineSchema = SCALP,
    ) -> None:
        """``lines=False``: always return plain typed ticks (no pre-built file lines), for
        consumers that never write the JSONL files. ``schema``: the scalp line schema the
        fast path and the records follow (tests extend it)."""
        self.tr_ids = tr_ids
        self._layout = lay = layout(schema)
        self._scanner = None if _Scanner is None else _Scanner(*_scanner_config(lay))
        self._build = record_builder(schema)
        self._schema = schema
        self._g_hour = lay.prefix_at // 2
        self._g_date = lay.date_at // 2
        self._date_col = schema.field("trade_date").column
        self._time_col = schema.field("ts").column
        self._symbol_col = schema.field("symbol").column
        self._lines = lines
        self._clock = clock
        self._log = log or logging.getLogger(__name__)
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
        dates = f[self._date_col :: w]
        times = f[self._time_col :: w]
        # Dates and times go into file names and ISO strings: insist on digits.
        digits = "".join(dates) + "".join(times)
        if (
            not (digits.isascii() and digits.isdigit())
            or set(map(len, dates)) != _EIGHT or set(map(len, times)) != _SIX
        ):  # fmt: skip
            return self._reject("datetime", frame)
        if not all(f[self._symbol_col :: w]):
            return self._reject("symbol", frame)
        try:
            out = self._build(f, w, count, self._clock())
        except ValueError:
            return self._reject("number", frame)
        self.ticks += len(out)
        return out

    def _plan(self, count: int, width: int) -> _Plan:
        plan = self._plans.get((count, width))
        if plan is None:
            if len(self._plans) >= 64:
                self._plans.clear()
            plan = self._plans[(count, width)] = _Plan(self._layout, count, width)
        return plan

    def _fast(self, plan: _Plan, text: str, start: int) -> FrameBatch | None:
        """The frame's line pieces when one pattern match of ``text[start:]`` (the payload)
        proves every field canonical and the records share a trade date and an hour (one
        segment key); else None."""
        if "0.0000" in text:
            return None
        g: tuple[str, ...] | None
        scanner = self._scanner
        if scanner is not None and text.isascii():
            g = scanner.scan(text, start, plan.count, plan.width)  # the pattern's groups, in C
        else:
            m = plan.match(text, start)
            g = None if m is None else m.groups()
        if g is None:
            return None
        count = plan.count
        lay = plan.layout
        date, hour = g[self._g_date], g[self._g_hour]
        received_at = self._clock()
        p = (plan.dated.get(date) or self._dated(plan, date)).copy()
        p[1::2] = g
        s = plan.stride
        if lay.end_group:  # the date is not printed where it was captured
            p[lay.date_at :: s] = ("",) * count
        p[lay.end_at :: s] = (self._tail(received_at),) * count
        if lay.side_at is not None:
            sides = p[lay.side_at :: s]
            if "" in sides:
                p[lay.side_at :: s] = map(_SIDE_JSON.__getitem__, sides)
        return _ParsedFrame(
            plan, p, date, hour, text, start, received_at, self._build, self._new_formatter
        )

    def _new_formatter(self) -> LineFormatter:
        """A formatter of this parser's scalp schema (for a frame rendered a second time)."""
        return LineFormatter([self._schema]) if self._schema is not SCALP else LineFormatter()

    def _tail(self, ts: float) -> str:
        """A line's end with ``received_at`` = ts: the second's part is kept between calls."""
        sec = int(ts)
        if sec == self._tail_sec:
            us = round((ts - sec) * 1e6)
            if 0 < us < 1_000_000:
                return self._tail_fmt % us
        self._tail_sec = sec
        iso = self._fmt.received_iso(float(sec))  # 'YYYY-MM-DDTHH:MM:SS+09:00'
        tail = self._layout.tail
        self._tail_fmt = tail.replace("%s", iso[:-6].replace("%", "%%") + ".%06d" + iso[-6:])
        return tail % self._fmt.received_iso(ts)

    def _dated(self, plan: _Plan, date: str) -> list[str]:
        """The plan's pieces with the date prefix of ``date`` in place (cached per plan)."""
        if len(plan.dated) >= 8:
            plan.dated.clear()
        pieces = plan.pieces.copy()
        d = iso_date(date)
        prefix = f'","trade_date":"{d}","ts":"{d}T'  # between the symbol and the hour
        pieces[plan.layout.prefix_at :: plan.stride] = (prefix,) * plan.count
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
