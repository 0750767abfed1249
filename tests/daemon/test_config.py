"""The environment table and its loader: precedence, defaults, validation, masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from observer.daemon import config as c
from observer.daemon.errors import ConfigError
from observer.daemon.fingerprints import Fingerprints, load_or_create


def test_nothing_set_puts_every_path_under_observer_runtime(tmp_path: Path) -> None:
    cfg = c.load_config(environ={}, cwd=tmp_path).config
    for v, path in c.written_paths(cfg):
        assert path.is_relative_to(tmp_path / "observer-runtime"), v.name
    assert cfg.uses_simulator
    assert cfg.system_log_dir == tmp_path / "observer-runtime/logs/system"


def test_flags_beat_environment_beat_env_file_beat_defaults(tmp_path: Path) -> None:
    env_file = tmp_path / "observer.env"
    env_file.write_text("SERVICE_PORT=6000\nLOG_LEVEL=DEBUG\nDB_NAME='ticks'  \n# comment\n")
    loaded = c.load_config(
        flags={"SERVICE_PORT": "7000"},
        environ={"OBSERVER_ENV_FILE": str(env_file), "SERVICE_PORT": "6500", "LOG_LEVEL": "ERROR"},
        cwd=tmp_path,
    )
    assert loaded.config.service_port == 7000
    assert loaded.origins["SERVICE_PORT"].source == "flag"
    assert loaded.config.log_level == "ERROR"
    assert loaded.origins["LOG_LEVEL"].source == "env"
    assert loaded.config.db_name == "ticks"
    assert loaded.origins["DB_NAME"].source == "env-file"
    assert loaded.origins["DB_USER"].source == "default"


def test_derived_path_defaults_follow_their_root(tmp_path: Path) -> None:
    cfg = c.load_config(environ={"OBSERVER_LOG_DIR": "/var/obs/logs"}, cwd=tmp_path).config
    assert cfg.system_log_dir == Path("/var/obs/logs/system")
    assert cfg.maintenance_log_dir == Path("/var/obs/logs/maintenance")


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("SERVICE_PORT", "fifty", "SERVICE_PORT='fifty'"),
        ("LOG_FORMAT", "xml", "expected one of text, json"),
        ("OBSERVER_SYMBOLS", "005930,ABC", "not valid: 'ABC'"),
        ("OBSERVER_BACKUP_TIME", "25:00", "HH:MM"),
    ],
)
def test_invalid_values_name_the_variable_the_value_and_the_fix(
    name: str, value: str, needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        c.load_config(environ={name: value})


def test_invalid_secret_values_are_never_echoed() -> None:
    # A secret of the wrong shape cannot exist (secrets are free text), but the helper that
    # renders values must mask them.
    v = c.var("KIS_APP_SECRET")
    fps = Fingerprints.ephemeral()
    assert "hunter2" not in c.display_value(v, "hunter2", fps)
    assert c.display_value(v, "hunter2", fps) == f"set (fingerprint {fps('hunter2')})"
    assert c.display_value(v, "hunter2") == "set"  # no installation key yet: presence only


def test_fingerprints_are_keyed_per_installation_and_reveal_nothing_offline(
    tmp_path: Path,
) -> None:
    import hashlib

    a = load_or_create(tmp_path / "a")
    assert a("canary-db-789") == load_or_create(tmp_path / "a")("canary-db-789")  # stable
    assert a("canary-db-789") != load_or_create(tmp_path / "b")("canary-db-789")  # keyed
    assert a("canary-db-789") != hashlib.sha256(b"canary-db-789").hexdigest()[:8]
    key = tmp_path / "a" / "state" / "fingerprint.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32


def test_credentials_need_a_real_or_paper_choice() -> None:
    with pytest.raises(ConfigError, match="KIS_ENV=real or KIS_ENV=paper"):
        c.load_config(environ={"KIS_APP_KEY": "k", "KIS_APP_SECRET": "s"})
    cfg = c.load_config(environ={"KIS_APP_KEY": "k", "KIS_APP_SECRET": "s", "KIS_ENV": "paper"})
    assert not cfg.config.uses_simulator


def test_half_a_credential_pair_is_refused() -> None:
    with pytest.raises(ConfigError, match="KIS_APP_SECRET is not set"):
        c.load_config(environ={"KIS_APP_KEY": "k"})


def test_production_refuses_the_simulator() -> None:
    with pytest.raises(ConfigError, match="simulated ticks"):
        c.load_config(environ={"APP_ENV": "production"})


def test_more_than_41_symbols_is_refused_before_start() -> None:
    syms = ",".join(f"{i:06d}" for i in range(42))
    with pytest.raises(ConfigError, match="at most 41"):
        c.load_config(environ={"OBSERVER_SYMBOLS": syms})


def test_unreadable_env_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"OBSERVER_ENV_FILE=.*cannot be read"):
        c.load_config(environ={"OBSERVER_ENV_FILE": str(tmp_path / "missing.env")})


def test_malformed_env_file_line_is_reported_with_its_number(tmp_path: Path) -> None:
    f = tmp_path / "bad.env"
    f.write_text("GOOD=1\nthis is not a setting\n")
    with pytest.raises(ConfigError, match="line 2"):
        c.load_config(environ={"OBSERVER_ENV_FILE": str(f)})


def test_table_keeps_the_production_variable_names() -> None:
    names = set(c.BY_NAME)
    for n in [
        "OBSERVER_DATA_DIR",
        "OBSERVER_LOG_DIR",
        "OBSERVER_CONFIG_DIR",
        "OBSERVER_SYSTEM_LOG_DIR",
        "OBSERVER_MAINTENANCE_LOG_DIR",
        "OBSERVER_SNAPSHOT_DIR",
        "KIS_TOKEN_CACHE_DIR",
        "OBSERVER_ENV_FILE",
        "DB_HOST",
        "DB_PORT",
        "DB_NAME",
        "DB_USER",
        "DB_PASSWORD",
        "KIS_APP_KEY",
        "KIS_APP_SECRET",
        "KIS_HTS_ID",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "SERVICE_PORT",
        "OBSERVER_STANDALONE",
        "APP_ENV",
        "TZ",
        "OBSERVER_MARKET",
        "OBSERVER_MIN_PRICE",
        "OBSERVER_CONTROL_TOKEN",
    ]:
        assert n in names, n


def test_every_secret_is_marked_secret_and_has_no_default() -> None:
    for v in c.ENV_TABLE:
        if v.secret:
            assert v.default == "", v.name


@pytest.mark.parametrize(
    ("name", "value"),
    [("SERVICE_PORT", "70000"), ("SERVICE_PORT", "-1"), ("DB_PORT", "0"), ("DB_PORT", "65536"),
     ("OBSERVER_METRICS_PORT", "99999")],
)  # fmt: skip
def test_ports_outside_1_to_65535_are_refused_with_the_range(name: str, value: str) -> None:
    # 70000 used to be accepted, and the server listened on 70000 mod 65536 = 4464.
    with pytest.raises(ConfigError, match=rf"{name}='{value}' .* a port is 1-65535"):
        c.load_config(environ={name: value})


def test_port_zero_is_accepted_only_where_the_table_says_what_it_means() -> None:
    cfg = c.load_config(environ={"SERVICE_PORT": "0", "OBSERVER_METRICS_PORT": "0"}).config
    assert (cfg.service_port, cfg.metrics_port) == (0, 0)
    assert c.var("OBSERVER_METRICS_PORT").kind_text == "port (1-65535; 0 = off)"
    assert c.var("DB_PORT").kind_text == "port (1-65535)"


def test_an_empty_watchlist_is_refused_with_what_to_do() -> None:
    with pytest.raises(ConfigError, match=r"OBSERVER_SYMBOLS='' .* watchlist is empty.*005930"):
        c.load_config(environ={"OBSERVER_SYMBOLS": ""})
    with pytest.raises(ConfigError, match="watchlist is empty"):
        c.load_config(environ={"OBSERVER_SYMBOLS": " , "})
    # The swing universe may be empty: it then means every symbol of the universe file.
    assert c.load_config(environ={"OBSERVER_SWING_SYMBOLS": ""}).config.swing_symbols == ()


def test_misspelled_settings_are_reported_with_the_closest_known_name(tmp_path: Path) -> None:
    env_file = tmp_path / "observer.env"
    env_file.write_text("OBSERVER_SIM_RAT=50\nKIS_APPKEY=x\nUNRELATED=1\n")
    loaded = c.load_config(
        environ={"OBSERVER_SYMBOL": "005930", "OBSERVER_ENV_FILE": str(env_file), "HOME": "/"}
    )
    found = {u.name: u for u in loaded.unknown}
    assert set(found) == {"OBSERVER_SYMBOL", "OBSERVER_SIM_RAT", "KIS_APPKEY"}
    assert found["OBSERVER_SYMBOL"].closest == "OBSERVER_SYMBOLS"
    assert found["OBSERVER_SYMBOL"].source == "env"
    assert found["OBSERVER_SIM_RAT"].source == f"env-file {env_file}"
    assert found["KIS_APPKEY"].closest == "KIS_APP_KEY"
    assert "did you mean OBSERVER_SYMBOLS?" in found["OBSERVER_SYMBOL"].message()
    assert loaded.config.symbols == c.load_config(environ={}).config.symbols  # ignored


def test_after_hours_trading_needs_krx_and_room_for_two_registrations_per_symbol() -> None:
    from observer.daemon.simulator.market import load_universe

    syms = ",".join(list(load_universe())[:21])
    with pytest.raises(ConfigError, match=r"42 registrations.*OBSERVER_AFTER_HOURS off"):
        c.load_config(environ={"OBSERVER_AFTER_HOURS": "true", "OBSERVER_SYMBOLS": syms})
    with pytest.raises(ConfigError, match="OBSERVER_MARKET=KRX"):
        c.load_config(environ={"OBSERVER_AFTER_HOURS": "true", "OBSERVER_MARKET": "NXT"})
    twenty = ",".join(list(load_universe())[:20])
    cfg = c.load_config(environ={"OBSERVER_AFTER_HOURS": "true", "OBSERVER_SYMBOLS": twenty}).config
    assert cfg.after_hours and len(cfg.symbols) == 20
