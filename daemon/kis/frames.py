"""The realtime frame's fast path, derived from the scalp line schema and the feed.

A realtime trade record holds the ``^``-separated KIS columns of its TR (:class:`Feed`: 46
for H0STCNT0 and its NXT/UN twins, a 47th ``MARKET_CLS_CODE`` on some servers, 43 for the
after-hours H0STOUP0); the scalp line takes some of them. :func:`layout` reads the schema
table (daemon/schema/fields.py) for one feed and one record width: which column feeds which
field, in which role (symbol, trade time, trade date, integer, decimal, choice, halt flag,
short code), within which domain (the table's lo/hi, choices and lengths), and which fields
the feed does not carry (null in the line) or carries as a constant (the session). From
the layout come

* the record pattern — one compiled regular expression per (record count, width) that
  checks a whole frame, every value within its field's domain, and captures the line's
  values — and the configuration of its C twin (daemon/kis/_scan.c), which gives the same
  groups; the trade date is checked by the parser against the session's dates;
* the constant pieces of a record's line, so that a frame's lines are one join of those
  pieces and the captured groups.

A group is taken as it stands only when json.dumps(int(x)) / repr(float(x)) spells it the
same way (after the fraction's trailing zeros, which the pattern leaves outside its group);
anything else fails the match and the parser's general path decides. Domains are checked by
digit count on this path (a value with as many digits as its bound may still be in range:
the general path decides exactly).

The line is one join only if the fields taken from KIS columns follow the columns' order
after ``ts`` (the table keeps them so; :func:`layout` refuses a schema that does not).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import IntEnum

from observer.daemon.schema.fields import Field, Kind, LineSchema


@dataclass(frozen=True)
class Feed:
    """A realtime trade TR as the parser sees it."""

    name: str  # the value of the line's ``session`` field
    tr_ids: frozenset[str]
    #: Columns every record has (N).
    width: int
    #: Columns after N that are read when a record is wide enough (newer servers send them).
    optional: frozenset[int] = frozenset()


#: The realtime trade TRs of the regular session (KRX, NXT, integrated): 46 columns, and
#: the 47th (MARKET_CLS_CODE) some servers now send.
REGULAR = Feed("regular", frozenset({"H0STCNT0", "H0NXCNT0", "H0UNCNT0"}), 46, frozenset({46}))
#: KRX after-hours single-price trading (16:00-18:00): the first 43 columns of H0STCNT0.
AFTER_HOURS = Feed("after_hours", frozenset({"H0STOUP0"}), 43)
FEEDS: tuple[Feed, ...] = (REGULAR, AFTER_HOURS)
FEED_OF: dict[str, Feed] = {tr: f for f in FEEDS for tr in f.tr_ids}

#: Columns per record of the regular trade TRs.
N_FIELDS = REGULAR.width
#: Longest integer the fast path takes (int64 holds every 18-digit number).
_INT_DIGITS = 18
#: Longest integer part of a decimal the fast path takes (9 + 6 fraction digits: repr is exact).
_FLOAT_DIGITS = 9
#: Masks' bit saying that an empty value is allowed (and printed as ``Column.blank``).
EMPTY_OK = 1 << 15


class Role(IntEnum):
    """How a column is checked and captured (the C scanner uses the same numbers)."""

    SYMBOL = 0  # 6 capital letters or digits, or Q and 6; 1 group
    TIME = 1  # HHMMSS, a time of day; 3 groups (HH, MM, SS); the hour repeats record 0's
    DATE = 2  # YYYYMMDD; 1 group, not printed in place (the line's prefix carries it)
    INT = 3  # an integer as JSON spells it, within its digit bounds; 1 group
    FLOAT = 4  # a decimal as repr spells it, within its digit bounds; 1 group
    CHOICE = 5  # one digit of the field's choices (or empty, printed as its blank); 1 group
    HALT = 6  # "N" or empty (a halted stock does not trade); no group, printed false
    CODE = 7  # up to ``width`` capital letters or digits, a JSON string; 1 group


_GROUPS = {Role.TIME: 3, Role.HALT: 0}


@dataclass(frozen=True)
class Column:
    index: int  # the KIS column
    role: Role
    field: str  # the line's key
    width: int = 0  # INT/FLOAT: most digits of a value >= 0; CODE: longest code
    nwidth: int = 0  # INT/FLOAT: most digits of a negative value (0: none allowed)
    mask: int = 0  # CHOICE: bit d for digit d; any role: EMPTY_OK
    blank: str = ""  # what an empty value prints as (when EMPTY_OK and it is not "")


@dataclass(frozen=True)
class Layout:
    """The fast path's view of the scalp schema for one feed and one record width."""

    feed: Feed
    width: int  # columns per record
    columns: tuple[Column, ...]  # in column order
    groups: int  # captured groups per record
    #: Per group, the constant line text written before it ("" for the date's group).
    pieces: tuple[str, ...]
    #: The line's end once ``received_at`` is formatted in: ``tail % iso``.
    tail: str
    #: When the date's group is the record's last, its slot carries the line's end;
    #: otherwise an empty group closes each record and carries it (the date's slot is "").
    end_group: bool
    seq_at: int  # piece positions within a record's 2 * groups pieces
    prefix_at: int
    date_at: int
    end_at: int
    #: (piece position, text) of groups whose empty value prints as something else.
    blanks: tuple[tuple[int, str], ...]

    @property
    def stride(self) -> int:
        return 2 * self.groups


def _role(f: Field) -> Role:
    special = {"symbol": Role.SYMBOL, "ts": Role.TIME, "trade_date": Role.DATE}
    if f.name in special:
        return special[f.name]
    if f.kind is Kind.BOOL:
        return Role.HALT
    if f.choices:
        if not all(isinstance(c, int) and 0 <= c <= 9 for c in f.choices):
            raise ValueError(f"scalp field {f.name!r}: the fast path takes one-digit choices")
        return Role.CHOICE
    by_kind = {Kind.INT: Role.INT, Kind.FLOAT: Role.FLOAT, Kind.STR: Role.CODE}
    if f.kind not in by_kind:
        raise ValueError(f"scalp field {f.name!r} ({f.kind}) has no realtime fast-path role")
    return by_kind[f.kind]


def _digits(bound: float, kind: Kind) -> int:
    """Most digits of an integer part that keeps every such value within ``bound`` (> 0)."""
    if kind is Kind.INT:
        return min(_INT_DIGITS, len(str(int(bound) + 1)) - 1)
    return min(_FLOAT_DIGITS, math.floor(math.log10(bound)) if bound >= 1 else 0)


def _column(f: Field, index: int) -> Column:
    role = _role(f)
    if role in (Role.INT, Role.FLOAT):
        lo = -math.inf if f.lo is None else f.lo
        hi = math.inf if f.hi is None else f.hi
        if lo > 0 or hi < 0:
            raise ValueError(f"scalp field {f.name!r}: the fast path takes lo <= 0 <= hi")
        width = _digits(hi, f.kind) if hi < math.inf else _limit(f.kind)
        nwidth = (_digits(-lo, f.kind) if lo > -math.inf else _limit(f.kind)) if lo < 0 else 0
        # An integer added after the first version (nullable) may come empty: null. (An
        # empty decimal takes the general path, which reads it as null too.)
        empty = f.nullable and role is Role.INT
        mask, blank = (EMPTY_OK, "null") if empty else (0, "")
        return Column(index, role, f.name, width, nwidth, mask, blank)
    if role is Role.CHOICE:
        mask = sum(1 << int(c) for c in f.choices)
        if 0 in f.choices:  # "not given": KIS sends it empty
            return Column(index, role, f.name, mask=mask | EMPTY_OK, blank="0")
        return Column(index, role, f.name, mask=mask)
    if role is Role.CODE:
        if not f.length:
            raise ValueError(f"scalp field {f.name!r}: a code from KIS needs its length")
        return Column(index, role, f.name, f.length, mask=EMPTY_OK)
    if role is Role.HALT:
        return Column(index, role, f.name, mask=EMPTY_OK)
    return Column(index, role, f.name)


def _limit(kind: Kind) -> int:
    return _INT_DIGITS if kind is Kind.INT else _FLOAT_DIGITS


SEQ_PIECE = '{"seq":%d,"symbol":"'
#: Fields whose value is the feed's, not a column's.
FROM_FEED = frozenset({"session"})


def reads(feed: Feed, width: int, column: int) -> bool:
    """True when records of ``feed`` that are ``width`` columns wide carry ``column``."""
    return column < feed.width or (column in feed.optional and column < width)


def layout(schema: LineSchema, feed: Feed = REGULAR, width: int | None = None) -> Layout:
    """The fast path of ``schema`` (scalp) for records of ``feed`` ``width`` columns wide;
    ValueError when its order cannot be one join."""
    width = feed.width if width is None else width
    names = schema.names
    if names[:4] != ("seq", "symbol", "trade_date", "ts") or names[-1] != "received_at":
        raise ValueError("a scalp line starts seq, symbol, trade_date, ts, ends received_at")
    values = [f for f in schema.fields[4:-1]]
    from_columns = [f.column for f in values if f.column is not None]
    if from_columns != sorted(from_columns):
        raise ValueError(
            "scalp fields after ts must follow their KIS columns' order for the fast path; "
            f"got {[(f.name, f.column) for f in values if f.column is not None]}"
        )
    if [f for f in values if f.column is None and f.name not in FROM_FEED]:
        raise ValueError("every scalp field but seq, received_at and the feed's must come "
                         "from a column")  # fmt: skip
    date = schema.field("trade_date")
    if date.column is None or not reads(feed, width, date.column):
        raise ValueError("the trade date must come from a column the feed carries")
    symbol, ts = schema.field("symbol"), schema.field("ts")
    if (symbol.column, ts.column) != (0, 1):
        raise ValueError("a realtime record starts with the symbol (column 0) and the time (1)")
    columns: list[Column] = [_column(symbol, 0), _column(ts, 1)]
    pieces: list[str] = ["", "", ":", ":"]  # seq piece; the date prefix before HH; HH:MM:SS
    pending = '+09:00"'  # constant text since the last printed group
    blanks: list[tuple[int, str]] = []
    date_at = -1

    def add_date() -> None:
        nonlocal date_at
        columns.append(_column(date, date.column))  # type: ignore[arg-type]
        date_at = 2 * len(pieces) + 1
        pieces.append("")

    for f in values:
        if f.column is not None and date_at < 0 and f.column > date.column:
            add_date()
        if f.name in FROM_FEED:
            pending += f",{json.dumps(f.name)}:{json.dumps(feed.name)}"
            continue
        if f.column is None or not reads(feed, width, f.column):
            pending += f",{json.dumps(f.name)}:null"  # the feed does not carry it
            continue
        c = _column(f, f.column)
        columns.append(c)
        if c.role is Role.HALT:
            pending += f',"{c.field}":false'
            continue
        quote = '"' if c.role is Role.CODE else ""
        if c.mask & EMPTY_OK and c.blank:
            blanks.append((2 * len(pieces) + 1, c.blank))
        pieces.append(pending + f",{json.dumps(c.field)}:" + quote)
        pending = quote
    if date_at < 0:
        add_date()
    end_group = date_at != 2 * len(pieces) - 1
    if end_group:
        pieces.append(pending)
        pending = ""
    groups = len(pieces)
    return Layout(
        feed=feed,
        width=width,
        columns=tuple(columns),
        groups=groups,
        pieces=tuple(pieces),
        tail=pending + ',"received_at":"%s"}\n',
        end_group=end_group,
        seq_at=0,
        prefix_at=2,
        date_at=date_at,
        end_at=2 * groups - 1,
        blanks=tuple(blanks),
    )


# --- the record pattern ------------------------------------------------------------------
RX_SKIP = r"[^^]*+"


def _number_pattern(c: Column) -> str:
    alts = []
    if c.role is Role.INT:
        alts.append("0")
        if c.width:
            alts.append(f"[1-9][0-9]{{0,{c.width - 1}}}+")
        if c.nwidth:
            alts.append(f"-[1-9][0-9]{{0,{c.nwidth - 1}}}+")
        whole = "(?:" + "|".join(alts) + ")"
        empty = "|" if c.mask & EMPTY_OK else ""
        return f"({whole}{empty})"
    # A decimal whose repr is the captured text: at most 15 significant digits and the
    # fraction's trailing zeros outside the group. repr switches to exponents below 1e-4:
    # "0." followed by four zeros takes the general path.
    frac = r"\.(?:[0-9]{0,5}[1-9]|0)"
    small = r"0\.(?!0000)(?:[0-9]{0,5}[1-9]|0)"
    pos = small + (f"|[1-9][0-9]{{0,{c.width - 1}}}+" + frac if c.width else "")
    alts = [pos]
    if c.nwidth:
        alts.append("-(?:" + small + "|[1-9][0-9]{0," + str(c.nwidth - 1) + "}+" + frac + ")")
    return "(" + "|".join(alts) + ")0*+"


def _column_pattern(c: Column, first: bool) -> str:
    if c.role is Role.SYMBOL:
        return r"(Q?[0-9A-Z]{6})"
    if c.role is Role.TIME:
        hour = "(?P<hour>[01][0-9]|2[0-3])" if first else "((?P=hour))"
        return hour + "([0-5][0-9])([0-5][0-9])"
    if c.role is Role.DATE:
        return "(?P<date>[0-9]{8})" if first else "((?P=date))"
    if c.role in (Role.INT, Role.FLOAT):
        return _number_pattern(c)
    if c.role is Role.CHOICE:
        digits = "".join(str(d) for d in range(10) if c.mask & (1 << d))
        return f"([{digits}]{'?' if c.mask & EMPTY_OK else ''})"
    if c.role is Role.HALT:
        return "N?"
    return f"([0-9A-Z]{{0,{c.width}}})"


def record_pattern(lay: Layout, first: bool) -> str:
    """One record; records after the first repeat its date and hour."""
    by_index = {c.index: c for c in lay.columns}
    cols = [
        _column_pattern(by_index[i], first) if i in by_index else RX_SKIP for i in range(lay.width)
    ]
    return r"\^".join(cols) + ("()" if lay.end_group else "")


def frame_pattern(lay: Layout, count: int) -> re.Pattern[str]:
    rx = re.compile(r"\^".join(record_pattern(lay, k == 0) for k in range(count)), re.ASCII)
    assert rx.groups == lay.groups * count, (rx.groups, lay.groups, count)
    return rx


def scanner_config(lay: Layout) -> tuple[bytes, bytes, bytes, bytes, bytes, bool]:
    """The C scanner's configuration: columns, roles, widths and negative widths (one byte
    each), masks (two bytes each, little-endian), and whether each record ends with an
    empty group."""
    if max(c.index for c in lay.columns) > 255:
        raise ValueError("the C scanner takes columns 0..255")
    return (
        bytes(c.index for c in lay.columns),
        bytes(int(c.role) for c in lay.columns),
        bytes(c.width for c in lay.columns),
        bytes(c.nwidth for c in lay.columns),
        b"".join(c.mask.to_bytes(2, "little") for c in lay.columns),
        lay.end_group,
    )


def groups_per(role: Role) -> int:
    return _GROUPS.get(role, 1)
