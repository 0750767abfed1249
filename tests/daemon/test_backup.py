"""Backups on real files: archive, manifest, verify, restore, refusal of crafted archives."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import threading
import time
from pathlib import Path

import pytest

from observer.daemon.backup.archive import Progress, collect_sources
from observer.daemon.backup.cli import backup_main, restore_main, verify_main
from observer.daemon.backup.manifest import check_id, load_manifests
from observer.daemon.backup.service import BackupService
from observer.daemon.config import Config, load_config
from observer.daemon.errors import Busy, IntegrityError, InvalidRequest, NotFound


def _cfg(tmp_path: Path, **env: str) -> Config:
    base = {
        "OBSERVER_DATA_DIR": str(tmp_path / "data"),
        "OBSERVER_CONFIG_DIR": str(tmp_path / "config"),
    }
    base.update(env)
    return load_config(environ=base, cwd=tmp_path).config


def _line(seq: int, ts: str = "2026-11-20T09:00:01+09:00") -> str:
    return (
        json.dumps(
            {
                "seq": seq,
                "trade_date": "2026-11-20",
                "ts": ts,
                "symbol": "005930",
                "price": 70000 + seq,
            }
        )
        + "\n"
    )


def _populate(cfg: Config) -> None:
    scalp = cfg.data_dir / "assets" / "scalp"
    scalp.mkdir(parents=True)
    (scalp / "20261120_09.jsonl").write_text(
        "".join(_line(i, f"2026-11-20T09:{i:02d}:00+09:00") for i in range(1, 51))
    )
    # the open segment ends with a torn line (a write in progress)
    (scalp / "20261120_10.jsonl").write_text(
        _line(51, "2026-11-20T10:00:00+09:00") + '{"seq":52,"tr'
    )
    cfg.config_dir.mkdir(parents=True)
    (cfg.config_dir / "universe.csv").write_text("symbol,name\n005930,Samsung\n")


def test_backup_archives_complete_lines_only_and_records_them_in_the_manifest(
    tmp_path: Path,
) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    m = BackupService(cfg).run_sync()
    files = {f.path: f for f in m.files}
    assert set(files) == {
        "assets/scalp/20261120_09.jsonl",
        "assets/scalp/20261120_10.jsonl",
        "config/universe.csv",
    }
    closed = files["assets/scalp/20261120_09.jsonl"]
    assert (closed.records, closed.first_ts, closed.last_ts) == (
        50,
        "2026-11-20T09:01:00+09:00",
        "2026-11-20T09:50:00+09:00",
    )
    open_seg = files["assets/scalp/20261120_10.jsonl"]
    assert open_seg.records == 1 and open_seg.bytes == len(_line(51, "2026-11-20T10:00:00+09:00"))
    archive = cfg.data_dir / m.archive
    assert archive.is_file() and archive.stat().st_size == m.archive_bytes
    assert not list(archive.parent.glob("*.part"))
    assert [x.id for x in load_manifests(cfg.data_dir)] == [m.id]


def test_backup_verifies_and_restores_identical_files(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    svc = BackupService(cfg)
    m = svc.run_sync()
    assert svc.verify_sync(m.id).ok
    assert load_manifests(cfg.data_dir)[0].verified_ok is True
    into = tmp_path / "restored"
    assert svc.restore_sync(m.id, into) == 3
    closed = "assets/scalp/20261120_09.jsonl"
    assert (into / closed).read_bytes() == (cfg.data_dir / closed).read_bytes()
    opened = (into / "assets/scalp/20261120_10.jsonl").read_bytes()
    assert opened.endswith(b"\n") and (
        cfg.data_dir / "assets/scalp/20261120_10.jsonl"
    ).read_bytes().startswith(opened)
    assert (into / "config/universe.csv").read_text() == "symbol,name\n005930,Samsung\n"


def test_a_flipped_byte_in_the_archive_fails_verification(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    svc = BackupService(cfg)
    m = svc.run_sync()
    archive = cfg.data_dir / m.archive
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    r = svc.verify_sync(m.id)
    assert not r.ok
    assert any("archive sha256 differs" in x.reason for x in r.mismatches)
    assert svc.status().verification.value == "failed"
    with pytest.raises(IntegrityError):
        svc.restore_sync(m.id, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


def _crafted(path: Path, member: tarfile.TarInfo, payload: bytes = b"x\n") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        if member.isfile():
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
        else:
            tar.addfile(member)
    return path


@pytest.mark.parametrize(
    ("name", "kind", "link"),
    [
        ("../escape.jsonl", tarfile.REGTYPE, ""),
        ("assets/../../escape.jsonl", tarfile.REGTYPE, ""),
        ("/tmp/observer-abs-escape.jsonl", tarfile.REGTYPE, ""),
        ("assets/link", tarfile.SYMTYPE, "/etc/passwd"),
        ("assets/hard", tarfile.LNKTYPE, "../../etc/passwd"),
        ("assets/dev", tarfile.CHRTYPE, ""),
    ],
)
def test_restore_refuses_crafted_archives_that_leave_the_target(
    tmp_path: Path, name: str, kind: bytes, link: str
) -> None:
    cfg = _cfg(tmp_path)
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    archive = _crafted(tmp_path / "evil.tar.gz", info)
    into = tmp_path / "target" / "inner"
    with pytest.raises(IntegrityError, match="unsafe"):
        BackupService(cfg).restore_sync(str(archive), into)
    assert not into.exists()
    assert not (tmp_path / "target" / "escape.jsonl").exists()
    assert not Path("/tmp/observer-abs-escape.jsonl").exists()
    assert (
        restore_main(cfg, str(archive), into, io.StringIO(), io.StringIO())
        == IntegrityError.exit_code
    )


@pytest.mark.parametrize(
    "bad", ["../x", "/etc/passwd", "a/b", "..", "", "20261120-160000-1a2b/../x"]
)
def test_backup_ids_that_could_name_a_path_are_invalid(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        check_id(bad)


def test_verifying_an_unknown_backup_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        BackupService(_cfg(tmp_path)).verify_sync("20261120-160000-1a2b")


async def test_a_second_concurrent_backup_is_refused_as_busy(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    # enough data that the first backup is still running when the second is requested
    big = cfg.data_dir / "assets" / "scalp" / "20261119_09.jsonl"
    big.write_text("".join(_line(i) for i in range(200_000)))
    svc = BackupService(cfg)
    started = asyncio.Event()
    first = asyncio.create_task(svc.run(lambda p: started.set()))
    await asyncio.wait_for(started.wait(), 10)
    with pytest.raises(Busy):
        await svc.run()
    with pytest.raises(Busy):  # another process (the CLI) holding the lock is refused too
        BackupService(cfg).run_sync()
    m = await first
    assert BackupService(cfg).verify_sync(m.id).ok


async def test_progress_reaches_done_with_every_file_counted(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    seen: list[Progress] = []
    m = await BackupService(cfg).run(seen.append)
    await asyncio.sleep(0)
    assert seen[0].phase == "scanning" and seen[-1].phase == "done"
    assert seen[-1].files_done == seen[-1].files_total == len(m.files) == 3


def test_backup_taken_while_ingest_runs_restores_a_prefix_of_every_file(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    seg = cfg.data_dir / "assets" / "scalp" / "20261120_11.jsonl"
    stop = threading.Event()

    def writer() -> None:
        # appends lines in two halves so the file is often torn when the backup reads it
        with open(seg, "a", buffering=1 << 16) as f:
            i = 0
            deadline = time.monotonic() + 10
            while not stop.is_set() and time.monotonic() < deadline and i < 2_000_000:
                text = _line(i)
                f.write(text[:10])
                f.flush()
                f.write(text[10:])
                f.flush()
                i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(0.2)
        svc = BackupService(cfg)
        m = svc.run_sync()
    finally:
        stop.set()
        t.join()
    assert svc.verify_sync(m.id).ok
    into = tmp_path / "restored"
    svc.restore_sync(m.id, into)
    restored = (into / "assets/scalp/20261120_11.jsonl").read_bytes()
    assert restored and restored.endswith(b"\n")
    assert seg.read_bytes().startswith(restored)
    entry = next(f for f in m.files if f.path.endswith("_11.jsonl"))
    assert entry.records == restored.count(b"\n") == len(restored.splitlines())
    for line in restored.splitlines():
        json.loads(line)


def test_next_scheduled_is_the_next_backup_time_in_kst(tmp_path: Path) -> None:
    svc = BackupService(_cfg(tmp_path, OBSERVER_BACKUP_TIME="16:00"))
    # 2026-11-20 15:00 KST = 06:00 UTC
    now = 1795154400.0
    assert svc.next_scheduled(now) == now + 3600
    assert svc.next_scheduled(now + 7200) == now + 3600 + 86400
    assert BackupService(_cfg(tmp_path, OBSERVER_BACKUP_TIME="")).next_scheduled(now) is None


def test_shell_commands_back_up_verify_and_restore_with_exit_codes(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    out = io.StringIO()
    assert backup_main(cfg, out, io.StringIO()) == 0
    archive = next((cfg.data_dir / "backups" / "archives").glob("*.tar.gz"))
    assert "sha256" in out.getvalue()
    out = io.StringIO()
    assert verify_main(cfg, str(archive), out, io.StringIO()) == 0 and out.getvalue().startswith(
        "OK"
    )
    assert restore_main(cfg, str(archive), tmp_path / "r", io.StringIO(), io.StringIO()) == 0
    err = io.StringIO()
    assert restore_main(cfg, str(archive), tmp_path / "r", io.StringIO(), err) != 0
    assert "not an empty directory" in err.getvalue()
    data = bytearray(archive.read_bytes())
    data[-30] ^= 0xFF
    archive.write_bytes(bytes(data))
    out = io.StringIO()
    assert verify_main(cfg, str(archive), out, io.StringIO()) == IntegrityError.exit_code
    assert out.getvalue().startswith("FAILED")


def test_a_new_backup_verifies_itself_before_it_reports_done(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    phases: list[str] = []
    m = BackupService(cfg).run_sync(lambda p: phases.append(p.phase))
    assert phases.index("verifying") < phases.index("done")
    stored = BackupService(cfg).get(m.id)
    assert stored.verified_ok is True and stored.verified_at is not None


@pytest.mark.parametrize("where", [1 / 3, 1 / 2, 2 / 3])
def test_a_corrupted_archive_is_reported_as_invalid_compressed_data(
    tmp_path: Path, where: float
) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    m = BackupService(cfg).run_sync()
    archive = m.archive_path(cfg.data_dir)
    data = bytearray(archive.read_bytes())
    pos = int(len(data) * where)
    data[pos : pos + 8] = bytes(b ^ 0x5A for b in data[pos : pos + 8])
    archive.write_bytes(bytes(data))
    result = BackupService(cfg).verify_sync(m.id)
    reasons = [x.reason for x in result.mismatches]
    assert not result.ok
    assert any(r.startswith("archive unreadable: invalid compressed data") for r in reasons)
    # The damage is the cause: no member is blamed for what the damaged bytes decode to.
    assert not any(r in ("not in manifest", "missing from archive") for r in reasons), reasons
    out = io.StringIO()
    assert verify_main(cfg, m.id, out, io.StringIO()) == IntegrityError.exit_code
    assert "invalid compressed data" in out.getvalue() and "got  0 B" not in out.getvalue()


def test_a_truncated_archive_says_it_is_cut_short(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    m = BackupService(cfg).run_sync()
    archive = m.archive_path(cfg.data_dir)
    archive.write_bytes(archive.read_bytes()[:-40])
    reasons = [x.reason for x in BackupService(cfg).verify_sync(m.id).mismatches]
    assert any("cut short" in r or "invalid compressed data" in r for r in reasons), reasons


def test_status_says_what_a_backup_holds_and_it_matches_what_is_archived(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    contents = BackupService(cfg).status().contents
    tops = {s.name.split("/")[0] for s in collect_sources(cfg.data_dir, cfg.config_dir)}
    words = {"assets": "assets/", "observer.jsonl": "observer.jsonl", "config": "config"}
    for top in tops:
        assert words[top] in contents, top
    assert "datasets" in contents and "not in it" in contents
