"""Verifying and restoring backup archives.

Verification re-hashes the archive file against the manifest's checksum and every member
against its recorded sha256 and size. Restore verifies first, then refuses any member that
could land outside the target (absolute paths, ``..``, links, devices) before writing one
byte, and writes only regular files into an empty target directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from observer.daemon.backup.manifest import EMBEDDED_NAME, FileEntry, Manifest
from observer.daemon.errors import IntegrityError, InvalidRequest

_CHUNK = 1 << 20


@dataclass
class Mismatch:
    path: str
    reason: str
    expected_sha256: str = ""
    actual_sha256: str = ""
    expected_bytes: int = 0
    actual_bytes: int = 0


@dataclass
class VerifyResult:
    id: str
    ok: bool
    mismatches: list[Mismatch] = field(default_factory=list)
    verified_at: float = field(default_factory=time.time)
    files_checked: int = 0
    bytes_checked: int = 0


def sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while b := f.read(_CHUNK):
            h.update(b)
            n += len(b)
    return h.hexdigest(), n


def compression_problem(path: Path) -> str:
    """Why the gzip stream of ``path`` does not inflate to its end ("" when it does): a
    corrupted archive then says so, instead of the odd members its damaged bytes decode to."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing, CRC checked at the end
    try:
        with open(path, "rb") as f:
            while b := f.read(_CHUNK):
                if inflate.eof:
                    return "data after the end of the compressed stream"
                while b:
                    inflate.decompress(b, _CHUNK)
                    b = inflate.unconsumed_tail
    except zlib.error as e:
        return f"invalid compressed data ({str(e).removeprefix('Error -3 while decompressing data: ')})"
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if inflate.unused_data:
        return "data after the end of the compressed stream"
    return "" if inflate.eof else "the compressed stream is cut short (truncated archive)"


def unsafe_reason(member: tarfile.TarInfo) -> str:
    """Why ``member`` must not be restored, or "" when it is a plain file or directory."""
    name = member.name
    pure = PurePosixPath(name)
    if name.startswith(("/", "\\")) or pure.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in pure.parts or "\\" in name:
        return "path escapes the target ('..' or backslash)"
    if member.issym() or member.islnk():
        return f"link to {member.linkname!r}"
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        return "device or fifo"
    if not (member.isfile() or member.isdir()):
        return "not a regular file"
    return ""


def read_embedded(archive: Path) -> list[FileEntry] | None:
    """The member list stored inside ``archive`` (None when absent or unreadable)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for m in tar:
                if m.name == EMBEDDED_NAME and m.isfile():
                    f = tar.extractfile(m)
                    if f is None:
                        return None
                    d = json.loads(f.read())
                    return [FileEntry.from_dict(x) for x in d["files"]]
    except (OSError, tarfile.TarError, ValueError, KeyError, EOFError):
        return None
    return None


def verify_archive(
    archive: Path, manifest: Manifest | None, files: list[FileEntry]
) -> VerifyResult:
    """Check ``archive`` against ``files`` (and the manifest's archive checksum when given)."""
    result = VerifyResult(id=manifest.id if manifest else archive.name, ok=False)
    mm = result.mismatches
    if not archive.is_file():
        mm.append(Mismatch(str(archive), "archive missing"))
        return result
    if manifest is not None:
        digest, size = sha256_file(archive)
        if digest != manifest.archive_sha256 or size != manifest.archive_bytes:
            mm.append(
                Mismatch(
                    manifest.archive,
                    "archive sha256 differs"
                    if digest != manifest.archive_sha256
                    else "archive size differs",
                    manifest.archive_sha256,
                    digest,
                    manifest.archive_bytes,
                    size,
                )
            )
    expected = {f.path: f for f in files}
    broken = compression_problem(archive)
    if broken:
        mm.append(Mismatch(str(archive), f"archive unreadable: {broken}"))
        mm.extend(
            Mismatch(path, "not checked: the archive is unreadable", f.sha256,
                     expected_bytes=f.bytes)
            for path, f in sorted(expected.items())
        )  # fmt: skip
        return result
    seen: set[str] = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for m in tar:
                if m.name == EMBEDDED_NAME:
                    continue
                why = unsafe_reason(m)
                if why:
                    mm.append(Mismatch(m.name, f"unsafe member: {why}"))
                    continue
                if m.isdir():
                    continue
                want = expected.get(m.name)
                if want is None:
                    mm.append(Mismatch(m.name, "not in manifest", actual_bytes=m.size))
                    continue
                seen.add(m.name)
                f = tar.extractfile(m)
                h = hashlib.sha256()
                n = 0
                if f is not None:
                    while b := f.read(_CHUNK):
                        h.update(b)
                        n += len(b)
                result.files_checked += 1
                result.bytes_checked += n
                if h.hexdigest() != want.sha256 or n != want.bytes:
                    mm.append(
                        Mismatch(
                            m.name,
                            "sha256 differs" if n == want.bytes else "size differs",
                            want.sha256,
                            h.hexdigest(),
                            want.bytes,
                            n,
                        )
                    )
    except (OSError, tarfile.TarError, EOFError, ValueError) as e:
        mm.append(Mismatch(str(archive), f"archive unreadable: {e}"))
    for path in sorted(set(expected) - seen):
        if not any(x.path == path for x in mm):
            mm.append(
                Mismatch(
                    path,
                    "missing from archive",
                    expected[path].sha256,
                    expected_bytes=expected[path].bytes,
                )
            )
    result.ok = not mm
    return result


def _safe_members(archive: Path) -> list[tarfile.TarInfo]:
    """Every member, or IntegrityError naming the first one that is unsafe to restore."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
    except (OSError, tarfile.TarError, EOFError) as e:
        raise IntegrityError(
            f"cannot read archive {archive}: {e}; it is damaged or not a backup."
        ) from None
    for m in members:
        why = unsafe_reason(m)
        if why:
            raise IntegrityError(
                f"refusing to restore {archive}: member {m.name!r} is unsafe ({why}). "
                "Observer archives never contain such entries; this file was not written by "
                "observer-daemon backup or has been tampered with."
            )
    return members


def restore_archive(
    archive: Path, files: list[FileEntry], manifest: Manifest | None, into: Path
) -> int:
    """Verify ``archive``, then extract its files into the empty directory ``into``.

    Returns the number of files written.
    """
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        # Checked first: a wrong target is a usage error, known before reading the archive.
        raise InvalidRequest(
            f"restore target {into} exists and is not an empty directory; restore into a new "
            "directory and move files into place once checked."
        )
    _safe_members(archive)
    result = verify_archive(archive, manifest, files)
    if not result.ok:
        first = result.mismatches[0]
        raise IntegrityError(
            f"refusing to restore {archive}: verification failed ({len(result.mismatches)} "
            f"problem(s), first: {first.path}: {first.reason}). Use another backup."
        )
    into.mkdir(parents=True, exist_ok=True)
    root = into.resolve()
    written = 0
    with tarfile.open(archive, "r:gz") as tar:
        for m in tar:
            if m.name == EMBEDDED_NAME or m.isdir():
                continue
            target = (root / m.name).resolve()
            if not target.is_relative_to(root):  # belt and braces after unsafe_reason
                raise IntegrityError(f"member {m.name!r} resolves outside {root}; refusing.")
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out:
                if src is not None:
                    while b := src.read(_CHUNK):
                        out.write(b)
                out.flush()
                os.fsync(out.fileno())
            os.utime(target, (m.mtime, m.mtime))
            written += 1
    return written
