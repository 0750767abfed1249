"""The fast line formatter and the parser's fast path equal reference_line byte for byte."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import pytest

from observer.daemon.kis import parser as parser_module
from observer.daemon.kis.frames import frame_pattern, layout, scanner_config
from observer.daemon.kis.parser import FrameParser, Malformed, record_builder, trade_dates
from observer.daemon.model import Snapshot, Tick
from observer.daemon.schema.fields import SCALP, SWING
from observer.daemon.schema.lines import FrameBatch, LineFormatter, format_line, reference_line
from tests.daemon.ingest_support import N, at, frame, kst_date, random_tick, record


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
    assert list(obj) == list(SCALP.names)
    assert obj["received_at"] == "2026-11-18T20:06:40+09:00"  # whole second: no fraction


def test_negative_zero_is_spelled_apart_from_zero_by_the_float_cache() -> None:
    rng = random.Random(3)
    a, b = random_tick(rng), random_tick(rng)
    a.change_pct, b.change_pct = 0.0, -0.0  # equal as dict keys, different in JSON
    assert LineFormatter().tick_lines([a, b]) == [reference_line(a), reference_line(b)]


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
    assert list(json.loads(got[0])) == list(SWING.names)


# --- the parser's fast path (FrameBatch): lines laid out from the raw fields ---------

_ODD_INTS = ["0072100", "+5", "-0", " 5", "1_000", "٣", "-05", "00", "5 ", "72,100", ""]
_ODD_FLOATS = ["1.50", "0.00", "-0.00", "0.00001", "1e3", ".5", "5.", "5", "+1.5",
               "1234567890123456.5", "-0.5", "10.000", "0.0001", "100", "nan", "1.2.3"]  # fmt: skip


def _random_record(rng: random.Random, odd: bool, date: str = "20261120") -> list[str]:
    r = record(
        rng.choice(["005930", "000660", "0000J0"]),
        date=date,
        time=rng.choice(["090001", "090001", "095959"]),
        price=rng.randrange(1, 3_000_000),
        change=rng.randrange(-50_000, 50_000),
        pct=rng.choice(["-0.69", "0.00", "1.50", "12.34", "-0.05", "29.99"]),
        volume=rng.randrange(0, 10**6),
        # A halted stock does not trade: "Y" is rare and takes the general path.
        halted=rng.choice(["N", "N", "N", "N", "N", "", "", "Y"]),
    )
    r[6] = f"{rng.uniform(1, 3_000_000):.{rng.randrange(1, 4)}f}"  # vwap
    r[18] = rng.choice(["0.00", "103.52", "100.10", f"{rng.uniform(0, 500):.2f}"])
    r[21] = rng.choice(["1", "3", "5", ""])
    if odd:
        i = rng.choice([2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 5, 6, 18, 21, 35])
        r[i] = rng.choice(_ODD_FLOATS if i in (5, 6, 18) else _ODD_INTS)
    return r


_build = record_builder(SCALP)


def _lines(batch: Sequence[Tick]) -> str:
    if isinstance(batch, FrameBatch):
        return batch.lines()
    return "".join(LineFormatter().tick_lines(batch))


@pytest.mark.parametrize("scanner", ["c", "pattern"])
def test_parsed_frames_give_reference_lines_and_the_general_paths_ticks(
    scanner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if scanner == "pattern":  # as where no C compiler built the scanner
        monkeypatch.setattr(parser_module, "_Scanner", None)
    elif parser_module._Scanner is None:
        pytest.skip("the C frame scanner was not built (no C compiler at install time)")
    rng = random.Random(11)
    fast = general = rejected = 0
    for i in range(3000):
        odd = rng.random() < 0.3
        clock = rng.choice([1_795_000_000.0, 1_795_000_000.5, rng.uniform(1.7e9, 1.9e9)])
        day = kst_date(clock)
        recs = [_random_record(rng, odd and k == 0, day) for k in range(rng.choice([1, 1, 3, 5]))]
        text = frame(recs)
        batch = FrameParser(clock=lambda c=clock: c).parse(text)  # type: ignore[misc]
        count = len(recs)
        try:
            expected = _build(text.split("|", 3)[3].split("^"), N, count, clock, trade_dates(clock))
        except Malformed:
            assert batch == []
            rejected += 1
            continue
        assert list(batch) == expected
        if isinstance(batch, FrameBatch):
            fast += 1
            batch.number(i * 10 + 1)
            for k, t in enumerate(expected):
                t.seq = i * 10 + 1 + k
        else:
            general += 1
            for k, (a, t) in enumerate(zip(batch, expected, strict=True)):
                a.seq = t.seq = i * 10 + 1 + k
        assert _lines(batch) == "".join(reference_line(t) for t in expected)
        assert _lines(batch) == "".join(reference_line(t) for t in expected)  # and again
    assert fast > 1500 and general > 100 and rejected > 50  # every path was exercised


def test_a_frame_with_canonical_numbers_takes_the_fast_path_and_odd_ones_do_not() -> None:
    p = FrameParser(clock=lambda: 1_795_000_000.25)
    assert isinstance(p.parse(frame([record(pct="1.50"), record(pct="0.00")])), FrameBatch)
    for odd in (["0072100"], ["+5"], ["-0"]):
        r = record()
        r[2] = odd[0]
        (t,) = p.parse(frame([r]))
        assert not isinstance(p.parse(frame([r])), FrameBatch)
        assert t.price == int(odd[0]) and f'"price":{t.price},' in reference_line(t)


def test_frame_batch_ticks_are_built_once_and_follow_its_numbering() -> None:
    batch = FrameParser(clock=at).parse(frame([record("005930"), record("000660")]))
    assert isinstance(batch, FrameBatch)
    batch.number(41)
    first = batch[0]
    assert [t.seq for t in batch] == [41, 42] and batch[0] is first
    batch.number(7)
    assert [t.seq for t in batch] == [7, 8]
    assert batch.lines().startswith('{"seq":7,') and '{"seq":8,' in batch.lines()


def test_received_at_is_spelled_like_the_reference_across_many_frames_of_one_parser() -> None:
    # The parser keeps the current second's spelling between frames: exercise that path
    # with arrival times inside one second, on its edges and across seconds.
    rng = random.Random(9)
    base = 1_795_000_000
    times = sorted(
        [base + rng.random() for _ in range(300)]
        + [base + 1.0, base + 1.0000004, base + 1.9999996, base + 2.5, float(base + 3)]
    )
    clock = iter(times)
    p = FrameParser(clock=lambda: next(clock))
    for i, ts in enumerate(times):
        batch = p.parse(frame([record("005930"), record("000660")]))
        assert isinstance(batch, FrameBatch)
        batch.number(2 * i + 1)
        ticks = batch.ticks
        assert ticks[0].received_at == ts
        assert batch.lines() == "".join(reference_line(t) for t in ticks)


def test_the_c_scanner_returns_what_the_pattern_matches() -> None:
    if parser_module._Scanner is None:
        pytest.skip("the C frame scanner was not built (no C compiler at install time)")
    lay = layout(SCALP)
    lay_wide = layout(SCALP, width=N + 2)
    scanners = {N: parser_module._Scanner(*scanner_config(lay)),
                N + 2: parser_module._Scanner(*scanner_config(lay_wide))}  # fmt: skip
    rng = random.Random(23)
    agree = matched = 0
    for _ in range(4000):
        count = rng.choice([1, 2, 5])
        width = rng.choice([N, N, N, N + 2])
        recs = [_random_record(rng, rng.random() < 0.5) for _ in range(count)]
        for r in recs:
            r += [rng.choice(["2", "x", "", "K1"])] * (width - N)
            if rng.random() < 0.1:  # a time or date of another shape, or another hour/date
                r[rng.choice([1, 33])] = rng.choice(
                    ["0930", "2026112", "1a0000", "100001", "245959", "096000", "090060"]
                )
            if rng.random() < 0.05:
                r[0] = rng.choice(["", "00593!", "005930", "Q530036", "q53003", "Q5300361"])
            if rng.random() < 0.1:  # the codes and the VI price (nullable: may be empty)
                i = rng.choice([3, 21, 34, 43, 44, 45])
                r[i] = rng.choice(["", "0", "6", "A", "a", "20", "4A", "123", "-1", "72100"])
        payload = frame(recs).split("|", 3)[3]
        if rng.random() < 0.05:
            payload += "^extra"
        m = frame_pattern(lay if width == N else lay_wide, count).fullmatch(payload)
        want = None if m is None else m.groups()
        assert scanners[width].scan(payload, 0, count, width) == want, payload[:200]
        agree += 1
        matched += want is not None
    assert agree == 4000 and 300 < matched < 3700  # both outcomes exercised
