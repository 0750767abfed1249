"""The status built from the daemon's real parts (build_parts starts nothing, so a test can
build them on a tmp directory and read the status without a network or a server)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from observer.daemon.clock import now_kst
from observer.daemon.config import load_config
from observer.daemon.ingest.events import EventBus
from observer.daemon.ingest.recovery import recover
from observer.daemon.model import Track
from observer.daemon.parts import Parts, Source, build_parts
from observer.daemon.status.model import SinkState
from observer.daemon.status.proto import status_to_proto
from observer.daemon.volumes import tree_bytes
from tests.daemon.test_api_server import tick
from tests.harness import CONTROL_TOKEN
from tests.storedata import scalp_path, ticks, write_lines


def _parts(tmp_path: Path) -> Parts:
    loaded = load_config(
        environ={
            "OBSERVER_DATA_DIR": str(tmp_path / "data"),
            "OBSERVER_LOG_DIR": str(tmp_path / "logs"),
            "OBSERVER_CONFIG_DIR": str(tmp_path / "config"),
            "OBSERVER_CONTROL_TOKEN": CONTROL_TOKEN,
        },
        cwd=tmp_path,
    )
    data = loaded.config.data_dir
    data.mkdir(parents=True, exist_ok=True)
    events = EventBus(data / "observer.jsonl")
    source = Source(
        "http://127.0.0.1:9", "ws://127.0.0.1:9", "H0STCNT0", "k", "s", 1.0, "simulator test"
    )
    return build_parts(
        loaded,
        port=None,  # type: ignore[arg-type]  # the API is built but never started here
        events=events,
        recovery=recover(data, events),
        source=source,
        warnings=[],
        started_at=0.0,
        container=False,
        stopping=lambda: False,
    )


async def test_a_failed_parquet_conversion_is_failed_in_status_with_its_error(
    tmp_path: Path,
) -> None:
    parts = _parts(tmp_path)
    data = tmp_path / "data"
    bad = scalp_path(data, "20261202", 3).with_name("20261202_03_p1.jsonl")
    bad.parent.mkdir(parents=True)
    bad.write_text('{"seq":"one"}\n', encoding="utf-8")
    write_lines(scalp_path(data, "20261202", 4), ticks("20261202", 4, 3))
    parts.parquet.on_segment_closed(bad)
    await parts.parquet.drain()
    scalp = next(s for s in parts.status.build().streams if s.name == "scalp")
    parquet = next(k for k in scalp.sinks if k.name == "parquet")
    assert parquet.state is SinkState.FAILED
    assert "converting 20261202_03_p1.jsonl failed" in parquet.last_error
    swing = next(s for s in parts.status.build().streams if s.name == "swing")
    assert next(k for k in swing.sinks if k.name == "parquet").state is SinkState.OK
    wire = status_to_proto(parts.status.build())
    assert "20261202_03_p1.jsonl" in wire.streams[0].sinks[0].last_error
    await parts.http.aclose()


def _fill(path: Path, mib: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(b"x" * (mib << 20))
        f.flush()
        os.fsync(f.fileno())


async def test_time_to_full_follows_observers_own_growth_not_another_tenants(
    tmp_path: Path,
) -> None:
    parts = _parts(tmp_path)
    b = parts.status
    b.sample_volumes(0.0, walk=True)
    data = next(v for v in b.build().volumes if "OBSERVER_DATA_DIR" in v.variables)
    assert data.observer_bytes is not None and data.observer_bytes < data.used_bytes
    _fill(tmp_path / "data" / "assets" / "scalp" / "20261202_09.jsonl", 2)  # Observer's
    _fill(tmp_path / "tenant" / "big.bin", 40)  # someone else on the same filesystem
    b.sample_volumes(10.0, walk=True)
    data = next(v for v in b.build().volumes if "OBSERVER_DATA_DIR" in v.variables)
    mib = 1 << 20
    assert 0.19 * mib <= data.observer_growth_bytes_per_second <= 0.25 * mib  # 2 MiB in 10 s
    assert data.observer_bytes is not None and data.observer_bytes >= 2 * mib
    assert data.seconds_until_full is not None
    assert data.seconds_until_full == pytest.approx(
        data.free_bytes / data.observer_growth_bytes_per_second, rel=1e-6
    )
    # The filesystem's own growth (every writer, the tenant included) is still reported.
    assert data.growth_bytes_per_second > data.observer_growth_bytes_per_second
    wire = status_to_proto(b.build()).volumes[0]
    assert wire.HasField("observer_bytes") and wire.observer_growth_bytes_per_second > 0
    await parts.http.aclose()


def test_observers_bytes_count_nested_paths_once_and_follow_no_links(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _fill(root / "a" / "f", 1)
    _fill(root / "snapshots" / "g", 1)
    outside = tmp_path / "outside"
    _fill(outside / "h", 4)
    (root / "link").symlink_to(outside)
    once = tree_bytes([root])
    assert tree_bytes([root, root / "snapshots", root / "a"]) == once
    assert 2 << 20 <= once < 3 << 20


async def test_today_counts_the_days_records_across_a_restart(tmp_path: Path) -> None:
    today = now_kst().strftime("%Y%m%d")
    data = tmp_path / "data"
    write_lines(scalp_path(data, today, 9), ticks(today, 9, 25))  # before a restart
    parts = _parts(tmp_path)
    scalp = next(r for r in parts.status.build().collector.rates if r.track is Track.SCALP)
    assert (scalp.total, scalp.today, scalp.last_at) == (0, 25, None)
    writer = parts.writers[Track.SCALP]
    await writer.start()
    before = time.time()
    await parts.hub.publish(Track.SCALP, [tick(i, date=today) for i in range(5)])
    status = parts.status.build()
    scalp = next(r for r in status.collector.rates if r.track is Track.SCALP)
    assert (scalp.total, scalp.today) == (5, 30)
    assert scalp.last_at is not None and before <= scalp.last_at <= time.time()
    [wire] = [r for r in status_to_proto(status).collector.rates if r.HasField("last_at")]
    assert wire.last_at.seconds == int(scalp.last_at)  # the swing track published nothing
    await writer.close()
    await parts.http.aclose()


async def test_rates_count_records_over_the_last_second_and_minute(tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    for w in parts.writers.values():
        await w.start()
    now = 1000.0
    for _ in range(11):
        parts.status.sample(now)
        await parts.hub.publish(Track.SCALP, list(ticks("20261202", 9, 30)))
        now += 1.0
    parts.status.sample(now)
    (scalp,) = [r for r in parts.status.build().collector.rates if r.track is Track.SCALP]
    assert (scalp.rate_1s, scalp.rate_1m, scalp.total) == (30.0, 30.0, 330)
    for w in parts.writers.values():
        await w.close()
    await parts.http.aclose()
