"""Backup manifests: what an archive holds, how to check it, and whether it was verified.

One JSON file per backup in ``$OBSERVER_DATA_DIR/backups/manifests/<id>.json``; the
archive is ``backups/archives/<id>.tar.gz``. The archive also carries its member list
(without the archive's own checksum) as its last member, so a copied archive can be
checked member by member even without the manifest file.

Retention (daemon/stores/retention.py) reads these through :func:`load_manifests`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from observer.daemon.clock import iso, to_kst
from observer.daemon.errors import InvalidRequest, NotFound
from observer.daemon.segments import write_atomically

FORMAT = 1
ARCHIVE_SUFFIX = ".tar.gz"
#: Name of the member list stored inside every archive (restore skips it).
EMBEDDED_NAME = ".observer-backup.json"

_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$")


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


@dataclass
class FileEntry:
    """One archived file."""

    path: str  # relative, e.g. assets/scalp/20261120_09.jsonl or config/universe.csv
    bytes: int
    sha256: str
    records: int = 0
    first_ts: str = ""
    last_ts: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "records": self.records,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileEntry:
        return cls(
            path=str(d["path"]),
            bytes=int(d["bytes"]),
            sha256=str(d["sha256"]),
            records=int(d.get("records", 0)),
            first_ts=str(d.get("first_ts", "")),
            last_ts=str(d.get("last_ts", "")),
        )


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


def load_manifests(data_dir: Path) -> list[Manifest]:
    """Every readable manifest, newest first. Unreadable ones are skipped (verify reports them)."""
    out: list[Manifest] = []
    d = manifests_dir(data_dir)
    if not d.is_dir():
        return out
    for p in d.glob("*.json"):
        try:
            out.append(Manifest.from_dict(json.loads(p.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    out.sort(key=lambda m: (m.created_at, m.id), reverse=True)
    return out
