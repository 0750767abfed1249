"""Shell commands: ``observer-daemon backup``, ``verify [SNAPSHOT]``, ``restore SNAPSHOT --into DIR``.

Human-readable output on stdout, the operator message on stderr and a non-zero exit code
(from daemon/errors.py) on failure; never a traceback for a foreseeable condition.
Legacy ``.tar.gz`` archives are accepted by ``verify`` and ``restore`` (by id or path).
"""

from __future__ import annotations

import sys
import time
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
    """Take a snapshot now; print its id, repository, what it added and the manifest sha256."""
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
    print(f"snapshot {m.short_id}", file=out)
    print(f"  repository  {m.repository}", file=out)
    print(f"  files       {len(m.files)} ({_human(m.total_file_bytes)})", file=out)
    print(
        f"  new data    {_human(m.data_added)} (before compression; unchanged files are not sent)",
        file=out,
    )
    print(f"  manifest    sha256 {m.manifest_sha256}", file=out)
    print(
        f"  verified    {'yes' if m.verified_ok else 'NO'} (new files restored and re-hashed)",
        file=out,
    )
    print(f"  took        {m.duration_seconds:.2f} s", file=out)
    return 0


def verify_main(
    cfg: Config, snapshot: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Verify a snapshot (or legacy archive); exit 0 only when everything matches."""
    svc = BackupService(cfg)
    t0 = time.monotonic()
    try:
        r = svc.verify_path_sync(snapshot)
    except ObserverError as e:
        return _fail(e, err)
    took = time.monotonic() - t0
    if r.ok:
        print(
            f"OK {r.id}: {r.files_checked} files, {_human(r.bytes_checked)} restored and "
            f"matching the manifest's sha256 ({took:.1f} s)",
            file=out,
        )
        return 0
    print(f"FAILED {r.id}: {len(r.mismatches)} problem(s)", file=out)
    for m in r.mismatches:
        detail = f" (expected {m.expected_sha256[:12]} {m.expected_bytes} B, got {m.actual_sha256[:12]} {m.actual_bytes} B)"
        print(f"  {m.path}: {m.reason}{detail if m.actual_sha256 else ''}", file=out)
    print(
        f"Do not rely on {r.id}: take a new snapshot (`observer-daemon backup`) or use another one.",
        file=err,
    )
    return IntegrityError.exit_code


def restore_main(
    cfg: Config, snapshot: str, into: Path, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Restore a snapshot (or legacy archive) into the empty directory ``into``, re-hashed."""
    svc = BackupService(cfg)
    t0 = time.monotonic()
    try:
        n = svc.restore_sync(snapshot, into)
    except ObserverError as e:
        return _fail(e, err)
    took = time.monotonic() - t0
    size = sum(p.stat().st_size for p in into.rglob("*") if p.is_file())
    print(
        f"restored {n} files ({_human(size)}) from {snapshot} into {into} in {took:.1f} s; "
        "every file's sha256 matches the manifest",
        file=out,
    )
    return 0
