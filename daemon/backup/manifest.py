"""Backup manifests: what a snapshot (or a legacy archive) holds, and whether it was verified.

A snapshot's manifest is Observer's own record of it: per file the sha256, size, line
count, first/last ``ts`` and ``seq``, and per track and trade date the first and last
``seq``. Its canonical bytes are stored inside the snapshot as ``.observer-manifest.json``
(so a repository alone is enough to check a restore) and their sha256 is the manifest's
checksum. A copy with the snapshot id and the verification state is kept in
``$OBSERVER_DATA_DIR/.observer-backup/snapshots/<snapshot id>.json``.

Legacy ``.tar.gz`` archives (before snapshots) keep their manifests in
``$OBSERVER_DATA_DIR/backups/manifests/<id>.json`` and stay readable (verify, restore).

Retention (daemon/stores/retention.py) reads both through :func:`load_snapshots` and
:func:`load_manifests`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from observer.daemon.clock import iso, to_kst
from observer.daemon.errors import InvalidRequest, NotFound
from observer.daemon.segments import parse_name, write_atomically

FORMAT = 1
SNAPSHOT_FORMAT = 2
ARCHIVE_SUFFIX = ".tar.gz"
#: Name of the member list stored inside every legacy archive (restore skips it).
EMBEDDED_NAME = ".observer-backup.json"
#: Name of Observer's manifest at the root of every snapshot.
EMBEDDED_MANIFEST = ".observer-manifest.json"

_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$")
_SNAPSHOT_ID = re.compile(r"^[0-9a-f]{8,64}$")


def backups_dir(data_dir: Path) -> Path:
    return data_dir / "backups"


def archives_dir(data_dir: Path) -> Path:
    return backups_dir(data_dir) / "archives"


def manifests_dir(data_dir: Path) -> Path:
    return backups_dir(data_dir) / "manifests"


def check_id(backup_id: str) -> str:
    """``backup_id`` if it is a well-formed id; InvalidRequest otherwise.

    Ids are never paths: anything with a slash, ``..`` or a leading ``/`` is refused
    before it can name a file outside the backup directory.
    """
    if not _ID.fullmatch(backup_id):
        shown = backup_id if len(backup_id) <= 64 else backup_id[:64] + "..."
        raise InvalidRequest(
            f"backup id {shown!r} is not valid: ids look like 20261120-160000-1a2b "
            "(see ListBackups or `observer-daemon backup` output); paths are not accepted."
        )
    return backup_id


def check_snapshot_id(snapshot_id: str) -> str:
    """``snapshot_id`` if it looks like a restic snapshot id (8 to 64 hex digits)."""
    if not _SNAPSHOT_ID.fullmatch(snapshot_id):
        shown = snapshot_id if len(snapshot_id) <= 64 else snapshot_id[:64] + "..."
        raise InvalidRequest(
            f"snapshot id {shown!r} is not valid: snapshot ids are 8 or more hex digits, as "
            "printed by `observer-daemon backup` and ListBackups."
        )
    return snapshot_id


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


@dataclass
class FileEntry:
    """One file of a snapshot or archive."""

    path: str  # relative, e.g. assets/scalp/20261120_09.jsonl or config/universe.csv
    bytes: int
    sha256: str
    records: int = 0
    first_ts: str = ""
    last_ts: str = ""
    first_seq: int | None = None
    last_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "path": self.path,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "records": self.records,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
        }
        if self.first_seq is not None or self.last_seq is not None:
            d["first_seq"], d["last_seq"] = self.first_seq, self.last_seq
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileEntry:
        return cls(
            path=str(d["path"]),
            bytes=int(d["bytes"]),
            sha256=str(d["sha256"]),
            records=int(d.get("records", 0)),
            first_ts=str(d.get("first_ts", "")),
            last_ts=str(d.get("last_ts", "")),
            first_seq=_opt_int(d.get("first_seq")),
            last_seq=_opt_int(d.get("last_seq")),
        )


@dataclass
class SeqRange:
    """First and last ``seq`` of one track and trade date across a snapshot's segments."""

    track: str
    trade_date: str  # YYYY-MM-DD
    first_seq: int
    last_seq: int
    files: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "track": self.track,
            "trade_date": self.trade_date,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "files": self.files,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeqRange:
        return cls(
            str(d["track"]),
            str(d["trade_date"]),
            int(d["first_seq"]),
            int(d["last_seq"]),
            int(d.get("files", 0)),
        )


def seq_ranges(files: list[FileEntry]) -> list[SeqRange]:
    """Per track and trade date (from the segment names), the first and last seq."""
    acc: dict[tuple[str, str], SeqRange] = {}
    for f in files:
        parts = f.path.split("/")
        if len(parts) != 3 or parts[0] != "assets" or f.first_seq is None or f.last_seq is None:
            continue
        parsed = parse_name(parts[2])
        if parsed is None:
            continue
        key = (parts[1], parsed.iso_date)
        r = acc.get(key)
        if r is None:
            acc[key] = SeqRange(parts[1], parsed.iso_date, f.first_seq, f.last_seq, 1)
        else:
            r.first_seq = min(r.first_seq, f.first_seq)
            r.last_seq = max(r.last_seq, f.last_seq)
            r.files += 1
    return [acc[k] for k in sorted(acc)]


@dataclass
class Manifest:
    id: str
    created_at: float  # POSIX seconds
    daemon_version: str
    archive: str  # relative to the data directory
    archive_bytes: int = 0
    archive_sha256: str = ""
    duration_seconds: float = 0.0
    files: list[FileEntry] = field(default_factory=list)
    verified_at: float | None = None
    verified_ok: bool | None = None  # None: never verified
    mismatches: int = 0
    #: restic snapshot id (full); empty for a legacy archive.
    snapshot_id: str = ""
    #: Repository the snapshot is in (display form, no credentials).
    repository: str = ""
    #: sha256 of the manifest's bytes stored inside the snapshot.
    manifest_sha256: str = ""
    #: Bytes the snapshot added to the repository (after deduplication and compression).
    data_added: int = 0
    ranges: list[SeqRange] = field(default_factory=list)
    #: Paths whose content was restored from the repository and matched its sha256
    #: (at birth: the new files; unchanged files carry their earlier proof).
    verified_files: list[str] = field(default_factory=list)

    @property
    def is_snapshot(self) -> bool:
        return bool(self.snapshot_id)

    @property
    def short_id(self) -> str:
        return self.snapshot_id[:8] if self.snapshot_id else self.id

    @property
    def total_file_bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def archive_path(self, data_dir: Path) -> Path:
        return data_dir / self.archive

    def covers(self, rel_path: str, size: int) -> bool:
        """True when this backup holds ``rel_path`` with at least ``size`` bytes."""
        return any(f.path == rel_path and f.bytes >= size for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "created_at": iso(to_kst(self.created_at)),
            "created_at_unix": self.created_at,
            "daemon_version": self.daemon_version,
            "archive": self.archive,
            "archive_bytes": self.archive_bytes,
            "archive_sha256": self.archive_sha256,
            "duration_seconds": self.duration_seconds,
            "files": [f.to_dict() for f in self.files],
            "verification": {
                "verified_at": None if self.verified_at is None else iso(to_kst(self.verified_at)),
                "verified_at_unix": self.verified_at,
                "ok": self.verified_ok,
                "mismatches": self.mismatches,
            },
            "snapshot_id": self.snapshot_id,
            "repository": self.repository,
            "manifest_sha256": self.manifest_sha256,
            "data_added": self.data_added,
            "ranges": [r.to_dict() for r in self.ranges],
            "verified_files": self.verified_files,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        ver = d.get("verification") or {}
        return cls(
            id=str(d["id"]),
            created_at=float(d["created_at_unix"]),
            daemon_version=str(d.get("daemon_version", "")),
            archive=str(d["archive"]),
            archive_bytes=int(d.get("archive_bytes", 0)),
            archive_sha256=str(d.get("archive_sha256", "")),
            duration_seconds=float(d.get("duration_seconds", 0.0)),
            files=[FileEntry.from_dict(f) for f in d.get("files", [])],
            verified_at=ver.get("verified_at_unix"),
            verified_ok=ver.get("ok"),
            mismatches=int(ver.get("mismatches", 0)),
            snapshot_id=str(d.get("snapshot_id", "")),
            repository=str(d.get("repository", "")),
            manifest_sha256=str(d.get("manifest_sha256", "")),
            data_added=int(d.get("data_added", 0)),
            ranges=[SeqRange.from_dict(r) for r in d.get("ranges", [])],
            verified_files=[str(x) for x in d.get("verified_files", [])],
        )


def embedded_bytes(m: Manifest) -> bytes:
    """The member list stored inside the archive (no archive checksum: it cannot know it)."""
    d = {
        "format": FORMAT,
        "id": m.id,
        "created_at_unix": m.created_at,
        "daemon_version": m.daemon_version,
        "files": [f.to_dict() for f in m.files],
    }
    return json.dumps(d, ensure_ascii=False, indent=1).encode()


def save_manifest(data_dir: Path, m: Manifest) -> Path:
    d = manifests_dir(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{m.id}.json"
    write_atomically(path, json.dumps(m.to_dict(), ensure_ascii=False, indent=1).encode())
    return path


def load_manifest(data_dir: Path, backup_id: str) -> Manifest:
    """The manifest of ``backup_id`` (InvalidRequest for a bad id, NotFound when absent)."""
    path = manifests_dir(data_dir) / f"{check_id(backup_id)}.json"
    try:
        return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise NotFound(
            f"backup {backup_id} does not exist in {manifests_dir(data_dir)}; "
            "list the available ones with ListBackups."
        ) from None


def _load_all(folder: Path) -> list[Manifest]:
    """Every readable manifest in ``folder``, newest first (unreadable ones are skipped)."""
    out: list[Manifest] = []
    if not folder.is_dir():
        return out
    for p in folder.glob("*.json"):
        try:
            out.append(Manifest.from_dict(json.loads(p.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    out.sort(key=lambda m: (m.created_at, m.snapshot_id or m.id), reverse=True)
    return out


def load_manifests(data_dir: Path) -> list[Manifest]:
    """Every readable legacy archive manifest, newest first (verify reports the others)."""
    return _load_all(manifests_dir(data_dir))


# --- snapshots -----------------------------------------------------------------------------


def snapshot_manifest_bytes(m: Manifest) -> bytes:
    """The canonical manifest stored inside a snapshot (it cannot know the snapshot id)."""
    d = {
        "format": SNAPSHOT_FORMAT,
        "id": m.id,
        "created_at": iso(to_kst(m.created_at)),
        "created_at_unix": m.created_at,
        "daemon_version": m.daemon_version,
        "files": [f.to_dict() for f in m.files],
        "ranges": [r.to_dict() for r in m.ranges],
    }
    return json.dumps(d, ensure_ascii=False, indent=1, sort_keys=True).encode()


def parse_snapshot_manifest(blob: bytes) -> Manifest:
    """A manifest read back from a snapshot (ValueError when it is not one)."""
    d = json.loads(blob)
    if not isinstance(d, dict) or d.get("format") != SNAPSHOT_FORMAT:
        raise ValueError("not an Observer snapshot manifest")
    return Manifest(
        id=str(d["id"]),
        created_at=float(d["created_at_unix"]),
        daemon_version=str(d.get("daemon_version", "")),
        archive="",
        files=[FileEntry.from_dict(f) for f in d.get("files", [])],
        ranges=[SeqRange.from_dict(r) for r in d.get("ranges", [])],
    )


def snapshots_dir(state: Path) -> Path:
    return state / "snapshots"


def save_snapshot(state: Path, m: Manifest) -> Path:
    d = snapshots_dir(state)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{m.snapshot_id}.json"
    write_atomically(path, json.dumps(m.to_dict(), ensure_ascii=False).encode())
    return path


def load_snapshots(state: Path) -> list[Manifest]:
    """Every snapshot recorded locally, newest first (unreadable records are skipped)."""
    return _load_all(snapshots_dir(state))


def drop_snapshot(state: Path, snapshot_id: str) -> None:
    (snapshots_dir(state) / f"{snapshot_id}.json").unlink(missing_ok=True)


def find_snapshot(state: Path, snapshot_id: str) -> Manifest | None:
    """The local record of a snapshot named by its full or short id."""
    check_snapshot_id(snapshot_id)
    for m in load_snapshots(state):
        if m.snapshot_id.startswith(snapshot_id):
            return m
    return None
