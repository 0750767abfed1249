"""Snapshots in a real restic repository (a local directory): what they hold, what they
send, the embedded default, verify, restore, the schedule, and where secrets go."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from observer.daemon.backup.archive import Progress
from observer.daemon.backup.cli import backup_main, restore_main, verify_main
from observer.daemon.backup.manifest import EMBEDDED_MANIFEST, parse_snapshot_manifest
from observer.daemon.backup.service import BackupService
from observer.daemon.backup.stage import collect_sources
from observer.daemon.config import Config, load_config
from observer.daemon.errors import Busy, ConfigError, IntegrityError, Precondition
from tests.storedata import scalp_path, ticks, write_lines

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic not installed")

PASSWORD = "local-test-password-42"


def _cfg(tmp_path: Path, **env: str) -> Config:
    base = {
        "OBSERVER_DATA_DIR": str(tmp_path / "data"),
        "OBSERVER_CONFIG_DIR": str(tmp_path / "config"),
        "OBSERVER_LOG_DIR": str(tmp_path / "logs"),
        "OBSERVER_BACKUP_REPOSITORY": str(tmp_path / "repo"),
        "OBSERVER_REPO_PASSWORD": PASSWORD,
        "OBSERVER_BACKUP_SCRATCH_DIR": str(tmp_path / "scratch"),
        "OBSERVER_MIN_FREE_MB": "1",
    }
    base.update(env)
    return load_config(environ=base, cwd=tmp_path).config


def _populate(cfg: Config) -> None:
    write_lines(scalp_path(cfg.data_dir, "20261120", 9), ticks("20261120", 9, 3000))
    # the open segment ends with a torn line (a write in progress)
    seg = scalp_path(cfg.data_dir, "20261120", 10)
    write_lines(seg, ticks("20261120", 10, 500, start_seq=3001))
    with open(seg, "a") as f:
        f.write('{"seq":3501,"sym')
    cfg.config_dir.mkdir(parents=True)
    (cfg.config_dir / "universe.csv").write_text("symbol,name\n005930,Samsung\n")
    (cfg.data_dir / "observer.jsonl").write_text('{"event":"start"}\n')


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_a_snapshot_holds_complete_lines_and_observers_manifest(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    m = BackupService(cfg).run_sync()
    files = {f.path: f for f in m.files}
    assert set(files) == {
        "assets/scalp/20261120_09.jsonl",
        "assets/scalp/20261120_10.jsonl",
        "observer.jsonl",
        "config/universe.csv",
    }
    closed = files["assets/scalp/20261120_09.jsonl"]
    assert closed.records == 3000 and closed.first_seq == 1 and closed.last_seq == 3000
    assert closed.first_ts.startswith("2026-11-20T09:00") and closed.last_ts.startswith(
        "2026-11-20T09:5"
    )
    opened = files["assets/scalp/20261120_10.jsonl"]
    assert opened.records == 500 and opened.last_seq == 3500  # the torn line is not in it
    assert [(r.track, r.trade_date, r.first_seq, r.last_seq) for r in m.ranges] == [
        ("scalp", "2026-11-20", 1, 3500)
    ]
    assert m.verified_ok is True and m.snapshot_id and len(m.manifest_sha256) == 64
    # the manifest inside the snapshot is the one whose sha256 was reported
    into = tmp_path / "restored"
    BackupService(cfg).restore_sync(m.snapshot_id, into)
    blob = (into / EMBEDDED_MANIFEST).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == m.manifest_sha256
    assert len(parse_snapshot_manifest(blob).files) == 4
    restored = (into / "assets/scalp/20261120_10.jsonl").read_bytes()
    assert restored.endswith(b"\n") and restored.count(b"\n") == 500
    # nothing is left behind on the data volume: no stage, no copies
    assert not (cfg.data_dir / ".observer-backup" / "stage").exists()


def test_one_more_hour_of_data_uploads_about_one_hour_whatever_the_history(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    for hour in range(9, 15):
        write_lines(scalp_path(cfg.data_dir, "20261120", hour), ticks("20261120", hour, 20000))
    svc = BackupService(cfg)
    repo = tmp_path / "repo"

    def repo_bytes() -> int:
        return sum(p.stat().st_size for p in repo.rglob("*") if p.is_file())

    first = svc.run_sync()
    after_first = repo_bytes()
    seg = scalp_path(cfg.data_dir, "20261120", 15)
    write_lines(seg, ticks("20261120", 15, 20000, seed=9))
    write_lines(scalp_path(cfg.data_dir, "20261121", 9), ticks("20261121", 9, 10))  # new open one
    svc.run_sync()
    added = repo_bytes() - after_first
    history = sum(f.bytes for f in first.files)
    assert history > 5 * seg.stat().st_size
    # restic compresses: the second snapshot added less than the new segment's size, and
    # far less than the history it already holds (closed segments are never sent twice)
    assert added < seg.stat().st_size / 2
    assert added < after_first / 4


def test_nothing_configured_keeps_a_local_repository_outside_the_data_dir(tmp_path: Path) -> None:
    cfg = load_config(
        environ={"OBSERVER_MIN_FREE_MB": "1"}, cwd=tmp_path
    ).config  # every default: ./observer-runtime/...
    write_lines(scalp_path(cfg.data_dir, "20261120", 9), ticks("20261120", 9, 100))
    m = BackupService(cfg).run_sync()
    repo = tmp_path / "observer-runtime" / "backup-repo"
    pw = tmp_path / "observer-runtime" / "backup-repo.password"
    assert (repo / "config").is_file() and m.repository == str(repo)
    assert not repo.resolve().is_relative_to(cfg.data_dir.resolve())
    assert stat.S_IMODE(pw.stat().st_mode) == 0o600 and len(pw.read_text().strip()) >= 32
    first = pw.read_text()
    BackupService(cfg).run_sync()  # generated once, then reused
    assert pw.read_text() == first


def test_a_repository_inside_the_data_directory_is_refused(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, OBSERVER_BACKUP_REPOSITORY=str(tmp_path / "data" / "repo"))
    with pytest.raises(ConfigError, match="OBSERVER_BACKUP_REPOSITORY"):
        BackupService(cfg).run_sync()


def test_a_remote_repository_without_password_or_keys_names_the_setting(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, OBSERVER_BACKUP_REPOSITORY="s3:http://127.0.0.1:9/b/r")
    cfg_no_pw = _cfg(tmp_path, OBSERVER_BACKUP_REPOSITORY="s3:http://127.0.0.1:9/b/r",
                     OBSERVER_REPO_PASSWORD="")  # fmt: skip
    with pytest.raises(ConfigError, match="OBSERVER_REPO_PASSWORD"):
        BackupService(cfg_no_pw).run_sync()
    with pytest.raises(ConfigError, match="OBSERVER_S3_ACCESS_KEY"):
        BackupService(cfg).run_sync()


def test_secrets_reach_restic_in_its_environment_never_its_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    seen: list[tuple[list[str], dict[str, str]]] = []
    real = subprocess.Popen

    def spy(argv, *a, **kw):
        seen.append((list(argv), dict(kw.get("env") or {})))
        return real(argv, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", spy)
    out, err = io.StringIO(), io.StringIO()
    assert backup_main(cfg, out, err) == 0
    assert seen and all(PASSWORD not in " ".join(argv) for argv, _ in seen)
    assert all(env.get("RESTIC_PASSWORD") == PASSWORD for _, env in seen)
    assert all("OBSERVER_CONTROL_TOKEN" not in env for _, env in seen)  # nothing else leaks
    assert PASSWORD not in out.getvalue() + err.getvalue()


def test_verify_restores_to_scratch_and_a_restore_rehashes_everything(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, OBSERVER_BACKUP_SCRATCH_MB="1")  # batches of 1 MiB: several restores
    for hour in (9, 10, 11):
        write_lines(scalp_path(cfg.data_dir, "20261120", hour), ticks("20261120", hour, 5000))
    svc = BackupService(cfg)
    m = svc.run_sync()
    r = svc.verify_sync(m.snapshot_id)
    assert r.ok and r.files_checked == len(m.files) and r.bytes_checked == m.total_file_bytes
    assert not any((cfg.backup_scratch_dir).iterdir())  # scratch emptied
    into = tmp_path / "restored"
    assert svc.restore_sync(m.short_id, into) == len(m.files)
    for f in m.files:
        assert _sha(into / f.path) == f.sha256
    with pytest.raises(Precondition, match="not an empty directory"):
        svc.restore_sync(m.short_id, into)
    assert svc.status().verification.value == "verified"


def test_a_second_concurrent_snapshot_is_refused_as_busy(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    svc = BackupService(cfg)
    with svc.engine.lock(), pytest.raises(Busy):
        BackupService(cfg).run_sync()
    assert svc.run_sync().verified_ok


async def test_progress_streams_restics_percent_then_done(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    seen: list[Progress] = []
    m = await BackupService(cfg).run(seen.append)
    await asyncio.sleep(0)
    phases = [p.phase for p in seen]
    assert phases[0] == "scanning" and phases[-1] == "done"
    assert phases.index("archiving") < phases.index("verifying") < phases.index("done")
    assert seen[-1].files_done == len(m.files) and seen[-1].percent == 100.0


def test_snapshot_taken_while_ingest_runs_restores_a_prefix_of_the_open_file(
    tmp_path: Path,
) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    seg = scalp_path(cfg.data_dir, "20261120", 11)
    stop = threading.Event()

    def writer() -> None:
        # appends lines in two halves so the file is often torn when it is read
        line = json.dumps({"seq": 1, "ts": "2026-11-20T11:00:00+09:00", "x": "y" * 300}) + "\n"
        with open(seg, "a", buffering=1 << 16) as f:
            deadline = time.monotonic() + 10
            while not stop.is_set() and time.monotonic() < deadline:
                f.write(line[:10])
                f.flush()
                f.write(line[10:])
                f.flush()

    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(0.2)
        svc = BackupService(cfg)
        m = svc.run_sync()
    finally:
        stop.set()
        t.join()
    into = tmp_path / "restored"
    svc.restore_sync(m.snapshot_id, into)
    restored = (into / "assets/scalp/20261120_11.jsonl").read_bytes()
    assert restored and restored.endswith(b"\n")
    assert seg.read_bytes().startswith(restored)
    entry = next(f for f in m.files if f.path.endswith("_11.jsonl"))
    assert entry.records == restored.count(b"\n")


def test_shell_commands_back_up_verify_and_restore_with_exit_codes(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    out = io.StringIO()
    assert backup_main(cfg, out, io.StringIO()) == 0
    text = out.getvalue()
    assert "snapshot " in text and "manifest    sha256 " in text
    out = io.StringIO()
    assert verify_main(cfg, "latest", out, io.StringIO()) == 0
    assert out.getvalue().startswith("OK")
    snap = BackupService(cfg).snapshots()[0].short_id
    assert restore_main(cfg, snap, tmp_path / "r", io.StringIO(), io.StringIO()) == 0
    err = io.StringIO()
    assert restore_main(cfg, snap, tmp_path / "r", io.StringIO(), err) != 0
    assert "not an empty directory" in err.getvalue()
    err = io.StringIO()
    assert verify_main(cfg, "../etc", io.StringIO(), err) != 0 and "not valid" in err.getvalue()


def test_a_wrong_password_for_a_local_repository_names_the_setting(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    BackupService(cfg).run_sync()
    wrong = _cfg(tmp_path, OBSERVER_REPO_PASSWORD="not-the-password")
    with pytest.raises(ConfigError) as e:
        BackupService(wrong).run_sync()
    assert "OBSERVER_REPO_PASSWORD" in str(e.value) and "not-the-password" not in str(e.value)


async def test_a_rotation_brings_a_snapshot_within_the_bound(
    tmp_path: Path, other_filesystem: Path
) -> None:
    cfg = _cfg(
        tmp_path, OBSERVER_BACKUP_TIME="", OBSERVER_BACKUP_AFTER_ROTATION_MINUTES="10",
        OBSERVER_BACKUP_REPOSITORY=str(other_filesystem / "repo"),
    )  # fmt: skip
    _populate(cfg)
    svc = BackupService(cfg, settle_seconds=0.2)
    task = asyncio.create_task(svc.schedule_loop())
    try:
        await asyncio.sleep(0.1)
        assert svc.snapshots() == []
        svc.on_segment_closed(scalp_path(cfg.data_dir, "20261120", 9))
        for _ in range(600):
            if svc.snapshots():
                break
            await asyncio.sleep(0.1)
        assert len(svc.snapshots()) == 1
        st = svc.off_volume_status()
        assert st.rpo_seconds is not None and st.rpo_seconds < 60
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_repository_policy_forgets_and_prunes_and_keeps_the_record_in_step(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, OBSERVER_BACKUP_KEEP_HOURLY="1", OBSERVER_BACKUP_KEEP_DAILY="0",
               OBSERVER_BACKUP_KEEP_WEEKLY="0", OBSERVER_BACKUP_KEEP_MONTHLY="0")  # fmt: skip
    _populate(cfg)
    svc = BackupService(cfg)
    svc.run_sync()
    write_lines(scalp_path(cfg.data_dir, "20261120", 11), ticks("20261120", 11, 100))
    newest = svc.run_sync()
    removed = svc.policy_sync()
    assert len(removed) == 1  # two snapshots in the same hour: the older one goes
    assert [m.snapshot_id for m in svc.snapshots()] == [newest.snapshot_id]
    assert svc.verify_sync(newest.snapshot_id).ok


def test_a_restore_that_does_not_match_the_manifest_is_an_integrity_error(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    svc = BackupService(cfg)
    m = svc.run_sync()
    # the local record claims another sha256 than what the repository holds
    rec = cfg.data_dir / ".observer-backup" / "snapshots" / f"{m.snapshot_id}.json"
    d = json.loads(rec.read_text())
    d["files"][0]["sha256"] = "0" * 64
    rec.write_text(json.dumps(d))
    with pytest.raises(IntegrityError, match="does NOT match"):
        svc.restore_sync(m.snapshot_id, tmp_path / "r")
    r = svc.verify_sync(m.snapshot_id)
    assert not r.ok and r.mismatches[0].path == d["files"][0]["path"]
    assert r.id == m.short_id


def test_facts_of_closed_files_are_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from observer.daemon.backup import stage

    cfg = _cfg(tmp_path)
    _populate(cfg)
    svc = BackupService(cfg)
    svc.run_sync()
    reads: list[str] = []
    real = stage.file_facts

    def counting(path, name, length=None):
        reads.append(name)
        return real(path, name, length)

    monkeypatch.setattr(stage, "file_facts", counting)
    svc.run_sync()
    assert reads == []  # the closed segment's facts came from the cache
    os.utime(scalp_path(cfg.data_dir, "20261120", 9), (1, 1))
    svc.run_sync()
    assert reads == ["assets/scalp/20261120_09.jsonl"]  # changed mtime: read again


def test_observer_daemon_backup_with_nothing_configured_just_works(tmp_path: Path) -> None:
    """The shell command in an empty directory with a bare environment: the embedded
    default repository is created under ./observer-runtime/, the snapshot is verified, and
    verify and restore find it again."""
    write_lines(
        scalp_path(tmp_path / "observer-runtime" / "data", "20261120", 9),
        ticks("20261120", 9, 200),
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    daemon = [sys.executable, "-m", "observer.daemon"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*daemon, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    backup = run("backup")
    assert backup.returncode == 0, backup.stderr
    assert f"repository  {tmp_path}/observer-runtime/backup-repo" in backup.stdout
    assert "verified    yes" in backup.stdout
    snapshot = backup.stdout.split("snapshot ", 1)[1].split()[0]
    assert (tmp_path / "observer-runtime" / "backup-repo.password").is_file()
    verify = run("verify")
    assert verify.returncode == 0 and verify.stdout.startswith(f"OK {snapshot}: 1 files")
    restore = run("restore", snapshot, "--into", str(tmp_path / "restored"))
    assert restore.returncode == 0, restore.stderr
    assert (tmp_path / "restored" / "assets" / "scalp" / "20261120_09.jsonl").is_file()


def test_status_says_what_a_backup_holds_and_it_matches_what_is_archived(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    contents = BackupService(cfg).status().contents
    tops = {s.name.split("/")[0] for s in collect_sources(cfg.data_dir, cfg.config_dir)}
    words = {"assets": "assets/", "datasets": "datasets/", "observer.jsonl": "observer.jsonl",
             "config": "config"}  # fmt: skip
    for top in tops:
        assert words[top] in contents, top
    assert "restic snapshot" in contents and "not in it" in contents
