"""What an operator sees on a first start: bad settings refused with the fix, misspellings
named once, and what was detected about the machine."""

from __future__ import annotations

from pathlib import Path

from observer.daemon.doctor.live import check_live
from tests.harness import base_env, daemon_process, run_cli, wait_for


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
