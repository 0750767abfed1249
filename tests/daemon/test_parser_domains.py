"""The parse boundary: real frames give the values their columns hold; every value the line
keeps is checked against its field's domain on both paths (C scanner or pattern, and the
general path); a frame with one record outside them is malformed, counted by reason, and
gives no tick at all; an understated record count is malformed, never a short read."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

import pytest

from observer.daemon.clock import KST
from observer.daemon.kis import parser as parser_module
from observer.daemon.kis.parser import DATE_WINDOW_DAYS, FrameParser, trade_dates
from observer.daemon.schema.lines import FrameBatch, reference_line
from tests.daemon.ingest_support import AT, at, frame, record

FRAMES = Path(__file__).parent / "data" / "kis-frames.txt"


@pytest.fixture(params=["c", "pattern"])
def scanner(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs on the C scanner and on the pattern (as where no C compiler built it)."""
    if request.param == "pattern":
        monkeypatch.setattr(parser_module, "_Scanner", None)
    elif parser_module._Scanner is None:
        pytest.skip("the C frame scanner was not built (no C compiler at install time)")
    return str(request.param)


def _real_frames() -> list[str]:
    return [line.strip() for line in FRAMES.read_text().splitlines() if line.startswith("0|")]


def _at(y: int, mo: int, d: int, h: int, mi: int) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=KST).timestamp()


# --- real frames -----------------------------------------------------------------------


def test_the_documentation_example_parses_to_its_columns(scanner: str) -> None:
    doc = _real_frames()[0]
    p = FrameParser(clock=lambda: _at(2023, 6, 12, 9, 34))
    batch = p.parse(doc)
    assert isinstance(batch, FrameBatch) and p.malformed == 0
    (t,) = batch
    assert (t.symbol, t.trade_date, t.time) == ("005930", "20230612", "093354")
    assert (t.price, t.sign, t.change, t.change_pct, t.vwap) == (71900, 5, -100, -0.14, 72023.83)
    assert (t.open, t.high, t.low, t.ask1, t.bid1) == (72100, 72400, 71700, 71900, 71800)
    assert (t.volume, t.cum_volume, t.cum_value) == (1, 3052507, 219853241700)
    assert (t.strength, t.side, t.halted) == (84.90, 1, False)
    assert (t.market_op, t.hour_code, t.random_end, t.vi_price) == ("20", "0", "", 72100)
    assert (t.market_class, t.session) == (None, "regular")
    batch.number(1)
    line = json.loads(batch.lines())
    assert line["market_op"] == "20" and line["vi_price"] == 72100 and line["random_end"] == ""
    assert line["market_class"] is None and line["session"] == "regular"
    assert batch.lines() == reference_line(t)


def test_the_captured_four_record_frame_gives_four_ticks_with_their_columns(scanner: str) -> None:
    captured = _real_frames()[1]
    cols = captured.split("|", 3)[3].split("^")
    assert len(cols) == 4 * 46
    p = FrameParser(clock=lambda: _at(2026, 1, 27, 15, 19))
    ticks = list(p.parse(captured))
    assert len(ticks) == 4 and p.malformed == 0
    for k, t in enumerate(ticks):
        c = cols[46 * k : 46 * (k + 1)]
        assert (t.symbol, t.time, t.trade_date) == (c[0], c[1], c[33]) == (
            "005930", "151938", "20260127",
        )  # fmt: skip
        assert (t.price, t.ask1, t.bid1, t.volume) == (
            int(c[2]),
            int(c[10]),
            int(c[11]),
            int(c[12]),
        )
        assert (t.cum_volume, t.cum_value, t.vwap) == (int(c[13]), int(c[14]), float(c[6]))
        assert (t.side, t.market_op, t.hour_code, t.vi_price) == (int(c[21]), "20", "0", 150500)
    assert [t.volume for t in ticks] == [1, 78, 1, 73]
    assert [t.side for t in ticks] == [1, 1, 5, 1]
    # a buy prints at the ask, a sell at the bid
    assert all(t.price == (t.ask1 if t.side == 1 else t.bid1) for t in ticks)


# --- record boundaries -----------------------------------------------------------------


@pytest.mark.parametrize("count", ["001", "002", "003"])
def test_an_understated_count_is_malformed_not_a_short_read(scanner: str, count: str) -> None:
    captured = _real_frames()[1]  # four records of 46
    lying = captured.replace("|004|", f"|{count}|", 1)
    p = FrameParser(clock=lambda: _at(2026, 1, 27, 15, 19))
    assert p.parse(lying) == []
    assert p.malformed == 1 and p.ticks == 0
    assert set(p.reasons) <= {"record_count", "field_count", "symbol"}


def test_records_of_47_columns_keep_the_market_class_and_of_48_ignore_the_rest(
    scanner: str,
) -> None:
    p = FrameParser(clock=at)
    wide = [[*record("005930"), "2"], [*record("000660"), "3"]]
    a, b = p.parse(frame(wide))
    assert (a.market_class, b.market_class) == ("2", "3")
    (c,) = p.parse(frame([[*record(), "5", "extra"]]))
    assert c.market_class == "5"
    (d,) = p.parse(frame([record()]))
    assert d.market_class is None and p.malformed == 0


def test_an_empty_vi_price_is_null_on_both_paths(scanner: str) -> None:
    r = record()
    r[45] = ""
    p = FrameParser(clock=at)
    batch = p.parse(frame([r, record("000660")]))
    assert isinstance(batch, FrameBatch)
    batch.number(1)
    first = json.loads(batch.lines().splitlines()[0])
    assert first["vi_price"] is None and batch.ticks[0].vi_price is None
    r[2] = "072100"  # takes the general path
    (t,) = p.parse(frame([r]))
    assert t.vi_price is None and t.price == 72100


# --- domains ---------------------------------------------------------------------------

TOO_BIG = str(2**63)  # one above int64


def _poison() -> dict[str, tuple[int, str, str]]:
    """kind -> (column, value, reason counted)."""
    return {
        "hour 24": (1, "245959", "time"),
        "minute 60": (1, "096000", "time"),
        "second 60": (1, "090060", "time"),
        "time letters": (1, "09a001", "time"),
        "month 13": (33, "20261399", "date"),
        "day 31 of november": (33, "20261131", "date"),
        "date weeks away": (33, "20261220", "date"),
        "date years away": (33, "20361120", "date"),
        "price above int64": (2, TOO_BIG, "range"),
        "price above its range": (2, str(10**10 + 1), "range"),
        "negative price": (2, "-5", "range"),
        "volume above int64": (12, "99999999999999999999", "range"),
        "cum value above its range": (14, str(10**17 + 1), "range"),
        "change pct below -100": (5, "-100.5", "range"),
        "vwap negative": (6, "-1.5", "range"),
        "strength huge": (18, "1e300", "range"),
        "sign 0": (3, "0", "choice"),
        "sign 6": (3, "6", "choice"),
        "side 2": (21, "2", "choice"),
        "side 9": (21, "9", "choice"),
        "halted X": (35, "X", "flag"),
        "market op lowercase": (34, "2a", "code"),
        "market op too long": (34, "201", "code"),
        "hour code long": (43, "00", "code"),
        "vi price above int64": (45, TOO_BIG, "range"),
        "vi price letters": (45, "7210O", "number"),
        "symbol short": (0, "00593", "symbol"),
        "symbol lowercase": (0, "q53003", "symbol"),
        "symbol punctuation": (0, "00593!", "symbol"),
    }


@pytest.mark.parametrize("kind", sorted(_poison()))
def test_a_value_outside_its_domain_makes_the_frame_malformed(scanner: str, kind: str) -> None:
    column, value, reason = _poison()[kind]
    bad = record("000660")
    bad[column] = value
    p = FrameParser(clock=at)
    assert p.parse(frame([record("005930"), bad, record("035420")])) == []
    assert (p.malformed, p.ticks, dict(p.reasons)) == (1, 0, {reason: 1})


def test_values_on_the_edges_of_their_domains_are_accepted(scanner: str) -> None:
    r = record()
    r[1], r[2], r[5], r[3], r[21] = "235959", str(10**10), "-100.0", "1", ""
    q = record("Q530036", time="230000")
    q[14], q[12], q[34], q[43] = str(10**17), "0", "", "D"
    p = FrameParser(clock=at)
    a, b = p.parse(frame([r, q]))
    assert (a.time, a.price, a.change_pct, a.sign, a.side) == ("235959", 10**10, -100.0, 1, 0)
    assert (b.symbol, b.cum_value, b.market_op, b.hour_code) == ("Q530036", 10**17, "", "D")
    assert p.malformed == 0


def test_trade_dates_are_taken_within_the_window_of_the_day_of_arrival() -> None:
    days = sorted(trade_dates(AT))  # 2026-11-20 KST
    assert len(days) == 2 * DATE_WINDOW_DAYS + 1
    assert days[0] == "20261117" and days[-1] == "20261123" and "20261120" in days
    p = FrameParser(clock=at)
    assert len(p.parse(frame([record(date="20261123")]))) == 1
    assert p.parse(frame([record(date="20261124")])) == []
    # 00:30 KST on the 21st: a frame of the 20th is still the same session's
    late = _at(2026, 11, 21, 0, 30)
    assert len(FrameParser(clock=lambda: late).parse(frame([record()]))) == 1


def test_a_rejected_record_is_logged_with_its_reason_field_and_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = record(time="245959")
    FrameParser(clock=at, log=logging.getLogger("test.parser.domains")).parse(frame([bad]))
    (msg,) = [r.getMessage() for r in caplog.records]
    assert "trade time is not a time of day" in msg and "'245959'" in msg
    assert "nothing of it is written" in msg


def test_after_hours_single_price_frames_are_marked_and_lack_the_later_columns(
    scanner: str,
) -> None:
    r = record(time="161000")
    r[34] = "40"  # after-hours single price
    p = FrameParser(clock=at)
    batch = p.parse(frame([r[:43], record("000660", time="161000")[:43]], tr_id="H0STOUP0"))
    assert isinstance(batch, FrameBatch) and p.malformed == 0
    a, _b = batch
    assert (a.session, a.market_op, a.hour_code, a.random_end, a.vi_price) == (
        "after_hours", "40", None, None, None,
    )  # fmt: skip
    batch.number(1)
    line = json.loads(batch.lines().splitlines()[0])
    assert line["session"] == "after_hours" and line["vi_price"] is None
    assert batch.lines() == "".join(reference_line(t) for t in batch)
    # 46 columns on H0STOUP0: the three after its 43 are not H0STCNT0's and stay null
    (c,) = p.parse(frame([record(time="161000")], tr_id="H0STOUP0"))
    assert (c.session, c.hour_code, c.vi_price) == ("after_hours", None, None)
    assert p.parse(frame([r[:43] * 2], tr_id="H0STOUP0")) == []  # 86 columns: two records
    assert p.reasons == {"record_count": 1}
