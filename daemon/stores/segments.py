"""Where the JSONL segments live and which of them are closed (shared by the derived stores).

The segment writer owns the files: ``assets/scalp/YYYYMMDD_HH.jsonl`` (hourly) and
``assets/swing/YYYYMMDD.jsonl`` (daily). A segment is closed once a newer one exists for
its track (the writer only opens a new file after finishing the old one) or once the writer
told us so through its close listener. Nothing here writes to ``assets/``.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Protocol

from observer.daemon.model import Track

_NAME = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:_(\d{2}))?\.jsonl$")


class Emit(Protocol):
    """The event bus's ``emit(event, **fields)``; stores take it optionally."""

    def __call__(self, event: str, /, **fields: object) -> object: ...


def track_dir(data_dir: Path, track: Track) -> Path:
    return data_dir / "assets" / track.value


def is_segment_name(name: str) -> bool:
    return _NAME.match(name) is not None


def segment_date(path: Path) -> str:
    """``YYYY-MM-DD`` of a segment from its file name (KST, as the writer named it)."""
    m = _NAME.match(path.name)
    if m is None:
        raise ValueError(f"{path} is not a segment file name (YYYYMMDD[_HH].jsonl)")
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"


def track_of(path: Path) -> Track:
    """The track of a segment path (its parent folder name)."""
    try:
        return Track(path.parent.name)
    except ValueError:
        raise ValueError(f"{path} is not under assets/scalp or assets/swing") from None


def segment_files(data_dir: Path, track: Track) -> list[Path]:
    """Every segment of ``track``, oldest first (names sort by time)."""
    folder = track_dir(data_dir, track)
    try:
        names = [e.name for e in os.scandir(folder) if e.is_file() and is_segment_name(e.name)]
    except FileNotFoundError:
        return []
    return [folder / n for n in sorted(names)]


def closed_segments(data_dir: Path, track: Track) -> list[Path]:
    """All segments but the newest, which the writer may still be appending to."""
    return segment_files(data_dir, track)[:-1]


def complete_length(path: Path, size: int | None = None) -> int:
    """Bytes of ``path`` up to and including its last newline (complete lines only)."""
    with open(path, "rb") as f:
        end = os.fstat(f.fileno()).st_size if size is None else size
        pos = end
        while pos > 0:
            step = min(65536, pos)
            f.seek(pos - step)
            chunk = f.read(step)
            i = chunk.rfind(b"\n")
            if i >= 0:
                return pos - step + i + 1
            pos -= step
    return 0


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def emit_safely(emit: Emit | None, event: str, **fields: object) -> None:
    """Send an event if there is a bus; a failing bus never stops a store."""
    if emit is None:
        return
    try:
        emit(event, **fields)
    except Exception:
        logging.getLogger(__name__).exception("event %s could not be emitted", event)
