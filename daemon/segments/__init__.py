"""Segment files: the JSONL tick files that are Observer's source of truth.

One place for what every reader and writer of ``assets/`` must agree on:

* :mod:`.names` — how a segment is named (``YYYYMMDD_HH[_pN].jsonl`` for scalp,
  ``YYYYMMDD[_pN].jsonl`` for swing), parsed and ordered, and the time window it covers;
* :mod:`.layout` — where segments live under ``$OBSERVER_DATA_DIR`` and which are closed;
* :mod:`.durable` — the durable file operations (fsync of directories, atomic replace,
  complete-line lengths, the append-only segment file).

The writer, crash recovery, Tail's replay, the derived stores, retention and backup all use
these and nothing else to find, name and order segments.
"""

from observer.daemon.segments.durable import (
    OsSegmentFile,
    SegmentFile,
    complete_length,
    count_lines,
    fsync_dir,
    write_atomically,
)
from observer.daemon.segments.layout import (
    assets_dir,
    closed_segments,
    quarantine_dir,
    segment_files,
    track_dir,
    track_of,
)
from observer.daemon.segments.names import (
    SegmentName,
    is_segment_name,
    order_key,
    parse_name,
    segment_date,
    segment_end,
    segment_key,
    segment_name,
    segment_start,
)

__all__ = [
    "OsSegmentFile",
    "SegmentFile",
    "SegmentName",
    "assets_dir",
    "closed_segments",
    "complete_length",
    "count_lines",
    "fsync_dir",
    "is_segment_name",
    "order_key",
    "parse_name",
    "quarantine_dir",
    "segment_date",
    "segment_end",
    "segment_files",
    "segment_key",
    "segment_name",
    "segment_start",
    "track_dir",
    "track_of",
    "write_atomically",
]
