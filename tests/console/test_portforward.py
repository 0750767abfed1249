"""The port-forward supervisor against tests/console/fake_kubectl, the stand-in kubectl.

fake_kubectl really forwards TCP to a gRPC server on loopback (the console tests' daemon
stand-in) and can be told to fail to start, to die, or to hang after "lost connection".
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from observer.console.client import ObserverClient
from observer.console.portforward import PortForward, TunnelPhase, TunnelState, meaningful
from tests.console.helpers import eventually
from tests.console.standin import run_standin

FAKE = Path(__file__).with_name("fake_kubectl")


async def _until(pf: PortForward, phase: TunnelPhase) -> TunnelState:
    await eventually(lambda: pf.state.phase is phase)
    return pf.state


@contextlib.asynccontextmanager
async def supervised(pf: PortForward) -> AsyncIterator[PortForward]:
    task = asyncio.create_task(pf.run())
    try:
        yield pf
    finally:
        await pf.stop()
        await asyncio.wait_for(task, 10)


def fake_kubectl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, target: int) -> str:
    """A kubectl command that forwards to 127.0.0.1:``target`` (calls logged in calls.log)."""
    monkeypatch.setenv("FAKE_KUBECTL_TARGET_PORT", str(target))
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(tmp_path / "calls.log"))
    # fake_kubectl runs under this interpreter: a shebang-independent command.
    wrapper = tmp_path / "kubectl"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def _pf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, target: int, **kw: object) -> PortForward:
    opts: dict[str, object] = dict(
        namespace="observer-prod",
        kubectl=fake_kubectl(monkeypatch, tmp_path, target),
        backoff_initial=0.1,
        backoff_max=0.4,
    )
    opts.update(kw)
    return PortForward("svc/observer", **opts)  # type: ignore[arg-type]


async def test_tunnel_forwards_grpc_to_the_daemon_once_connected(monkeypatch, tmp_path) -> None:
    async with run_standin() as daemon, supervised(_pf(monkeypatch, tmp_path, daemon.port)) as pf:
        await _until(pf, TunnelPhase.CONNECTED)
        async with ObserverClient(pf.target) as client:
            status = await client.get_status()
        assert status.host == "observer-7d9f-abcde"
        assert "port-forward --context" not in (tmp_path / "calls.log").read_text()
        assert "-n observer-prod" in (tmp_path / "calls.log").read_text()


async def test_tunnel_restarts_after_kubectl_reports_lost_connection_and_exits(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_DIE_AFTER", "0.5")
    async with run_standin() as daemon, supervised(_pf(monkeypatch, tmp_path, daemon.port)) as pf:
        await _until(pf, TunnelPhase.CONNECTED)
        state = await _until(pf, TunnelPhase.RECONNECTING)
        assert "lost connection to pod" in state.last_error
        await _until(pf, TunnelPhase.CONNECTED)
        assert pf.state.restarts >= 1
        assert len((tmp_path / "calls.log").read_text().splitlines()) >= 2


async def test_tunnel_restarts_a_kubectl_that_hangs_after_losing_the_pod(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_HANG_AFTER", "0.5")
    async with run_standin() as daemon, supervised(_pf(monkeypatch, tmp_path, daemon.port)) as pf:
        await _until(pf, TunnelPhase.CONNECTED)
        state = await _until(pf, TunnelPhase.RECONNECTING)
        assert "lost connection to pod" in state.last_error
        await _until(pf, TunnelPhase.CONNECTED)


async def test_tunnel_gives_up_with_kubectls_own_error_after_repeated_start_failures(
    monkeypatch, tmp_path
) -> None:
    error = 'Error from server (NotFound): services "observer" not found'
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", error)
    pf = _pf(monkeypatch, tmp_path, 1, give_up_after=3)
    async with supervised(pf):
        state = await _until(pf, TunnelPhase.GAVE_UP)
        assert state.last_error == error
        assert state.failures == 3
        assert "gave up: Error from server (NotFound)" in state.describe()
        assert len((tmp_path / "calls.log").read_text().splitlines()) == 3


async def test_retry_now_leaves_gave_up_and_connects_once_kubectl_works(
    monkeypatch, tmp_path
) -> None:
    control = tmp_path / "control"
    control.write_text("fail: error: context deadline exceeded")
    monkeypatch.setenv("FAKE_KUBECTL_CONTROL", str(control))
    async with run_standin() as daemon:
        pf = _pf(monkeypatch, tmp_path, daemon.port, give_up_after=2)
        async with supervised(pf):
            await _until(pf, TunnelPhase.GAVE_UP)
            control.write_text("")
            pf.retry_now()
            await _until(pf, TunnelPhase.CONNECTED)


async def test_backoff_grows_between_failed_starts_and_is_capped(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "error: unable to forward")
    waits: list[float] = []
    loop = asyncio.get_running_loop()

    def record(state: TunnelState) -> None:
        if state.phase is TunnelPhase.RECONNECTING and state.retry_at is not None:
            waits.append(round(state.retry_at - loop.time(), 2))

    pf = _pf(
        monkeypatch, tmp_path, 1,
        give_up_after=99, backoff_initial=0.05, backoff_max=0.2, on_change=record,
    )  # fmt: skip
    async with supervised(pf):
        await eventually(lambda: len(waits) >= 4)
    assert waits[0] < waits[1] < waits[2]
    assert max(waits) <= 0.21


async def test_keepalive_restarts_a_tunnel_that_stops_answering(monkeypatch, tmp_path) -> None:
    answers = iter([True, False, False])

    async def probe(port: int) -> bool:
        return next(answers, True)

    async with run_standin() as daemon:
        pf = _pf(monkeypatch, tmp_path, daemon.port, probe=probe, keepalive_every=0.1)
        async with supervised(pf):
            await _until(pf, TunnelPhase.CONNECTED)
            state = await _until(pf, TunnelPhase.RECONNECTING)
            assert "no answer through the tunnel 2 times" in state.last_error
            await _until(pf, TunnelPhase.CONNECTED)


async def test_without_a_kubeconfig_the_tunnel_gives_up_at_once_saying_so(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_NO_CONTEXT", "1")
    pf = _pf(monkeypatch, tmp_path, 1)
    async with supervised(pf):
        state = await _until(pf, TunnelPhase.GAVE_UP)
        assert state.failures == 0  # no port-forward was tried: it could not work
        assert "kubectl has no cluster configured" in state.last_error
        assert "current-context is not set" in state.last_error
        assert "KUBECONFIG" in state.last_error
        assert not (tmp_path / "calls.log").exists()
        monkeypatch.delenv("FAKE_KUBECTL_NO_CONTEXT")
        pf.retry_now()  # r, once the kubeconfig is there
        await _until(pf, TunnelPhase.CONNECTED)
        assert (tmp_path / "calls.log").exists()


def test_kubectls_client_log_noise_is_left_out_of_what_the_console_shows() -> None:
    noise = (
        'E1201 22:23:03.452538   31773 memcache.go:265] "Unhandled Error" err="couldn\'t get '
        'current server API group list: Get \\"http://localhost:8080/api?timeout=32s\\""'
    )
    said = "The connection to the server localhost:8080 was refused - did you specify the right host or port?"
    assert meaningful([noise, noise, noise, said]) == said
    assert meaningful([noise, noise]) == noise.split("] ", 1)[1]
