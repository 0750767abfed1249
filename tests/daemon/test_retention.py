"""Retention: dry run lists, real run deletes only what is safe, and says why it kept the rest."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from observer.daemon.backup.manifest import FileEntry, Manifest, manifests_dir, save_snapshot
from observer.daemon.backup.stage import state_dir
from observer.daemon.clock import KST
from observer.daemon.config import Config, load_config
from observer.daemon.ingest.events import Emit
from observer.daemon.status.model import RetentionAction, RetentionReport
from observer.daemon.stores.parquet import convert_segment
from observer.daemon.stores.retention import Retention
from tests.storedata import scalp_path, ticks, write_lines

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=KST).timestamp()
DAY = 86400.0


#: An object-store repository: off the data volume. Retention only reads the local record of
#: its snapshots; nothing here talks to it.
OFF_VOLUME = {
    "OBSERVER_BACKUP_REPOSITORY": "s3:http://127.0.0.1:9/observer/repo",
    "OBSERVER_REPO_PASSWORD": "pw-for-records-only",
    "OBSERVER_S3_ACCESS_KEY": "ak",
    "OBSERVER_S3_SECRET_KEY": "sk-for-records-only",
}


def _cfg(tmp_path: Path, **env: str) -> Config:
    base = {"OBSERVER_DATA_DIR": str(tmp_path / "data"), "OBSERVER_LOG_DIR": str(tmp_path / "logs")}
    base.update(OFF_VOLUME)
    base.update({"OBSERVER_RETAIN_RAW_DAYS": "3", "OBSERVER_RETAIN_DATASET_DAYS": "0"})
    base.update(env)
    return load_config(environ=base, cwd=tmp_path).config


def _entry(data: Path, rel: str, sha: str | None = None) -> FileEntry:
    p = data / rel
    digest = sha or hashlib.sha256(p.read_bytes()).hexdigest()
    return FileEntry(path=rel, bytes=p.stat().st_size, sha256=digest)


def _manifest(
    data: Path, bid: str, created: float, files: list[FileEntry], ok: bool | None
) -> None:
    """A verified (ok=True), failed or unverified snapshot record holding ``files``."""
    sid = hashlib.sha256(bid.encode()).hexdigest()[:8]
    m = Manifest(
        id=bid, created_at=created, daemon_version="test", archive="", files=files,
        verified_at=created + 60 if ok is not None else None, verified_ok=ok,
        snapshot_id=sid, repository=OFF_VOLUME["OBSERVER_BACKUP_REPOSITORY"],
        verified_files=[f.path for f in files] if ok else [],
    )  # fmt: skip
    save_snapshot(state_dir(data), m)


def _legacy(data: Path, bid: str, created: float, files: list[FileEntry], ok: bool | None) -> None:
    archive = data / "backups" / "archives" / f"{bid}.tar.gz"
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_bytes(b"archive " + bid.encode())
    m = Manifest(
        id=bid,
        created_at=created,
        daemon_version="test",
        archive=f"backups/archives/{bid}.tar.gz",
        archive_bytes=archive.stat().st_size,
        files=files,
        verified_at=created + 60 if ok is not None else None,
        verified_ok=ok,
    )
    d = manifests_dir(data)
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{bid}.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")


def _old(path: Path, days: float) -> None:
    t = NOW - days * DAY
    os.utime(path, (t, t))


@pytest.fixture
def volume(tmp_path: Path) -> Config:
    """Four old closed raw files, each in a different state, the open one, logs, backups."""
    cfg = _cfg(tmp_path)
    data = cfg.data_dir
    for hour in (9, 10, 11, 12):
        seg = scalp_path(data, "20261101", hour)
        write_lines(seg, ticks("20261101", hour, 50))
        convert_segment(seg, data / "datasets")
    write_lines(scalp_path(data, "20261124", 9), ticks("20261124", 9, 10))  # the open one
    rel = [f"assets/scalp/20261101_{h}.jsonl" for h in ("09", "10", "11", "12")]
    # 09: in a verified backup. 10: in no backup. 11: only in an unverified backup.
    # 12: in a verified backup, but the copy's sha256 differs from the file.
    _manifest(data, "20261120-160000-0001", NOW - 5 * DAY,
              [_entry(data, rel[0]), _entry(data, rel[3], sha="0" * 64)], ok=True)  # fmt: skip
    _manifest(data, "20261124-160000-0002", NOW - 1 * DAY, [_entry(data, rel[2])], ok=None)
    (cfg.log_dir / "scalp").mkdir(parents=True)
    for name, age in (("scalp.log.1", 5), ("scalp.log", 0.1)):
        (cfg.log_dir / "scalp" / name).write_text("x\n")
        _old(cfg.log_dir / "scalp" / name, age)
    cfg.system_log_dir.mkdir(parents=True)
    (cfg.system_log_dir / "gap_20261001.jsonl").write_text("{}\n")
    (cfg.system_log_dir / "gap_20261120.jsonl").write_text("{}\n")
    return cfg


def _by_path(report: RetentionReport) -> dict[str, tuple[RetentionAction, str]]:
    return {i.path: (i.action, i.reason) for i in report.items}


def test_dry_run_lists_what_would_go_and_deletes_nothing(volume: Config) -> None:
    before = sorted(p for p in volume.data_dir.rglob("*") if p.is_file())
    report = Retention(volume).plan(NOW)
    assert report.dry_run
    would = sorted(i.path for i in report.items if i.action is RetentionAction.WOULD_DELETE)
    assert would == sorted(
        [
            "assets/scalp/20261101_09.jsonl",
            str(volume.log_dir / "scalp" / "scalp.log.1"),
            str(volume.system_log_dir / "gap_20261001.jsonl"),
        ]
    )
    assert sorted(p for p in volume.data_dir.rglob("*") if p.is_file()) == before
    assert report.bytes_freed > 0


def test_raw_files_that_are_not_safe_are_kept_with_the_reason(volume: Config) -> None:
    items = _by_path(Retention(volume).plan(NOW))
    kept = RetentionAction.KEPT
    assert items["assets/scalp/20261101_10.jsonl"] == (
        kept,
        "no verified snapshot off the data volume holds it",
    )
    assert items["assets/scalp/20261101_11.jsonl"] == (
        kept,
        "no verified snapshot off the data volume holds it",
    )
    assert items["assets/scalp/20261101_12.jsonl"] == (
        kept,
        "no verified snapshot off the data volume holds it with the same sha256",
    )
    item = next(i for i in Retention(volume).plan(NOW).items if i.path.endswith("_09.jsonl"))
    assert item.age_days == pytest.approx(23.5)


async def test_real_run_deletes_only_what_is_safe_and_logs_each_deletion(volume: Config) -> None:
    events: list[tuple[str, dict[str, object]]] = []
    r = Retention(volume, clock=lambda: NOW, emit=_recorder(events))
    report = await r.run(apply=True)
    assert not report.dry_run
    deleted = sorted(i.path for i in report.items if i.action is RetentionAction.DELETED)
    assert len(deleted) == 3
    data = volume.data_dir
    assert not scalp_path(data, "20261101", 9).exists()
    for hour in (10, 11, 12):
        assert scalp_path(data, "20261101", hour).exists()
    assert scalp_path(data, "20261124", 9).exists()
    assert not (volume.log_dir / "scalp" / "scalp.log.1").exists()
    assert (volume.log_dir / "scalp" / "scalp.log").exists()
    assert (volume.system_log_dir / "gap_20261120.jsonl").exists()
    assert (data / "datasets" / "track=scalp" / "date=2026-11-01" / "20261101_09.parquet").exists()
    lines = (volume.maintenance_log_dir / "retention_20261125.jsonl").read_text().splitlines()
    logged = sorted(json.loads(x)["path"] for x in lines)
    assert logged == deleted
    assert sorted(f["path"] for e, f in events if e == "retention_deleted") == deleted  # type: ignore[type-var]
    assert [e for e, _ in events][-1] == "retention"
    again = await r.run(apply=True)
    assert not any(i.action is RetentionAction.DELETED for i in again.items)


def test_raw_file_is_kept_until_its_parquet_dataset_exists(volume: Config) -> None:
    (
        volume.data_dir / "datasets" / "track=scalp" / "date=2026-11-01" / "20261101_09.parquet"
    ).unlink()
    items = _by_path(Retention(volume).plan(NOW))
    assert items["assets/scalp/20261101_09.jsonl"] == (
        RetentionAction.KEPT,
        "its Parquet dataset is missing or incomplete",
    )


def test_raw_file_is_kept_until_postgres_loaded_it_when_postgres_is_on(tmp_path: Path) -> None:
    class Progress:
        def __init__(self, done: bool) -> None:
            self.done = done

        def loaded_past(self, segment: Path) -> bool:
            return self.done

    cfg = _cfg(tmp_path, DB_HOST="127.0.0.1")
    seg = scalp_path(cfg.data_dir, "20261101", 9)
    write_lines(seg, ticks("20261101", 9, 20))
    convert_segment(seg, cfg.data_dir / "datasets")
    write_lines(scalp_path(cfg.data_dir, "20261124", 9), ticks("20261124", 9, 5))
    rel = "assets/scalp/20261101_09.jsonl"
    _manifest(cfg.data_dir, "20261120-160000-0001", NOW - DAY, [_entry(cfg.data_dir, rel)], True)
    for progress, expected in (
        (None, (RetentionAction.KEPT, "PostgreSQL has not loaded all of its lines yet")),
        (Progress(False), (RetentionAction.KEPT, "PostgreSQL has not loaded all of its lines yet")),
    ):
        assert _by_path(Retention(cfg, postgres=progress).plan(NOW))[rel] == expected
    assert _by_path(Retention(cfg, postgres=Progress(True)).plan(NOW))[rel][0] is (
        RetentionAction.WOULD_DELETE
    )


def test_a_legacy_archive_goes_only_once_snapshots_hold_every_file_in_it(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, OBSERVER_RETAIN_BACKUP_DAYS="30")
    data = cfg.data_dir
    seg = scalp_path(data, "20261001", 9)
    write_lines(seg, ticks("20261001", 9, 20))
    write_lines(scalp_path(data, "20261124", 9), ticks("20261124", 9, 5))
    rel = "assets/scalp/20261001_09.jsonl"
    _legacy(data, "20261001-160000-0001", NOW - 40 * DAY, [_entry(data, rel)], ok=True)
    archive = "backups/archives/20261001-160000-0001.tar.gz"
    kept = _by_path(Retention(cfg).plan(NOW))[archive]
    assert kept[0] is RetentionAction.KEPT and "in no verified snapshot" in kept[1]
    _manifest(data, "20261124-160000-0002", NOW - DAY, [_entry(data, rel)], ok=True)
    assert _by_path(Retention(cfg).plan(NOW))[archive][0] is RetentionAction.WOULD_DELETE


def test_a_repository_on_the_data_volume_is_no_copy(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, OBSERVER_BACKUP_REPOSITORY=str(tmp_path / "repo"),
               OBSERVER_REPO_PASSWORD="pw")  # fmt: skip
    data = cfg.data_dir
    seg = scalp_path(data, "20261101", 9)
    write_lines(seg, ticks("20261101", 9, 20))
    convert_segment(seg, data / "datasets")
    write_lines(scalp_path(data, "20261124", 9), ticks("20261124", 9, 5))
    rel = "assets/scalp/20261101_09.jsonl"
    m = Manifest(id="x", created_at=NOW - DAY, daemon_version="t", archive="",
                 files=[_entry(data, rel)], verified_ok=True, snapshot_id="0123abcd",
                 repository=str(tmp_path / "repo"), verified_files=[rel])  # fmt: skip
    save_snapshot(state_dir(data), m)
    # the same disk as the data (a laptop): it does not survive the disk, so it does not count
    assert _by_path(Retention(cfg).plan(NOW))[rel] == (
        RetentionAction.KEPT,
        "no verified snapshot off the data volume holds it",
    )


def test_zero_days_keeps_a_class_forever_in_one_summary_line(volume: Config) -> None:
    report = Retention(volume).plan(NOW)
    datasets = [i for i in report.items if i.category == "dataset"]
    assert len(datasets) == 1
    assert datasets[0].action is RetentionAction.KEPT
    assert datasets[0].reason == "all 4 file(s): kept forever (retention set to 0 days)"


def test_daily_run_is_scheduled_at_retention_time_kst(tmp_path: Path) -> None:
    r = Retention(_cfg(tmp_path, OBSERVER_RETENTION_TIME="17:00"))
    assert r.next_run(NOW) == datetime(2026, 11, 25, 17, 0, tzinfo=KST).timestamp()
    late = datetime(2026, 11, 25, 17, 0, tzinfo=KST).timestamp()
    assert r.next_run(late) == datetime(2026, 11, 26, 17, 0, tzinfo=KST).timestamp()
    assert Retention(_cfg(tmp_path, OBSERVER_RETENTION_TIME="")).next_run(NOW) is None


def _recorder(events: list[tuple[str, dict[str, object]]]) -> Emit:
    def emit(event: str, /, **fields: object) -> None:
        events.append((event, fields))

    return emit


def test_a_part_cut_by_a_rotation_on_request_is_judged_like_any_segment(volume: Config) -> None:
    data = volume.data_dir
    part = data / "assets" / "scalp" / "20261101_12_p1.jsonl"
    write_lines(part, ticks("20261101", 12, 20, start_seq=51))
    rel = "assets/scalp/20261101_12_p1.jsonl"
    report = Retention(volume).plan(NOW)
    assert _by_path(report)[rel] == (
        RetentionAction.KEPT,
        "its Parquet dataset is missing or incomplete",
    )
    convert_segment(part, data / "datasets")
    _manifest(data, "20261121-160000-0003", NOW - 4 * DAY, [_entry(data, rel)], ok=True)
    assert _by_path(Retention(volume).plan(NOW))[rel][0] is RetentionAction.WOULD_DELETE


def test_a_folder_summary_says_how_many_of_its_files_it_stands_for(tmp_path: Path) -> None:
    # "assets/scalp 1 file(s)" read as if the folder held one file; it held three.
    cfg = _cfg(tmp_path, OBSERVER_RETAIN_RAW_DAYS="3")
    scalp = cfg.data_dir / "assets" / "scalp"
    for name, hour in (
        ("20261101_06.jsonl", 6),
        ("20261101_06_p1.jsonl", 6),
        ("20261125_09.jsonl", 9),
    ):
        write_lines(scalp / name, ticks(name[:8], hour, 2))
    items = [i for i in Retention(cfg).plan(NOW).items if i.category == "raw"]
    summary = next(i for i in items if i.path == "assets/scalp")
    assert summary.reason == "1 of 3 file(s): younger than 3 day(s)"
    assert len([i for i in items if i.path.startswith("assets/scalp/")]) == 2
