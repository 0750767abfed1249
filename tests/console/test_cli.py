"""`observer-console status` against the real daemon, and where the control token comes from."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from observer.console import cli
from observer.console.token import TokenError, resolve
from tests.harness import daemon_process, free_port


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory):
    with daemon_process(tmp_path_factory.mktemp("daemon")) as d:
        yield d


def test_status_prints_the_daemon_once_and_exits_zero_when_healthy(daemon, capsys) -> None:
    assert cli.main(["--target", daemon.target, "status"]) == 0
    out = capsys.readouterr().out
    assert "healthy" in out and "startup ok" in out and "readiness ok" in out
    assert "  RPO " in out and "repository " in out  # the age off the volume, and where


def test_status_json_carries_health_probes_and_the_full_status(daemon, capsys) -> None:
    assert cli.main(["--target", daemon.target, "status", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["healthy"] is True
    assert doc["probes"]["observer.readiness"] is True
    assert doc["status"]["volumes"][0]["variables"]
    b = doc["status"]["backups"]
    assert b["repository"] and b["rpo_bound_seconds"] == 5400 and "repository_bytes" in b
    assert all("projection" in v for v in doc["status"]["volumes"])
    assert daemon.token not in json.dumps(doc)


def test_status_exits_two_with_an_operator_message_when_nothing_answers(capsys) -> None:
    assert cli.main(["--target", f"127.0.0.1:{free_port()}", "status"]) == 2
    err = capsys.readouterr().err
    assert "does not answer" in err and "port-forward" in err


def test_token_file_wins_over_the_environment(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text("from-file\n")
    token = resolve(
        token_file=f,
        secret=None,
        namespace=None,
        context=None,
        environ={"OBSERVER_CONTROL_TOKEN": "env"},
    )
    assert token is not None and token.value == "from-file"
    assert "from-file" not in repr(token)


def test_missing_token_file_is_an_operator_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="--token-file"):
        resolve(token_file=tmp_path / "nope", secret=None, namespace=None, context=None, environ={})


def test_token_comes_from_the_environment_when_no_flag_is_given() -> None:
    token = resolve(
        token_file=None,
        secret=None,
        namespace=None,
        context=None,
        environ={"OBSERVER_CONTROL_TOKEN": "e"},
    )
    assert token is not None and token.value == "e" and token.origin == "env OBSERVER_CONTROL_TOKEN"


class _FakeApiServer(BaseHTTPRequestHandler):
    """Only the Kubernetes API server is faked: the real kubernetes client talks to it."""

    secrets: ClassVar[dict[str, dict[str, str]]] = {}

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        # api/v1/namespaces/NS/secrets/NAME
        key = f"{parts[3]}/{parts[5]}" if len(parts) == 6 else ""
        if key in self.secrets:
            body: dict[str, object] = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": parts[5], "namespace": parts[3]},
                "data": self.secrets[key],
            }
            code = 200
        else:
            body = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "code": 404,
            }
            code = 404
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    _FakeApiServer.secrets = {
        "observer-prod/observer-console": {
            "OBSERVER_CONTROL_TOKEN": base64.b64encode(b"s3cret").decode()
        }
    }
    server = HTTPServer(("127.0.0.1", 0), _FakeApiServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{server.server_port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: test, context: {cluster: c, user: u}}]\n"
    )
    try:
        yield cfg
    finally:
        server.shutdown()
        server.server_close()


def test_token_is_read_from_a_kubernetes_secret_through_the_api(kubeconfig: Path) -> None:
    token = resolve(
        token_file=None,
        secret="observer-console",
        namespace="observer-prod",
        context="test",
        environ={"KUBECONFIG": str(kubeconfig)},
    )
    assert token is not None and token.value == "s3cret"
    assert token.origin == "secret observer-prod/observer-console[OBSERVER_CONTROL_TOKEN]"


def test_a_missing_secret_names_namespace_name_and_http_status(kubeconfig: Path) -> None:
    with pytest.raises(TokenError, match=r"observer-prod/other: HTTP 404"):
        resolve(
            token_file=None,
            secret="other",
            namespace="observer-prod",
            context=None,
            environ={"KUBECONFIG": str(kubeconfig)},
        )


def test_the_console_leaves_at_once_when_its_terminal_hangs_up() -> None:
    # A real console process on a pseudo-terminal that goes away. Before, the console went
    # on running (Textual spinning on the dead terminal), so `make demo` never stopped its
    # daemon.
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    env.pop("OBSERVER_CONTROL_TOKEN", None)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "observer-console"), "--target", "127.0.0.1:9"],
        stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 20
        while b"observer" not in seen and time.monotonic() < deadline:  # drawn once
            if select.select([master], [], [], 0.2)[0]:
                with contextlib.suppress(OSError):
                    seen += os.read(master, 65536)
        assert b"observer" in seen, seen[-300:]
        os.close(master)  # the terminal is gone, and no SIGHUP says so (tmux kill-server)
        assert proc.wait(timeout=10) == 128 + signal.SIGHUP
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_status_counts_todays_records_and_observers_own_bytes(daemon, capsys) -> None:
    # `today` was never filled: "0 today" beside a total of thousands.
    def scalp_today() -> int:
        cli.main(["--target", daemon.target, "status", "--json"])
        doc = json.loads(capsys.readouterr().out)
        rates = doc["status"]["collector"]["rates"]
        return int(next(r for r in rates if r["track"] == "TRACK_SCALP").get("today", 0))

    deadline = time.monotonic() + 20
    while scalp_today() == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert scalp_today() > 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        cli.main(["--target", daemon.target, "status"])
        out = capsys.readouterr().out
        if "observer measuring" not in out:
            break
        time.sleep(0.5)
    line = next(x for x in out.splitlines() if "scalp:" in x)
    assert " 0 today" not in line and "today" in line
    assert re.search(r"volume OBSERVER_DATA_DIR.*: observer \d", out), out
