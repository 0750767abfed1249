"""Tick lines: the reference formatter that defines them, and the fast one the writer uses.

:func:`reference_line` builds a line with json.dumps from the schema table: it is the
definition. :class:`LineFormatter` produces the very same bytes several times faster: its
per-track formatting loop is generated from the same table (one f-string per line, JSON
spellings of strings, floats, dates and ``received_at`` cached per value); a test holds the
two equal over many random records.

:class:`FrameBatch` is the parser's fast path: a whole realtime frame whose raw KIS fields
are proven canonical JSON numbers, kept as the pieces of its lines; the writer joins them
once the hub has given the seqs. The typed :class:`Tick` objects are only built when
someone reads them (tail subscribers, tests), not for the file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar, overload

from observer.daemon.clock import KST, iso, to_kst
from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.schema.fields import SCHEMAS, Kind, LineSchema

# Caches are bounded so a long run (or garbage input) cannot grow them without limit.
_CACHE_LIMIT = 8192

_BOOL = ("false", "true")


def iso_date(yyyymmdd: str) -> str:
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:8]}"


def iso_ts(yyyymmdd: str, hhmmss: str) -> str:
    return (
        f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:8]}"
        f"T{hhmmss[:2]}:{hhmmss[2:4]}:{hhmmss[4:6]}+09:00"
    )


def schema_of(item: Tick | Snapshot) -> LineSchema:
    return SCHEMAS[Track.SCALP if isinstance(item, Tick) else Track.SWING]


def reference_line(item: Tick | Snapshot, schema: LineSchema | None = None) -> str:
    """The line for ``item`` built with json.dumps from the schema: the lines' definition.

    A field added after the first version (``since`` > 1) that the record lacks is null.
    """
    obj: dict[str, object] = {}
    for f in schema or schema_of(item):
        if f.name == "trade_date":
            obj[f.name] = iso_date(item.trade_date)
        elif f.name == "ts":
            obj[f.name] = iso_ts(item.trade_date, item.time)
        elif f.name == "received_at":
            obj[f.name] = iso(to_kst(item.received_at))
        else:
            obj[f.name] = getattr(item, f.name, None) if f.nullable else getattr(item, f.name)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


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
    """Formats items into JSONL lines identical to :func:`reference_line`.

    Not thread-safe (its caches are plain dicts): one formatter per writer.
    """

    __slots__ = ("_dates", "_floats", "_loop", "_recv", "_secs", "_strs")
    #: The generated formatting loop of each track (see :func:`compile_loop`).
    _loops: ClassVar[dict[Track, _Loop]]

    def __init__(self, schemas: Iterable[LineSchema] = ()) -> None:
        """``schemas``: format these instead of the tracks' own (tests that extend them)."""
        self._loop = dict(self._loops)
        for schema in schemas:
            self._loop[schema.track] = compile_loop(schema)
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
        return self._loop[Track.SCALP](self, items)

    def snapshot_lines(self, items: Sequence[Snapshot]) -> list[str]:
        """One line per snapshot, in order."""
        return self._loop[Track.SWING](self, items)

    def lines(self, items: Sequence[Tick] | Sequence[Snapshot]) -> list[str]:
        """Lines for a homogeneous batch (all ticks or all snapshots)."""
        if not items:
            return []
        if isinstance(items[0], Tick):
            return self.tick_lines(items)  # type: ignore[arg-type]
        return self.snapshot_lines(items)  # type: ignore[arg-type]


_Loop = Callable[[LineFormatter, Sequence[Any]], list[str]]


def _lit(text: str) -> str:
    """``text`` as constant text inside a single-quoted f-string."""
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("{", "{{").replace("}", "}}")


def _value(name: str, kind: Kind, nullable: bool) -> tuple[str, str]:
    """(statement computing the value's JSON text into a local, or "", the expression)."""
    v = f"v_{name}"
    if kind is Kind.FLOAT:
        text = "fget(x) or fmt._float(x)"
    elif kind is Kind.STR:
        return f"x = t.{name}; {v} = sget(x) or fmt._jstr(x)", v
    elif kind is Kind.BOOL:
        if not nullable:
            return "", f"_BOOL[t.{name}]"
        text = "_BOOL[x]"
    else:
        if not nullable:
            return "", f"t.{name}"
        text = "x"
    if nullable:
        text = f"'null' if x is None else {text}"
    return f"x = t.{name}; {v} = {text}", v


def compile_loop(schema: LineSchema) -> _Loop:
    """The formatting loop of ``schema``'s lines, generated from its fields.

    One f-string per line: constant keys, values spelled as json.dumps spells them. The
    trade date and time of consecutive records are compared rather than looked up (a frame's
    records share them), and so is ``received_at``.
    """
    names = schema.names
    if names[:4] != ("seq", "symbol", "trade_date", "ts") or names[-1] != "received_at":
        raise ValueError(f"{schema.track.value}: a line starts seq, symbol, trade_date, ts "
                         "and ends with received_at")  # fmt: skip
    stmts: list[str] = []
    parts = ["{{"]  # constant text and {expressions}, in line order
    for i, f in enumerate(schema.fields):
        key = ("," if i else "") + json.dumps(f.name) + ":"
        if f.name == "seq":
            parts += [_lit(key), "{t.seq}"]
        elif f.name == "trade_date":
            parts += [",{dp}"]  # "trade_date":...,"ts":... (cached per date and time)
        elif f.name == "ts":
            continue
        elif f.name == "received_at":
            parts += [_lit(key + '"'), "{ra}", _lit('"')]
        else:
            stmt, expr = _value(f.name, f.kind, f.nullable)
            if stmt:
                stmts.append(stmt)
            parts += [_lit(key), "{" + expr + "}"]
    parts.append("}}\\n")
    src = "\n".join(
        [
            "def loop(fmt, items):",
            "    out = []",
            "    append = out.append",
            "    fget = fmt._floats.get",
            "    sget = fmt._strs.get",
            "    last_date = last_time = dp = ra = ''",
            "    last_ra = -1.0",
            "    for t in items:",
            "        if t.time != last_time or t.trade_date != last_date:",
            "            last_time, last_date = t.time, t.trade_date",
            "            dp = fmt._date_part(last_date, last_time)",
            "        if t.received_at != last_ra:",
            "            last_ra = t.received_at",
            "            ra = fmt._recv_iso(last_ra)",
            *(f"        {st}" for st in stmts),
            "        append(f'" + "".join(parts) + "')",
            "    return out",
        ]
    )
    namespace: dict[str, Any] = {"_BOOL": _BOOL}
    exec(compile(src, f"<{schema.track.value} line formatter>", "exec"), namespace)
    loop: _Loop = namespace["loop"]
    return loop


LineFormatter._loops = {t: compile_loop(s) for t, s in SCHEMAS.items()}


def format_line(item: Tick | Snapshot, formatter: LineFormatter | None = None) -> str:
    """The line for one item (convenience for callers outside the hot path)."""
    f = formatter or LineFormatter()
    if isinstance(item, Tick):
        return f.tick_lines([item])[0]
    return f.snapshot_lines([item])[0]
