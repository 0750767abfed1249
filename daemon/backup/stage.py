"""The stage: the tree restic snapshots, and the facts of every file in it.

A snapshot holds the tick files (``assets/**``), the event bus (``observer.jsonl``), the
config directory (as ``config/``) and the Parquet datasets (``datasets/**``), plus
Observer's manifest (``.observer-manifest.json``). They are gathered under
``$OBSERVER_DATA_DIR/.observer-backup/stage/`` with the same layout as the data directory:

* closed files (every segment but the newest of its track, every Parquet file) are hard
  links: no bytes are copied, and restic sees the same inode, size and mtime as last time
  (with ``--ignore-ctime``), so it never reads or sends a closed segment twice;
* files still being appended to (the newest segment of each track, the event bus) are
  copied up to their last complete line, so a snapshot never holds a torn line;
* the config directory (often another filesystem, a ConfigMap) is copied.

Copies need free space on the data volume: a copy that would leave less than
OBSERVER_MIN_FREE_MB free is refused before it starts, and a full disk while copying
removes the stage and fails the snapshot; the data files themselves are only ever read.

Facts (sha256, lines, first/last ``ts`` and ``seq``) of a closed file are computed once and
cached by (path, size, mtime, inode) in ``facts.json``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from observer.daemon.backup.errors import SnapshotFailed
from observer.daemon.backup.manifest import EMBEDDED_MANIFEST, FileEntry
from observer.daemon.model import Track
from observer.daemon.segments import complete_length, segment_files, write_atomically

_CHUNK = 1 << 20
_LINES = (".jsonl",)


def state_dir(data_dir: Path) -> Path:
    """Observer's backup bookkeeping on the data volume (never the repository itself)."""
    return data_dir / ".observer-backup"


@dataclass(frozen=True)
class Source:
    """One file for the snapshot: where it is, its name in the snapshot, how to stage it."""

    path: Path
    name: str
    mode: str  # "link" (closed, immutable), "cut" (being appended to), "copy" (other fs)


#: What a backup holds, in words (status shows it; the console's backup dialog says it).
#: Keep it true to :func:`collect_sources`.
CONTENTS = (
    "the tick files (assets/), the Parquet datasets (datasets/), the event bus "
    "(observer.jsonl) and the config directory, as a restic snapshot in the repository off "
    "the data volume; PostgreSQL rows are derived from the tick files and are not in it, "
    "nor are the logs"
)


def collect_sources(data_dir: Path, config_dir: Path) -> list[Source]:
    """What a snapshot holds, in a stable order."""
    out: list[Source] = []
    open_segments = set()
    for track in Track:
        files = segment_files(data_dir, track)
        if files:
            open_segments.add(files[-1])
    for top in ("assets", "datasets"):
        root = data_dir / top
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(data_dir)
            if any(part.startswith(".") for part in rel.parts) or p.name.endswith(".part"):
                continue  # temporaries (.x.tmp, .part) are never part of a snapshot
            if p.is_file() and not p.is_symlink():
                mode = "cut" if p in open_segments else "link"
                out.append(Source(p, rel.as_posix(), mode))
    bus = data_dir / "observer.jsonl"
    if bus.is_file():
        out.append(Source(bus, "observer.jsonl", "cut"))
    if config_dir.is_dir():
        for p in sorted(config_dir.rglob("*")):
            if p.is_file() and not p.is_symlink():
                name = "config/" + p.relative_to(config_dir).as_posix()
                out.append(Source(p, name, "copy"))
    return out


# --- facts -------------------------------------------------------------------------------


class _Facts:
    """Hashes a stream of bytes and, for JSONL, counts lines and keeps the first and last."""

    def __init__(self, lines: bool) -> None:
        self.sha = hashlib.sha256()
        self.size = 0
        self.lines_mode = lines
        self.lines = 0
        self.first = b""
        self._head = b""
        self._tail = b""

    def update(self, b: bytes) -> None:
        self.sha.update(b)
        self.size += len(b)
        if not self.lines_mode:
            return
        self.lines += b.count(b"\n")
        if not self.first and len(self._head) < 65536:
            self._head += b[:65536]
            i = self._head.find(b"\n")
            if i >= 0:
                self.first = self._head[:i]
        self._tail = (self._tail + b[-65536:])[-65536:]

    def entry(self, name: str) -> FileEntry:
        first_ts = first_seq = last_ts = last_seq = None
        if self.lines_mode and self.lines:
            first_ts, first_seq = _ts_seq(self.first)
            t = self._tail.rstrip(b"\n")
            last_ts, last_seq = _ts_seq(t[t.rfind(b"\n") + 1 :])
        return FileEntry(
            path=name,
            bytes=self.size,
            sha256=self.sha.hexdigest(),
            records=self.lines if self.lines_mode else 0,
            first_ts=first_ts or "",
            last_ts=last_ts or "",
            first_seq=first_seq,
            last_seq=last_seq,
        )


def _ts_seq(line: bytes) -> tuple[str | None, int | None]:
    try:
        d = json.loads(line)
    except ValueError:
        return None, None
    if not isinstance(d, dict):
        return None, None
    ts, seq = d.get("ts"), d.get("seq")
    return (
        ts if isinstance(ts, str) else None,
        seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
    )


def _read(f: BinaryIO, length: int) -> Iterator[bytes]:
    left = length
    while left > 0:
        b = f.read(min(_CHUNK, left))
        if not b:
            raise SnapshotFailed(
                f"{f.name} shrank while it was being read (truncated by someone?); try again."
            )
        left -= len(b)
        yield b


def file_facts(path: Path, name: str, length: int | None = None) -> FileEntry:
    """The facts of the first ``length`` bytes (default: all) of ``path``."""
    with open(path, "rb") as f:
        n = os.fstat(f.fileno()).st_size if length is None else length
        facts = _Facts(name.endswith(_LINES))
        for b in _read(f, n):
            facts.update(b)
    return facts.entry(name)


class FactsCache:
    """Facts of closed files by (size, mtime, inode): each closed file is read once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._old: dict[str, Any] = {}
        self._new: dict[str, Any] = {}
        try:
            v = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(v, dict):
                self._old = v
        except (OSError, ValueError):
            pass

    @staticmethod
    def _key(st: os.stat_result) -> list[int]:
        return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]

    def get(self, path: Path, name: str, st: os.stat_result) -> FileEntry:
        hit = self._old.get(name)
        if hit is not None and hit.get("key") == self._key(st):
            entry = FileEntry.from_dict(hit["entry"])
        else:
            entry = file_facts(path, name, st.st_size)
        self._new[name] = {"key": self._key(st), "entry": entry.to_dict()}
        return entry

    def save(self) -> None:
        """Keep the facts of the files seen in this snapshot (forget deleted ones)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(self._new).encode())


# --- building the stage ------------------------------------------------------------------

ProgressFn = Callable[[int, int, str], None]  # files done, bytes done, current file


class Stage:
    """The stage directory of one snapshot; removed by :meth:`remove` whatever happens."""

    def __init__(self, data_dir: Path, min_free_bytes: int) -> None:
        self.data_dir = data_dir
        self.root = state_dir(data_dir) / "stage"
        self.min_free = min_free_bytes
        self.entries: list[FileEntry] = []

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _check_space(self, need: int, what: str) -> None:
        st = os.statvfs(self.data_dir)
        free = st.f_bavail * st.f_frsize
        if free - need < self.min_free:
            raise SnapshotFailed(
                f"not enough free space on the data volume to stage {what} for the snapshot "
                f"({need:,} bytes needed, {free:,} free, OBSERVER_MIN_FREE_MB keeps "
                f"{self.min_free:,}); nothing was changed. Free space or grow the volume."
            )

    def build(self, sources: list[Source], cache: FactsCache, progress: ProgressFn) -> None:
        """Link or copy every source into the stage and record its facts."""
        self.remove()
        self.root.mkdir(parents=True)
        done_bytes = 0
        for i, src in enumerate(sources):
            try:
                entry = self._stage_one(src, cache)
            except FileNotFoundError:
                continue  # deleted since it was listed (retention): not in this snapshot
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise SnapshotFailed(
                        f"the data volume filled up while staging {src.name} for the snapshot "
                        "(only the stage copy was written, and it was removed; the data files "
                        "were not touched). Free space on the data volume and try again."
                    ) from None
                raise
            self.entries.append(entry)
            done_bytes += entry.bytes
            progress(i + 1, done_bytes, src.name)

    def _stage_one(self, src: Source, cache: FactsCache) -> FileEntry:
        target = self.root / src.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.mode == "link":
            st = src.path.stat()
            entry = cache.get(src.path, src.name, st)
            try:
                os.link(src.path, target)
                return entry
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                    raise
            return self._copy(src, target, st.st_size)  # no hard links here: a plain copy
        with open(src.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
        length = complete_length(src.path, size) if src.name.endswith(_LINES) else size
        return self._copy(src, target, length)

    def _copy(self, src: Source, target: Path, length: int) -> FileEntry:
        self._check_space(length, src.name)
        facts = _Facts(src.name.endswith(_LINES))
        with open(src.path, "rb") as f, open(target, "wb") as out:
            for b in _read(f, length):
                facts.update(b)
                out.write(b)
            st = os.fstat(f.fileno())
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        return facts.entry(src.name)

    def write_manifest(self, blob: bytes) -> Path:
        path = self.root / EMBEDDED_MANIFEST
        path.write_bytes(blob)
        return path


def snapshot_targets(stage_root: Path) -> list[str]:
    """What restic is asked to back up: the stage itself, so the snapshot's root is its root."""
    with contextlib.suppress(FileNotFoundError):
        if any(stage_root.iterdir()):
            return ["."]
    return []
