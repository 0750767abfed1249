"""Capacity you can read: per volume, the projected days until full at the retention policy
and at Observer's own bytes per trading day (its files by trade date), never at the
filesystem's growth; the steady state when the policy deletes as much as is written."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from observer.daemon import volumes as vol
from observer.daemon.api.metrics import families
from observer.daemon.clock import KST
from observer.daemon.config import load_config
from observer.daemon.status.capacity import (
    ClassUse,
    bytes_by_date,
    design_peak,
    kept_trading_days,
    max_trading_days,
    measure,
    project,
    rate,
)
from observer.daemon.status.proto import status_to_proto
from tests.daemon.test_status_build import _parts

GB = 10**9
GIB = 2**30
#: Tuesday 2026-12-01, 10:00 KST.
TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=KST).timestamp()


def test_files_kept_n_days_are_at_most_the_trading_days_of_n_plus_2_calendar_days() -> None:
    assert [max_trading_days(n) for n in (0, 1, 2, 6, 7, 8, 9, 182)] == [0, 1, 2, 5, 5, 6, 7, 130]
    # kept 7 days: just before the 17:00 run, the files of the last 9 calendar days are there
    assert kept_trading_days(7) == 7 and kept_trading_days(180) == 130


def test_a_policy_that_deletes_what_it_writes_never_fills_and_says_its_steady_state() -> None:
    classes = [ClassUse("raw", 7, 2 * GB, 0.76 * GB, 5), ClassUse("parquet", 180, GB, 0.06 * GB, 5)]
    p = project(20 * GIB, 5 * GB, 256 << 20, classes, TODAY)
    assert p.days_until_full is None
    # everything else (5 GB used - 3 GB of these files) + 7 days of raw + 130 of Parquet
    assert p.peak_bytes == int(2 * GB + 7 * 0.76 * GB + 130 * 0.06 * GB)
    assert p.bytes_per_trading_day == pytest.approx(0.82 * GB)
    assert p.text.startswith("never fills: steady state 14.1 GiB (70%) at 0.82 GB a trading day")
    assert "raw 7 d" in p.text and "parquet 180 d" in p.text


def test_a_class_kept_forever_fills_the_volume_on_the_day_the_rate_says() -> None:
    raw = ClassUse("raw", 0, 0, 1 * GB, 5, "no verified snapshot off the data volume")
    p = project(100 * GB, 10 * GB, 0, [raw], TODAY)
    # 90 GB at 1 GB a trading day: the 90th weekday after Tuesday 2026-12-01
    d, n = TODAY, 0
    while n < 90:
        d += timedelta(days=1)
        n += d.weekday() < 5
    assert p.days_until_full == (d - TODAY).days and p.peak_bytes is None
    assert "raw kept forever (no verified snapshot off the data volume)" in p.text
    assert p.text.startswith(f"fills in {(d - TODAY).days} days at 1.00 GB a trading day")


def test_a_volume_too_small_for_the_steady_state_fills_before_it_gets_there() -> None:
    raw = ClassUse("raw", 7, 0, 1 * GB, 5)
    p = project(6 * GB, 0, 0, [raw], TODAY)  # 7 GB at the steady state: never there
    assert p.days_until_full == 8  # Wed..Fri, Mon, Tue: 5 GB; the 6th GB on Wed 2026-12-09
    assert p.peak_bytes is None


def test_a_volume_already_past_its_reserve_is_full_today() -> None:
    p = project(10 * GB, 9 * GB, 2 * GB, [ClassUse("raw", 7, GB, GB, 5)], TODAY)
    assert p.days_until_full == 0 and p.text.startswith("fills in 0 days")


def test_no_complete_trading_day_yet_means_no_projection() -> None:
    p = project(20 * GIB, GB, 0, [ClassUse("raw", 7, GB, 0.0, 0)], TODAY)
    assert p.days_until_full is None and p.peak_bytes is None
    assert p.text == "no complete trading day of Observer's files yet"


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)


def _history(data: Path, logs: Path) -> None:
    """Five complete trading days (Tue..Mon) of 700 MB raw and 60 MB Parquet, and today."""
    for back in range(1, 8):
        d = TODAY - timedelta(days=back)
        if d.weekday() >= 5:
            continue
        key = f"{d:%Y%m%d}"
        for h in range(9, 16):
            _write(data / "assets" / "scalp" / f"{key}_{h:02d}.jsonl", 100_000_000)
            _write(data / "datasets" / "track=scalp" / f"date={d}" / f"{key}_{h:02d}.parquet",
                   60_000_000 // 7)  # fmt: skip
        _write(logs / "system" / f"observer_{key}.log", 1_000_000)
    _write(data / "assets" / "scalp" / f"{TODAY:%Y%m%d}_09.jsonl", 50_000_000)  # partial
    _write(data / "observer.jsonl", 12_345)  # no date: counted, not a rate


def test_observers_own_files_give_the_rate_by_trade_date(tmp_path: Path) -> None:
    _history(tmp_path / "data", tmp_path / "logs")
    dated, other = bytes_by_date(tmp_path / "data" / "assets")
    assert len(dated) == 6 and other == 0
    per_day, days = rate(dated, TODAY)
    assert days == 5 and per_day == 700_000_000  # today's partial day is not a rate


def test_measure_applies_the_policy_only_when_snapshots_go_off_the_volume(
    tmp_path: Path, other_filesystem: Path
) -> None:
    _history(tmp_path / "data", tmp_path / "logs")
    env = {
        "OBSERVER_DATA_DIR": str(tmp_path / "data"),
        "OBSERVER_LOG_DIR": str(tmp_path / "logs"),
        "OBSERVER_CONFIG_DIR": str(tmp_path / "config"),
        "OBSERVER_REPO_PASSWORD": "capacity-test",
    }
    mounts = vol.read_mounts()
    here = measure(load_config(environ=env, cwd=tmp_path).config, TODAY, mounts=mounts)
    [(mount, v)] = [(k, v) for k, v in here.items() if any(c.name == "raw" for c in v.classes)]
    raw = next(c for c in v.classes if c.name == "raw")
    assert raw.keep_days == 0 and "nothing is deleted" in raw.note  # repository on this disk
    assert raw.per_day == 700_000_000 and raw.bytes_now == 5 * 700_000_000 + 50_000_000

    env["OBSERVER_BACKUP_REPOSITORY"] = str(other_filesystem / "repo")
    off = measure(load_config(environ=env, cwd=tmp_path).config, TODAY, mounts=mounts)
    raw = next(c for c in off[mount].classes if c.name == "raw")
    parquet = next(c for c in off[mount].classes if c.name == "parquet")
    assert (raw.keep_days, parquet.keep_days) == (7, 150)
    assert parquet.per_day == pytest.approx(60_000_000, rel=1e-6)
    assert off[mount].transient == pytest.approx(700_000_000 * 60 / 390)


async def test_status_carries_the_projection_per_volume(tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    _history(tmp_path / "data", tmp_path / "logs")
    parts.status.project_capacity(now=NOW)
    status = parts.status.build()
    data = next(v for v in status.volumes if "OBSERVER_DATA_DIR" in v.variables)
    assert data.observer_bytes_per_trading_day >= 760_000_000  # raw + Parquet (+ logs if here)
    # the default repository is on this same disk: raw and Parquet are kept forever
    assert data.projected_days_until_full is not None and data.projected_days_until_full > 0
    assert data.projected_peak_bytes is None
    assert data.projection.startswith("fills in ") and "raw kept forever" in data.projection
    wire = status_to_proto(status)
    wv = next(v for v in wire.volumes if "OBSERVER_DATA_DIR" in v.variables)
    assert wv.HasField("projected_days_until_full") and not wv.HasField("projected_peak_bytes")
    assert wv.projection == data.projection
    days = [
        x.value
        for f in families(status)
        for x in f.samples
        if x.name == "observer_volume_projected_days_until_full"
        and x.labels["mount_point"] == data.mount_point
    ]
    assert days == [data.projected_days_until_full]
    await parts.http.aclose()


def test_the_default_policy_holds_the_design_load_on_a_20_gib_volume() -> None:
    cfg = load_config(environ={}, cwd=Path(tempfile.gettempdir())).config
    peak = design_peak(cfg)
    assert peak is not None and peak < 0.7 * 20 * GIB
    forever = load_config(environ={"OBSERVER_RETAIN_RAW_DAYS": "0"}, cwd=Path("/tmp")).config
    assert design_peak(forever) is None
