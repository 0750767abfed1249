"""The realtime frame parser: records, tolerance, and malformed frames counted, never raised."""

from __future__ import annotations

import logging

import pytest

from observer.daemon.kis.parser import SAMPLE_CHARS, FrameParser
from tests.daemon.ingest_support import at, frame, record


def test_a_frame_with_several_records_yields_one_tick_per_record_in_order() -> None:
    p = FrameParser(clock=lambda: 1_795_000_000.25)
    ticks = p.parse(
        frame(
            [record("005930", price=72100), record("000660", price=183500, change=1500, pct="0.82")]
        )
    )
    assert [t.symbol for t in ticks] == ["005930", "000660"]
    a, b = ticks
    assert (a.price, a.sign, a.change, a.change_pct) == (72100, 5, -500, -0.69)
    assert (b.price, b.sign, b.change, b.change_pct) == (183500, 2, 1500, 0.82)
    assert (a.trade_date, a.time, a.vwap, a.strength, a.side) == (
        "20261120",
        "090001",
        72055.31,
        103.52,
        1,
    )
    assert (a.open, a.high, a.low, a.ask1, a.bid1) == (72600, 72800, 71900, 72200, 72100)
    assert (a.volume, a.cum_volume, a.cum_value) == (10, 1234567, 89012345678)
    assert a.halted is False and a.received_at == 1_795_000_000.25 and a.seq == 0
    assert (p.frames, p.ticks, p.malformed) == (1, 2, 0)


def test_halted_flag_maps_to_true() -> None:
    (t,) = FrameParser(clock=at).parse(frame([record(halted="Y")]))
    assert t.halted is True


@pytest.mark.parametrize("tr_id", ["H0STCNT0", "H0NXCNT0", "H0UNCNT0"])
def test_the_three_trade_tr_ids_share_the_layout(tr_id: str) -> None:
    assert len(FrameParser(clock=at).parse(frame([record()], tr_id=tr_id))) == 1


def test_extra_trailing_fields_per_record_are_tolerated_and_ignored() -> None:
    p = FrameParser(clock=at)
    ticks = p.parse(frame([record("005930", extra=3), record("000660", extra=3, price=5000)]))
    assert [(t.symbol, t.price) for t in ticks] == [("005930", 72100), ("000660", 5000)]
    assert p.malformed == 0


def _bad_frames() -> dict[str, str]:
    good = record()
    return {
        "shape": "0|H0STCNT0|001",
        "encrypted": "1|H0STCNT0|001|c29tZSBjaXBoZXJ0ZXh0",
        "enc_flag": "x" + frame([good])[1:],
        "tr_id": frame([good], tr_id="H0STASP0"),
        "count": frame([good]).replace("|001|", "|0a1|"),
        "field_count": frame([good, good]).replace("|002|", "|003|"),
        "field_count_short": frame([good[:45]]),
        "datetime": frame([record(date="2026112")]),
        "datetime_time": frame([record(time="09:00:")]),
        "number": frame([record(pct="abc")]),
        "number_int": frame([[*good[:2], "72,100", *good[3:]]]),
        "number_nan": frame([record(pct="nan")]),
        "symbol": frame([["", *good[1:]]]),
        "zero_count": frame([good]).replace("|001|", "|000|"),
        "empty": "",
    }


@pytest.mark.parametrize("kind", sorted(_bad_frames()))
def test_each_malformed_kind_is_counted_and_returns_nothing_without_raising(kind: str) -> None:
    p = FrameParser(clock=at)
    assert p.parse(_bad_frames()[kind]) == []
    assert (p.frames, p.malformed, p.ticks) == (1, 1, 0)
    assert sum(p.reasons.values()) == 1
    assert p.counters()["malformed"] == 1


def test_the_parser_goes_on_after_malformed_frames() -> None:
    p = FrameParser(clock=at)
    for bad in _bad_frames().values():
        p.parse(bad)
    assert len(p.parse(frame([record()]))) == 1
    assert p.malformed == len(_bad_frames()) and p.ticks == 1


def test_malformed_log_is_rate_limited_and_carries_a_truncated_sample(
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = FrameParser(clock=at, log=logging.getLogger("test.parser"))
    long_bad = frame([record(pct="abc")] * 5)
    with caplog.at_level(logging.WARNING, logger="test.parser"):
        for _ in range(50):
            p.parse(long_bad)
    assert p.malformed == 50
    assert len(caplog.records) == 1
    msg = caplog.records[0].getMessage()
    sample = msg.split("sample: ", 1)[1]
    assert len(sample) <= SAMPLE_CHARS + 5  # quotes and the ellipsis
    assert long_bad[:SAMPLE_CHARS] in msg and long_bad[: SAMPLE_CHARS + 1] not in msg


def test_a_parser_without_lines_returns_the_same_ticks_as_plain_objects() -> None:
    from observer.daemon.schema.lines import FrameBatch

    f = frame([record("005930"), record("000660", price=183500, change=1500, pct="0.82")])
    fast = FrameParser(clock=at).parse(f)
    plain = FrameParser(clock=at, lines=False).parse(f)
    assert isinstance(fast, FrameBatch) and isinstance(plain, list)
    assert list(plain) == list(fast)
