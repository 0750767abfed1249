"""Exit codes: one code for usage errors (64) in every command, every code in the README."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from observer.console import cli as console_cli
from observer.daemon import errors
from observer.daemon.backup.cli import restore_main, verify_main
from observer.daemon.config import load_config
from observer.daemon.doctor.cli import main as doctor_main
from tests.harness import base_env, run_cli

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize(
    "argv",
    [["--bogus"], ["run", "--no-such-flag"], ["restore"], ["restore", "x.tar.gz"],
     ["simulate", "--malformed", "2"], ["simulate", "--rate", "fast"]],
)  # fmt: skip
def test_every_daemon_usage_error_exits_64_with_one_paragraph(tmp_path: Path, argv) -> None:
    out = run_cli(*argv, env=base_env(tmp_path), timeout=30)
    assert out.returncode == errors.EXIT_USAGE == 64, out.stderr
    assert "--help" in out.stderr or "--malformed" in out.stderr
    assert "Traceback" not in out.stderr


def test_doctor_usage_errors_exit_64_too() -> None:
    assert doctor_main(["--bogus"], stderr=io.StringIO()) == 64


def test_verify_of_a_missing_archive_and_restore_into_a_full_directory_are_usage_errors(
    tmp_path: Path,
) -> None:
    cfg = load_config(environ=base_env(tmp_path)).config
    err = io.StringIO()
    assert verify_main(cfg, str(tmp_path / "missing.tar.gz"), io.StringIO(), err) == 64
    assert "does not exist" in err.getvalue()
    assert verify_main(cfg, "20261120T070000Z-1a2b", io.StringIO(), io.StringIO()) == 64
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep").write_text("x")
    archive = tmp_path / "any.tar.gz"
    archive.write_bytes(b"not read: the target is checked first")
    err = io.StringIO()
    assert restore_main(cfg, str(archive), full, io.StringIO(), err) == 64
    assert "not an empty directory" in err.getvalue()


def test_backup_command_help_lists_only_what_they_read_and_describes_the_arguments(
    tmp_path: Path,
) -> None:
    for cmd in ("backup", "verify", "restore"):
        out = run_cli(cmd, "--help", env=base_env(tmp_path)).stdout
        for unrelated in ("--symbols", "--port", "--kis-env", "--listen"):
            assert unrelated not in out, (cmd, unrelated)
        assert "--data-dir" in out
    restore = run_cli("restore", "--help", env=base_env(tmp_path)).stdout
    assert "snapshot id" in restore and "empty or new directory" in restore


@pytest.mark.parametrize(
    "argv", [["--bogus"], ["--local-port", "70000"], ["--remote-port", "0"], ["status", "--x"]]
)
def test_every_console_usage_error_exits_64(argv, capsys) -> None:
    assert console_cli.main(argv) == 64
    assert "--help" in capsys.readouterr().err


def test_console_status_takes_target_after_the_subcommand(capsys) -> None:
    # Nothing answers there: exit 2, and the message names the target given after `status`.
    assert console_cli.main(["status", "--json", "--target", "127.0.0.1:9"]) == 2
    assert "127.0.0.1:9" in capsys.readouterr().out


def test_a_console_token_file_that_cannot_be_read_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "observer-console"), "--token-file", str(tmp_path / "n")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 64, proc.stderr
    assert "cannot read the control token file" in proc.stderr


def test_the_readme_documents_every_exit_code() -> None:
    text = README.read_text(encoding="utf-8")
    daemon = re.search(r"Exit codes of `observer-daemon`:(.*?)\n\n", text, re.S)
    console = re.search(r"Exit codes of `observer-console`:(.*?)\n\n", text, re.S)
    assert daemon and console, "README has an exit-code paragraph for each program"
    codes = {c.exit_code for c in _subclasses(errors.ObserverError)} | {0, 64, 130}
    for code in codes:
        assert re.search(rf"\b{code}\b", daemon.group(1)), f"daemon exit code {code}"
    for code in (0, 1, 2, 64, 130):
        assert re.search(rf"\b{code}\b", console.group(1)), f"console exit code {code}"


def _subclasses(cls: type[errors.ObserverError]) -> list[type[errors.ObserverError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out += _subclasses(sub)
    return out
