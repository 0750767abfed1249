"""The README's grpcurl blocks, run as written against a demo daemon on loopback.

The blocks are read from README.md (the ```sh blocks of "Scripting with grpcurl"), cut into
commands (a line, or a ``for ... done`` loop), and each runs in bash after the variables the
blocks set. Two things differ from a terminal, and only these: ``A=127.0.0.1:50051`` names
this test's free port (make demo's default port may be taken by another demo), and the
streams that run until Ctrl-C (WatchStatus, Tail) are stopped after a few seconds, which
counts as success when they printed messages and no error. The daemon runs as ``make demo``
runs it: simulator, OBSERVER_CONTAINER=false, the token in observer-runtime/demo-token.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import CONTROL_TOKEN, daemon_process

ROOT = Path(__file__).resolve().parents[1]
GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")
pytestmark = [
    pytest.mark.skipif(GRPCURL is None, reason="grpcurl not installed (make venv installs it)"),
    pytest.mark.skipif(shutil.which("jq") is None, reason="the README's blocks use jq"),
]
#: Seconds a Ctrl-C stream runs before the test stops it.
STREAM_SECONDS = 4.0


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Scripting with grpcurl") :]
    section = section[: section.index("\n## ", 3)]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def commands(blocks: list[str]) -> tuple[list[str], list[str]]:
    """(assignments, commands): ``NAME=...`` lines, and every other command of the blocks."""
    assignments: list[str] = []
    out: list[str] = []
    loop: list[str] = []
    for block in blocks:
        for line in block.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if loop or line.startswith("for "):
                loop.append(line)
                if line.strip() == "done":
                    out.append("\n".join(loop))
                    loop = []
            elif re.match(r"[A-Z]+=", line):
                assignments.append(line)
            else:
                out.append(line)
    return assignments, out


def _streams_until_stopped(command: str) -> bool:
    return "/WatchStatus" in command or "/Tail" in command


def _run(command: str, prelude: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    script = f"set -o pipefail\n{prelude}\n{command}\n"
    with subprocess.Popen(
        ["bash", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            out, err = proc.communicate(
                timeout=STREAM_SECONDS if _streams_until_stopped(command) else 90
            )
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, to the whole pipeline
            out, err = proc.communicate(timeout=30)
            return 130, out, err
    return proc.returncode, out, err


def test_the_readme_has_the_blocks_this_test_runs() -> None:
    assignments, cmds = commands(readme_blocks())
    assert "A=127.0.0.1:50051" in assignments
    assert any("observer-runtime/demo-token" in a for a in assignments)
    assert any("/TriggerBackup" in c for c in cmds) and any("/Tail" in c for c in cmds)


def test_every_grpcurl_command_of_the_readme_works_as_written(tmp_path: Path) -> None:
    assignments, cmds = commands(readme_blocks())
    runtime = tmp_path / "observer-runtime"
    runtime.mkdir()
    (runtime / "demo-token").write_text(CONTROL_TOKEN + "\n")  # as make demo writes it
    env = {**os.environ, "PATH": f"{Path(str(GRPCURL)).parent}{os.pathsep}{os.environ['PATH']}"}
    with daemon_process(tmp_path / "daemon", OBSERVER_SIM_RATE="300") as d:
        prelude = "\n".join(
            f"A={d.target}" if a.startswith("A=") else a for a in assignments
        )  # only the port differs from make demo's
        for command in cmds:
            rc, out, err = _run(command, prelude, tmp_path, env)
            where = f"README command failed:\n{command}\nexit {rc}\nstdout: {out[-800:]}\nstderr: {err[-800:]}"
            if _streams_until_stopped(command):
                assert rc == 130 and out.strip().startswith("{"), where
                assert "ERROR" not in err and "Code:" not in err, where
            else:
                assert rc == 0, where
                assert out.strip(), where
                assert "Code:" not in err, where
        verify = next(c for c in cmds if "/VerifyBackup" in c)
        rc, out, err = _run(verify, prelude, tmp_path, env)
        assert rc == 0 and json.loads(out)["ok"] is True, (out, err)
