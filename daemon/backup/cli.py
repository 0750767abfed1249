"""Shell commands: ``observer-daemon backup``, ``verify ARCHIVE``, ``restore ARCHIVE --into DIR``.

Human-readable output on stdout, the operator message on stderr and a non-zero exit code
(from daemon/errors.py) on failure; never a traceback for a foreseeable condition.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from observer.daemon.backup.archive import Progress
from observer.daemon.backup.service import BackupService
from observer.daemon.config import Config
from observer.daemon.errors import IntegrityError, ObserverError


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _fail(e: ObserverError, err: TextIO) -> int:
    print(f"error: {e}", file=err)
    return e.exit_code


def backup_main(cfg: Config, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Take a backup now and print its id, archive, size and checksum."""
    svc = BackupService(cfg)
    last = [""]

    def show(p: Progress) -> None:
        if p.phase != last[0]:
            last[0] = p.phase
            print(f"{p.phase}: {p.files_total} files, {_human(p.bytes_total)}", file=out)

    try:
        m = svc.run_sync(show)
    except ObserverError as e:
        return _fail(e, err)
    print(f"backup {m.id}", file=out)
    print(f"  archive  {cfg.data_dir / m.archive}", file=out)
    print(f"  files    {len(m.files)} ({_human(m.total_file_bytes)} before compression)", file=out)
    print(f"  size     {_human(m.archive_bytes)}", file=out)
    print(f"  sha256   {m.archive_sha256}", file=out)
    print(f"  took     {m.duration_seconds:.2f} s", file=out)
    return 0


def verify_main(
    cfg: Config, archive: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Verify an archive (path or backup id); exit 0 only when everything matches."""
    svc = BackupService(cfg)
    try:
        r = svc.verify_path_sync(archive)
    except ObserverError as e:
        return _fail(e, err)
    if r.ok:
        print(
            f"OK {archive}: {r.files_checked} files, {_human(r.bytes_checked)} match the manifest",
            file=out,
        )
        return 0
    print(f"FAILED {archive}: {len(r.mismatches)} problem(s)", file=out)
    for m in r.mismatches:
        detail = (
            f" (expected {m.expected_sha256[:12]} {m.expected_bytes} B" if m.expected_sha256 else ""
        )
        if detail and m.actual_sha256:
            detail += f", got {m.actual_sha256[:12]} {m.actual_bytes} B"
        print(f"  {m.path}: {m.reason}{detail + ')' if detail else ''}", file=out)
    print("Do not rely on this archive; take a new backup or use another one.", file=err)
    return IntegrityError.exit_code


def restore_main(
    cfg: Config, archive: str, into: Path, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Verify, then restore an archive into the empty directory ``into``."""
    svc = BackupService(cfg)
    try:
        n = svc.restore_sync(archive, into)
    except ObserverError as e:
        return _fail(e, err)
    print(f"restored {n} files from {archive} into {into} (verified first)", file=out)
    return 0
