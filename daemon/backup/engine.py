"""The snapshot engine: one repository, one data volume, one operation at a time.

``Engine.snapshot`` stages the files (daemon/backup/stage.py), writes Observer's manifest
into the stage, runs ``restic backup`` on it, and only when restic reports the snapshot id
records it locally and verifies it: the files new since the parent snapshot are restored
to scratch space and compared with the manifest's sha256 (unchanged files keep their
earlier proof: same path, same sha256, same deduplicated blobs). A restic that fails,
stalls or is killed leaves no snapshot and nothing is recorded as a backup.

Locks: a flock on ``.observer-backup/lock`` keeps our own commands one at a time across
processes; a lock restic left in the repository after a kill -9 is removed when restic
itself finds it stale (``restic unlock``) or when its (host, pid) is a restic we started
that is gone (``unlock --remove-all`` only when every lock in the repository is ours).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from observer.daemon import __version__
from observer.daemon.backup.archive import Progress, ProgressFn
from observer.daemon.backup.errors import RepositoryLocked, SnapshotFailed
from observer.daemon.backup.manifest import (
    EMBEDDED_MANIFEST,
    Manifest,
    check_snapshot_id,
    drop_snapshot,
    find_snapshot,
    load_snapshots,
    save_snapshot,
    seq_ranges,
    snapshot_manifest_bytes,
)
from observer.daemon.backup.repository import Repository, on_same_volume, resolve
from observer.daemon.backup.restic import Restic, Result
from observer.daemon.backup.stage import FactsCache, Stage, collect_sources, state_dir
from observer.daemon.backup.verify import Mismatch, VerifyResult
from observer.daemon.clock import to_kst
from observer.daemon.config import Config
from observer.daemon.errors import Busy, IntegrityError, Precondition

log = logging.getLogger("observer.backup")

#: Host and tag of every snapshot we take (pod names change at every restart; these don't).
HOST = "observer"
TAG = "observer"

T = TypeVar("T")


def new_id(now: float) -> str:
    return to_kst(now).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """One backup command at a time on this data volume (Busy when another holds it)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(
                "a backup, verify or restore is already running on this data volume "
                f"({lock_path} is held); wait for it to finish and check ListBackups."
            ) from None
        yield
    finally:
        os.close(fd)


def _glob_escape(path: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in path)


def sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
            n += len(b)
    return h.hexdigest(), n


class Engine:
    """restic snapshots of one data volume in the repository the settings name."""

    def __init__(self, cfg: Config, repository: Repository | None = None) -> None:
        self.cfg = cfg
        self.data_dir = cfg.data_dir
        self.state = state_dir(cfg.data_dir)
        self.repository = repository or resolve(cfg)
        self.restic = Restic(
            self.repository, self.state, stall_seconds=float(cfg.backup_stall_seconds)
        )
        self.scratch = cfg.backup_scratch_dir

    # --- repository ----------------------------------------------------------------------
    @property
    def off_volume(self) -> bool:
        """False when a local repository sits on the data volume's filesystem."""
        return not on_same_volume(self.repository, self.data_dir)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return exclusive(self.state / "lock")

    def ensure_repository(self) -> None:
        """Initialise the repository the first time (restic init), else check it opens."""
        marker = self.state / "repository.json"
        with contextlib.suppress(OSError, ValueError):
            if json.loads(marker.read_text())["location"] == self.repository.display:
                return
        r = self.restic.run(["cat", "config", "--no-lock"], keep_stdout=True)
        if r.rc != 0:
            if not self.restic.is_missing_repository(r):
                raise self.restic.failure("opening the backup repository", r)
            log.info("initialising the backup repository %s", self.repository.display)
            if self.repository.path is not None:
                self.repository.path.parent.mkdir(parents=True, exist_ok=True)
            self.restic.check_ok(
                "initialising the backup repository",
                self.restic.run(["init", "--repository-version", "2"]),
            )
        self.state.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"location": self.repository.display}))

    def unlocked(self, what: str, fn: Callable[[], Result]) -> Result:
        """Run ``fn``; when the repository is locked, remove stale locks of ours and retry."""
        r = fn()
        if r.rc == 0:
            return r
        err = self.restic.failure(what, r)
        if not isinstance(err, RepositoryLocked):
            return r
        self.restic.run(["unlock"])  # restic's own rule: dead pid on this host, or > 30 min
        r = fn()
        if r.rc == 0 or not isinstance(self.restic.failure(what, r), RepositoryLocked):
            return r
        if self._all_locks_ours():
            log.warning("removing restic locks left by our own killed processes")
            self.restic.run(["unlock", "--remove-all"])
            r = fn()
        return r

    def _all_locks_ours(self) -> bool:
        ids = self.restic.run(["list", "locks", "--no-lock"])
        if ids.rc != 0:
            return False
        found = [x.strip() for x in ids.stdout if x.strip()]
        for lock_id in found:
            c = self.restic.run(["cat", "lock", lock_id, "--no-lock"])
            try:
                d = c.json_value()
                host, pid = str(d["hostname"]), int(d["pid"])
            except (ValueError, KeyError, TypeError):
                return False
            if not self.restic.children.owns(host, pid):
                return False
        return bool(found)

    # --- snapshot ------------------------------------------------------------------------
    def snapshot(self, progress: ProgressFn, now: float | None = None) -> Manifest:
        """Take one snapshot; returns its manifest, recorded and verified."""
        created = time.time() if now is None else now
        started = time.monotonic()
        self.ensure_repository()
        m = Manifest(id=new_id(created), created_at=created, daemon_version=__version__, archive="")
        stage = Stage(self.data_dir, self.cfg.min_free_mb << 20)
        try:
            sources = collect_sources(self.data_dir, self.cfg.config_dir)
            p = Progress("scanning", files_total=len(sources))
            progress(p)
            cache = FactsCache(self.state / "facts.json")

            def staged(files: int, nbytes: int, name: str) -> None:
                p.files_done, p.bytes_done, p.current_file = files, nbytes, name
                if files % 50 == 0 or files == p.files_total:
                    progress(p)

            stage.build(sources, cache, staged)
            m.files = stage.entries
            m.ranges = seq_ranges(m.files)
            blob = snapshot_manifest_bytes(m)
            m.manifest_sha256 = hashlib.sha256(blob).hexdigest()
            stage.write_manifest(blob)
            parent = self._parent()
            summary = self._backup(stage, parent, m, progress)
            cache.save()
        finally:
            stage.remove()
        m.snapshot_id = str(summary["snapshot_id"])
        m.id = m.short_id  # what ListBackups, VerifyBackup and the CLI call it from now on
        m.repository = self.repository.display
        m.data_added = int(summary.get("data_added", 0))
        m.archive = f"{self.repository.display}#{m.snapshot_id}"
        m.archive_bytes = m.data_added
        m.archive_sha256 = m.manifest_sha256
        save_snapshot(self.state, m)
        self._verify_new(m, parent, progress)
        m.duration_seconds = time.monotonic() - started
        save_snapshot(self.state, m)
        return m

    def _parent(self) -> Manifest | None:
        for m in load_snapshots(self.state):
            if m.repository == self.repository.display:
                return m
        return None

    def _backup(
        self, stage: Stage, parent: Manifest | None, m: Manifest, progress: ProgressFn
    ) -> dict[str, Any]:
        total_files = len(m.files) + 1
        total_bytes = sum(f.bytes for f in m.files)
        p = Progress("archiving", 0, total_files, 0, total_bytes)
        progress(p)
        found: dict[str, Any] = {}

        def on_json(d: dict[str, Any]) -> None:
            kind = d.get("message_type")
            if kind == "status":
                p.files_done = int(d.get("files_done", 0))
                p.bytes_done = int(d.get("bytes_done", 0))
                p.bytes_total = int(d.get("total_bytes", total_bytes)) or total_bytes
                p.files_total = int(d.get("total_files", total_files)) or total_files
                p.percent = float(d.get("percent_done", 0.0)) * 100.0
                cur = d.get("current_files") or []
                p.current_file = str(cur[0]).lstrip("/") if cur else ""
                progress(p)
            elif kind == "summary":
                found.update(d)

        args = [
            "backup", "--json", "--host", HOST, "--tag", TAG,
            "--ignore-ctime", "--ignore-inode", "--compression", "auto",
        ]  # fmt: skip
        if parent is not None:
            args += ["--parent", parent.snapshot_id]
        # the snapshot's time is when its data was read (the repository policy counts on it)
        args += ["--time", time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(m.created_at))]
        args.append(".")
        r = self.unlocked(
            "taking a snapshot",
            lambda: self.restic.run(args, cwd=stage.root, on_json=on_json, keep_stdout=False),
        )
        if r.rc == 3 and found.get("snapshot_id"):
            # restic saved a snapshot without some files: never let it count as a backup
            self.restic.run(["forget", str(found["snapshot_id"])])
            raise SnapshotFailed(
                "restic could not read some staged files and its snapshot was discarded: "
                f"{r.stderr.strip()[-300:]}"
            )
        if r.rc != 0:
            raise self.restic.failure("taking a snapshot", r)
        if not found.get("snapshot_id"):
            raise SnapshotFailed("restic finished without reporting a snapshot id; none recorded.")
        p.phase, p.percent = "finalizing", 100.0
        progress(p)
        return found

    # --- verification --------------------------------------------------------------------
    def _verify_new(self, m: Manifest, parent: Manifest | None, progress: ProgressFn) -> None:
        proven: set[tuple[str, str]] = set()
        if parent is not None and parent.verified_ok:
            done = set(parent.verified_files)
            proven = {(f.path, f.sha256) for f in parent.files if f.path in done}
        todo = [f for f in m.files if (f.path, f.sha256) not in proven]
        progress(Progress("verifying", 0, len(todo), 0, sum(f.bytes for f in todo)))
        result = self.restore_compare(m, todo, progress)
        m.verified_at, m.verified_ok, m.mismatches = time.time(), result.ok, len(result.mismatches)
        m.verified_files = [f.path for f in m.files] if result.ok else []
        save_snapshot(self.state, m)
        if not result.ok:
            first = result.mismatches[0]
            raise IntegrityError(
                f"snapshot {m.short_id} does not read back as written: {first.path}: "
                f"{first.reason} ({len(result.mismatches)} problem(s)). Run `observer-daemon "
                "verify` and check the repository's storage."
            )

    def restore_compare(
        self, m: Manifest, files: list[Any], progress: ProgressFn | None = None
    ) -> VerifyResult:
        """Restore ``files`` of snapshot ``m`` to scratch space in batches and re-hash them."""
        result = VerifyResult(id=m.short_id, ok=False)
        batch_limit = max(1, self.cfg.backup_scratch_mb) << 20
        wanted = [*files]
        manifest_entry = EMBEDDED_MANIFEST
        batches: list[list[Any]] = []
        cur: list[Any] = []
        size = 0
        for f in wanted:
            if cur and size + f.bytes > batch_limit:
                batches.append(cur)
                cur, size = [], 0
            cur.append(f)
            size += f.bytes
        batches.append(cur)  # the last one also brings the manifest back
        done_files = done_bytes = 0
        for i, batch in enumerate(batches):
            scratch = self.scratch / f"verify-{m.short_id}"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            try:
                args = ["restore", m.snapshot_id, "--target", str(scratch)]
                paths = [f.path for f in batch] + (
                    [manifest_entry] if i == len(batches) - 1 else []
                )
                for path in paths:
                    args += ["--include", "/" + _glob_escape(path)]
                r = self.unlocked("restoring for verification", lambda a=args: self.restic.run(a))  # type: ignore[misc]
                errors = _restore_errors(r.stderr)
                if r.rc != 0 and not errors:
                    raise self.restic.failure(f"restoring snapshot {m.short_id}", r)
                for f in batch:
                    got = scratch / f.path
                    if not got.is_file():
                        why = errors.get(f.path, "not restored")
                        result.mismatches.append(
                            Mismatch(
                                f.path,
                                f"missing from the restore: {why}",
                                f.sha256,
                                expected_bytes=f.bytes,
                            )
                        )
                        continue
                    digest, n = sha256_file(got)
                    result.files_checked += 1
                    result.bytes_checked += n
                    done_files += 1
                    done_bytes += n
                    if digest != f.sha256 or n != f.bytes:
                        result.mismatches.append(
                            Mismatch(
                                f.path,
                                "sha256 differs" if n == f.bytes else "size differs",
                                f.sha256,
                                digest,
                                f.bytes,
                                n,
                            )
                        )
                if i == len(batches) - 1:
                    self._check_embedded(m, scratch / manifest_entry, result)
                if progress is not None:
                    progress(Progress("verifying", done_files, len(wanted), done_bytes))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        result.ok = not result.mismatches
        result.verified_at = time.time()
        return result

    @staticmethod
    def _check_embedded(m: Manifest, path: Path, result: VerifyResult) -> None:
        if not m.manifest_sha256:
            return
        if not path.is_file():
            result.mismatches.append(Mismatch(EMBEDDED_MANIFEST, "manifest missing from snapshot"))
            return
        digest, _ = sha256_file(path)
        if digest != m.manifest_sha256:
            result.mismatches.append(
                Mismatch(EMBEDDED_MANIFEST, "manifest sha256 differs", m.manifest_sha256, digest)
            )

    def check(self, read_percent: float) -> list[Mismatch]:
        """restic check, reading ``read_percent`` % of the pack data; problems by file."""
        args = ["check"]
        if read_percent >= 100:
            args.append("--read-data")
        elif read_percent > 0:
            args.append(f"--read-data-subset={read_percent:g}%")
        r = self.unlocked("checking the repository", lambda: self.restic.run(args))
        if r.rc == 0:
            return []
        problems = _check_problems(r.stdout + r.stderr.splitlines())
        if not problems:
            raise self.restic.failure("checking the repository", r)
        out: list[Mismatch] = []
        for pack, line in problems:
            files = self._files_in_pack(pack) if pack else []
            for f in files or ["(repository)"]:
                out.append(Mismatch(f, f"restic check: {line}"))
        return out

    def _files_in_pack(self, pack: str) -> list[str]:
        r = self.restic.run(["find", "--pack", pack, "--json", "--no-lock"])
        files: list[str] = []
        with contextlib.suppress(ValueError, TypeError):
            for group in r.json_value() or []:
                for match in group.get("matches", []):
                    path = str(match.get("path", "")).lstrip("/")
                    if path and path not in files:
                        files.append(path)
        return files

    def verify(self, snapshot: str, read_percent: float) -> tuple[Manifest, VerifyResult]:
        """restic check + restore every file of ``snapshot`` to scratch and compare."""
        m = self.record(snapshot)
        problems = self.check(read_percent)
        result = self.restore_compare(m, m.files)
        result.mismatches = problems + result.mismatches
        result.ok = not result.mismatches
        m.verified_at, m.verified_ok, m.mismatches = (
            result.verified_at,
            result.ok,
            len(result.mismatches),
        )
        if result.ok:
            m.verified_files = [f.path for f in m.files]
        save_snapshot(self.state, m)
        return m, result

    def record(self, snapshot: str) -> Manifest:
        """The manifest of ``snapshot`` (id, short id or "latest"), locally or from the repo."""
        if snapshot == "latest":
            mine = [
                x for x in load_snapshots(self.state) if x.repository == self.repository.display
            ]
            if mine:
                return mine[0]
        else:
            found = find_snapshot(self.state, snapshot)
            if found is not None:
                return found
        return self._fetch_manifest(snapshot)

    def _fetch_manifest(self, snapshot: str) -> Manifest:
        from observer.daemon.backup.manifest import parse_snapshot_manifest

        if snapshot != "latest":
            check_snapshot_id(snapshot)
        r = self.restic.run(["dump", "--no-lock", snapshot, "/" + EMBEDDED_MANIFEST])
        if r.rc != 0:
            err = self.restic.failure(f"reading snapshot {snapshot}", r)
            if "no matching ID found" in r.stderr or "not found" in r.stderr.lower():
                from observer.daemon.errors import NotFound

                raise NotFound(
                    f"snapshot {snapshot} is not in the repository {self.repository.display} "
                    "(or holds no Observer manifest); list them with ListBackups or `restic "
                    "snapshots`."
                ) from None
            raise err
        blob = "\n".join(r.stdout).encode() + b"\n" if r.stdout else b""
        try:
            m = parse_snapshot_manifest(blob)
        except (ValueError, KeyError) as e:
            raise IntegrityError(
                f"snapshot {snapshot}: its manifest is unreadable ({e})."
            ) from None
        ids = self.restic.run(["snapshots", "--json", "--no-lock", snapshot])
        with contextlib.suppress(ValueError, TypeError, IndexError, KeyError):
            m.snapshot_id = str(ids.json_value()[0]["short_id"])
        m.snapshot_id = m.snapshot_id or snapshot
        m.repository = self.repository.display
        m.archive = f"{self.repository.display}#{m.snapshot_id}"
        m.manifest_sha256 = ""  # unknown locally: the restored bytes are re-hashed instead
        return m

    # --- policy and size -----------------------------------------------------------------
    def apply_policy(self) -> list[str]:
        """forget + prune by the repository policy; returns the snapshot ids removed."""
        c = self.cfg
        keep = [
            ("--keep-hourly", c.backup_keep_hourly),
            ("--keep-daily", c.backup_keep_daily),
            ("--keep-weekly", c.backup_keep_weekly),
            ("--keep-monthly", c.backup_keep_monthly),
        ]
        args = ["forget", "--json", "--host", HOST, "--tag", TAG]
        for flag, n in keep:
            if n > 0:
                args += [flag, str(n)]
        if len(args) == 6:
            return []  # no policy: keep everything
        r = self.restic.check_ok(
            "applying the repository policy", self.unlocked("forget", lambda: self.restic.run(args))
        )
        removed: list[str] = []
        with contextlib.suppress(ValueError, TypeError):
            for group in r.json_value() or []:
                for s in group.get("remove") or []:
                    removed.append(str(s.get("short_id") or s.get("id", ""))[:8])
        if removed:
            self.restic.check_ok(
                "pruning the repository", self.unlocked("prune", lambda: self.restic.run(["prune"]))
            )
        for m in load_snapshots(self.state):
            if m.repository == self.repository.display and m.snapshot_id[:8] in removed:
                drop_snapshot(self.state, m.snapshot_id)
        return removed

    def repository_bytes(self) -> int:
        """Bytes the repository holds: its files for a local one, else restic's raw data."""
        if self.repository.path is not None:
            return sum(p.stat().st_size for p in self.repository.path.rglob("*") if p.is_file())
        r = self.restic.run(["stats", "--mode", "raw-data", "--json", "--no-lock"])
        try:
            return int(
                self.restic.check_ok("measuring the repository", r).json_value()["total_size"]
            )
        except (ValueError, KeyError, TypeError):
            return 0

    def restore_into(
        self, snapshot: str, into: Path, progress: ProgressFn | None = None
    ) -> tuple[Manifest, int, int]:
        """Restore ``snapshot`` into the empty directory ``into`` and re-hash every file.

        Returns the manifest, the files and the bytes checked.
        """
        if into.exists() and (not into.is_dir() or any(into.iterdir())):
            raise Precondition(
                f"restore target {into} exists and is not an empty directory; restore into a new "
                "directory and move files into place once checked."
            )
        m = self.record(snapshot)
        into.mkdir(parents=True, exist_ok=True)
        r = self.unlocked(
            "restoring", lambda: self.restic.run(["restore", m.snapshot_id, "--target", str(into)])
        )
        errors = _restore_errors(r.stderr)
        if r.rc != 0 and not errors:
            raise self.restic.failure(f"restoring snapshot {m.short_id}", r)
        result = VerifyResult(id=m.short_id, ok=False)
        embedded = into / EMBEDDED_MANIFEST
        if m.manifest_sha256:
            self._check_embedded(m, embedded, result)
        elif embedded.is_file():
            from observer.daemon.backup.manifest import parse_snapshot_manifest

            with contextlib.suppress(ValueError, KeyError):
                m.files = parse_snapshot_manifest(embedded.read_bytes()).files
        for f in m.files:
            got = into / f.path
            if not got.is_file():
                why = errors.get(f.path, "not restored")
                result.mismatches.append(Mismatch(f.path, f"missing: {why}", f.sha256))
                continue
            digest, n = sha256_file(got)
            result.files_checked += 1
            result.bytes_checked += n
            if digest != f.sha256 or n != f.bytes:
                result.mismatches.append(
                    Mismatch(f.path, "sha256 differs", f.sha256, digest, f.bytes, n)
                )
        if result.mismatches:
            first = result.mismatches[0]
            raise IntegrityError(
                f"restore of snapshot {m.short_id} into {into} does NOT match its manifest: "
                f"{len(result.mismatches)} problem(s), first {first.path}: {first.reason}. Do not "
                "use these files; try another snapshot."
            )
        return m, result.files_checked, result.bytes_checked


def _restore_errors(stderr: str) -> dict[str, str]:
    """restic restore's per-file errors: ``ignoring error for /path: why``."""
    out: dict[str, str] = {}
    for line in stderr.splitlines():
        head, sep, why = line.partition(": ")
        if head.startswith("ignoring error for ") and sep:
            out[head.removeprefix("ignoring error for ").lstrip("/")] = why.strip()[:300]
    return out


def _check_problems(lines: list[str]) -> list[tuple[str, str]]:
    """(pack id, message) for every damaged pack restic check names."""
    import re

    out: list[tuple[str, str]] = []
    for line in lines:
        low = line.lower()
        if not any(w in low for w in ("error", "does not match", "damaged", "failed")):
            continue
        m = re.search(r"\bpack ([0-9a-f]{8,64})\b", line)
        out.append((m.group(1) if m else "", line.strip()[:300]))
    return out
