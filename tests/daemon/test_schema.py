"""The schema table is the one source of the line: everything else derives from it or
agrees with it, and adding a field is one row (plus its record attribute and migration)."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pyarrow as pa
import pytest

from observer.daemon.kis import parser as parser_module
from observer.daemon.kis.frames import Role, layout
from observer.daemon.kis.parser import FrameParser
from observer.daemon.model import Snapshot, Tick, Track
from observer.daemon.schema.fields import FIELDS, SCHEMAS, Field, Kind, line_schema
from observer.daemon.schema.lines import FrameBatch, LineFormatter, reference_line
from observer.daemon.status.proto import tick_to_proto
from observer.daemon.stores import pgschema
from observer.daemon.stores.parquet import SCHEMAS as ARROW
from observer.daemon.stores.parquet import arrow_schema
from tests.daemon.ingest_support import at, frame, random_tick, record
from tests.storedata import snapshots


@pytest.mark.parametrize("track", list(Track))
def test_record_classes_carry_exactly_the_fields_of_their_track(track: Track) -> None:
    schema = SCHEMAS[track]
    attrs = {f.name for f in dataclasses.fields(schema.record)}
    assert attrs == (set(schema.names) - {"ts"}) | {"time"}


@pytest.mark.parametrize("track", list(Track))
def test_parquet_columns_are_the_table_s_fields_with_their_kinds(track: Track) -> None:
    kinds = {Kind.INT: pa.int64(), Kind.FLOAT: pa.float64(), Kind.STR: pa.string(),
             Kind.BOOL: pa.bool_(), Kind.DATE: pa.date32()}  # fmt: skip
    arrow = ARROW[track]
    assert arrow.names == list(SCHEMAS[track].names)
    for f in SCHEMAS[track]:
        want = kinds.get(f.kind, pa.timestamp("us", tz="Asia/Seoul"))
        assert arrow.field(f.name).type == want


def test_every_field_of_every_track_reaches_the_wire() -> None:
    rng = random.Random(3)
    tick, snap = random_tick(rng), next(snapshots("20261130", 1))
    for item, schema in ((tick, SCHEMAS[Track.SCALP]), (snap, SCHEMAS[Track.SWING])):
        msg = tick_to_proto(item)
        set_fields = {d.name for d, _ in msg.ListFields()} | {
            d.name for d, _ in msg.swing.ListFields()
        }
        wanted = {f.name for f in schema if f.name not in ("ts", "trade_date", "received_at")}
        falsy = {f.name for f in schema if not getattr(item, f.name, True)}
        assert wanted - falsy <= set_fields


def test_the_scalp_fields_after_ts_follow_their_kis_columns() -> None:
    lay = layout(SCHEMAS[Track.SCALP])
    assert [c.index for c in lay.columns] == sorted(c.index for c in lay.columns)
    assert {c.role for c in lay.columns} >= {Role.SYMBOL, Role.TIME, Role.DATE, Role.HALT}


def test_a_schema_whose_columns_cannot_be_one_join_is_refused() -> None:
    swapped = list(FIELDS)
    i, j = swapped.index(_field("open")), swapped.index(_field("high"))
    swapped[i], swapped[j] = swapped[j], swapped[i]
    with pytest.raises(ValueError, match="KIS columns' order"):
        layout(line_schema(Track.SCALP, tuple(swapped)))


# --- adding fields: a fixture schema with two more scalp fields --------------------------


def _field(name: str) -> Field:
    return next(f for f in FIELDS if f.name == name)


# Two fields a later version might add: ASKP_RSQN1 (36) and PRDY_SMNS_HOUR_ACML_VOL (41).
NEXT = max(f.since for f in FIELDS) + 1
ASK_QTY = Field("ask1_qty", Kind.STR, "best ask quantity, as a code for the fixture",
                tracks=frozenset({Track.SCALP}), column=36, length=8, since=NEXT)  # fmt: skip
PREV_VOL = Field("prev_volume", Kind.INT, "volume of the previous day by now", unit="shares",
                 tracks=frozenset({Track.SCALP}), column=41, lo=0, hi=10**13, since=NEXT)  # fmt: skip


@dataclasses.dataclass(slots=True)
class TickV2(Tick):
    ask1_qty: str | None = None
    prev_volume: int | None = None


def _extended() -> tuple[Field, ...]:
    out = list(FIELDS)
    out.insert(out.index(_field("hour_code")), ASK_QTY)  # column 36, after TRHT_YN (35)
    out.insert(out.index(_field("hour_code")), PREV_VOL)  # column 41, before 43
    return tuple(out)


V2 = line_schema(Track.SCALP, _extended(), TickV2)


@pytest.mark.parametrize("scanner", ["c", "pattern"])
def test_a_field_added_to_the_table_reaches_the_fast_path_and_the_reference_line(
    scanner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if scanner == "pattern":
        monkeypatch.setattr(parser_module, "_Scanner", None)
    elif parser_module._Scanner is None:
        pytest.skip("the C frame scanner was not built (no C compiler at install time)")
    recs = [record("005930"), record("000660", price=5000)]
    for r, (op, vi) in zip(recs, (("1234", "71500"), ("", "4900")), strict=True):
        r[36], r[41] = op, vi
    p = FrameParser(clock=at, schema=V2)
    batch = p.parse(frame(recs))
    assert isinstance(batch, FrameBatch)  # the fast path, with the new columns in its pattern
    batch.number(1)
    ticks = batch.ticks
    assert [(t.ask1_qty, t.prev_volume) for t in ticks] == [("1234", 71500), ("", 4900)]  # type: ignore[attr-defined]
    lines = batch.lines()
    assert lines == "".join(reference_line(t, V2) for t in ticks)
    assert lines == batch.lines()  # rendered again, from the records: the same bytes
    first = json.loads(lines.splitlines()[0])
    assert list(first) == list(V2.names)
    assert first["ask1_qty"] == "1234" and first["prev_volume"] == 71500
    assert first["halted"] is False


def test_the_general_path_and_the_fast_formatter_know_the_added_field() -> None:
    r = record()
    r[36], r[41], r[2] = "20", "71500", "072100"  # a price with a leading zero: general path
    p = FrameParser(clock=at, schema=V2)
    (t,) = p.parse(frame([r]))
    assert not isinstance(p.parse(frame([r])), FrameBatch)
    assert (t.price, t.ask1_qty, t.prev_volume) == (72100, "20", 71500)  # type: ignore[attr-defined]
    assert LineFormatter([V2]).tick_lines([t]) == [reference_line(t, V2)]


def test_a_line_written_before_the_field_existed_reads_as_null(tmp_path: Path) -> None:
    old = reference_line(random_tick(random.Random(5)))  # no ask1_qty, prev_volume
    import pyarrow.json as pj

    arrow = arrow_schema(V2)
    table = pj.read_json(
        pa.BufferReader(old.encode()),
        parse_options=pj.ParseOptions(
            explicit_schema=arrow.set(
                arrow.get_field_index("trade_date"), pa.field("trade_date", pa.timestamp("s"))
            )
        ),
    )
    assert table.column("ask1_qty").to_pylist() == [None]
    assert table.column("prev_volume").to_pylist() == [None]
    assert arrow.field("ask1_qty").nullable and arrow.field("prev_volume").nullable


def test_the_added_fields_migration_adds_nullable_columns() -> None:
    schemas = {Track.SCALP: V2, Track.SWING: SCHEMAS[Track.SWING]}
    assert pgschema.add_columns(NEXT, schemas) == (
        "ALTER TABLE scalp_ticks ADD COLUMN IF NOT EXISTS ask1_qty text",
        "ALTER TABLE scalp_ticks ADD COLUMN IF NOT EXISTS prev_volume bigint",
    )


def test_every_schema_version_has_its_migration() -> None:
    versions = {f.since for f in FIELDS}
    migrated = {v for v, _, _ in pgschema.MIGRATIONS}
    assert versions <= migrated
    for v, _, statements in pgschema.MIGRATIONS:
        if v > 1:
            assert set(pgschema.add_columns(v)) <= set(statements)


def test_snapshot_and_tick_records_format_like_the_reference_from_the_table() -> None:
    rng = random.Random(8)
    items: list[Tick | Snapshot] = [random_tick(rng) for _ in range(50)]
    items += list(snapshots("20261130", 50))
    fmt = LineFormatter()
    assert ["".join(fmt.lines([x])) for x in items] == [reference_line(x) for x in items]  # type: ignore[arg-type]
