"""Snapshots in a real object store (SeaweedFS S3 on loopback), and how they fail:
the store down or hung during a snapshot, a wrong password, a byte flipped in a pack
file, kill -9 during a snapshot, a full data volume; retention on verified copies."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from observer.daemon.backup.cli import verify_main
from observer.daemon.backup.errors import (
    RepositoryAuthError,
    RepositoryUnreachable,
    SnapshotFailed,
)
from observer.daemon.backup.service import BackupService
from observer.daemon.config import Config, load_config
from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.model import Track
from observer.daemon.status.model import BackupResult, RetentionAction
from observer.daemon.stores.parquet import convert_segment
from observer.daemon.stores.retention import Retention
from tests.seaweed import BUCKET, SeaweedS3
from tests.storedata import scalp_path, ticks, write_lines

pytestmark = pytest.mark.seaweedfs


def _cfg(tmp_path: Path, s3: SeaweedS3, prefix: str, **env: str) -> Config:
    base = {
        "OBSERVER_DATA_DIR": str(tmp_path / "data"),
        "OBSERVER_CONFIG_DIR": str(tmp_path / "config"),
        "OBSERVER_LOG_DIR": str(tmp_path / "logs"),
        "OBSERVER_BACKUP_SCRATCH_DIR": str(tmp_path / "scratch"),
        "OBSERVER_MIN_FREE_MB": "1",
        "OBSERVER_BACKUP_STALL_SECONDS": "4",
        **s3.env(prefix),
    }
    base.update(env)
    return load_config(environ=base, cwd=tmp_path).config


def _day(cfg: Config, day: str = "20261120", hours: range = range(9, 12), n: int = 2000) -> None:
    for h in hours:
        write_lines(scalp_path(cfg.data_dir, day, h), ticks(day, h, n, start_seq=1 + 10000 * h))


def _snapshots_in_repo(svc: BackupService) -> list[str]:
    r = svc.engine.restic.run(["snapshots", "--json", "--no-lock"])
    assert r.rc == 0, r.stderr
    return [s["short_id"] for s in r.json_value() or []]


def test_snapshot_verify_restore_against_the_object_store(tmp_path: Path, s3: SeaweedS3) -> None:
    cfg = _cfg(tmp_path, s3, "happy")
    _day(cfg)
    svc = BackupService(cfg)
    m = svc.run_sync()
    assert m.verified_ok and m.repository.startswith("s3:http://127.0.0.1:")
    assert svc.engine.off_volume
    assert svc.verify_sync(m.snapshot_id).ok
    into = tmp_path / "restored"
    assert svc.restore_sync(m.snapshot_id, into) == len(m.files)
    for f in m.files:
        assert hashlib.sha256((into / f.path).read_bytes()).hexdigest() == f.sha256
    assert _snapshots_in_repo(svc) == [m.snapshot_id]
    st = svc.off_volume_status()
    assert st.repository_bytes and st.last_verified_snapshot == m.short_id


def test_retention_deletes_raw_only_after_a_verified_snapshot_in_the_store_holds_it(
    tmp_path: Path, s3: SeaweedS3
) -> None:
    cfg = _cfg(tmp_path, s3, "retention", OBSERVER_RETAIN_RAW_DAYS="1",
               OBSERVER_RETAIN_DATASET_DAYS="0")  # fmt: skip
    _day(cfg, "20261101", range(9, 11), 300)
    write_lines(scalp_path(cfg.data_dir, "20261124", 9), ticks("20261124", 9, 5))
    for h in (9, 10):
        convert_segment(scalp_path(cfg.data_dir, "20261101", h), cfg.data_dir / "datasets")
    now = time.time()
    plan = Retention(cfg).plan(now)
    raw = {i.path: i for i in plan.items if i.category == "raw"}
    assert raw["assets/scalp/20261101_09.jsonl"].action is RetentionAction.KEPT
    assert "no verified snapshot" in raw["assets/scalp/20261101_09.jsonl"].reason
    BackupService(cfg).run_sync()
    report = Retention(cfg).apply(Retention(cfg).plan(now))
    deleted = {i.path for i in report.items if i.action is RetentionAction.DELETED}
    assert deleted == {"assets/scalp/20261101_09.jsonl", "assets/scalp/20261101_10.jsonl"}
    assert scalp_path(cfg.data_dir, "20261124", 9).exists()  # the open one stays


def test_wrong_password_is_a_clear_error_naming_the_setting(tmp_path: Path, s3: SeaweedS3) -> None:
    cfg = _cfg(tmp_path, s3, "password")
    _day(cfg, hours=range(9, 10), n=50)
    BackupService(cfg).run_sync()
    wrong = _cfg(tmp_path / "other", s3, "password", OBSERVER_REPO_PASSWORD="definitely-wrong")
    _day(wrong, hours=range(9, 10), n=50)
    with pytest.raises(RepositoryAuthError) as e:
        BackupService(wrong).run_sync()
    text = str(e.value)
    assert "OBSERVER_REPO_PASSWORD" in text and "wrong password" in text
    assert "definitely-wrong" not in text and "test-repository-password" not in text
    err = io.StringIO()
    assert verify_main(wrong, "latest", io.StringIO(), err) == RepositoryAuthError.exit_code
    assert "OBSERVER_REPO_PASSWORD" in err.getvalue()


def test_wrong_object_store_keys_name_the_key_settings(tmp_path: Path, s3: SeaweedS3) -> None:
    cfg = _cfg(tmp_path, s3, "keys", OBSERVER_S3_SECRET_KEY="not-the-secret-key")
    _day(cfg, hours=range(9, 10), n=20)
    with pytest.raises(RepositoryAuthError, match="OBSERVER_S3_SECRET_KEY") as e:
        BackupService(cfg).run_sync()
    assert "not-the-secret-key" not in str(e.value)


@pytest.mark.timeout(300)
async def test_store_down_during_a_snapshot_leaves_ingest_running_and_no_partial_backup(
    tmp_path: Path, s3: SeaweedS3
) -> None:
    cfg = _cfg(tmp_path, s3, "outage")
    _day(cfg, n=20000)  # enough that the upload is still going when the store hangs
    now = [time.time()]
    svc = BackupService(cfg, clock=lambda: now[0], retry_base=30.0, retry_cap=900.0)
    first = await svc.run()
    writer = SegmentWriter(Track.SCALP, cfg.data_dir, commit_interval=0.05)
    await writer.start()
    ingest_stop = asyncio.Event()
    written = [0]

    async def ingest() -> None:
        seq = 500_000
        while not ingest_stop.is_set():
            batch = list(ticks("20261121", 9, 200, start_seq=seq, seed=seq))
            await writer.put(batch)
            seq += 200
            written[0] += 200
            await asyncio.sleep(0.01)

    feeder = asyncio.create_task(ingest())
    try:
        _day(cfg, "20261120", range(12, 15), 20000)  # new data for the next snapshot
        s3.pause()  # the store hangs: no answer, no refusal
        before = written[0]
        t0 = time.monotonic()
        with pytest.raises(RepositoryUnreachable, match="unreachable"):
            await svc.run()
        assert time.monotonic() - t0 < 60  # stopped by the stall bound, not hung forever
        assert written[0] - before > 1000  # ingest went on during the whole outage
        st = svc.status()
        assert st.last_result is BackupResult.FAILED and "unreachable" in st.last_error
        ov = svc.off_volume_status()
        assert ov.next_retry_at == pytest.approx(now[0] + 30.0)
        rpo1 = ov.rpo_seconds
        assert rpo1 is not None
        now[0] += 120
        assert svc.off_volume_status().rpo_seconds == pytest.approx(rpo1 + 120, abs=1)  # grows
        s3.kill()  # now down hard: refused connections
        with pytest.raises(RepositoryUnreachable):
            await svc.run()
        assert svc.off_volume_status().next_retry_at == pytest.approx(now[0] + 60.0)  # backoff
        assert [m.snapshot_id for m in svc.snapshots()] == [first.snapshot_id]
    finally:
        ingest_stop.set()
        await feeder
        await writer.close()
        s3.start()
    assert _snapshots_in_repo(svc) == [first.snapshot_id]  # no partial snapshot anywhere
    again = await svc.run()
    assert again.verified_ok and svc.status().last_result is BackupResult.OK
    assert svc.off_volume_status().next_retry_at is None


def test_a_flipped_byte_in_a_pack_file_fails_verify_naming_snapshot_and_file(
    tmp_path: Path, s3: SeaweedS3
) -> None:
    cfg = _cfg(tmp_path, s3, "bitflip", OBSERVER_BACKUP_VERIFY_READ_PERCENT="100")
    _day(cfg, hours=range(9, 10), n=20000)
    svc = BackupService(cfg)
    m = svc.run_sync()
    client = s3.client()
    packs = [o for o in client.list_objects(BUCKET, prefix="bitflip/data/", recursive=True)]
    biggest = max(packs, key=lambda o: o.size)
    resp = client.get_object(BUCKET, biggest.object_name)
    try:
        blob = bytearray(resp.read())
    finally:
        resp.close()
        resp.release_conn()
    blob[len(blob) // 3] ^= 0x01
    client.put_object(BUCKET, biggest.object_name, io.BytesIO(bytes(blob)), len(blob))
    shutil_cache = cfg.data_dir / ".observer-backup" / "restic-cache"
    r = svc.verify_sync(m.snapshot_id)
    assert not r.ok and r.id == m.short_id
    named = {x.path for x in r.mismatches}
    assert "assets/scalp/20261120_09.jsonl" in named
    out = io.StringIO()
    assert verify_main(cfg, m.short_id, out, io.StringIO()) != 0
    text = out.getvalue()
    assert f"FAILED {m.short_id}" in text and "assets/scalp/20261120_09.jsonl" in text
    assert shutil_cache.exists()


def _wait_for(cond, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.timeout(300)
def test_kill_9_during_a_snapshot_then_the_next_one_succeeds(tmp_path: Path, s3: SeaweedS3) -> None:
    cfg = _cfg(tmp_path, s3, "kill9", OBSERVER_BACKUP_STALL_SECONDS="120")
    _day(cfg, hours=range(9, 10), n=5000)
    svc = BackupService(cfg)
    svc.run_sync()
    _day(cfg, hours=range(10, 14), n=60000)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBSERVER_", "KIS_", "DB_"))}
    env.update({
        "OBSERVER_DATA_DIR": str(cfg.data_dir), "OBSERVER_CONFIG_DIR": str(cfg.config_dir),
        "OBSERVER_LOG_DIR": str(cfg.log_dir), "OBSERVER_BACKUP_SCRATCH_DIR": str(cfg.backup_scratch_dir),
        "OBSERVER_MIN_FREE_MB": "1", **s3.env("kill9"),
    })  # fmt: skip
    children = cfg.data_dir / ".observer-backup" / "restic-children.json"
    cli = subprocess.Popen(
        [sys.executable, "-m", "observer.daemon", "backup"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    restic_pid = 0
    try:

        def uploading() -> bool:
            nonlocal restic_pid
            with contextlib.suppress(OSError, ValueError):
                for c in json.loads(children.read_text()):
                    with open(f"/proc/{c['pid']}/cmdline", "rb") as f:
                        if b"backup" in f.read():
                            restic_pid = int(c["pid"])
                            return True
            return False

        _wait_for(uploading)
        _wait_for(
            lambda: any(
                x.strip() for x in svc.engine.restic.run(["list", "locks", "--no-lock"]).stdout
            )
        )  # restic holds its lock and is writing packs
        os.kill(cli.pid, signal.SIGKILL)
        os.kill(restic_pid, signal.SIGKILL)
    finally:
        cli.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.waitpid(restic_pid, 0)
    locks = svc.engine.restic.run(["list", "locks", "--no-lock"])
    assert [x for x in locks.stdout if x.strip()], "the killed restic left its lock"
    assert (cfg.data_dir / ".observer-backup" / "stage").exists()  # left by the kill
    again = BackupService(cfg)
    m = again.run_sync()
    assert m.verified_ok
    assert again.verify_sync(m.snapshot_id).ok  # check needs the stale lock gone
    assert again.policy_sync() is not None
    locks = again.engine.restic.run(["list", "locks", "--no-lock"])
    assert not [x for x in locks.stdout if x.strip()]
    assert not (cfg.data_dir / ".observer-backup" / "stage").exists()


@pytest.mark.root
def test_a_full_data_volume_during_a_snapshot_damages_nothing(
    tmp_path: Path, s3: SeaweedS3
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a size-limited tmpfs as the data volume")
    vol = tmp_path / "vol"
    vol.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", str(vol)], check=True)
    try:
        cfg = _cfg(tmp_path, s3, "diskfull", OBSERVER_DATA_DIR=str(vol / "data"),
                   OBSERVER_MIN_FREE_MB="0")  # fmt: skip
        write_lines(scalp_path(cfg.data_dir, "20261120", 9), ticks("20261120", 9, 6000))
        # the open segment: its copy into the stage does not fit in what is left
        write_lines(scalp_path(cfg.data_dir, "20261120", 10), ticks("20261120", 10, 14000))
        files = sorted(p for p in cfg.data_dir.rglob("*") if p.is_file())
        before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
        svc = BackupService(cfg)
        with pytest.raises(SnapshotFailed, match=r"data volume filled up|not enough free space"):
            svc.run_sync()
        after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
        assert after == before  # not one byte of the data changed
        assert not (cfg.data_dir / ".observer-backup" / "stage").exists()
        assert svc.snapshots() == []
        assert svc.status().last_result is BackupResult.FAILED
        subprocess.run(["mount", "-o", "remount,size=48m", str(vol)], check=True)  # room again
        assert svc.run_sync().verified_ok
    finally:
        subprocess.run(["umount", "-l", str(vol)], check=False)
