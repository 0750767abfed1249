"""The console's dialogs against the daemon stand-in: what they say and when."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
from rich.console import Console
from textual.widgets import Button

from observer.console.app import ObserverConsole
from observer.console.screens.help import help_text
from tests.console.helpers import eventually
from tests.console.screen_text import screen_text
from tests.console.standin import TOKEN, StandIn, run_standin


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    async with run_standin() as s:
        yield s


async def test_backup_dialog_says_what_a_backup_holds_as_the_daemon_reports_it(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await eventually(lambda: app.state.status is not None)
        await pilot.press("b")
        await eventually(lambda: "the tick files (assets/)" in screen_text(app))
        text = " ".join(screen_text(app).split())
        assert "backups/archives/" not in text  # it said so whatever a backup held
        assert "are not in it" in text


async def test_pressing_b_again_asks_afresh_instead_of_showing_the_last_result(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await eventually(lambda: app.state.status is not None)
        await pilot.press("b", "y")
        await eventually(lambda: "Snapshot done" in screen_text(app), within=15)
        await pilot.press("escape")
        await eventually(lambda: "Back up now [y]" not in screen_text(app))
        await pilot.press("b")
        await eventually(lambda: "Take a snapshot of the data volume now?" in screen_text(app))
        await pilot.pause()
        assert "Snapshot done" not in screen_text(app)
        assert not app.screen.query_one("#backup-confirm").disabled


async def test_y_disables_the_button_at_once_and_the_focus_goes_to_close(standin) -> None:
    standin.hold_backup = asyncio.Event()  # restic still opening the repository
    standin.hold_after_files = -1
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await eventually(lambda: app.state.status is not None)
        await pilot.press("b")
        await eventually(lambda: "Take a snapshot of the data volume now?" in screen_text(app))
        await pilot.press("y")
        confirm = app.screen.query_one("#backup-confirm", Button)
        assert confirm.disabled  # before any draw of the running backup
        assert app.screen.focused is app.screen.query_one("#backup-close", Button)
        await pilot.press("y")  # a second y asks for nothing
        standin.hold_backup.set()
        await eventually(lambda: "Snapshot done" in screen_text(app), within=15)
        assert standin.backups_taken == 1 and not confirm.disabled
        assert app.screen.focused is app.screen.query_one("#backup-close", Button)


def test_help_says_the_arrow_is_the_tick_and_the_colour_the_day() -> None:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(help_text())
    text = " ".join(console.export_text().split())
    assert "The arrow beside the price is this trade against the one before it" in text
    assert "the change versus the previous close" in text
    assert "1-5 Dashboard panels" in text and "p / space" in text
