"""The KIS-protocol simulator: frame format, tick sizes, determinism, knobs, CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from observer.daemon.clock import KST
from observer.daemon.config import load_config
from observer.daemon.kis.parser import FrameParser
from observer.daemon.simulator.cli import config_from_args
from observer.daemon.simulator.market import (
    FIELDS_PER_RECORD,
    Market,
    load_universe,
    malformed,
    on_tick,
    tick_size,
)
from observer.daemon.simulator.server import Simulator
from observer.daemon.simulator.state import SimConfig

FIXED = datetime(2026, 3, 16, 10, 30, 15, tzinfo=KST).timestamp()  # a Monday, in session


@contextlib.asynccontextmanager
async def subscribed(
    cfg: SimConfig, symbols: list[str]
) -> AsyncIterator[tuple[Simulator, ClientConnection]]:
    """A raw websocket client with an approval key, subscribed to ``symbols``."""
    import httpx

    sim = Simulator(cfg)
    ep = await sim.start()
    try:
        async with httpx.AsyncClient() as c:
            r = await c.post(
                ep.rest_url + "/oauth2/Approval",
                json={"grant_type": "client_credentials", "appkey": "k", "secretkey": "s"},
            )
            key = r.json()["approval_key"]
        async with connect(ep.ws_url, ping_interval=None) as ws:
            for sym in symbols:
                await ws.send(sub(key, sym))
                ack = json.loads(await ws.recv())
                assert ack["body"]["msg_cd"] == "OPSP0000", ack
            yield sim, ws
    finally:
        await sim.stop()


def sub(key: str, sym: str, tr_type: str = "1") -> str:
    return json.dumps(
        {
            "header": {"approval_key": key, "custtype": "P", "tr_type": tr_type},
            "body": {"input": {"tr_id": "H0STCNT0", "tr_key": sym}},
        }
    )


async def frames(ws: ClientConnection, n: int) -> list[str]:
    out: list[str] = []
    async with asyncio.timeout(10):
        while len(out) < n:
            msg = await ws.recv()
            assert isinstance(msg, str)
            if msg[0] in "01":
                out.append(msg)
    return out


def records(frame: str) -> list[list[str]]:
    _enc, _tr, count, payload = frame.split("|", 3)
    f = payload.split("^")
    assert len(f) == int(count) * FIELDS_PER_RECORD
    return [f[i : i + FIELDS_PER_RECORD] for i in range(0, len(f), FIELDS_PER_RECORD)]


async def test_frames_hold_count_times_46_fields_with_several_records() -> None:
    async with subscribed(SimConfig(seed=9, rate=3000), ["005930", "000660"]) as (_s, ws):
        got = await frames(ws, 30)
    assert all(f.startswith("0|H0STCNT0|") for f in got)
    counts = [len(records(f)) for f in got]
    assert max(counts) > 1
    assert {r[0] for f in got for r in records(f)} == {"005930", "000660"}


async def test_prices_sit_on_krx_ticks_and_cumulative_volume_only_grows() -> None:
    async with subscribed(SimConfig(seed=9, rate=3000), ["005930", "015760"]) as (_s, ws):
        got = await frames(ws, 60)
    last: dict[str, int] = {}
    for f in got:
        for r in records(f):
            price, vol, cum, value = int(r[2]), int(r[12]), int(r[13]), int(r[14])
            assert on_tick(price), price
            assert vol > 0 and value > 0
            assert cum == last.get(r[0], 0) + vol
            last[r[0]] = cum
            assert int(r[9]) <= price <= int(r[8])  # low <= price <= high
            assert r[3] in "12345"


async def test_time_fields_follow_the_injected_clock_in_kst() -> None:
    cfg = SimConfig(seed=9, rate=500, clock=lambda: FIXED)
    async with subscribed(cfg, ["005930"]) as (_s, ws):
        got = await frames(ws, 3)
    r = records(got[0])[0]
    assert r[1] == "103015" and r[33] == "20260316"


def test_same_seed_and_clock_give_identical_records() -> None:
    uni = load_universe()
    a = Market(uni, random.Random(42), lambda: FIXED).records(["005930", "000660"], 200)
    b = Market(uni, random.Random(42), lambda: FIXED).records(["005930", "000660"], 200)
    c = Market(uni, random.Random(43), lambda: FIXED).records(["005930", "000660"], 200)
    assert a == b and a != c


def test_sign_and_change_agree_with_previous_close() -> None:
    m = Market(load_universe(), random.Random(1), lambda: FIXED)
    prev = load_universe()["035720"].base_price
    for rec in m.records(["035720"], 300):
        f = rec.split("^")
        price, sign, change = int(f[2]), f[3], int(f[4])
        assert change == price - prev
        assert sign == ("2" if change > 0 else "5" if change < 0 else "3")


@pytest.mark.parametrize(
    ("price", "tick"),
    [(1999, 1), (2000, 5), (4995, 5), (5000, 10), (19990, 10), (20000, 50), (49950, 50),
     (50000, 100), (199900, 100), (200000, 500), (499500, 500), (500000, 1000)],
)  # fmt: skip
def test_tick_size_follows_the_krx_table(price: int, tick: int) -> None:
    assert tick_size(price) == tick


def test_universe_ships_about_thirty_real_symbols() -> None:
    uni = load_universe()
    assert len(uni) >= 30
    assert uni["005930"].name == "Samsung Electronics"
    assert all(len(s) == 6 and s.isdigit() and on_tick(x.base_price) for s, x in uni.items())


async def test_42nd_registration_gets_max_subscribe_over() -> None:
    syms = list(load_universe())[:41]
    async with subscribed(SimConfig(seed=9, rate=0), syms) as (sim, ws):
        key = next(iter(sim._state.approval))
        await ws.send(sub(key, list(load_universe())[41]))
        ack = json.loads(await ws.recv())
    assert ack["body"]["rt_cd"] != "0"
    assert (ack["body"]["msg_cd"], ack["body"]["msg1"]) == ("OPSP0008", "MAX SUBSCRIBE OVER")


async def test_control_errors_get_their_ack_codes() -> None:
    async with subscribed(SimConfig(seed=9, rate=0), ["005930"]) as (sim, ws):
        key = next(iter(sim._state.approval))
        cases = [
            (sub(key, "005930"), "OPSP0002"),
            (sub(key, "035720", "2"), "OPSP0003"),
            (sub(key, "005930", "2"), "OPSP0001"),
            (sub("not-a-key", "005930"), "OPSP0011"),
            (sub(key, "12345"), "OPSP8992"),
            (sub(key, "005930", "7"), "OPSP8997"),
            (sub(key, "005930").replace("H0STCNT0", "H9XXXXX0"), "OPSP8991"),
            (sub(key, "005930").replace('"P"', '"Z"'), "OPSP8998"),
            ("{not json", "OPSP9999"),
        ]
        for text, code in cases:
            await ws.send(text)
            assert json.loads(await ws.recv())["body"]["msg_cd"] == code, text


async def test_drop_every_knob_closes_connections_at_runtime() -> None:
    async with subscribed(SimConfig(seed=9, rate=100), ["005930"]) as (sim, ws):
        sim.set_faults(drop_every=0.1)
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(5):
                while True:
                    await ws.recv()
    assert sim.stats.drops == 1


async def test_malformed_fraction_sends_broken_frames() -> None:
    async with subscribed(SimConfig(seed=9, rate=3000, malformed=0.5), ["005930"]) as (sim, ws):
        got = await frames(ws, 80)

    def ok(f: str) -> bool:
        p = f.split("|", 3)
        return p[2].isdigit() and len(p[3].split("^")) == int(p[2]) * FIELDS_PER_RECORD

    bad = [f for f in got if not ok(f)]
    assert 10 <= len(bad) <= 70
    assert sim.stats.malformed_sent >= len(bad)


def test_every_malformed_frame_is_refused_by_the_parser_wide_records_too() -> None:
    # A 47-column record cut by one field used to be a good 46-column one: the simulator
    # counted it malformed while the daemon wrote its tick.
    rng = random.Random(1)
    market = Market(load_universe(), rng, time.time)
    parse = FrameParser().parse
    symbols = list(load_universe())[:8]
    accepted = 0
    for wide in (False, True):
        for kind, tr in (("regular", "H0STCNT0"), ("after_hours", "H0STOUP0")):
            for _ in range(500):
                records = market.records(symbols, rng.randint(1, 6), kind=kind, wide=wide)
                batch = parse(malformed(tr, records, rng))
                accepted += batch is not None and len(batch) > 0
    assert accepted == 0


async def test_stall_sends_nothing_while_the_connection_stays_open() -> None:
    async with subscribed(SimConfig(seed=9, rate=1000, pingpong_every=0.05), ["005930"]) as (
        sim, ws,
    ):  # fmt: skip
        await frames(ws, 1)
        sim.stall(0.5)
        await asyncio.sleep(0.05)  # let frames already in flight arrive
        while True:  # drain what was sent before the stall began
            try:
                await asyncio.wait_for(ws.recv(), 0.02)
            except TimeoutError:
                break
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)
        assert len(await frames(ws, 1)) == 1  # still open, data resumes


def test_cli_arguments_become_a_sim_config() -> None:
    cfg, where = config_from_args(
        ["--rate", "5000", "--seed", "7", "--drop-every", "30", "--malformed", "0.1",
         "--stall-every", "20", "--stall-for", "5", "--refuse-tokens", "--ws-port", "0"]
    )  # fmt: skip
    assert (cfg.rate, cfg.seed, cfg.drop_every, cfg.malformed) == (5000, 7, 30, 0.1)
    assert (cfg.stall_every, cfg.stall_for, cfg.refuse_tokens) == (20, 5, True)
    assert where == ("127.0.0.1", 0, 0)


def test_sim_config_from_the_environment_table() -> None:
    loaded = load_config(
        {},
        {"OBSERVER_SIM_RATE": "900", "OBSERVER_SIM_SEED": "4", "OBSERVER_SIM_MALFORMED": "0.2",
         "OBSERVER_SIM_DROP_EVERY": "12", "OBSERVER_SIM_MARKET_HOURS": "krx",
         "OBSERVER_SYMBOLS": "005930,123456", "OBSERVER_SWING_SYMBOLS": "000660"},
    )  # fmt: skip
    cfg = SimConfig.from_config(loaded.config)
    assert (cfg.rate, cfg.seed, cfg.malformed, cfg.drop_every) == (900, 4, 0.2, 12)
    assert cfg.market_hours == "krx"
    assert cfg.symbols == ("005930", "123456", "000660")


def test_quotes_of_a_symbol_no_session_trades_still_move() -> None:
    from observer.daemon.simulator.market import Market, load_universe

    now = [1_795_000_000.0]
    m = Market(load_universe(), random.Random(5), lambda: now[0])
    first = m.quote("000270")
    now[0] += 30
    second = m.quote("000270")
    assert int(second["acml_vol"]) > int(first["acml_vol"]) > 0
    assert m.quote("000270")["stck_prpr"].isdigit()


# --- the simulator speaks like the real servers ------------------------------------------


def _market(at: float = FIXED) -> Market:
    return Market(load_universe(), random.Random(5), lambda: at)


def test_records_carry_the_values_real_frames_show() -> None:
    recs = [r.split("^") for r in _market().records(["005930", "000660"], 400)]
    assert all(len(r) == 46 for r in recs)
    for r in recs[2:]:  # after each symbol's opening print
        price, ask1, bid1, side = int(r[2]), int(r[10]), int(r[11]), r[21]
        assert price == (ask1 if side == "1" else bid1)  # a buy at the ask, a sell at the bid
        assert ask1 > bid1
        assert 0.0 <= float(r[22]) <= 1.0  # SHNU_RATE is a fraction
        assert (r[34], r[43], r[44]) == ("20", "0", "")  # regular; MRKT_TRTM_CLS_CODE empty
        assert int(r[45]) == int(r[7]) > 0  # VI_STND_PRC: a price (the day's open)
    rates = [float(r[22]) for r in recs[-50:]]
    assert 0.3 < sum(rates) / len(rates) < 0.7


def test_the_first_print_of_the_day_is_the_opening_auction_s_and_the_close_has_its_own() -> None:
    m = _market()
    first = m.records(["005930"], 1)[0].split("^")
    assert first[34] == "10" and int(first[12]) >= 50  # the opening auction's print
    assert m.records(["005930"], 1)[0].split("^")[34] == "20"
    (close,) = m.auction_prints(["005930"])
    assert close.split("^")[34] == "21" and m.auction_prints(["005930"]) == []


def test_wide_records_carry_market_cls_code_and_after_hours_records_43_columns() -> None:
    m = _market()
    wide = m.records(["005930"], 3, wide=True)
    assert all(len(r.split("^")) == 47 and r.endswith("^2") for r in wide)
    late = m.records(["005930"], 3, kind="after_hours")
    assert all(len(r.split("^")) == 43 and r.split("^")[34] == "40" for r in late)


async def _feed_kinds(at: datetime, subs: list[tuple[str, str]], seconds: float = 0.6) -> list[str]:
    """The frames a connection with ``subs`` gets in ``seconds`` when the clock says ``at``."""
    import httpx

    cfg = SimConfig(seed=9, rate=400, market_hours="krx", clock=lambda: at.timestamp())
    sim = Simulator(cfg)
    ep = await sim.start()
    out: list[str] = []
    try:
        async with httpx.AsyncClient() as c:
            r = await c.post(ep.rest_url + "/oauth2/Approval",
                             json={"grant_type": "client_credentials", "appkey": "k",
                                   "secretkey": "s"})  # fmt: skip
            key = r.json()["approval_key"]
        async with connect(ep.ws_url, ping_interval=None) as ws:
            for tr, sym in subs:
                await ws.send(sub(key, sym).replace("H0STCNT0", tr))
                ack = await ws.recv()
                while isinstance(ack, str) and ack[:1] == "0":  # frames of the first one
                    out.append(ack)
                    ack = await ws.recv()
                assert json.loads(ack)["body"]["msg_cd"] == "OPSP0000"
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    while True:
                        msg = await ws.recv()
                        if isinstance(msg, str) and msg[:1] == "0":
                            out.append(msg)
    finally:
        await sim.stop()
    return out


async def test_h0stoup0_frames_come_only_in_after_hours_trading_and_regular_ones_not_then() -> None:
    subs = [("H0STCNT0", "005930"), ("H0STOUP0", "005930")]
    late = await _feed_kinds(datetime(2026, 3, 16, 16, 30, tzinfo=KST), subs)
    assert late and all(f.startswith("0|H0STOUP0|") for f in late)
    assert all(len(f.split("|", 3)[3].split("^")) % 43 == 0 for f in late)
    day = await _feed_kinds(datetime(2026, 3, 16, 10, 30, tzinfo=KST), subs)
    assert day and all(f.startswith("0|H0STCNT0|") for f in day)


async def test_auctions_at_the_open_and_the_close_send_no_continuous_trades() -> None:
    subs = [("H0STCNT0", "005930"), ("H0STCNT0", "000660")]
    assert await _feed_kinds(datetime(2026, 3, 16, 8, 45, tzinfo=KST), subs) == []
    assert await _feed_kinds(datetime(2026, 3, 16, 15, 25, tzinfo=KST), subs) == []
    closing = await _feed_kinds(datetime(2026, 3, 16, 15, 30, 5, tzinfo=KST), subs)
    codes = [f.split("|", 3)[3].split("^")[34] for f in closing]
    assert codes == ["21", "21"]  # one closing print per symbol


async def test_a_token_asked_for_again_within_six_hours_is_the_same_token() -> None:
    import httpx

    now = [FIXED]
    sim = Simulator(SimConfig(seed=2, clock=lambda: now[0]))
    ep = await sim.start()
    body = {"grant_type": "client_credentials", "appkey": "k", "appsecret": "s"}
    try:
        async with httpx.AsyncClient() as c:
            first = (await c.post(ep.rest_url + "/oauth2/tokenP", json=body)).json()
            refused = (await c.post(ep.rest_url + "/oauth2/tokenP", json=body)).json()
            now[0] += 5 * 3600
            again = (await c.post(ep.rest_url + "/oauth2/tokenP", json=body)).json()
            now[0] += 2 * 3600
            later = (await c.post(ep.rest_url + "/oauth2/tokenP", json=body)).json()
    finally:
        await sim.stop()
    assert refused["error_code"] == "EGW00133" and "1분당 1회" in refused["error_description"]
    assert again["access_token"] == first["access_token"]
    assert later["access_token"] != first["access_token"]


async def test_injected_frames_go_out_as_they_are() -> None:
    async with subscribed(SimConfig(seed=9, rate=0), ["005930"]) as (sim, ws):
        sim.inject(["0|H0STCNT0|001|garbage", "1|H0STCNT0|001|abc"])
        got = await frames(ws, 2)
    assert got == ["0|H0STCNT0|001|garbage", "1|H0STCNT0|001|abc"]
    assert sim.stats.injected_sent == 2
