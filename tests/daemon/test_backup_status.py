"""The RPO you can see: status (model, wire, JSON) and metrics say the age of the newest data
off the volume, the repository without credentials, its size and the last verified snapshot,
and the RPO is over its bound only during market hours. Against a real restic repository."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from observer.daemon.api.metrics import families
from observer.daemon.backup.service import BackupService
from observer.daemon.clock import KST
from observer.daemon.config import Config, load_config
from observer.daemon.status import model as st
from observer.daemon.status.proto import status_to_proto
from tests.storedata import scalp_path, ticks, write_lines

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic not installed")

PASSWORD = "status-test-password-7"
#: Tuesday 2026-11-24 10:00 KST: market hours.
MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=KST).timestamp()


def _cfg(tmp_path: Path, repo: str, **env: str) -> Config:
    base = {
        "OBSERVER_DATA_DIR": str(tmp_path / "data"),
        "OBSERVER_CONFIG_DIR": str(tmp_path / "config"),
        "OBSERVER_LOG_DIR": str(tmp_path / "logs"),
        "OBSERVER_BACKUP_REPOSITORY": repo,
        "OBSERVER_REPO_PASSWORD": PASSWORD,
        "OBSERVER_BACKUP_SCRATCH_DIR": str(tmp_path / "scratch"),
        "OBSERVER_BACKUP_RPO_MINUTES": "90",
        "OBSERVER_MIN_FREE_MB": "1",
    }
    base.update(env)
    return load_config(environ=base, cwd=tmp_path).config


def _metric(status: st.Status, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for fam in families(status):
        for s in fam.samples:
            if s.name == name:
                out.append((dict(s.labels), s.value))
    return out


def _status(b: st.BackupStatus) -> st.Status:
    return st.Status(
        daemon_version="t", app_env="development", started_at=0.0, source=st.Source.SIMULATOR,
        backups=b, generated_at=MORNING,
    )  # fmt: skip


def test_status_says_the_rpo_the_repository_its_size_and_the_last_verified_snapshot(
    tmp_path: Path, other_filesystem: Path
) -> None:
    repo = other_filesystem / "repo"
    cfg = _cfg(tmp_path, str(repo))
    write_lines(scalp_path(cfg.data_dir, "20261124", 9), ticks("20261124", 9, 2000))
    now = [MORNING]
    svc = BackupService(cfg, clock=lambda: now[0])

    before = svc.status()
    assert before.repository == str(repo) and before.off_volume
    assert before.rpo_seconds is None and before.rpo_over_bound  # nothing off the volume yet
    assert before.repository_bytes is None  # not measured yet: absent, not "0 B"
    assert svc.measure_repository() == 0 and svc.status().repository_bytes == 0

    m = svc.run_sync(now=MORNING)
    now[0] = MORNING + 30 * 60
    b = svc.status()
    assert b.newest_snapshot == m.short_id and b.newest_snapshot_at == MORNING
    assert b.rpo_seconds == pytest.approx(30 * 60)
    assert b.rpo_bound_seconds == 90 * 60 and not b.rpo_over_bound
    assert b.repository_bytes is not None and b.repository_bytes > 10_000
    assert b.repository_measured_at == MORNING
    assert b.last_verified_snapshot == m.short_id and b.last_verified_at is not None
    assert b.snapshots == 1 and b.legacy_archives == 0

    now[0] = MORNING + 100 * 60  # 11:40, no new snapshot: over the 90-minute bound
    late = svc.status()
    assert late.rpo_seconds == pytest.approx(100 * 60) and late.rpo_over_bound
    now[0] = MORNING + 10 * 3600  # 20:00: outside market hours the bound does not apply
    assert not svc.status().rpo_over_bound

    now[0] = MORNING + 100 * 60
    s = _status(svc.status())
    wire = status_to_proto(s).backups
    assert wire.rpo_seconds == pytest.approx(100 * 60) and wire.HasField("rpo_seconds")
    assert wire.rpo_over_bound and wire.off_volume and wire.repository == str(repo)
    assert wire.repository_bytes == b.repository_bytes
    assert wire.last_verified_snapshot == m.short_id and wire.newest_snapshot == m.short_id
    assert wire.newest_snapshot_at.ToSeconds() == int(MORNING)
    d = st.to_json_dict(s)["backups"]
    assert d["rpo_seconds"] == pytest.approx(6000) and d["newest_snapshot_at"].endswith("+09:00")

    [(labels, rpo)] = _metric(s, "observer_backup_rpo_seconds")
    assert labels == {"repository": str(repo)} and rpo == pytest.approx(6000)
    assert _metric(s, "observer_backup_rpo_over_bound") == [({}, 1.0)]
    assert _metric(s, "observer_backup_repository_bytes")[0][1] == b.repository_bytes
    assert _metric(s, "observer_backup_last_verified_timestamp_seconds")[0][1] == b.last_verified_at
    assert _metric(s, "observer_backup_off_volume")[0][1] == 1.0


def test_a_repository_on_the_data_volumes_filesystem_is_not_off_the_volume(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, str(tmp_path / "repo"))
    b = BackupService(cfg, clock=lambda: MORNING).status()
    assert b.repository == str(tmp_path / "repo") and not b.off_volume
    assert _metric(_status(b), "observer_backup_off_volume")[0][1] == 0.0
    assert _metric(_status(b), "observer_backup_rpo_seconds") == []  # no snapshot: no age
    write_lines(scalp_path(cfg.data_dir, "20261124", 9), ticks("20261124", 9, 200))
    svc = BackupService(cfg, clock=lambda: MORNING)
    m = svc.run_sync(now=MORNING - 60)
    # a snapshot a minute old, but on the data's own disk: nothing is off the volume
    b = svc.status()
    assert b.newest_snapshot == m.short_id and b.rpo_seconds is None and b.rpo_over_bound
    assert _metric(_status(b), "observer_backup_rpo_seconds") == []


def test_the_repository_is_shown_without_its_credentials(tmp_path: Path) -> None:
    secret = "pa55-in-the-url"
    cfg = _cfg(tmp_path, f"rest:http://observer:{secret}@127.0.0.1:9/repo")
    b = BackupService(cfg, clock=lambda: MORNING).status()
    assert b.repository == "rest:http://127.0.0.1:9/repo"
    s = _status(b)
    shown = json.dumps(st.to_json_dict(s)) + str(status_to_proto(s))
    shown += "".join(str(f.samples) for f in families(s))
    assert secret not in shown and PASSWORD not in shown


async def test_the_schedule_measures_the_repository_at_start(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, str(tmp_path / "repo"), OBSERVER_BACKUP_TIME="")
    write_lines(scalp_path(cfg.data_dir, "20261124", 9), ticks("20261124", 9, 200))
    BackupService(cfg).run_sync()  # a repository that already holds a snapshot
    svc = BackupService(cfg)  # a daemon starting on it
    assert svc.status().repository_bytes is None
    task = asyncio.create_task(svc.schedule_loop())
    try:
        for _ in range(200):
            if svc.status().repository_bytes:
                break
            await asyncio.sleep(0.05)
        b = svc.status()
        assert b.repository_bytes is not None and b.repository_bytes > 1000
        assert b.repository_measured_at is not None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_rpo_over_its_bound_is_degraded_in_the_daemons_status(
    tmp_path: Path, other_filesystem: Path
) -> None:
    from tests.daemon.test_status_build import _parts

    parts = _parts(tmp_path)  # the default repository: ./observer-runtime, the data's disk
    parts.backups._clock = lambda: MORNING  # market hours
    [line] = [x for x in parts.status.build().degraded if x.startswith("backups:")]
    repo = tmp_path / "observer-runtime" / "backup-repo"
    assert line == (
        f"backups: nothing is off the data volume: the repository {repo} is on the data's own "
        "disk (set OBSERVER_BACKUP_REPOSITORY to an object store or a directory on another "
        "disk), over OBSERVER_BACKUP_RPO_MINUTES=90 during market hours"
    )
    engine, other = parts.backups.engine, str(other_filesystem / "repo")
    engine.repository = dataclasses.replace(engine.repository, location=other, display=other)
    [line] = [x for x in parts.status.build().degraded if x.startswith("backups:")]
    assert line == (
        "backups: nothing is off the data volume yet, over OBSERVER_BACKUP_RPO_MINUTES=90 "
        "during market hours"
    )
    parts.backups._clock = lambda: MORNING + 10 * 3600  # 20:00
    assert not [x for x in parts.status.build().degraded if x.startswith("backups:")]
    await parts.http.aclose()
