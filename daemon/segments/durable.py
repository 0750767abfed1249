"""Durable file operations shared by everything that writes under the data directory.

A file creation, rename or removal is durable only once its directory is fsynced; a file
being appended to is read only up to its last newline (complete lines).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Protocol

_BLOCK = 1 << 16


def fsync_dir(directory: Path) -> None:
    """Make a file creation, rename or removal in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through ``<path>.part``: fsync, rename, fsync the folder.

    A crash leaves the old file or the new one, never a mix.
    """
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(part, path)
    fsync_dir(path.parent)


def _complete(f: BinaryIO, end: int) -> int:
    pos = end
    while pos > 0:
        step = min(_BLOCK, pos)
        f.seek(pos - step)
        i = f.read(step).rfind(b"\n")
        if i >= 0:
            return pos - step + i + 1
        pos -= step
    return 0


def complete_length(source: Path | BinaryIO, size: int | None = None) -> int:
    """Bytes up to and including the last newline (within the first ``size`` bytes, or
    the whole file): the complete lines of a file that may be being appended to."""
    if isinstance(source, Path):
        with open(source, "rb") as f:
            return _complete(f, os.fstat(f.fileno()).st_size if size is None else size)
    return _complete(source, os.fstat(source.fileno()).st_size if size is None else size)


def count_lines(path: Path) -> int:
    """Newlines in a file, read in 1 MiB blocks."""
    n = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            n += block.count(b"\n")
    return n


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
