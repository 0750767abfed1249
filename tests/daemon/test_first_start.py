"""What an operator sees on a first start: bad settings refused with the fix, misspellings
named once, and what was detected about the machine."""

from __future__ import annotations

import re
import signal
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from observer.daemon.doctor.live import check_live
from tests.harness import DAEMON, base_env, daemon_process, run_cli, wait_for


def test_a_port_out_of_range_stops_the_daemon_before_it_listens(tmp_path: Path) -> None:
    out = run_cli("run", env=base_env(tmp_path, SERVICE_PORT="70000"), timeout=30)
    assert out.returncode == 2, out.stderr
    assert "SERVICE_PORT='70000' from env is invalid: a port is 1-65535" in out.stderr
    assert "Traceback" not in out.stderr


def test_an_empty_watchlist_stops_the_daemon(tmp_path: Path) -> None:
    out = run_cli("run", env=base_env(tmp_path, OBSERVER_SYMBOLS=""), timeout=30)
    assert out.returncode == 2, out.stderr
    assert "OBSERVER_SYMBOLS='' from env is invalid: the watchlist is empty" in out.stderr


def test_a_misspelled_setting_is_warned_about_once_at_start(tmp_path: Path) -> None:
    env_file = tmp_path / "observer.env"
    env_file.write_text("OBSERVER_SIM_RAT=50\n")
    with daemon_process(tmp_path, OBSERVER_SYMBOL="005930", OBSERVER_ENV_FILE=str(env_file)) as d:
        assert wait_for(lambda: "collecting" in d.output(), timeout=20)
        log = d.output()
    line = "OBSERVER_SYMBOL (from env) is not a setting of observer-daemon and is ignored; did you mean OBSERVER_SYMBOLS?"
    assert log.count(line) == 1, log
    assert log.count("OBSERVER_SIM_RAT (from env-file") == 1
    assert "did you mean OBSERVER_SIM_RATE?" in log


def test_config_and_doctor_name_the_misspelled_setting(tmp_path: Path) -> None:
    env = base_env(tmp_path, OBSERVER_SYMBOL="005930")
    out = run_cli("config", env=env)
    assert out.returncode == 0, out.stderr
    assert "did you mean OBSERVER_SYMBOLS?" in out.stdout
    findings = check_live(env)
    assert any(f.object == "OBSERVER_SYMBOL" and "OBSERVER_SYMBOLS" in f.fix for f in findings)


def _auto_env(tmp_path: Path) -> dict[str, str]:
    """Container mode left to auto-detection, on a machine that looks like a pod."""
    env = base_env(tmp_path, KUBERNETES_SERVICE_HOST="10.43.0.1")
    del env["OBSERVER_CONTAINER"]
    return env


def test_a_detected_container_is_named_with_its_evidence_and_the_opt_out(tmp_path: Path) -> None:
    out = run_cli("run", env=_auto_env(tmp_path), timeout=30)
    if out.returncode == 0 or "not on a persistent volume" not in out.stderr:
        pytest.skip("tmp_path is on a mounted volume here, not the root filesystem")
    assert out.returncode == 3, out.stderr
    assert (
        "Container mode is on: OBSERVER_CONTAINER=auto detected a container "
        "(KUBERNETES_SERVICE_HOST is set); on a laptop or VM (not a container) set "
        "OBSERVER_CONTAINER=false." in out.stderr
    )
    assert out.stderr.count("Container mode is on") == 1


def test_config_shows_what_auto_resolved_to_and_why(tmp_path: Path) -> None:
    out = run_cli("config", env=_auto_env(tmp_path))
    line = next(x for x in out.stdout.splitlines() if x.startswith("OBSERVER_CONTAINER"))
    assert "auto -> true (detected a container: KUBERNETES_SERVICE_HOST is set" in line
    assert "OBSERVER_CONTAINER=false" in line
    listen = next(x for x in out.stdout.splitlines() if x.startswith("OBSERVER_LISTEN_ADDRESS"))
    assert "127.0.0.1" in listen  # base_env sets it explicitly: no "auto" to resolve
    env = _auto_env(tmp_path)
    env["OBSERVER_CONTAINER"] = "false"
    line = next(
        x for x in run_cli("config", env=env).stdout.splitlines()
        if x.startswith("OBSERVER_CONTAINER")
    )  # fmt: skip
    assert "detected" not in line


def test_doctor_says_how_container_mode_was_decided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.43.0.1")
    env = _auto_env(tmp_path)
    findings = check_live(env)
    mode = next(f for f in findings if f.object == "OBSERVER_CONTAINER")
    assert "detected a container (KUBERNETES_SERVICE_HOST is set)" in mode.message
    assert "OBSERVER_CONTAINER=false" in mode.message
    for f in findings:
        if "not on a persistent volume" in f.message:
            assert "OBSERVER_CONTAINER=false" in f.fix


def test_the_demo_status_line_shows_kst_with_its_offset(tmp_path: Path) -> None:
    env = base_env(tmp_path, TZ="UTC")  # the machine's zone must not matter
    with subprocess.Popen(
        [*DAEMON, "demo", "--every", "0.5"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline() for _ in range(2)]  # the banner, then a status
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    m = re.match(r"(\d\d):(\d\d):\d\d\+09:00 ", lines[1])
    assert m, lines
    kst_hour = datetime.now(timezone(timedelta(hours=9))).hour
    assert int(m.group(1)) in (kst_hour, (kst_hour - 1) % 24)
