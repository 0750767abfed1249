"""Progress of a backup, and the legacy archive writer (full ``.tar.gz`` of the volume).

Backups are restic snapshots now (daemon/backup/engine.py). The writer below is the design
they replace; it is kept so that tests can make archives like the ones already on volumes
(which ``verify`` and ``restore`` still read) and ``bench/backup.py`` can measure it as the
baseline. Nothing in the daemon writes archives any more.


Files being appended to (the open hourly segment, the event bus) are cut at their last
newline as measured when the file is reached, so an archive never holds a torn line.
The archive is written to ``<id>.tar.gz.part``, fsynced, renamed and the directory fsynced;
its sha256 is computed while it is written (no second read).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from observer.daemon.backup.manifest import (
    ARCHIVE_SUFFIX,
    EMBEDDED_NAME,
    FileEntry,
    Manifest,
    archives_dir,
    embedded_bytes,
)
from observer.daemon.segments import complete_length, fsync_dir

_CHUNK = 1 << 20
#: Only text files that grow by whole lines are cut at their last newline.
_LINE_SUFFIXES = (".jsonl",)


@dataclass
class Progress:
    """Progress of a backup (a snapshot, or a legacy archive)."""

    phase: str  # scanning | archiving | finalizing | verifying | done
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    current_file: str = ""
    #: restic's own estimate while it uploads (0..100); 0 in the other phases.
    percent: float = 0.0


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class Source:
    """One file to archive: where it is and its name inside the archive."""

    path: Path
    name: str


def collect_sources(data_dir: Path, config_dir: Path) -> list[Source]:
    """assets/**, the event bus and the config directory, in a stable order."""
    out: list[Source] = []
    assets = data_dir / "assets"
    if assets.is_dir():
        for p in sorted(assets.rglob("*")):
            if p.is_file() and not p.is_symlink() and not p.name.endswith(".part"):
                out.append(Source(p, p.relative_to(data_dir).as_posix()))
    bus = data_dir / "observer.jsonl"
    if bus.is_file():
        out.append(Source(bus, "observer.jsonl"))
    if config_dir.is_dir():
        for p in sorted(config_dir.rglob("*")):
            if p.is_file() and not p.is_symlink():
                out.append(Source(p, "config/" + p.relative_to(config_dir).as_posix()))
    return out


def _ts_of(line: bytes) -> str:
    try:
        v = json.loads(line).get("ts", "")
    except (ValueError, AttributeError):
        return ""
    return v if isinstance(v, str) else ""


def _first_last_ts(f: BinaryIO, length: int) -> tuple[str, str]:
    if length == 0:
        return "", ""
    f.seek(0)
    first = f.readline(min(length, 1 << 16))
    start = max(0, length - 65536)
    f.seek(start)
    tail = f.read(length - start).rstrip(b"\n")
    last = tail[tail.rfind(b"\n") + 1 :]
    return _ts_of(first), _ts_of(last)


class _HashingWriter:
    """File-like sink that hashes and counts what passes through to ``raw``."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, b: bytes) -> int:
        self.sha.update(b)
        self.size += len(b)
        return self.raw.write(b)

    def flush(self) -> None:
        self.raw.flush()


class _MemberReader:
    """Reads exactly ``length`` bytes of a file for tarfile, hashing and counting lines."""

    def __init__(self, f: BinaryIO, length: int, on_bytes: Callable[[int], None]) -> None:
        self.f = f
        self.left = length
        self.sha = hashlib.sha256()
        self.lines = 0
        self.on_bytes = on_bytes

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        b = self.f.read(n)
        if len(b) < n:
            raise OSError("file shrank while it was being archived (truncated by someone?)")
        self.left -= len(b)
        self.sha.update(b)
        self.lines += b.count(b"\n")
        self.on_bytes(len(b))
        return b


def write_archive(
    data_dir: Path,
    sources: list[Source],
    manifest: Manifest,
    progress: ProgressFn,
) -> Manifest:
    """Archive ``sources`` into ``backups/archives/<manifest.id>.tar.gz`` and fill ``manifest``."""
    started = time.monotonic()
    sizes: list[int] = []
    for s in sources:
        try:
            sizes.append(s.path.stat().st_size)
        except FileNotFoundError:
            sizes.append(-1)  # vanished (retention); skipped below
    p = Progress("scanning", files_total=len(sources), bytes_total=sum(max(0, x) for x in sizes))
    progress(p)

    out_dir = archives_dir(data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{manifest.id}{ARCHIVE_SUFFIX}"
    part = final.with_name(final.name + ".part")
    manifest.archive = final.relative_to(data_dir).as_posix()
    p.phase = "archiving"

    def advance(n: int) -> None:
        p.bytes_done += n

    try:
        with open(part, "wb") as raw:
            hw = _HashingWriter(raw)
            # mtime=0 keeps the gzip header free of wall-clock noise; compresslevel 5 is a
            # good speed/size balance for JSONL (highly repetitive text).
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=hw, compresslevel=5, mtime=0)
            with gz, tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for src, size in zip(sources, sizes, strict=True):
                    p.current_file = src.name
                    if size >= 0:
                        entry = _add_member(tar, src, size, advance)
                        if entry is not None:
                            manifest.files.append(entry)
                    p.files_done += 1
                    progress(p)
                blob = embedded_bytes(manifest)
                info = tarfile.TarInfo(EMBEDDED_NAME)
                info.size = len(blob)
                info.mtime = int(manifest.created_at)
                info.mode = 0o644
                tar.addfile(info, _BytesReader(blob))
            raw.flush()
            p.phase, p.current_file = "finalizing", ""
            progress(p)
            os.fsync(raw.fileno())
        os.replace(part, final)
        fsync_dir(out_dir)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    manifest.archive_sha256 = hw.sha.hexdigest()
    manifest.archive_bytes = hw.size
    manifest.duration_seconds = time.monotonic() - started
    return manifest


class _BytesReader:
    def __init__(self, b: bytes) -> None:
        self.b = b
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.b) if n < 0 else self.pos + n
        out = self.b[self.pos : end]
        self.pos += len(out)
        return out


def _add_member(
    tar: tarfile.TarFile, src: Source, size: int, advance: Callable[[int], None]
) -> FileEntry | None:
    try:
        f = open(src.path, "rb")  # noqa: SIM115 - closed below; a vanished file is skipped
    except FileNotFoundError:
        return None
    with f:
        is_lines = src.name.endswith(_LINE_SUFFIXES)
        length = complete_length(f, size) if is_lines else size
        first_ts, last_ts = _first_last_ts(f, length) if is_lines else ("", "")
        f.seek(0)
        st = os.fstat(f.fileno())
        info = tarfile.TarInfo(src.name)
        info.size = length
        info.mtime = int(st.st_mtime)
        info.mode = 0o644
        reader = _MemberReader(f, length, advance)
        tar.addfile(info, reader)
        # bytes cut off an open segment still count as "seen" for the progress bar
        advance(size - length)
        return FileEntry(
            path=src.name,
            bytes=length,
            sha256=reader.sha.hexdigest(),
            records=reader.lines if is_lines else 0,
            first_ts=first_ts,
            last_ts=last_ts,
        )
