"""The line schema: one table of every field of a tick file line.

Each :class:`Field` says its name (the JSON key), its type, unit and meaning, which tracks
carry it, where KIS sends it (the H0STCNT0 column of a realtime record, the inquire-price
key of a swing quote), its domain, and the schema version that added it. Everything that
writes or reads lines is derived from this table or checked against it by a test: the
reference formatter and the fast formatter (daemon/schema/lines.py), the parser's fast
path and its C scanner (daemon/kis/frames.py), Tail's records, the Parquet schema, the
PostgreSQL columns and their migrations, and the README's schema section.

Adding a field is one row here (with ``since`` = the next version, so older lines, which
lack it, read as null), its attribute on the record class, and one migration entry in
daemon/stores/pgschema.py; tests fail until all of it agrees.

Line order is table order. For the realtime fast path, the scalp fields taken from KIS
columns keep the columns' order after ``ts``; a test holds the table to that.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from observer.daemon.model import Snapshot, Tick, Track

#: Largest integer a line may hold (int64, as Parquet and PostgreSQL store it).
INT64_MAX: Final = 2**63 - 1


class Kind(StrEnum):
    INT = "int"
    FLOAT = "float"
    STR = "str"
    BOOL = "bool"
    DATE = "date"  # "YYYY-MM-DD"
    TIMESTAMP = "timestamp"  # ISO-8601 with +09:00


_BOTH = frozenset(Track)
_SCALP = frozenset({Track.SCALP})
_SWING = frozenset({Track.SWING})


@dataclass(frozen=True)
class Field:
    """One key of a tick line."""

    name: str
    kind: Kind
    meaning: str
    unit: str = ""
    tracks: frozenset[Track] = _BOTH
    #: H0STCNT0 column of a realtime record (scalp), or None when not from the frame.
    column: int | None = None
    #: inquire-price output key (swing), or None.
    rest_key: str | None = None
    #: Smallest and largest value a number may have (its domain).
    lo: float | None = None
    hi: float | None = None
    #: The values a code may take (empty: any value of the kind).
    choices: tuple[int | str, ...] = ()
    #: A code from KIS: at most this many capital letters or digits (0: not a code).
    length: int = 0
    #: Schema version that added the field; lines written before lack it (null).
    since: int = 1

    @property
    def nullable(self) -> bool:
        return self.since > 1


def _price(name: str, meaning: str, **where: Any) -> Field:
    """A price in won (a KRX price is below 10^10 won)."""
    return Field(name, Kind.INT, meaning, unit="won", lo=0, hi=10**10, **where)


def _shares(name: str, meaning: str, **where: Any) -> Field:
    return Field(name, Kind.INT, meaning, unit="shares", lo=0, hi=10**13, **where)


#: Every field, in line order (each track's line holds the fields of that track).
FIELDS: Final[tuple[Field, ...]] = (
    Field("seq", Kind.INT, "per track and trade date: 1, 2, 3, ... never reused or skipped",
          lo=1, hi=INT64_MAX),
    Field("symbol", Kind.STR, "KRX code: 6 digits, or Q and 6 characters for an ETN",
          column=0),
    Field("trade_date", Kind.DATE, "KRX business date of the trade (KST)", column=33),
    Field("ts", Kind.TIMESTAMP, "trade time (scalp) or quote time (swing), KST", column=1),
    _price("price", "last trade price", column=2, rest_key="stck_prpr"),
    Field("sign", Kind.INT, "change sign vs. previous close: 1 limit-up, 2 up, 3 flat, "
          "4 limit-down, 5 down", column=3, rest_key="prdy_vrss_sign", choices=(1, 2, 3, 4, 5)),
    Field("change", Kind.INT, "change vs. previous close (negative when down)", unit="won",
          column=4, rest_key="prdy_vrss", lo=-(10**10), hi=10**10),
    Field("change_pct", Kind.FLOAT, "change vs. previous close", unit="percent", column=5,
          rest_key="prdy_ctrt", lo=-100.0, hi=10**5),
    Field("vwap", Kind.FLOAT, "volume-weighted average price of the day", unit="won",
          tracks=_SCALP, column=6, lo=0.0, hi=10**10),
    _price("open", "day's open", column=7, rest_key="stck_oprc"),
    _price("high", "day's high", column=8, rest_key="stck_hgpr"),
    _price("low", "day's low", column=9, rest_key="stck_lwpr"),
    _price("upper_limit", "upper price limit of the day", tracks=_SWING,
          rest_key="stck_mxpr"),
    _price("lower_limit", "lower price limit of the day", tracks=_SWING,
          rest_key="stck_llam"),
    _price("ask1", "best ask", tracks=_SCALP, column=10),
    _price("bid1", "best bid", tracks=_SCALP, column=11),
    _shares("volume", "this trade's volume", tracks=_SCALP, column=12),
    _shares("cum_volume", "volume of the day so far", column=13, rest_key="acml_vol"),
    Field("cum_value", Kind.INT, "traded value of the day so far", unit="won", column=14,
          rest_key="acml_tr_pbmn", lo=0, hi=10**17),
    Field("strength", Kind.FLOAT, "buy/sell strength (buy volume / sell volume x 100)",
          unit="percent", tracks=_SCALP, column=18, lo=0.0, hi=10**7),
    Field("side", Kind.INT, "trade side: 1 buy, 3 pre-market, 5 sell, 0 not given",
          tracks=_SCALP, column=21, choices=(0, 1, 3, 5)),
    Field("per", Kind.FLOAT, "price/earnings ratio", tracks=_SWING, rest_key="per"),
    Field("pbr", Kind.FLOAT, "price/book ratio", tracks=_SWING, rest_key="pbr"),
    Field("eps", Kind.FLOAT, "earnings per share", unit="won", tracks=_SWING, rest_key="eps"),
    Field("bps", Kind.FLOAT, "book value per share", unit="won", tracks=_SWING, rest_key="bps"),
    _price("w52_high", "52-week high", tracks=_SWING, rest_key="w52_hgpr"),
    _price("w52_low", "52-week low", tracks=_SWING, rest_key="w52_lwpr"),
    Field("market_cap", Kind.INT, "market capitalisation", unit="100 million won",
          tracks=_SWING, rest_key="hts_avls", lo=0, hi=10**12),
    Field("market_op", Kind.STR, "market operation code (NEW_MKOP_CLS_CODE) as KIS sends it: "
          "first character 1 pre-open, 2 regular session, 3 after the close, 4 after-hours "
          "single price, 7 general buy-in, 8 same-day buy-in; second 0 normal, 1 closing price, "
          "2 block, 3 basket, 7 liquidation trading, 8 buy-in (20: regular, normal)",
          tracks=_SCALP, column=34, length=2, since=2),
    Field("halted", Kind.BOOL, "trading halted", column=35, rest_key="temp_stop_yn"),
    Field("hour_code", Kind.STR, "session time code (HOUR_CLS_CODE): 0 regular session, "
          "A after-close expected price, B pre-open expected price, C expected price after "
          "09:00 or VI triggered, D after-hours single-price expected price",
          tracks=_SCALP, column=43, length=1, since=2),
    Field("random_end", Kind.STR, "random-end code of a single-price auction "
          "(MRKT_TRTM_CLS_CODE) as KIS sends it; empty when none",
          tracks=_SCALP, column=44, length=1, since=2),
    _price("vi_price", "static volatility-interruption reference price (VI_STND_PRC)",
           tracks=_SCALP, column=45, since=2),
    Field("market_class", Kind.STR, "market class (MARKET_CLS_CODE, the 47th column newer "
          "servers send; KIS announced 1 pre-market, 2 regular, 3 after-market, 5 closing "
          "price); null when the server sends 46 columns",
          tracks=_SCALP, column=46, length=2, since=2),
    Field("session", Kind.STR, "the feed that carried the trade: regular (H0STCNT0, "
          "H0NXCNT0, H0UNCNT0) or after_hours (H0STOUP0: KRX after-hours single-price "
          "trading, 16:00-18:00)", tracks=_SCALP, choices=("regular", "after_hours"), since=2),
    Field("vi", Kind.STR, "volatility-interruption code as KIS sends it", tracks=_SWING,
          rest_key="vi_cls_code"),
    Field("received_at", Kind.TIMESTAMP, "when the daemon received it (microseconds), KST"),
)  # fmt: skip


@dataclass(frozen=True)
class LineSchema:
    """The line of one track: its fields in order and the record class that carries them."""

    track: Track
    fields: tuple[Field, ...]
    record: type[Tick] | type[Snapshot]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.track.value} lines have no field {name!r}")

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    @property
    def version(self) -> int:
        """The newest schema version among the fields."""
        return max(f.since for f in self.fields)


def line_schema(
    track: Track,
    fields: tuple[Field, ...] = FIELDS,
    record: type[Tick] | type[Snapshot] | None = None,
) -> LineSchema:
    """The schema of ``track``'s lines (``fields``/``record`` for tests that extend it)."""
    default = Tick if track is Track.SCALP else Snapshot
    return LineSchema(track, tuple(f for f in fields if track in f.tracks), record or default)


SCALP: Final = line_schema(Track.SCALP)
SWING: Final = line_schema(Track.SWING)
SCHEMAS: Final = {Track.SCALP: SCALP, Track.SWING: SWING}

#: Fields filled from somewhere else than the record's own attribute of that name.
DERIVED: Final = frozenset({"trade_date", "ts", "received_at"})


def markdown_table() -> str:
    """The README's line schema section, generated from the table."""
    out = [
        "| Field | Type | Unit | Tracks | Meaning | From KIS | Since |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in FIELDS:
        tracks = " ".join(t.value for t in Track if t in f.tracks)
        meaning = f.meaning.replace("|", "/") + (" (null in older lines)" if f.nullable else "")
        source = [f"realtime column {f.column}"] if f.column is not None else []
        source += [f"`{f.rest_key}`"] if f.rest_key else []
        out.append(
            f"| `{f.name}` | {f.kind.value} | {f.unit} | {tracks} | {meaning} | "
            f"{', '.join(source)} | {f.since} |"
        )
    return "\n".join(out)
