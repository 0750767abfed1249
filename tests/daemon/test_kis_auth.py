"""KisAuth against the real simulator on loopback: token cache, reissue limit, errors."""

from __future__ import annotations

import asyncio
import contextlib
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from observer.daemon.errors import KisAuthError, KisError, KisRateLimited
from observer.daemon.kis.auth import KisAuth
from observer.daemon.simulator.server import SimEndpoints, Simulator
from observer.daemon.simulator.state import SimConfig

KEY = "PSfakeappkey000000000000000000000000"
SECRET = "fake-secret-" + "x" * 168


@contextlib.asynccontextmanager
async def running(cfg: SimConfig) -> AsyncIterator[tuple[Simulator, SimEndpoints]]:
    sim = Simulator(cfg)
    ep = await sim.start()
    try:
        yield sim, ep
    finally:
        await sim.stop()


async def test_five_restarts_with_one_cache_dir_issue_exactly_one_token(tmp_path: Path) -> None:
    async with running(SimConfig(seed=1)) as (sim, ep):
        sources = []
        tokens = set()
        for _ in range(5):  # five daemon restarts: new client, new KisAuth, same cache
            async with httpx.AsyncClient() as client:
                auth = KisAuth(ep.rest_url, KEY, SECRET, tmp_path, client)
                tokens.add(await auth.access_token())
                sources.append(auth.status().source)
        assert sim.stats.token_issuances == 1
        assert len(tokens) == 1
        assert sources == ["issued", "cache", "cache", "cache", "cache"]


async def test_token_cache_file_is_mode_0600(tmp_path: Path) -> None:
    async with running(SimConfig(seed=1)) as (_sim, ep), httpx.AsyncClient() as client:
        auth = KisAuth(ep.rest_url, KEY, SECRET, tmp_path / "cache", client)
        await auth.access_token()
        mode = stat.S_IMODE(auth.cache_file.stat().st_mode)
        assert mode == 0o600
        assert [p.name for p in auth.cache_file.parent.iterdir()] == [auth.cache_file.name]


async def test_status_never_contains_the_token_or_secret(tmp_path: Path) -> None:
    async with running(SimConfig(seed=1)) as (_sim, ep), httpx.AsyncClient() as client:
        auth = KisAuth(ep.rest_url, KEY, SECRET, tmp_path, client)
        token = await auth.access_token()
        shown = repr(auth.status())
        assert token not in shown and SECRET not in shown and KEY not in shown
        assert auth.status().token_present


async def test_concurrent_callers_share_one_issuance(tmp_path: Path) -> None:
    async with running(SimConfig(seed=1)) as (sim, ep), httpx.AsyncClient() as client:
        auth = KisAuth(ep.rest_url, KEY, SECRET, tmp_path, client)
        got = await asyncio.gather(*(auth.access_token() for _ in range(10)))
        assert len(set(got)) == 1
        assert sim.stats.token_issuances == 1


async def test_another_app_key_does_not_reuse_the_cached_token(tmp_path: Path) -> None:
    async with running(SimConfig(seed=1)) as (sim, ep), httpx.AsyncClient() as client:
        a = await KisAuth(ep.rest_url, KEY, SECRET, tmp_path, client).access_token()
        b = await KisAuth(ep.rest_url, KEY + "2", SECRET, tmp_path, client).access_token()
        assert a != b
        assert sim.stats.token_issuances == 2


async def test_token_close_to_expiry_is_reissued(tmp_path: Path) -> None:
    cfg = SimConfig(seed=1, reissue_limit=0, token_ttl=3600)
    async with running(cfg) as (sim, ep), httpx.AsyncClient() as client:
        await KisAuth(ep.rest_url, KEY, SECRET, tmp_path, client).access_token()
        later = KisAuth(
            ep.rest_url, KEY, SECRET, tmp_path, client, clock=lambda: time.time() + 3600 - 300
        )
        await later.access_token()  # 5 min left < 10 min margin: reissue
        assert later.status().source == "issued"
        assert sim.stats.token_issuances == 2


async def test_reissue_limit_is_waited_out_once_then_succeeds(tmp_path: Path) -> None:
    now = [time.time()]
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:  # waiting advances the simulator's clock
        sleeps.append(s)
        now[0] += s

    cfg = SimConfig(seed=1, reissue_limit=60, clock=lambda: now[0])
    async with running(cfg) as (sim, ep), httpx.AsyncClient() as client:
        first = KisAuth(ep.rest_url, KEY, SECRET, tmp_path, client)
        await first.access_token()
        first.invalidate()  # e.g. the cache was lost: the next process must reissue
        second = KisAuth(ep.rest_url, KEY, SECRET, tmp_path, client, sleep=fake_sleep)
        await second.access_token()
        assert sleeps == [61.0]
        assert sim.stats.token_refusals == 1
        assert sim.stats.token_issuances == 2


async def test_reissue_limit_refused_twice_raises_without_looping(tmp_path: Path) -> None:
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:  # the clock does not move: KIS keeps refusing
        sleeps.append(s)

    async with running(SimConfig(seed=1, reissue_limit=3600)) as (sim, ep):
        async with httpx.AsyncClient() as client:
            await KisAuth(ep.rest_url, KEY, SECRET, tmp_path / "a", client).access_token()
            auth = KisAuth(ep.rest_url, KEY, SECRET, tmp_path / "b", client, sleep=fake_sleep)
            with pytest.raises(KisRateLimited, match="EGW00133") as info:
                await auth.access_token()
        assert info.value.code == "EGW00133"
        assert sleeps == [61.0]
        assert sim.stats.token_refusals == 2
        assert "EGW00133" in auth.status().last_error


async def test_refuse_tokens_knob_gives_clear_auth_error(tmp_path: Path) -> None:
    async with (
        running(SimConfig(seed=1, refuse_tokens=True)) as (_sim, ep),
        httpx.AsyncClient() as client,
    ):
        auth = KisAuth(ep.rest_url, KEY, SECRET, tmp_path, client)
        with pytest.raises(KisAuthError) as info:
            await auth.access_token()
    msg = str(info.value)
    assert "KIS_APP_KEY" in msg and "refused an access token" in msg
    assert SECRET not in msg and KEY not in msg
    assert not auth.cache_file.exists()


async def test_approval_key_is_36_characters_and_kept(tmp_path: Path) -> None:
    async with running(SimConfig(seed=1)) as (sim, ep), httpx.AsyncClient() as client:
        auth = KisAuth(ep.rest_url, KEY, SECRET, tmp_path, client)
        key = await auth.approval_key()
        assert len(key) == 36
        assert await auth.approval_key() == key
        auth.invalidate_approval()
        assert await auth.approval_key() != key
        assert sim.stats.approval_issuances == 2


async def test_the_approval_key_is_reissued_once_a_day(tmp_path: Path) -> None:
    now = [1_795_140_000.0]
    async with running(SimConfig(seed=1)) as (sim, ep), httpx.AsyncClient() as client:
        auth = KisAuth(ep.rest_url, KEY, SECRET, tmp_path, client, clock=lambda: now[0])
        key = await auth.approval_key()
        now[0] += 20 * 3600
        assert await auth.approval_key() == key and sim.stats.approval_issuances == 1
        now[0] += 4 * 3600  # a day after it was issued
        fresh = await auth.approval_key()
        assert fresh != key and sim.stats.approval_issuances == 2
        st = auth.status()
        assert st.approval_issued_at == now[0] and st.approval_expires_at == now[0] + 86_400


async def test_unreachable_server_gives_kis_error_naming_the_setting(tmp_path: Path) -> None:
    async with httpx.AsyncClient() as client:
        auth = KisAuth("http://127.0.0.1:9", KEY, SECRET, tmp_path, client)
        with pytest.raises(KisError, match="KIS_REST_URL") as info:
            await auth.access_token()
    assert SECRET not in str(info.value)
