"""Segment files: names, ordering and low-level durable file operations.

``assets/scalp/YYYYMMDD_HH.jsonl`` (hour of the trade time, KST) and
``assets/swing/YYYYMMDD.jsonl``. A rotation on request inside the same hour or day starts
a part ``<key>_p<N>.jsonl`` (N >= 1) so a closed segment is never appended to again.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from observer.daemon.clock import KST
from observer.daemon.model import Track

_NAME = re.compile(r"^(\d{8})(?:_(\d{2}))?(?:_p(\d+))?\.jsonl$")


def track_dir(assets_dir: Path, track: Track) -> Path:
    return assets_dir / track.value


def segment_name(key: str, part: int = 0) -> str:
    return f"{key}.jsonl" if part == 0 else f"{key}_p{part}.jsonl"


def parse_name(name: str) -> tuple[str, int] | None:
    """(key, part) of a segment file name, or None when it is not one."""
    m = _NAME.match(name)
    if m is None:
        return None
    key = m.group(1) if m.group(2) is None else f"{m.group(1)}_{m.group(2)}"
    return key, int(m.group(3) or 0)


def segment_files(directory: Path) -> list[Path]:
    """The segment files of one track directory, oldest first (by key, then part)."""
    found: list[tuple[str, int, Path]] = []
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return []
    for p in entries:
        parsed = parse_name(p.name)
        if parsed is not None and p.is_file():
            found.append((parsed[0], parsed[1], p))
    found.sort(key=lambda x: (x[0], x[1]))
    return [p for _, _, p in found]


def segment_start(key: str) -> datetime:
    """When the segment's window starts (KST)."""
    d = datetime(int(key[:4]), int(key[4:6]), int(key[6:8]), tzinfo=KST)
    return d.replace(hour=int(key[9:11])) if len(key) > 8 else d


def segment_end(key: str) -> datetime:
    """When the segment's window ends, i.e. the next scheduled rotation (KST)."""
    return segment_start(key) + (timedelta(hours=1) if len(key) > 8 else timedelta(days=1))


def count_lines(path: Path) -> int:
    """Newlines in a file, read in 1 MiB blocks."""
    n = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            n += block.count(b"\n")
    return n


def fsync_dir(directory: Path) -> None:
    """Make a file creation, rename or removal in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentFile(Protocol):
    """What the writer needs from an open segment (tests inject failing ones)."""

    path: Path

    def write(self, data: memoryview) -> int: ...

    def sync(self) -> None: ...

    def close(self) -> None: ...

    def size(self) -> int: ...


class OsSegmentFile:
    """An append-only file descriptor: ``os.write`` reports partial writes, so nothing
    accepted is ever written twice or skipped after an error such as ENOSPC."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if not existed:
            fsync_dir(path.parent)

    def write(self, data: memoryview) -> int:
        return os.write(self._fd, data)

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)

    def size(self) -> int:
        return os.fstat(self._fd).st_size
