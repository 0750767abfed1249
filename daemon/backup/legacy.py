"""Legacy ``.tar.gz`` backups (before snapshots): still listed, verified and restored.

Archives written by earlier versions sit in ``$OBSERVER_DATA_DIR/backups/archives/`` with
their manifests in ``backups/manifests/``. They are not imported into the repository:
``observer-daemon verify`` and ``restore`` read them as before (by backup id such as
``20261120-160000-1a2b`` or by the path of a ``.tar.gz`` file, with or without its
manifest), and retention deletes one only once a verified snapshot off the volume holds
every file in it with the same sha256.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from observer.daemon.backup.manifest import (
    ARCHIVE_SUFFIX,
    Manifest,
    load_manifest,
    load_manifests,
    manifests_dir,
    save_manifest,
)
from observer.daemon.backup.verify import (
    VerifyResult,
    read_embedded,
    restore_archive,
    verify_archive,
)
from observer.daemon.errors import InvalidRequest, ObserverError

_LEGACY_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$")


class LegacyArchives:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    @staticmethod
    def is_legacy(name: str) -> bool:
        """True for a legacy backup id or a path to a ``.tar.gz`` archive."""
        return bool(_LEGACY_ID.fullmatch(name)) or name.endswith(ARCHIVE_SUFFIX)

    def list(self) -> list[Manifest]:
        return load_manifests(self.data_dir)

    def get(self, backup_id: str) -> Manifest:
        return load_manifest(self.data_dir, backup_id)

    def resolve(self, archive: str) -> tuple[Path, Manifest | None]:
        """An archive named by id or by path, with its manifest when one is found."""
        if not archive.endswith(ARCHIVE_SUFFIX) and "/" not in archive:
            m = load_manifest(self.data_dir, archive)
            return m.archive_path(self.data_dir), m
        p = Path(archive)
        if not p.is_file():
            raise InvalidRequest(
                f"archive {archive} does not exist; give an existing .tar.gz file, a legacy "
                "backup id or a snapshot id."
            )
        backup_id = p.name.removesuffix(ARCHIVE_SUFFIX)
        for cand in (p.parent.parent / "manifests", manifests_dir(self.data_dir)):
            if (cand / f"{backup_id}.json").is_file():
                with contextlib.suppress(ObserverError):
                    return p, load_manifest(cand.parent.parent, backup_id)
        return p, None

    def verify(self, archive: str) -> VerifyResult:
        """Re-hash an archive against its manifest (or its embedded member list)."""
        path, m = self.resolve(archive)
        if m is not None:
            result = verify_archive(path, m, m.files)
            if path == m.archive_path(self.data_dir):
                m.verified_at, m.verified_ok = result.verified_at, result.ok
                m.mismatches = len(result.mismatches)
                save_manifest(self.data_dir, m)
            return result
        return verify_archive(path, None, read_embedded(path) or [])

    def restore(self, archive: str, into: Path) -> int:
        path, m = self.resolve(archive)
        files = m.files if m is not None else (read_embedded(path) or [])
        return restore_archive(path, files, m, into)
