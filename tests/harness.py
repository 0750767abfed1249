"""Run a real ``observer-daemon`` process on loopback for end-to-end tests.

``daemon_process(root, **env)`` starts ``observer-daemon run`` with every path under
``root``, free loopback ports and a control token, waits until its startup probe reports
SERVING, yields a :class:`DaemonProcess`, and stops it with SIGTERM afterwards. The KIS
source is the daemon's built-in simulator unless the caller points KIS_REST_URL/KIS_WS_URL
elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from observer.daemon import probes
from observer.daemon.simulator.server import SimEndpoints, Simulator
from observer.daemon.simulator.state import SimConfig

CONTROL_TOKEN = "test-control-token-0123456789"
DAEMON = [sys.executable, "-m", "observer.daemon"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(root: Path, **extra: str) -> dict[str, str]:
    """An environment with nothing inherited that could point the daemon elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBSERVER_", "KIS_", "DB_"))}
    env.update(
        OBSERVER_DATA_DIR=str(root / "data"),
        OBSERVER_LOG_DIR=str(root / "logs"),
        OBSERVER_CONFIG_DIR=str(root / "config"),
        OBSERVER_CONTAINER="false",
        OBSERVER_LISTEN_ADDRESS="127.0.0.1",
        OBSERVER_MIN_FREE_MB="1",
        OBSERVER_CONTROL_TOKEN=CONTROL_TOKEN,
        OBSERVER_SIM_RATE="500",
        OBSERVER_SWING_INTERVAL="5",
        OBSERVER_BACKUP_TIME="",
        OBSERVER_BACKUP_REPOSITORY=str(root / "backup-repo"),
        OBSERVER_BACKUP_SCRATCH_DIR=str(root / "restore-scratch"),
        OBSERVER_RETENTION_TIME="",
        SERVICE_PORT=str(free_port()),
        OBSERVER_METRICS_PORT=str(free_port()),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class DaemonProcess:
    proc: subprocess.Popen[str]
    root: Path
    env: dict[str, str]
    stderr_path: Path
    stopped: bool = field(default=False)

    @property
    def port(self) -> int:
        return int(self.env["SERVICE_PORT"])

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return Path(self.env["OBSERVER_DATA_DIR"])

    @property
    def log_dir(self) -> Path:
        return Path(self.env["OBSERVER_LOG_DIR"])

    @property
    def token(self) -> str:
        return self.env["OBSERVER_CONTROL_TOKEN"]

    def output(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def health(self, service: str = probes.STARTUP, timeout: float = 2.0) -> str:
        """The health status name for ``service`` ("SERVING", "NOT_SERVING", or "UNAVAILABLE")."""
        return check_health(self.target, service, timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.stopped = True
        return self.proc.returncode

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self.stopped = True


def check_health(target: str, service: str, timeout: float = 2.0) -> str:
    with grpc.insecure_channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as e:
            return "UNAVAILABLE" if e.code() == grpc.StatusCode.UNAVAILABLE else e.code().name
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))


def start_daemon(
    root: Path,
    *,
    wait: bool = True,
    timeout: float = 30.0,
    settings: dict[str, str] | None = None,
    **env: str,
) -> DaemonProcess:
    """``settings`` and ``env``: extra environment (a dict, or as keywords)."""
    return _spawn(root, {**(settings or {}), **env}, wait=wait, timeout=timeout)


def _spawn(root: Path, env: dict[str, str], *, wait: bool, timeout: float) -> DaemonProcess:
    root.mkdir(parents=True, exist_ok=True)
    full = base_env(root, **env)
    n = len(list(root.glob("daemon-*.stderr")))
    err = root / f"daemon-{n}.stderr"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [*DAEMON, "run"],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
    d = DaemonProcess(proc, root, full, err)
    if wait:
        wait_serving(d, timeout)
    return d


def wait_serving(d: DaemonProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if d.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {d.proc.returncode}:\n{d.output()[-3000:]}")
        if d.health(probes.STARTUP, timeout=1.0) == "SERVING":
            return
        time.sleep(0.1)
    d.stop()
    raise AssertionError(f"daemon not SERVING within {timeout} s:\n{d.output()[-3000:]}")


@contextlib.contextmanager
def daemon_process(root: Path, **env: str) -> Iterator[DaemonProcess]:
    d = _spawn(root, env, wait=True, timeout=30.0)
    try:
        yield d
    finally:
        if not d.stopped:
            d.stop()


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DAEMON, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def wait_for(pred: object, timeout: float = 10.0, every: float = 0.1) -> bool:
    assert callable(pred)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(every)
    return bool(pred())


@contextlib.contextmanager
def external_simulator(cfg: SimConfig | None = None) -> Iterator[tuple[Simulator, SimEndpoints]]:
    """The KIS-protocol simulator on loopback in a thread of this process (so its counters
    can be read), for daemons pointed at it with KIS_REST_URL/KIS_WS_URL."""
    loop = asyncio.new_event_loop()
    sim = Simulator(cfg or SimConfig(rate=200, seed=7))
    ready = threading.Event()
    holder: dict[str, SimEndpoints] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        holder["ep"] = loop.run_until_complete(sim.start("127.0.0.1"))
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(10)
    try:
        yield sim, holder["ep"]
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)
        loop.close()


def kis_env(ep: SimEndpoints) -> dict[str, str]:
    """Settings that make a daemon collect from ``ep`` as from KIS (test credentials)."""
    return {
        "KIS_APP_KEY": "PSk3yForTestsOnly0000000000000000000",
        "KIS_APP_SECRET": "secretForTestsOnly" + "x" * 100,
        "KIS_ENV": "paper",
        "KIS_REST_URL": ep.rest_url,
        "KIS_WS_URL": ep.ws_url,
    }
