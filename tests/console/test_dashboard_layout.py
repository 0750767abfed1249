"""The dashboard in a small terminal (80x24): one header line, a panel switcher reaching
every panel, the watchlist's ticks first; and what a reconnect or a screenshot does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from observer.console.app import ObserverConsole
from observer.console.state import ConsoleState
from observer.v1 import observer_pb2 as pb
from tests.console.helpers import eventually
from tests.console.screen_text import screen_text
from tests.console.standin import NOW, TOKEN, StandIn, canned_status, canned_ticks, run_standin, ts

SMALL = (80, 24)


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    # Swing-only symbols with lower codes than the watchlist's, as the simulator has them.
    swing = [
        pb.Tick(seq=i + 1, track=pb.TRACK_SWING, symbol=f"0000{i:02d}", trade_date="2026-11-20",
                ts="2026-11-20T10:30:00+09:00", price=1000 + i, received_at=ts(NOW))
        for i in range(20)
    ]  # fmt: skip
    async with run_standin(StandIn(ticks=swing + canned_ticks(40))) as s:
        yield s


def _shows(app: ObserverConsole, text: str) -> bool:
    return text in screen_text(app)


async def _settled(app: ObserverConsole) -> None:
    await eventually(lambda: app.state.status is not None and len(app.state.latest) >= 28)


async def test_every_panel_is_reachable_at_80x24_with_the_panel_keys(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=SMALL) as pilot:
        await _settled(app)
        for key, needle in (("2", "OBSERVER_DATA_DIR"), ("3", "20261120_10.jsonl"),
                            ("4", "OBSERVER_CONTROL_TOKEN"), ("5", "1a2b3c4d"),
                            ("1", "Tape")):  # fmt: skip
            await pilot.press(key)
            await eventually(partial(_shows, app, needle))
        assert "1 Ticks" in screen_text(app) and "5 Backups" in screen_text(app)


async def test_the_small_header_is_one_line_with_the_kis_session(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=SMALL):
        await _settled(app)
        await eventually(lambda: "KIS connected" in screen_text(app).splitlines()[0])
        await eventually(lambda: "1 Ticks" in screen_text(app).splitlines()[1])  # no banner
        # Textual builds the footer's keys after the first frames: under load the header
        # can be in before them
        await eventually(lambda: "Quit" in screen_text(app).splitlines()[-1])
        lines = screen_text(app).splitlines()
        assert "probes" in lines[0] and "1 Ticks" in lines[1]  # no second header line
        assert all(len(line) <= 80 for line in lines)
        footer = lines[-1]
        assert "q Quit" in footer and "palette" in footer  # the footer is not cut


def _ticks_rows(app: ObserverConsole) -> list[str]:
    """The symbols of the live-ticks rows as shown (below the bar, the border, the header)."""
    lines = screen_text(app).splitlines()[4:12]
    return [line.split()[1] for line in lines if len(line.split()) > 1]


async def test_the_watchlist_comes_first_not_the_lowest_codes(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=SMALL):
        await _settled(app)
        watchlist = list(canned_status().collector.subscriptions)
        # Before, rows were sorted by code: the swing-only 0000xx symbols filled the panel.
        await eventually(lambda: _ticks_rows(app) == watchlist)


async def test_at_120x36_the_tape_gets_the_room_the_watchlist_leaves(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=(120, 36)):
        await _settled(app)
        ticks = app.screen.query_one("#ticks")
        tape = app.screen.query_one("#tape")
        await eventually(lambda: ticks.outer_size.height == 8 + 3)  # rows, header, borders
        assert tape.outer_size.height == 36 - 2 - 1 - 11  # the header, the footer


async def test_a_stale_header_does_not_say_kis_connected_as_if_it_were_now(standin) -> None:
    clock = [1000.0]
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False, clock=lambda: clock[0])
    async with app.run_test(size=(120, 36)):
        await _settled(app)
        app.workers.cancel_all()
        app.state.mark_lost("status stream: the daemon at x does not answer.")
        clock[0] += 30
        app.flush()
        await eventually(lambda: "KIS connected?" in screen_text(app))
        text = screen_text(app)
        assert "as of 30s ago" in text and "KIS connected  up" not in text
        banner = [line for line in text.splitlines() if "DAEMON UNREACHABLE" in line]
        assert banner and banner[0].rstrip().endswith("values below are stale.")


async def test_a_reconnect_does_not_replay_the_files_again(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await _settled(app)
        seen = app.state.ticks_seen
        await pilot.press("r")
        await eventually(lambda: len(standin.tail_requests) >= 2)
        await pilot.pause(0.3)
        assert [r.replay_last for r in standin.tail_requests] == [200, 0]
        assert app.state.ticks_seen == seen


def test_replayed_ticks_do_not_count_in_the_rate() -> None:
    clock = [10.0]
    state = ConsoleState("t", clock=lambda: clock[0])
    state.sample_rate()
    state.apply_batch(pb.TickBatch(ticks=canned_ticks(200), replay=True))
    state.apply_batch(pb.TickBatch(ticks=canned_ticks(50)))
    clock[0] += 1.0
    state.sample_rate()
    assert state.tick_rate == pytest.approx(50.0)


async def test_a_screenshot_is_saved_where_it_can_be_and_says_where(
    standin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/Downloads here
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    said: list[str] = []
    async with app.run_test(size=(80, 24)):
        await _settled(app)
        monkeypatch.setattr(app, "notify", lambda message, **kw: said.append(str(message)))
        saved = app.deliver_screenshot()
        assert saved is not None and Path(saved).parent == tmp_path
        assert 'xml:space="preserve"' in Path(saved).read_text()  # noqa: ASYNC240
        assert said == [f"Saved screenshot to {saved}"]
