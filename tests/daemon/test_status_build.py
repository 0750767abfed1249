"""The status built from the daemon's real parts (build_parts starts nothing, so a test can
build them on a tmp directory and read the status without a network or a server)."""

from __future__ import annotations

from pathlib import Path

from observer.daemon.config import load_config
from observer.daemon.ingest.events import EventBus
from observer.daemon.ingest.recovery import recover
from observer.daemon.model import Track
from observer.daemon.parts import Parts, Source, build_parts
from observer.daemon.status.model import SinkState
from observer.daemon.status.proto import status_to_proto
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
    data.mkdir(parents=True)
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
