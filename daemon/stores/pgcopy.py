"""JSONL lines as a PostgreSQL ``COPY ... (FORMAT binary)`` payload, built column-wise.

The sink's batches are parsed with pyarrow (explicit schema, timestamps parsed by Arrow)
and encoded without a Python loop per row: a run of fixed-width columns becomes one
fixed-size record per row, built by repeating a template row (field count, length words)
and writing each value byte with a strided slice assignment (a C loop over the rows; the
byte order is reversed by reading the little-endian source bytes backwards); text columns
become length-prefixed binary arrays, and Arrow joins the pieces row by row. Binary input spares
the server the text parsing of every integer, float, date and timestamp, which was more
than half of its work per row with CSV.

Wire format (PostgreSQL docs, "COPY" - binary format): the 11-byte signature, a 32-bit
flags word and a 32-bit header-extension length; per row a 16-bit field count, then per
field a 32-bit length (-1 for NULL) and the value in network byte order (bigint int64;
double float64; boolean one byte; date int32 days and timestamptz int64 microseconds,
both since 2000-01-01 UTC; text its UTF-8 bytes); a 16-bit -1 ends the data.

A field added after the first schema version is null in the lines written before it:
such a column, when it holds NULLs, is encoded value by value (length word and bytes, or
the NULL marker) like text. A NULL in any other fixed-width column (a line missing a key)
is rare and returns None: the caller sends that batch as CSV, which keeps the server's own
messages for such lines.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from observer.daemon.model import Track
from observer.daemon.schema.fields import SCHEMAS as LINES
from observer.daemon.stores.parquet import SCHEMAS, parse_lines

HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER: Final = b"\xff\xff"
_NULL_TEXT: Final = pa.scalar(b"\xff\xff\xff\xff", pa.binary())
_EPOCH_DAYS: Final = 10_957  # 1970-01-01 -> 2000-01-01
_EPOCH_US: Final = _EPOCH_DAYS * 86_400 * 1_000_000
assert sys.byteorder == "little", "the encoder reverses little-endian bytes"


def _width(t: pa.DataType) -> int:
    """Bytes of a fixed-width column's wire value; 0 for text."""
    if pa.types.is_timestamp(t) or t in (pa.int64(), pa.float64()):
        return 8
    if t == pa.date32():
        return 4
    if t == pa.bool_():
        return 1
    return 0


def _as_ints(col: pa.Array) -> pa.Array:
    """The column's wire values as machine integers of the wire width (no nulls here)."""
    t = col.type
    if pa.types.is_timestamp(t):
        return pc.subtract(col.cast(pa.int64()), pa.scalar(_EPOCH_US, pa.int64()))
    if t == pa.date32():
        return pc.subtract(col.cast(pa.int32()), pa.scalar(_EPOCH_DAYS, pa.int32()))
    if t == pa.bool_():
        return col.cast(pa.uint8())
    if t == pa.float64():  # the IEEE bits, as PostgreSQL's float8send writes them
        return pa.Array.from_buffers(pa.int64(), len(col), [None, col.buffers()[1]], 0, col.offset)
    return col


@dataclass
class _Field:
    """One column's place in the fixed-size row and the bytes that vary between rows."""

    pos: int  # offset of the value in the row
    width: int
    src: bytes  # the values back to back (little-endian numbers or text bytes)
    reverse: bool  # numbers: big-endian byte j is source byte width-1-j
    varying: range  # value bytes that differ between rows; the others are in the template


def _number(col: pa.Array, template: bytearray) -> _Field:
    """Append a number column's length word and constant bytes to ``template``."""
    width = _width(col.type)
    ints = _as_ints(col)
    template += width.to_bytes(4, "big")
    pos = len(template)
    lo_hi = pc.min_max(ints)
    lo, hi = int(lo_hi["min"].as_py()), int(lo_hi["max"].as_py())
    signed = width > 1
    a = lo.to_bytes(width, "big", signed=signed)
    b = hi.to_bytes(width, "big", signed=signed)
    same = 0  # leading bytes shared by min and max are shared by every value in between
    if (lo < 0) == (hi < 0):
        while same < width and a[same] == b[same]:
            same += 1
    template += a[:same] + bytes(width - same)
    src = ints.buffers()[1][ints.offset * width : (ints.offset + len(ints)) * width]
    return _Field(pos, width, src.to_pybytes(), True, range(same, width))


def _fixed_text(col: pa.Array, width: int, template: bytearray) -> _Field:
    template += width.to_bytes(4, "big")
    pos = len(template)
    template += bytes(width)
    offsets = memoryview(col.buffers()[1]).cast("i")
    first = offsets[col.offset]
    src = col.buffers()[2][first : first + width * len(col)]
    return _Field(pos, width, src.to_pybytes(), False, range(width))


def _text_width(col: pa.Array) -> int | None:
    """The common byte length of a text column, None when it varies or has NULLs."""
    if col.null_count:
        return None
    lo_hi = pc.min_max(pc.binary_length(col))
    lo, hi = lo_hi["min"].as_py(), lo_hi["max"].as_py()
    return int(lo) if lo == hi else None


def _rows(template: bytes, fields: list[_Field], n: int) -> bytearray:
    """``n`` copies of ``template`` with every varying value byte written in."""
    size = len(template)
    rec = bytearray(template * n)
    # Strided writes over a block that fits in the CPU cache, not over the whole batch.
    block = max(1, (256 << 10) // size)
    for start in range(0, n, block):
        stop = min(n, start + block)
        end = stop * size
        for f in fields:
            w = f.width
            for j in f.varying:
                k = w - 1 - j if f.reverse else j
                rec[start * size + f.pos + j : end : size] = f.src[start * w + k : stop * w : w]
    return rec


def _fixed_rows(columns: list[pa.Array], count: int | None, n: int) -> bytearray:
    """Rows of fixed-width fields: [field count] then (length word, value) per column."""
    template = bytearray() if count is None else bytearray(count.to_bytes(2, "big"))
    fields: list[_Field] = []
    for c in columns:
        if _width(c.type):
            fields.append(_number(c, template))
        else:
            width = _text_width(c)
            assert width is not None
            fields.append(_fixed_text(c, width, template))
    return _rows(bytes(template), fields, n)


def _binary(rec: bytearray, n: int) -> pa.Array:
    size = len(rec) // n
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(size), n, [None, pa.py_buffer(rec)]).cast(
        pa.binary()
    )


def _text(col: pa.Array) -> pa.Array:
    """Length word + UTF-8 bytes per row, or the NULL marker."""
    n = len(col)
    lengths = pc.binary_length(col).fill_null(0).cast(pa.int32())
    src = lengths.buffers()[1][lengths.offset * 4 : (lengths.offset + n) * 4].to_pybytes()
    prefix = _binary(_rows(bytes(4), [_Field(0, 4, src, True, range(4))], n), n)
    joined = pc.binary_join_element_wise(prefix, col.cast(pa.binary()), b"")
    return pc.fill_null(joined, _NULL_TEXT)


def _nullable_number(col: pa.Array) -> pa.Array:
    """Length word + value per row, or the NULL marker (a fixed-width column with NULLs)."""
    n = len(col)
    filled = pc.fill_null(col, pa.scalar(False if col.type == pa.bool_() else 0, col.type))
    values = _binary(_fixed_rows([filled], None, n), n)
    return pc.if_else(pc.is_null(col), _NULL_TEXT, values)


def encode(table: pa.Table, track: Track) -> bytes | None:
    """The binary COPY payload of ``table`` (the track's stored schema), or None on NULLs
    in a column of the first schema version."""
    n = table.num_rows
    if n == 0:
        return HEADER + TRAILER
    columns = [c.combine_chunks() if c.num_chunks != 1 else c.chunk(0) for c in table.columns]
    later = [LINES[track].field(name).nullable for name in table.column_names]
    if any(c.null_count and not late for c, late in zip(columns, later, strict=True)
           if _width(c.type)):  # fmt: skip
        return None
    # Usually every text column has one length (6-digit codes, one-letter flags): then a
    # row has a fixed size and is built in one piece. Otherwise such columns are joined.
    runs: list[list[pa.Array] | pa.Array] = []
    for c in columns:
        if (_width(c.type) and not c.null_count) or (
            not _width(c.type) and _text_width(c) is not None
        ):
            if runs and isinstance(runs[-1], list):
                runs[-1].append(c)
            else:
                runs.append([c])
        else:
            runs.append(c)
    if len(runs) == 1:
        assert isinstance(runs[0], list)
        return HEADER + _fixed_rows(runs[0], len(columns), n) + TRAILER
    pieces: list[pa.Array] = []
    for run in runs:
        if isinstance(run, list):
            count = None if pieces else len(columns)
            pieces.append(_binary(_fixed_rows(run, count, n), n))
        elif _width(run.type):
            pieces.append(_nullable_number(run))
        else:
            pieces.append(_text(run))
    joined = pc.binary_join_element_wise(*pieces, b"")
    offsets = memoryview(joined.buffers()[1]).cast("i")
    first, last = offsets[joined.offset], offsets[joined.offset + n]
    body: bytes = joined.buffers()[2][first:last].to_pybytes()
    return HEADER + body + TRAILER


_CSV = pacsv.WriteOptions(include_header=False)


@dataclass(frozen=True)
class Batch:
    """Complete lines ``[start, end)`` of one segment, ready for COPY."""

    track: Track
    file: str
    start: int
    end: int
    lines: int
    rejected: int
    payload: bytes
    format: str  # "binary", or "csv" for a batch with a NULL in a fixed-width column


def prepare_batch(path: Path, track: Track, start: int, max_bytes: int) -> Batch | None:
    """The complete lines of ``path`` after ``start`` (about ``max_bytes``), or None."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(max_bytes)
        cut = data.rfind(b"\n")
        while cut < 0 and len(data) >= max_bytes:  # one line longer than a batch
            more = f.read(max_bytes)
            if not more:
                break
            data += more
            cut = data.rfind(b"\n")
    if cut < 0:
        return None
    data = data[: cut + 1]
    lines = data.count(b"\n")
    table, rejected = _parse(data, track)
    end = start + len(data)
    payload = encode(table, track)
    if payload is not None:
        return Batch(track, path.name, start, end, lines, rejected, payload, "binary")
    out = io.BytesIO()
    pacsv.write_csv(table, out, _CSV)
    return Batch(track, path.name, start, end, lines, rejected, out.getvalue(), "csv")


def _parse(data: bytes, track: Track) -> tuple[pa.Table, int]:
    try:
        return parse_lines(data, track), 0
    except pa.ArrowInvalid:
        pass
    # Rare: some line breaks the schema. Keep the good lines, count the others.
    good: list[pa.Table] = []
    rejected = 0
    for line in data.splitlines(keepends=True):
        try:
            good.append(parse_lines(line, track))
        except pa.ArrowInvalid:
            rejected += 1
    if not good:
        return SCHEMAS[track].empty_table(), rejected
    return pa.concat_tables(good), rejected
