"""Which probe a failing writer fails: a reported error is unreadiness, a silent hang is death."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from observer.daemon import probes
from observer.daemon.api.health import HealthState
from observer.daemon.config import load_config


class _Writer:
    def __init__(self) -> None:
        self.stalled = 0.0
        self.last_error: str | None = None

    def stalled_for(self) -> float:
        return self.stalled


def _health(tmp_path: Path, w: _Writer) -> HealthState:
    cfg = load_config(
        environ={"OBSERVER_DATA_DIR": str(tmp_path), "OBSERVER_WATCHDOG_SECONDS": "5"}
    ).config
    h = HealthState(cfg)
    h.watch_writer(w)
    h.contract_passed()
    h.api_up()
    h.collector_running(True)
    return h


def test_a_full_disk_makes_the_pod_unready_but_keeps_it_alive(tmp_path: Path) -> None:
    # Restarting the pod would not free the disk and would lose the ticks held for retry.
    w = _Writer()
    h = _health(tmp_path, w)
    w.stalled = 60.0
    w.last_error = "cannot write /data/assets/scalp/x.jsonl: No space left on device (ENOSPC)"
    result = h.evaluate()
    assert result[probes.LIVENESS] == (True, "")
    ok, why = result[probes.READINESS]
    assert not ok and "ENOSPC" in why


def test_a_writer_hung_without_an_error_fails_liveness(tmp_path: Path) -> None:
    w = _Writer()
    h = _health(tmp_path, w)
    w.stalled = 6.0
    ok, why = h.evaluate()[probes.LIVENESS]
    assert not ok and "without an error" in why


async def test_not_serving_at_start_is_info_and_only_a_later_loss_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = load_config(environ={"OBSERVER_DATA_DIR": str(tmp_path)}).config
    h = HealthState(cfg)
    caplog.set_level(logging.INFO, logger="observer.daemon.api.health")
    await h.publish()  # the normal start: nothing serves yet
    assert caplog.records and all(r.levelno == logging.INFO for r in caplog.records)
    assert "collector not started yet (starting)" in caplog.text
    h.contract_passed()
    h.api_up()
    h.collector_running(True)
    await h.publish()
    caplog.clear()
    h.collector_running(False, "KIS session stopped")
    await h.publish()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and "KIS session stopped" in warnings[0].getMessage()


def test_a_refused_kis_session_makes_the_pod_unready_with_the_reason(tmp_path: Path) -> None:
    h = _health(tmp_path, _Writer())
    refused = [""]
    h.watch_session(lambda: refused[0])
    assert h.evaluate()[probes.READINESS] == (True, "")
    refused[0] = "another session uses this app key (KIS OPSP8996 ALREADY IN USE appkey)"
    ok, why = h.evaluate()[probes.READINESS]
    assert not ok and "another session uses this app key" in why
    assert h.evaluate()[probes.LIVENESS][0]  # alive: it retries on its own
