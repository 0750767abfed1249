"""RealtimeSession against the real simulator's websocket on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from observer.daemon.errors import InvalidRequest
from observer.daemon.kis.auth import KisAuth
from observer.daemon.kis.gaps import GapLog
from observer.daemon.kis.session import RealtimeSession
from observer.daemon.simulator.market import load_universe
from observer.daemon.simulator.server import Simulator
from observer.daemon.simulator.state import SimConfig

KEY = "PSfakeappkey000000000000000000000000"
SECRET = "fake-secret"
SYMS = ["005930", "000660", "035420"]


class Frames:
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def __call__(self, text: str) -> None:
        self.texts.append(text)


async def until(cond: Callable[[], bool], within: float = 10.0) -> None:
    """Poll a condition on live components (bounded: fails the test after ``within`` s)."""
    async with asyncio.timeout(within):
        while not cond():  # noqa: ASYNC110 - polling status of real servers is the point
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def session(
    tmp_path: Path, cfg: SimConfig, symbols: list[str] = SYMS, **kw: Any
) -> AsyncIterator[tuple[Simulator, RealtimeSession, Frames]]:
    sim = Simulator(cfg)
    ep = await sim.start()
    frames = Frames()
    async with httpx.AsyncClient() as client:
        auth = KisAuth(ep.rest_url, KEY, SECRET, tmp_path / "tok", client)
        s = RealtimeSession(
            ep.ws_url, auth, "H0STCNT0", symbols, frames,
            backoff_initial=0.05, backoff_max=0.2, rng=random.Random(1), **kw,
        )  # fmt: skip
        task = asyncio.create_task(s.run())
        try:
            yield sim, s, frames
        finally:
            await s.stop()
            await asyncio.wait_for(task, 10)
            await sim.stop()


def fields_ok(frame: str) -> bool:
    parts = frame.split("|", 3)
    return len(parts) == 4 and parts[2].isdigit() and len(parts[3].split("^")) == int(parts[2]) * 46


async def test_subscribed_session_streams_frames_to_on_frame(tmp_path: Path) -> None:
    async with session(tmp_path, SimConfig(seed=3, rate=2000)) as (sim, s, frames):
        await until(lambda: len(frames.texts) >= 20)
        st = s.status()
        assert st.state == "streaming"
        assert st.subscribed == tuple(SYMS)
        assert st.frames_received >= 20
        assert all(fields_ok(f) for f in frames.texts)
        assert {f.split("^", 1)[0].split("|")[3] for f in frames.texts} <= set(SYMS)
        assert sim.stats.subscribes_per_connection == [3]


def test_42_symbols_are_refused_before_anything_is_sent() -> None:
    many = list(load_universe())[:42]
    with pytest.raises(InvalidRequest, match="at most 41"):
        RealtimeSession("ws://127.0.0.1:9", None, "H0STCNT0", many, Frames())  # type: ignore[arg-type]  # refused before auth is used


async def test_set_subscriptions_with_42_symbols_changes_nothing(tmp_path: Path) -> None:
    async with session(tmp_path, SimConfig(seed=3, rate=100)) as (sim, s, _frames):
        await until(lambda: s.status().state == "streaming")
        before = sim.stats.subscribe_requests
        with pytest.raises(InvalidRequest, match="MAX SUBSCRIBE OVER"):
            await s.set_subscriptions(list(load_universe())[:42])
        assert s.status().symbols == tuple(SYMS)
        assert sim.stats.subscribe_requests == before


async def test_simulator_refuses_42nd_with_max_subscribe_over_when_client_limit_is_raised(
    tmp_path: Path,
) -> None:
    many = list(load_universe())[:42]
    cfg = SimConfig(seed=3, rate=50)
    async with session(tmp_path, cfg, many, max_registrations=50) as (sim, s, _frames):
        await until(lambda: s.status().state == "streaming")
        st = s.status()
        assert len(st.subscribed) == 41
        assert list(st.failed) == [many[41]]
        assert st.failed[many[41]].startswith("OPSP0008")
        assert "41" in st.failed[many[41]]
        assert sim.stats.ack_codes["OPSP0008"] == 1


async def test_already_in_subscribe_after_reconnect_counts_as_subscribed(tmp_path: Path) -> None:
    cfg = SimConfig(seed=3, rate=200, forget_on_close=False)
    async with session(tmp_path, cfg) as (sim, s, _frames):
        await until(lambda: s.status().state == "streaming")
        sim.drop_connections()
        await until(lambda: s.status().connections == 2 and s.status().state == "streaming")
        assert sim.stats.ack_codes.get("OPSP0002") == 3
        assert s.status().subscribed == tuple(SYMS)
        assert s.status().failed == {}


async def test_pingpong_is_echoed_with_the_same_text(tmp_path: Path) -> None:
    async with session(tmp_path, SimConfig(seed=3, rate=10, pingpong_every=0.1)) as (sim, s, _f):
        await until(lambda: sim.stats.pong_echoes >= 3)
        assert s.status().pingpongs >= 3
        assert s.status().connections == 1


async def test_dropped_connection_yields_one_gap_record_and_one_resubscription(
    tmp_path: Path,
) -> None:
    gaps = GapLog(tmp_path / "system", market_hours=lambda _dt: True)
    async with session(tmp_path, SimConfig(seed=3, rate=200), gaps=gaps) as (sim, s, _f):
        await until(lambda: s.status().state == "streaming")
        assert sim.drop_connections() == 1
        await until(lambda: s.status().connections == 2 and s.status().state == "streaming")
        await asyncio.sleep(0.2)  # a second gap or re-subscribe would show up here
    assert sim.stats.subscribes_per_connection == [3, 3]
    files = list((tmp_path / "system").glob("gap_*.jsonl"))
    assert len(files) == 1
    lines = files[0].read_text().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["symbols"] == SYMS
    assert rec["start"].endswith("+09:00") and rec["end"].endswith("+09:00")
    assert rec["duration_s"] >= 0 and rec["reason"]
    assert s.status().reconnects == 1


async def test_gap_outside_market_hours_is_not_recorded(tmp_path: Path) -> None:
    gaps = GapLog(tmp_path / "system", market_hours=lambda _dt: False)
    async with session(tmp_path, SimConfig(seed=3, rate=50), gaps=gaps) as (sim, s, _f):
        await until(lambda: s.status().state == "streaming")
        sim.drop_connections()
        await until(lambda: s.status().connections == 2 and s.status().state == "streaming")
    assert not (tmp_path / "system").exists() or not list((tmp_path / "system").iterdir())


async def test_malformed_frames_reach_on_frame_and_the_session_continues(
    tmp_path: Path,
) -> None:
    async with session(tmp_path, SimConfig(seed=3, rate=2000, malformed=0.3)) as (sim, s, fr):
        await until(lambda: sum(not fields_ok(f) for f in fr.texts) >= 10)
        await until(lambda: sum(fields_ok(f) for f in fr.texts) >= 10)
        assert s.status().state == "streaming"
        assert s.status().connections == 1
        assert sim.stats.malformed_sent >= 10


async def test_set_subscriptions_diffs_on_the_live_connection(tmp_path: Path) -> None:
    async with session(tmp_path, SimConfig(seed=3, rate=100)) as (sim, s, _f):
        await until(lambda: s.status().state == "streaming")
        await s.set_subscriptions(["000660", "035420", "035720"])
        assert s.status().subscribed == ("000660", "035420", "035720")
        assert sim.stats.unsubscribe_requests == 1
        assert sim.stats.subscribe_requests == 4
        assert sim.stats.connections == 1


async def test_invalid_symbol_sets_are_rejected_before_changing_anything(tmp_path: Path) -> None:
    async with session(tmp_path, SimConfig(seed=3, rate=10)) as (_sim, s, _f):
        await until(lambda: s.status().state == "streaming")
        with pytest.raises(InvalidRequest, match="6-digit"):
            await s.set_subscriptions(["005930", "5930"])
        assert s.status().symbols == tuple(SYMS)
        await s.set_subscriptions(["005930", "005930"])  # one registration, not two
        assert s.status().symbols == ("005930",)


async def test_a_second_session_on_the_same_app_key_is_refused_as_a_whole_and_retries_slowly(
    tmp_path: Path,
) -> None:
    async with session(tmp_path, SimConfig(seed=3, rate=50)) as (sim, first, frames):
        await until(lambda: first.status().state == "streaming")
        assert sim.endpoints is not None
        async with httpx.AsyncClient() as client:
            auth = KisAuth(sim.endpoints.rest_url, KEY, SECRET, tmp_path / "tok", client)
            other = RealtimeSession(
                sim.endpoints.ws_url, auth, "H0STCNT0", ["005380"], Frames(),
                rng=random.Random(4), in_use_backoff=(0.2, 0.4),
            )  # fmt: skip
            task = asyncio.create_task(other.run())
            await until(lambda: other.status().state == "appkey_in_use")
            st = other.status()
            assert "another session uses this app key" in st.refused
            assert "OPSP8996" in st.refused and st.last_error == st.refused
            assert st.failed == {} and st.subscribed == ()  # the session is refused, no symbol
            assert st.backoff_until is not None
            # it retries, slowly and capped, while the first keeps streaming
            seen = len(frames.texts)
            await until(lambda: other.status().connections >= 3, within=10)
            assert all(other._delay(n, 0.2, 0.4) <= 0.4 for n in range(10))
            assert len(frames.texts) > seen and first.status().state == "streaming"
            assert sim.stats.ack_codes["OPSP8996"] >= 3
            # the first lets the key go: the second streams, no longer refused
            await first.stop()
            await until(lambda: other.status().state == "streaming", within=10)
            assert other.status().refused == "" and other.status().subscribed == ("005380",)
            await other.stop()
            await task


async def test_the_simulator_answers_a_second_session_as_kis_does(tmp_path: Path) -> None:
    async with session(tmp_path, SimConfig(seed=3, rate=10)) as (sim, first, _frames):
        await until(lambda: first.status().state == "streaming")
        assert sim.endpoints is not None
        async with httpx.AsyncClient() as client:
            auth = KisAuth(sim.endpoints.rest_url, KEY, SECRET, tmp_path / "tok", client)
            key = await auth.approval_key()
        from websockets.asyncio.client import connect

        async with connect(sim.endpoints.ws_url) as ws:
            await ws.send(json.dumps({
                "header": {"approval_key": key, "custtype": "P", "tr_type": "1",
                           "content-type": "utf-8"},
                "body": {"input": {"tr_id": "H0STCNT0", "tr_key": "005380"}},
            }))  # fmt: skip
            ack = json.loads(await ws.recv())
    assert ack["header"] == {"tr_id": "(null)", "tr_key": "", "encrypt": "N"}
    assert ack["body"] == {"rt_cd": "9", "msg_cd": "OPSP8996", "msg1": "ALREADY IN USE appkey"}


async def test_stalled_feed_is_detected_and_the_session_reconnects(tmp_path: Path) -> None:
    cfg = SimConfig(seed=3, rate=200)
    async with session(tmp_path, cfg, idle_timeout=0.3) as (sim, s, _f):
        await until(lambda: s.status().state == "streaming")
        sim.stall(1.0)
        await until(lambda: s.status().connections == 2, within=10)
        assert "stalled" in s.status().last_error


async def test_unreachable_server_backs_off_with_growing_capped_delays(tmp_path: Path) -> None:
    sim = Simulator(SimConfig(seed=3))
    ep = await sim.start()
    async with httpx.AsyncClient() as client:
        auth = KisAuth(ep.rest_url, KEY, SECRET, tmp_path, client)
        s = RealtimeSession(
            "ws://127.0.0.1:9", auth, "H0STCNT0", SYMS, Frames(),
            backoff_initial=0.01, backoff_max=0.04, rng=random.Random(2),
        )  # fmt: skip
        delays = [s._delay(n) for n in range(8)]
        task = asyncio.create_task(s.run())
        await until(lambda: s.status().state == "backoff")
        assert "cannot connect" in s.status().last_error
        await s.stop()
        await asyncio.wait_for(task, 5)
    await sim.stop()
    assert s.status().state == "stopped"
    assert all(0.005 <= d <= 0.04 for d in delays)
    assert max(delays[4:]) > max(delays[:1])
    assert len(set(delays)) == len(delays)  # jittered


async def test_a_quiet_connection_with_a_slow_keepalive_is_not_taken_for_a_stall(
    tmp_path: Path,
) -> None:
    # No frames: only PINGPONG keeps the connection alive, every 0.3-0.6 s, and the
    # configured watchdog (0.45 s) is below the slowest gap: the session learns the cadence.
    cfg = SimConfig(seed=3, rate=0, pingpong_every=0.3, pingpong_jitter=1.0)
    async with session(tmp_path, cfg, idle_timeout=0.45) as (_sim, s, _f):
        await until(lambda: s.status().pingpongs >= 10, within=20)
        st = s.status()
        assert st.connections <= 2, st.last_error  # at most one before the cadence was known
        assert st.keepalive_gap >= 0.3 and st.idle_limit >= 2.5 * 0.3


def test_the_default_watchdog_is_well_above_the_simulator_s_realistic_keepalive() -> None:
    cfg = SimConfig()
    assert cfg.pingpong_every == 100.0  # KIS: about every 100+ s on a quiet connection
    slowest = cfg.pingpong_every * (1 + cfg.pingpong_jitter)
    idle = inspect.signature(RealtimeSession).parameters["idle_timeout"].default
    assert idle >= 2 * slowest


async def test_after_hours_trading_takes_a_second_registration_per_symbol_and_is_marked(
    tmp_path: Path,
) -> None:
    from datetime import datetime

    from observer.daemon.clock import KST
    from observer.daemon.kis.parser import FrameParser

    at = datetime(2026, 12, 24, 16, 30, tzinfo=KST).timestamp()  # after-hours single price
    sim = Simulator(SimConfig(seed=3, rate=200, clock=lambda: at))
    ep = await sim.start()
    frames = Frames()
    try:
        async with httpx.AsyncClient() as client:
            auth = KisAuth(ep.rest_url, KEY, SECRET, tmp_path / "tok", client)
            s = RealtimeSession(
                ep.ws_url, auth, ("H0STCNT0", "H0STOUP0"), ["005930", "000660"], frames,
                rng=random.Random(1),
            )  # fmt: skip
            task = asyncio.create_task(s.run())
            await until(lambda: s.status().subscribed == ("005930", "000660"))
            await until(lambda: any(f.startswith("0|H0STOUP0|") for f in frames.texts))
            await s.stop()
            await task
    finally:
        await sim.stop()
    regs = next(iter(sim._state.registrations.values()), set())
    assert sim.stats.ack_codes["OPSP0000"] == 4 and sim.stats.subscribe_requests == 4
    assert not regs  # released when the connection closed
    p = FrameParser(frozenset({"H0STCNT0", "H0STOUP0"}), clock=lambda: at)
    late = [t for f in frames.texts if f.startswith("0|H0STOUP0|") for t in p.parse(f)]
    assert late and {t.session for t in late} == {"after_hours"}
    assert {t.market_op for t in late} == {"40"} and p.malformed == 0


def test_the_registration_limit_counts_every_tr_of_a_symbol() -> None:
    syms = list(load_universe())[:21]
    with pytest.raises(InvalidRequest, match="42 registrations"):
        RealtimeSession("ws://x", None, ("H0STCNT0", "H0STOUP0"), syms, Frames())  # type: ignore[arg-type]
    ok = RealtimeSession("ws://x", None, ("H0STCNT0", "H0STOUP0"), syms[:20], Frames())  # type: ignore[arg-type]
    assert len(ok.status().symbols) == 20
