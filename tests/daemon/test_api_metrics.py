"""Prometheus metrics served from status snapshots on their own port."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from observer.daemon.api.metrics import MetricsServer
from observer.daemon.model import Track
from tests.daemon.test_api_server import CANARY, TOKEN, LoopbackDaemon, make_config, tick


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_metrics_expose_ticks_backups_and_health_without_secrets(tmp_path: Path) -> None:
    cfg, origins = make_config(tmp_path, OBSERVER_METRICS_PORT=str(_free_port()))
    d = LoopbackDaemon(cfg, origins)
    await d.start()
    m = MetricsServer(d, cfg)
    try:
        port = m.start()
        await d.hub.publish(Track.SCALP, [tick(i) for i in range(7)])
        await d.backups.run()
        await d.health.refresh()
        m.update()
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        m.stop()
        await d.stop()
    assert "observer_backup_last_success_timestamp_seconds" in text
    assert 'observer_health_serving{service="observer.readiness"} 1.0' in text
    assert "observer_tail_subscribers 0.0" in text
    assert "python_gc" not in text  # a private registry, not the process-global one
    assert CANARY not in text and TOKEN not in text


def test_metrics_are_off_when_the_port_is_zero(tmp_path: Path) -> None:
    cfg, origins = make_config(tmp_path, OBSERVER_METRICS_PORT="0")
    assert MetricsServer(LoopbackDaemon(cfg, origins), cfg).start() == 0
