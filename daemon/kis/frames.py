"""The realtime frame's fast path, derived from the scalp line schema.

A realtime trade record holds 46 (or more) ``^``-separated KIS columns; the scalp line
takes some of them. :func:`layout` reads the schema table (daemon/schema/fields.py): which
column feeds which field, and in which role (symbol, trade time, trade date, integer,
decimal, side code, halt flag, short code). From the layout come

* the record pattern — one compiled regular expression per (record count, width) that
  checks a whole frame and captures the line's values — and the configuration of its C
  twin (daemon/kis/_scan.c), which gives the same groups;
* the constant pieces of a record's line, so that a frame's lines are one join of those
  pieces and the captured groups.

A group is taken as it stands only when json.dumps(int(x)) / repr(float(x)) spells it the
same way (after the fraction's trailing zeros, which the pattern leaves outside its group);
anything else fails the match and the parser's general path decides.

The line is one join only if the fields taken from KIS columns follow the columns' order
after ``ts`` (the table keeps them so; :func:`layout` refuses a schema that does not).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import IntEnum

from observer.daemon.schema.fields import Kind, LineSchema

#: Columns per record of the realtime trade TRs (H0STCNT0, H0NXCNT0, H0UNCNT0).
N_FIELDS = 46


class Role(IntEnum):
    """How a column is checked and captured (the C scanner uses the same numbers)."""

    SYMBOL = 0  # letters and digits; 1 group
    TIME = 1  # HHMMSS; 3 groups (HH, MM, SS); the hour repeats record 0's
    DATE = 2  # YYYYMMDD; 1 group, not printed in place (the line's prefix carries it)
    INT = 3  # an integer as JSON spells it; 1 group
    FLOAT = 4  # a decimal as repr spells it; 1 group
    SIDE = 5  # one digit or empty (printed as 0); 1 group
    HALT = 6  # "N" or empty (a halted stock does not trade); no group, printed false
    CODE = 7  # up to ``width`` letters or digits, printed as a JSON string; 1 group


_GROUPS = {Role.TIME: 3, Role.HALT: 0}


@dataclass(frozen=True)
class Column:
    index: int  # the KIS column
    role: Role
    field: str  # the line's key
    width: int = 0  # CODE: longest code


@dataclass(frozen=True)
class Layout:
    """The fast path's view of the scalp schema."""

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
    side_at: int | None
    date_at: int
    end_at: int

    @property
    def stride(self) -> int:
        return 2 * self.groups


def _role(name: str, kind: Kind) -> Role:
    special = {"symbol": Role.SYMBOL, "ts": Role.TIME, "trade_date": Role.DATE}
    if name in special:
        return special[name]
    if name == "halted":
        return Role.HALT
    if name == "side":
        return Role.SIDE
    by_kind = {Kind.INT: Role.INT, Kind.FLOAT: Role.FLOAT, Kind.STR: Role.CODE}
    if kind not in by_kind:
        raise ValueError(f"scalp field {name!r} ({kind}) has no realtime fast-path role")
    return by_kind[kind]


SEQ_PIECE = '{"seq":%d,"symbol":"'


def layout(schema: LineSchema) -> Layout:
    """The fast path of ``schema`` (scalp); ValueError when its order cannot be one join."""
    names = schema.names
    if names[:4] != ("seq", "symbol", "trade_date", "ts") or names[-1] != "received_at":
        raise ValueError("a scalp line starts seq, symbol, trade_date, ts, ends received_at")
    from_columns = [f for f in schema if f.column is not None]
    values = [f for f in from_columns if f.name not in ("symbol", "trade_date", "ts")]
    if [f.column for f in values] != sorted(f.column for f in values if f.column is not None):
        raise ValueError(
            "scalp fields after ts must follow their KIS columns' order for the fast path; "
            f"got {[(f.name, f.column) for f in values]}"
        )
    if [f for f in schema if f.column is None and f.name not in ("seq", "received_at")]:
        raise ValueError("every scalp field but seq and received_at must come from a column")
    columns = tuple(
        sorted(
            (Column(f.column, _role(f.name, f.kind), f.name, 12 if f.kind is Kind.STR else 0)
             for f in from_columns if f.column is not None),
            key=lambda c: c.index,
        )
    )  # fmt: skip
    pieces: list[str] = []
    pending = ""  # constant text since the last printed group
    seq_at = prefix_at = date_at = -1
    side_at: int | None = None
    for c in columns:
        at = 2 * len(pieces)  # position of this group's piece in a record's pieces
        if c.role is Role.SYMBOL:
            seq_at = at
            pieces.append("")  # the seq piece, written once the hub numbers the frame
        elif c.role is Role.TIME:
            prefix_at = at
            pieces += ["", ":", ":"]  # the date prefix goes before HH, per frame
            pending = '+09:00"'
        elif c.role is Role.DATE:
            date_at = at + 1
            pieces.append("")
        elif c.role is Role.HALT:
            pending += f',"{c.field}":false'
        else:
            if c.role is Role.SIDE:
                side_at = at + 1
            quote = '"' if c.role is Role.CODE else ""
            pieces.append(pending + f",{json.dumps(c.field)}:" + quote)
            pending = quote
    end_group = date_at != 2 * len(pieces) - 1
    if end_group:
        pieces.append(pending)
        pending = ""
    groups = len(pieces)
    return Layout(
        columns=columns,
        groups=groups,
        pieces=tuple(pieces),
        tail=pending + ',"received_at":"%s"}\n',
        end_group=end_group,
        seq_at=seq_at,
        prefix_at=prefix_at,
        side_at=side_at,
        date_at=date_at,
        end_at=2 * groups - 1,
    )


# --- the record pattern ------------------------------------------------------------------
#: An integer as JSON spells it: no sign on zero, no leading zeros, at most 18 digits.
RX_INT = r"(0|-?[1-9][0-9]{0,17}+)"
#: A decimal whose repr is the captured text: at most 15 significant digits (9 + 6) and
#: the fraction's trailing zeros outside the group. repr switches to exponents below 1e-4:
#: frames holding "0.0000" anywhere take the general path (a substring test, in the parser).
RX_FLOAT = r"(-?(?:0|[1-9][0-9]{0,8}+)\.(?:[0-9]{0,5}[1-9]|0))0*+"
RX_SKIP = r"[^^]*+"


def _column_pattern(c: Column, first: bool) -> str:
    if c.role is Role.SYMBOL:
        return r"([0-9A-Za-z]++)"
    if c.role is Role.TIME:
        hour = "(?P<hour>[0-9]{2})" if first else "((?P=hour))"
        return hour + "([0-9]{2})([0-9]{2})"
    if c.role is Role.DATE:
        return "(?P<date>[0-9]{8})" if first else "((?P=date))"
    if c.role is Role.INT:
        return RX_INT
    if c.role is Role.FLOAT:
        return RX_FLOAT
    if c.role is Role.SIDE:
        return r"([0-9]?)"
    if c.role is Role.HALT:
        return "N?"
    return f"([0-9A-Za-z]{{0,{c.width}}})"


def record_pattern(lay: Layout, first: bool, width: int) -> str:
    """One record of ``width`` columns; records after the first repeat its date and hour."""
    by_index = {c.index: c for c in lay.columns}
    cols = [_column_pattern(by_index[i], first) if i in by_index else RX_SKIP for i in range(width)]
    return r"\^".join(cols) + ("()" if lay.end_group else "")


def frame_pattern(lay: Layout, count: int, width: int) -> re.Pattern[str]:
    rx = re.compile(r"\^".join(record_pattern(lay, k == 0, width) for k in range(count)), re.ASCII)
    assert rx.groups == lay.groups * count, (rx.groups, lay.groups, count)
    return rx


def scanner_config(lay: Layout) -> tuple[bytes, bytes, bytes, bool]:
    """The C scanner's configuration: columns, roles and widths (one byte each), and whether
    each record ends with an empty group."""
    if max(c.index for c in lay.columns) > 255:
        raise ValueError("the C scanner takes columns 0..255")
    return (
        bytes(c.index for c in lay.columns),
        bytes(int(c.role) for c in lay.columns),
        bytes(c.width for c in lay.columns),
        lay.end_group,
    )


def groups_per(role: Role) -> int:
    return _GROUPS.get(role, 1)
