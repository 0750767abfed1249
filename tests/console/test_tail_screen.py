"""The tail screen's keys: pause/follow reachable from anywhere on it and from the palette,
the filter focused only when asked for, and a filter that says what it did not understand."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

import pytest
from textual.widgets import Input

from observer.console.app import ObserverConsole
from observer.console.screens.tail import TailScreen, parse_filter
from tests.console.helpers import eventually
from tests.console.screen_text import screen_text
from tests.console.standin import TOKEN, StandIn, run_standin


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    async with run_standin() as s:
        yield s


def _tail(app: ObserverConsole) -> TailScreen:
    assert isinstance(app.screen, TailScreen)
    return app.screen


async def test_pause_works_right_after_opening_and_after_a_filter(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await eventually(lambda: app.state.latest)
        await pilot.press("t")
        await pilot.pause()
        assert app.screen.focused is None  # the filter is not focused on open
        await pilot.press("p")
        assert _tail(app).paused and _tail(app).query_one(Input).value == ""
        await pilot.press("space")
        assert not _tail(app).paused
        await pilot.press("slash")
        assert isinstance(app.screen.focused, Input)
        await pilot.press(*"005930", "enter")
        assert app.screen.focused is None  # Enter applies the filter and gives the keys back
        assert _tail(app).symbols == {"005930"}
        await pilot.press("p")
        assert _tail(app).paused and _tail(app).query_one(Input).value == "005930"
        await eventually(lambda: "PAUSED" in screen_text(app))


async def test_tab_and_escape_leave_the_filter_without_leaving_the_screen(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("t", "slash")
        assert isinstance(app.screen.focused, Input)
        await pilot.press("tab")
        assert app.screen.focused is None and isinstance(app.screen, TailScreen)
        await pilot.press("slash", "escape")
        assert app.screen.focused is None and isinstance(app.screen, TailScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, TailScreen)


async def test_the_palette_pauses_the_tail_even_while_the_filter_has_the_keys(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("t", "slash")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Pause or follow the tail (p / space)" in titles
        pause = next(c for c in app.get_system_commands(app.screen) if "Pause" in c.title)
        done = pause.callback()
        if inspect.isawaitable(done):
            await done
        await eventually(lambda: _tail(app).paused)
        assert "Pause or follow the tail (p / space)" not in [
            c.title for c in app.get_system_commands(app.screen_stack[1])
        ]  # only on the tail screen


@pytest.mark.parametrize(
    ("typed", "symbols", "rejected"),
    [
        ("005930, 000660", {"005930", "000660"}, ()),
        ("12345,abc", set(), ("12345", "abc")),
        ("p005930,00066", set(), ("p005930", "00066")),
        ("q530036 005930", {"Q530036", "005930"}, ()),
        ("", set(), ()),
    ],
)
def test_the_filter_keeps_what_it_did_not_understand(typed, symbols, rejected) -> None:
    f = parse_filter(typed)
    assert (set(f.symbols), f.rejected) == (symbols, rejected)


async def test_the_tail_says_what_of_the_filter_it_did_not_understand(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("t", "slash", *"12345,abc", "enter")
        await eventually(lambda: "not understood: 12345, abc" in screen_text(app))
        assert "filter all symbols" in screen_text(app)


async def test_the_tail_status_stays_one_line_at_80_columns(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await eventually(lambda: app.state.latest)
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("p")
        await eventually(lambda: "PAUSED" in screen_text(app))
        line = next(x for x in screen_text(app).splitlines() if "PAUSED" in x)
        assert line.rstrip().endswith("filter all symbols")
