"""Errors a scripting client meets, with codes and messages it can act on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from observer.daemon import probes
from observer.v1 import observer_pb2 as pb
from tests.daemon.test_api_server import AUTH, Running, running_api

#: Not a protobuf message: field 1 with wire type 7, which does not exist.
GARBAGE = b"\x0f\xff\xff\xff"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_api(tmp_path) as r:
        yield r


async def test_an_unknown_health_service_is_not_found_with_the_known_names(api: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.health.Check(health_pb2.HealthCheckRequest(service="observer.readyness"))
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    details = err.value.details() or ""
    assert "'observer.readyness'" in details
    for name in probes.ALL[1:]:
        assert name in details


async def test_every_probe_name_answers_from_the_first_call(api: Running) -> None:
    for name in probes.ALL:
        reply = await api.health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status in (reply.SERVING, reply.NOT_SERVING), name


@pytest.mark.parametrize(
    ("method", "streaming", "metadata", "expected"),
    [
        ("/observer.v1.StatusService/GetStatus", False, (), "observer.v1.GetStatusRequest"),
        ("/observer.v1.TailService/Tail", True, (), "observer.v1.TailRequest"),
        ("/observer.v1.ControlService/RotateNow", False, AUTH, "observer.v1.RotateNowRequest"),
        ("/grpc.health.v1.Health/Check", False, (), "grpc.health.v1.HealthCheckRequest"),
    ],
)
async def test_a_corrupt_request_body_is_invalid_argument_naming_the_message(
    api: Running, method: str, streaming: bool, metadata: tuple[tuple[str, str], ...], expected: str
) -> None:
    # Before, grpc answered UNKNOWN "Unexpected DecodeError".
    with pytest.raises(grpc.aio.AioRpcError) as err:
        if streaming:
            call = api.channel.unary_stream(method, None, None)(GARBAGE, metadata=metadata)
            async for _ in call:
                pass
        else:
            await api.channel.unary_unary(method, None, None)(GARBAGE, metadata=metadata)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert f"not a valid {expected}" in (err.value.details() or "")


async def test_a_control_call_with_a_corrupt_body_still_needs_the_token(api: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.channel.unary_unary("/observer.v1.ControlService/RotateNow", None, None)(GARBAGE)
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("interval", [1, 50, 99])
async def test_watch_status_below_the_floor_is_refused_with_the_floor(
    api: Running, interval: int
) -> None:
    call = api.status.WatchStatus(pb.WatchStatusRequest(min_interval_ms=interval))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call.read()
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "floor of 100 ms" in (err.value.details() or "")


async def test_watch_status_at_the_floor_and_the_default_both_stream(api: Running) -> None:
    for interval in (0, 100):
        call = api.status.WatchStatus(pb.WatchStatusRequest(min_interval_ms=interval))
        assert (await call.read()).daemon_version
        call.cancel()
