"""Legacy .tar.gz backups stay readable: verify and restore, refusal of crafted archives."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import pytest

from observer.daemon.backup.archive import collect_sources, write_archive
from observer.daemon.backup.cli import restore_main, verify_main
from observer.daemon.backup.engine import new_id
from observer.daemon.backup.manifest import Manifest, check_id, save_manifest
from observer.daemon.backup.service import BackupService
from observer.daemon.config import Config, load_config
from observer.daemon.errors import IntegrityError, InvalidRequest, NotFound


def _cfg(tmp_path: Path, **env: str) -> Config:
    base = {
        "OBSERVER_DATA_DIR": str(tmp_path / "data"),
        "OBSERVER_CONFIG_DIR": str(tmp_path / "config"),
        "OBSERVER_BACKUP_REPOSITORY": str(tmp_path / "repo"),
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


def _legacy(cfg: Config) -> Manifest:
    """A .tar.gz archive as earlier versions wrote them, with its manifest."""
    now = time.time()
    m = Manifest(id=new_id(now), created_at=now, daemon_version="0.0.9", archive="")
    write_archive(cfg.data_dir, collect_sources(cfg.data_dir, cfg.config_dir), m, lambda p: None)
    save_manifest(cfg.data_dir, m)
    return m


def test_a_legacy_archive_verifies_and_restores_by_id_and_by_path(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    m = _legacy(cfg)
    svc = BackupService(cfg)
    assert svc.verify_sync(m.id).ok
    assert [x.id for x in svc.list() if not x.is_snapshot] == [m.id]
    archive = cfg.data_dir / m.archive
    assert svc.verify_path_sync(str(archive)).ok
    into = tmp_path / "restored"
    assert svc.restore_sync(m.id, into) == 3
    assert (into / "assets/scalp/20261120_09.jsonl").read_bytes() == (
        cfg.data_dir / "assets/scalp/20261120_09.jsonl"
    ).read_bytes()
    opened = (into / "assets/scalp/20261120_10.jsonl").read_bytes()
    assert opened.endswith(b"\n") and (
        cfg.data_dir / "assets/scalp/20261120_10.jsonl"
    ).read_bytes().startswith(opened)
    assert (into / "config/universe.csv").read_text() == "symbol,name\n005930,Samsung\n"


def test_a_flipped_byte_in_a_legacy_archive_fails_verification(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    m = _legacy(cfg)
    svc = BackupService(cfg)
    archive = cfg.data_dir / m.archive
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    r = svc.verify_sync(m.id)
    assert not r.ok
    assert any("archive sha256 differs" in x.reason for x in r.mismatches)
    with pytest.raises(IntegrityError):
        svc.restore_sync(m.id, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()
    out = io.StringIO()
    assert verify_main(cfg, str(archive), out, io.StringIO()) == IntegrityError.exit_code
    assert out.getvalue().startswith("FAILED")


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


@pytest.mark.parametrize("where", [1 / 3, 1 / 2, 2 / 3])
def test_a_corrupted_archive_is_reported_as_invalid_compressed_data(
    tmp_path: Path, where: float
) -> None:
    cfg = _cfg(tmp_path)
    _populate(cfg)
    m = _legacy(cfg)
    archive = cfg.data_dir / m.archive
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
    m = _legacy(cfg)
    archive = cfg.data_dir / m.archive
    archive.write_bytes(archive.read_bytes()[:-40])
    reasons = [x.reason for x in BackupService(cfg).verify_sync(m.id).mismatches]
    assert any("cut short" in r or "invalid compressed data" in r for r in reasons), reasons
