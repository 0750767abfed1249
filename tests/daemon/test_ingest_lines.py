"""The fast line formatter equals model.reference_line byte for byte."""

from __future__ import annotations

import json
import random

from observer.daemon.ingest.lines import LineFormatter, format_line
from observer.daemon.kis.parser import FrameParser
from observer.daemon.model import SCALP_FIELDS, SWING_FIELDS, Snapshot, reference_line
from tests.daemon.ingest_support import frame, random_tick, record


def test_tick_lines_equal_the_reference_on_many_random_ticks() -> None:
    rng = random.Random(20261120)
    items = [random_tick(rng) for _ in range(20000)]
    assert any(t.change < 0 for t in items) and any(t.halted for t in items)
    fmt = LineFormatter()
    got = fmt.tick_lines(items)
    for line, t in zip(got, items, strict=True):
        assert line == reference_line(t)


def test_ticks_parsed_from_frames_format_like_the_reference() -> None:
    p = FrameParser(clock=lambda: 1_795_000_000.0)
    ticks = p.parse(
        frame(
            [
                record(s, price=1000 + i, change=-i, pct=f"-{i}.10")
                for i, s in enumerate(["005930", "000660", "035420"])
            ]
        )
    )
    fmt = LineFormatter()
    assert fmt.tick_lines(ticks) == [reference_line(t) for t in ticks]
    obj = json.loads(fmt.tick_lines(ticks)[0])
    assert list(obj) == list(SCALP_FIELDS)
    assert obj["received_at"] == "2026-11-18T20:06:40+09:00"  # whole second: no fraction


def test_non_finite_floats_fall_back_to_the_reference_spelling() -> None:
    t = random_tick(random.Random(1))
    t.vwap = float("nan")
    t.strength = float("inf")
    assert format_line(t) == reference_line(t)


def _snapshot(rng: random.Random) -> Snapshot:
    return Snapshot(
        symbol=rng.choice(["005930", "000660"]), trade_date="20261120",
        time=f"{rng.randrange(9, 16):02d}{rng.randrange(60):02d}00", price=rng.randrange(1000, 900000),
        sign=rng.randrange(1, 6), change=rng.randrange(-9000, 9000), change_pct=rng.uniform(-30, 30),
        open=1, high=2, low=3, upper_limit=4, lower_limit=5, cum_volume=rng.randrange(10**9),
        cum_value=rng.randrange(10**13), per=rng.uniform(0, 90), pbr=rng.choice([0.0, 1.37]),
        eps=rng.uniform(-1e4, 1e4), bps=rng.uniform(0, 1e6), w52_high=9, w52_low=1,
        market_cap=rng.randrange(10**7), halted=rng.random() < 0.3,
        vi=rng.choice(["N", "Y", "정적", ""]), received_at=rng.uniform(1.7e9, 1.9e9),
        seq=rng.randrange(1, 10**6),
    )  # fmt: skip


def test_snapshot_lines_equal_the_reference() -> None:
    rng = random.Random(7)
    items = [_snapshot(rng) for _ in range(2000)]
    got = LineFormatter().snapshot_lines(items)
    assert got == [reference_line(s) for s in items]
    assert list(json.loads(got[0])) == list(SWING_FIELDS)
