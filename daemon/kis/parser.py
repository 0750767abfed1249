"""Realtime trade frame parser (H0STCNT0, its NXT/UN twins, and H0STOUP0): the ingest hot path.

A KIS realtime frame is ``<enc>|<tr_id>|<count>|<payload>`` where ``payload`` holds
``count`` records of N ``^``-separated fields back to back (N = 46 for the regular trade
TRs, 43 for the after-hours H0STOUP0; see :class:`~observer.daemon.kis.frames.Feed`). KIS
has grown field lists before, so a payload of ``count x M`` fields with N <= M < 2N is
accepted (the 47th column, MARKET_CLS_CODE, is kept; others are ignored); M >= 2N means the
count understates the records, and the frame is malformed rather than read short.

Every value the line keeps is checked against its field's domain (the schema table's
lo/hi, choices and code lengths; times of day; symbols; trade dates within
:data:`DATE_WINDOW_DAYS` of the KST date of arrival). A frame with any record outside them
is malformed: counted by reason, logged (rate-limited, sample truncated) and dropped whole,
so no line of it is written. The parser never raises, so a bad frame never costs the
connection.

Fast path (daemon/kis/frames.py, derived from the scalp line schema): one compiled regular
expression per record count matches the whole payload (or its C twin ``_scan.Scanner``,
when a C compiler built it at install time), domains included. When every number of the
frame is spelled the way JSON (and therefore the file line) spells it, and the records
share a trade date and an hour, its groups are the line's values in order, and the frame's
lines are one join of constant pieces and those groups (:class:`FrameBatch`); the typed
ticks are only built if someone reads them. Anything else takes the general path
(``int``/``float`` per column, domains checked per column, records built by a function
generated from the schema); both accept the same frames and give byte-identical lines (a
test and a fuzzer hold them equal).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from itertools import repeat
from typing import Any, TypeVar

from observer.daemon.kis.frames import (
    AFTER_HOURS,
    FEED_OF,
    FROM_FEED,
    REGULAR,
    SEQ_PIECE,
    Feed,
    Layout,
    frame_pattern,
    layout,
    reads,
)
from observer.daemon.kis.frames import scanner_config as _scanner_config
from observer.daemon.model import Tick
from observer.daemon.schema.fields import INT64_MAX, SCALP, Field, Kind, LineSchema
from observer.daemon.schema.lines import FrameBatch, LineFormatter, iso_date

_Scanner: Any
try:  # the C twin of the fast-path pattern (built when a C compiler was there)
    from observer.daemon.kis._scan import Scanner as _Scanner
except ImportError:  # pragma: no cover - depends on the build
    _Scanner = None

#: Trade TRs the parser reads (KRX, NXT, integrated, and KRX after-hours single price).
TRADE_TR_IDS: frozenset[str] = REGULAR.tr_ids | AFTER_HOURS.tr_ids
#: A record's trade date must lie within this many days of the KST date of arrival: a
#: frame delivered around midnight, a host clock a little off, but never a date that is
#: not a date, or one weeks away (it would open a segment of another day).
DATE_WINDOW_DAYS = 3
#: Longest sample of a bad frame put in a log line.
SAMPLE_CHARS = 120
#: Minimum seconds between two malformed-frame log lines (the rest are only counted).
LOG_EVERY = 5.0
#: Records per frame the fast path compiles a pattern for (more take the general path).
FAST_MAX_RECORDS = 40
#: Length of a frame header with a 3-digit count: ``0|H0STCNT0|005|``.
_HEAD = 15
_KST = 9 * 3600
_SIDES = {"1": 1, "3": 3, "5": 5, "": 0}
_YES = "Y"
_FLAGS = frozenset({"Y", "N", ""})
_SYMBOL = re.compile(r"Q?[0-9A-Z]{6}", re.ASCII).fullmatch
_TIME = re.compile(r"(?:[01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]", re.ASCII).fullmatch


class Malformed(ValueError):
    """A frame the parser refuses: ``reason`` (a counter's key) and what it saw."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


#: (split fields, columns per record, records, received_at, the session's trade dates)
Builder = Callable[[list[str], int, int, float, frozenset[str]], list[Tick]]


class _Plan:
    """Per (feed, records, columns per record): the frame pattern, its C scanner and its
    line pieces.

    ``pieces`` holds the constant pieces at even positions and room for the groups at odd
    positions; a frame copies it and fills in its groups, date prefix, line ends and (once
    the hub has numbered it) the seqs, each with one slice assignment.
    """

    __slots__ = ("build", "count", "dated", "layout", "match", "pieces", "scanner", "stride",
                 "width")  # fmt: skip

    def __init__(self, lay: Layout, count: int, scanner: Any, build: Builder) -> None:
        self.match = frame_pattern(lay, count).fullmatch
        self.layout = lay
        self.scanner = scanner
        self.build = build
        self.count, self.width = count, lay.width
        self.dated: dict[str, list[str]] = {}  # pieces with a trade date's prefix in place
        self.stride = lay.stride
        pieces: list[str] = []
        for _ in range(count):
            for piece in lay.pieces:
                pieces += (piece, "")
        pieces.append("")  # after the last record's end
        self.pieces = pieces


def record_builder(
    schema: LineSchema, feed: Feed = REGULAR, width: int | None = None, *, checked: bool = True
) -> Builder:
    """The general path's record maker for ``schema`` and records of ``feed`` that are
    ``width`` columns wide: typed records from a frame's split columns, every value checked
    against its field's domain; :class:`Malformed` says what is wrong.

    Generated from the schema table: one ``map`` per attribute over all records of the
    frame, and one check per domain over all of them (fields of equal bounds share one
    min/max; codes, symbols and times one pattern over the column joined). When any check
    fails, :func:`_explain` goes through the fields one by one to say which and why.
    ``checked=False``: for frames the fast path's pattern has proven within the domains
    already (conversions only, consumed lazily by the records).
    """
    width = feed.width if width is None else width
    by_name = {f.name: f for f in schema}
    by_name["time"] = by_name["ts"]
    prep: list[str] = []  # statements both variants need (may raise ValueError)
    checked_prep: list[str] = []  # and those only the checked one needs
    args: list[tuple[str, str]] = []  # per attribute: (checked, lazy) expression
    checks: list[str] = []  # conditions that hold when every value is in its domain
    bounds: dict[tuple[float, float], list[str]] = {}  # (lo, hi) -> int columns
    floats: list[str] = []
    read: list[Field] = []
    env: dict[str, Any] = {
        "record": schema.record, "repeat": repeat, "_side": _side, "_YES": _YES,
        "_FLAGS": _FLAGS, "_explain": _explain,
    }  # fmt: skip
    for attr in dataclasses.fields(schema.record):
        name = attr.name
        if name in ("received_at", "seq"):
            value = "received_at" if name == "received_at" else "0"
            args.append((f"repeat({value}, count)", f"repeat({value}, count)"))
            continue
        f = by_name.get(name)
        if f is None:
            raise ValueError(f"{schema.record.__name__}.{name} is no field of the line")
        if name in FROM_FEED:
            env[f"feed_{name}"] = feed.name
            args.append((f"repeat(feed_{name}, count)", f"repeat(feed_{name}, count)"))
            continue
        if f.column is None:
            raise ValueError(f"{schema.record.__name__}.{name} comes from no KIS column")
        if not reads(feed, width, f.column):
            args.append(("repeat(None, count)", "repeat(None, count)"))
            continue
        read.append(f)
        col, v = f"f[{f.column}::w]", f"c_{name}"
        if f.kind in (Kind.STR, Kind.DATE, Kind.TIMESTAMP):  # kept as KIS spells them
            prep.append(f"{v} = {col}")
            args.append((v, v))
            if name == "trade_date":
                checks.append(f"dates.issuperset({v})")
                continue
            if name == "symbol":
                one = r"Q?[0-9A-Z]{6}"
            elif name == "time":
                one = _TIME_RX
            else:
                one = f"[0-9A-Z]{{0,{f.length}}}"
            env[f"rx_{name}"] = _joined(one)
            checks.append(f"rx_{name}('^'.join({v})) is not None")
            continue
        if f.kind is Kind.BOOL:
            prep.append(f"{v} = {col}")
            args.append((f"map(_YES.__eq__, {v})", f"map(_YES.__eq__, {v})"))
            checks.append(f"_FLAGS.issuperset({v})")
            continue
        to = "_side" if name == "side" else "float" if f.kind is Kind.FLOAT else "int"
        if f.nullable:  # added after the first version: KIS may send it empty (null)
            prep += [
                f"t_{name} = {col}",
                f"{v} = [None if x == '' else {to}(x) for x in t_{name}] "
                f"if '' in t_{name} else list(map({to}, t_{name}))",
            ]
            args.append((v, v))
            values = f"n_{name}"
            checked_prep.append(f"{values} = [x for x in {v} if x is not None]")
            guard = f"not {values} or "
        else:
            checked_prep.append(f"{v} = list(map({to}, {col}))")
            args.append((v, f"map({to}, {col})"))
            values, guard = v, ""
        if f.kind is Kind.FLOAT:
            floats.append(f"sum({values})")
        if f.choices:
            env[f"choices_{name}"] = frozenset(f.choices)
            cond = f"choices_{name}.issuperset({values})"
        else:
            lo = -INT64_MAX - 1 if f.lo is None else f.lo
            hi = INT64_MAX if f.hi is None else f.hi
            if f.kind is Kind.INT and not guard:
                bounds.setdefault((lo, hi), []).append(v)  # one check per equal bounds
                continue
            cond = f"{lo!r} <= min({values}) and max({values}) <= {hi!r}"
        checks.append(f"({guard}({cond}))")
    for (lo, hi), cols in bounds.items():
        joined = " + ".join(cols)
        checks.append(f"{lo!r} <= min({joined}) and max({joined}) <= {hi!r}")
    env["_read"] = tuple(read)
    if checked:
        body = [*prep, *checked_prep]
        if floats:
            # float() accepts "nan"/"inf"; no real quote is either (a sum catches all);
            # first, because comparisons with a nan say nothing.
            body.append(f"chk = {' + '.join(floats)}")
            checks.insert(0, "chk - chk == 0.0")
        lines = [
            "    try:",
            *(f"        {x}" for x in body),
            "    except ValueError:",
            "        _explain(f, w, _read, dates)",
            "    if not (" + "\n            and ".join(checks or ["True"]) + "):",
            "        _explain(f, w, _read, dates)",
            f"    return list(map(record, {', '.join(a for a, _ in args)}))",
        ]
    else:
        lines = [
            *(f"    {x}" for x in prep),
            f"    return list(map(record, {', '.join(b for _, b in args)}))",
        ]
    src = "\n".join(["def build(f, w, count, received_at, dates):", *lines])
    kind = "record builder" if checked else "record builder (trusted)"
    exec(compile(src, f"<{schema.track.value} {kind}>", "exec"), env)
    build: Builder = env["build"]
    return build


_TIME_RX = r"(?:[01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]"


def _joined(one: str) -> Callable[[str], object]:
    """A test of a column's values joined by ``^``: each of them matches ``one``."""
    return re.compile(f"(?:{one})(?:\\^(?:{one}))*", re.ASCII).fullmatch


def _explain(f: list[str], w: int, read: tuple[Field, ...], dates: frozenset[str]) -> None:
    """Raise the :class:`Malformed` of the first field outside its domain."""
    for field in read:
        col = field.column
        assert col is not None
        _column(f[col::w], field, dates)
    raise Malformed("number", "a value is outside its field's domain")


def _column(col: list[str], f: Field, dates: frozenset[str]) -> list[Any]:
    """The values of one field over a frame's records, each checked against its domain."""
    name = f.name
    if name == "symbol":
        if not all(map(_SYMBOL, col)):
            raise Malformed("symbol", f"symbol {_first(col, _SYMBOL)!r} is not a KRX code")
        return col
    if name == "ts":
        if not all(map(_TIME, col)):
            raise Malformed("time", f"trade time {_first(col, _TIME)!r} is not HHMMSS")
        return col
    if name == "trade_date":
        if not dates.issuperset(col):
            bad = next(x for x in col if x not in dates)
            raise Malformed("date", f"trade date {bad!r} is not a date within "
                            f"{DATE_WINDOW_DAYS} days of the session's")  # fmt: skip
        return col
    if f.kind is Kind.BOOL:
        if not _FLAGS.issuperset(col):
            raise Malformed("flag", f"{name} {next(x for x in col if x not in _FLAGS)!r} "
                            "is not Y or N")  # fmt: skip
        return list(map(_YES.__eq__, col))
    if f.kind is Kind.STR:
        fit = _code(f.length)
        if not all(map(fit, col)):
            raise Malformed("code", f"{name} {_first(col, fit)!r} is not a code of at most "
                            f"{f.length} capital letters or digits")  # fmt: skip
        return col
    nullable = f.nullable and "" in col
    vals: list[Any]
    try:
        if f.kind is Kind.FLOAT:
            vals = (
                [None if x == "" else float(x) for x in col] if nullable else list(map(float, col))
            )
        elif name == "side":
            vals = list(map(_side, col))
        else:
            vals = [None if x == "" else int(x) for x in col] if nullable else list(map(int, col))
    except ValueError:
        raise Malformed("number", f"{name}: a value of {col[:3]!r} is not a number") from None
    nums: list[Any] = [v for v in vals if v is not None] if nullable else vals
    if not nums:
        return vals
    if f.kind is Kind.FLOAT:
        chk = sum(nums)  # float() accepts "nan"/"inf"; no real quote is either
        if chk - chk != 0.0:
            raise Malformed("number", f"{name}: a value of {col[:3]!r} is not finite")
    if f.choices:
        if not set(nums).issubset(f.choices):
            bad = next(v for v in nums if v not in f.choices)
            raise Malformed("choice", f"{name} {bad!r} is none of {f.choices}")
        return vals
    lo = -INT64_MAX - 1 if f.lo is None else f.lo
    hi = INT64_MAX if f.hi is None else f.hi
    small, big = min(nums), max(nums)
    if small < lo or big > hi:
        raise Malformed("range", f"{name} {small if small < lo else big!r} is outside "
                        f"{lo:g}..{hi:g}")  # fmt: skip
    return vals


def _first(col: list[str], ok: Callable[[str], object]) -> str:
    return next((x for x in col if not ok(x)), "")


_CODES: dict[int, Callable[[str], object]] = {}


def _code(length: int) -> Callable[[str], object]:
    fit = _CODES.get(length)
    if fit is None:
        fit = _CODES[length] = re.compile(f"[0-9A-Z]{{0,{length}}}", re.ASCII).fullmatch
    return fit


def _side(s: str) -> int:
    """CCLD_DVSN as int; empty (seen outside the regular session) is 0."""
    v = _SIDES.get(s)
    return int(s) if v is None else v


_K = TypeVar("_K")
_V = TypeVar("_V")


def _cached(cache: dict[_K, _V], key: _K, make: Callable[[], _V]) -> _V:
    """``cache[key]``, made when missing; the cache is bounded (odd input cannot grow it)."""
    value = cache.get(key)
    if value is None:
        if len(cache) >= 64:
            cache.clear()
        value = cache[key] = make()
    return value


def trade_dates(ts: float, days: int = DATE_WINDOW_DAYS) -> frozenset[str]:
    """The trade dates (YYYYMMDD) a record arriving at ``ts`` may carry: the KST date of
    arrival and ``days`` days either side."""
    today = date(1970, 1, 1) + timedelta(days=int((ts + _KST) // 86400))
    return frozenset(f"{today + timedelta(days=d):%Y%m%d}" for d in range(-days, days + 1))


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
        # The fast path proved every record of the frame carries this trade date.
        return self._build_ticks(
            payload.split("^"), self._width, self.size, self._received_at,
            frozenset((self.trade_date,)),
        )  # fmt: skip


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
        use_scanner: bool = True,
    ) -> None:
        """``lines=False``: always return plain typed ticks (no pre-built file lines), for
        consumers that never write the JSONL files. ``schema``: the scalp line schema the
        fast path and the records follow (tests extend it). ``use_scanner=False``: the
        pattern even where the C scanner was built (the fuzzer compares the two)."""
        self._use_scanner = use_scanner and _Scanner is not None
        self.tr_ids = tr_ids
        self._feeds = {tr: FEED_OF.get(tr, REGULAR) for tr in tr_ids}
        self._schema = schema
        self._layouts: dict[tuple[str, int], Layout] = {}
        self._builders: dict[tuple[str, int], Builder] = {}
        self._trusted: dict[tuple[str, int], Builder] = {}  # for frames the pattern proved
        self._scanners: dict[tuple[str, int], Any] = {}
        self._lines = lines
        self._clock = clock
        self._log = log or logging.getLogger(__name__)
        self.frames = 0
        self.ticks = 0
        self.malformed = 0
        self.reasons: Counter[str] = Counter()
        self._last_log = -LOG_EVERY
        self._suppressed = 0
        self._plans: dict[tuple[str, int, int], _Plan] = {}
        self._heads: dict[str, _Plan] = {}  # by a frame's first _HEAD characters
        self._fmt = LineFormatter()
        self._tail_sec = -1  # the second _tail_fmt is for
        self._tail_fmt = ""
        self._tail_of = ""  # the layout tail _tail_fmt is for
        self._day = -1  # the KST day number _dates is for
        self._dates: frozenset[str] = frozenset()
        layout(schema)  # a schema the fast path cannot follow fails here, not on a frame

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
        feed = self._feeds.get(tr_id)
        if feed is None:
            return self._reject("tr_id", frame)
        if not (count_s.isascii() and count_s.isdigit()):
            return self._reject("count", frame)
        count = int(count_s)
        if plan is None and 0 < count <= FAST_MAX_RECORDS:
            total = payload.count("^") + 1
            width = total // count
            if not total % count and feed.width <= width < 2 * feed.width:
                plan = self._plan(feed, count, width)
                if width == feed.width and len(frame) - len(payload) == _HEAD:
                    if len(self._heads) >= 64:
                        self._heads.clear()
                    self._heads[frame[:_HEAD]] = plan
                fast = self._fast(plan, payload, 0)
                if fast is not None:
                    self.ticks += count
                    return fast
        return self._general(frame, payload, count, feed)

    def _general(self, frame: str, payload: str, count: int, feed: Feed) -> Sequence[Tick]:
        """Typed ticks from the split fields (any spelling int()/float() accept)."""
        f = payload.split("^")
        total = len(f)
        if count == 0 or total % count or total // count < feed.width:
            return self._reject("field_count", frame)
        w = total // count
        if w >= 2 * feed.width:
            # Records twice as wide as the TR's would hide records: the count understates
            # them, and reading `count` of them would drop the rest silently.
            return self._reject("record_count", frame, f"{total} fields for {count} record(s)")
        received_at = self._clock()
        try:
            # Column-wise: one slice and one map per field over all records of the frame is
            # much cheaper than a Python-level loop per record (frames carry several).
            out = self._builder(feed, w)(f, w, count, received_at, self._session_dates(received_at))
        except Malformed as e:
            return self._reject(e.reason, frame, e.detail)
        self.ticks += len(out)
        return out

    def _layout(self, feed: Feed, width: int) -> Layout:
        return _cached(self._layouts, (feed.name, width), lambda: layout(self._schema, feed, width))

    def _builder(self, feed: Feed, width: int) -> Builder:
        return _cached(
            self._builders, (feed.name, width), lambda: record_builder(self._schema, feed, width)
        )

    def _plan(self, feed: Feed, count: int, width: int) -> _Plan:
        plan = self._plans.get((feed.name, count, width))
        if plan is not None:
            return plan
        lay = self._layout(feed, width)
        scanner = None
        if self._use_scanner:
            scanner = _cached(
                self._scanners, (feed.name, width), lambda: _Scanner(*_scanner_config(lay))
            )
        # The pattern proves the domains: the frame's ticks need no second check.
        build = _cached(
            self._trusted,
            (feed.name, width),
            lambda: record_builder(self._schema, feed, width, checked=False),
        )
        return _cached(
            self._plans, (feed.name, count, width), lambda: _Plan(lay, count, scanner, build)
        )

    def _session_dates(self, ts: float) -> frozenset[str]:
        """The trade dates records arriving at ``ts`` may carry (kept per KST day)."""
        day = int((ts + _KST) // 86400)
        if day != self._day:
            self._day, self._dates = day, trade_dates(ts)
        return self._dates

    def _fast(self, plan: _Plan, text: str, start: int) -> Sequence[Tick] | None:
        """The frame's line pieces when one pattern match of ``text[start:]`` (the payload)
        proves every field canonical and within its domain, and the records share a trade
        date and an hour (one segment key); else None. (``lines=False``: the typed ticks.)"""
        g: tuple[str, ...] | None
        scanner = plan.scanner
        if scanner is not None and text.isascii():
            g = scanner.scan(text, start, plan.count, plan.width)  # the pattern's groups, in C
        else:
            m = plan.match(text, start)
            g = None if m is None else m.groups()
        if g is None:
            return None
        count = plan.count
        lay = plan.layout
        date, hour = g[lay.date_at // 2], g[lay.prefix_at // 2]
        received_at = self._clock()
        day = int((received_at + _KST) // 86400)
        if date not in (self._dates if day == self._day else self._session_dates(received_at)):
            return None  # the general path says why
        if not self._lines:
            return plan.build(text[start:].split("^"), plan.width, count, received_at, self._dates)
        p = (plan.dated.get(date) or self._dated(plan, date)).copy()
        p[1::2] = g
        s = plan.stride
        if lay.end_group:  # the date is not printed where it was captured
            p[lay.date_at :: s] = ("",) * count
        p[lay.end_at :: s] = (self._tail(received_at, lay.tail),) * count
        for at, blank in lay.blanks:
            values = p[at::s]
            if "" in values:
                p[at::s] = [v or blank for v in values]
        return _ParsedFrame(
            plan, p, date, hour, text, start, received_at, plan.build, self._new_formatter
        )

    def _new_formatter(self) -> LineFormatter:
        """A formatter of this parser's scalp schema (for a frame rendered a second time)."""
        return LineFormatter([self._schema]) if self._schema is not SCALP else LineFormatter()

    def _tail(self, ts: float, tail: str) -> str:
        """A line's end (``tail % iso``) with ``received_at`` = ts: the second's part is
        kept between calls."""
        sec = int(ts)
        if sec == self._tail_sec and tail is self._tail_of:
            us = round((ts - sec) * 1e6)
            if 0 < us < 1_000_000:
                return self._tail_fmt % us
        self._tail_sec, self._tail_of = sec, tail
        iso = self._fmt.received_iso(float(sec))  # 'YYYY-MM-DDTHH:MM:SS+09:00'
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

    def _reject(self, reason: str, frame: str, detail: str = "") -> list[Tick]:
        self.malformed += 1
        self.reasons[reason] += 1
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY:
            sample = frame[:SAMPLE_CHARS] + ("..." if len(frame) > SAMPLE_CHARS else "")
            more = f" ({self._suppressed} more since the last report)" if self._suppressed else ""
            what = _REASONS.get(reason, reason) + (f": {detail}" if detail else "")
            self._log.warning(
                "dropped a malformed realtime frame (%s); nothing of it is written; "
                "%d malformed of %d frames so far%s; sample: %r",
                what, self.malformed, self.frames, more, sample,
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
    "field_count": "field count is not count x the TR's columns or more",
    "record_count": "the payload holds more records than its count says",
    "symbol": "a record does not start with a KRX code",
    "time": "trade time is not a time of day HHMMSS",
    "date": "trade date is not a date near the session's",
    "number": "a numeric field is not a number",
    "range": "a number outside its field's range",
    "choice": "a code outside its field's values",
    "code": "a code field is not a short code",
    "flag": "a flag is not Y or N",
}
