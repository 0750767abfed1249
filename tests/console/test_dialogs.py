"""The console's dialogs against the daemon stand-in: what they say and when."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from observer.console.app import ObserverConsole
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
        assert "datasets and config" not in text  # it used to say datasets are archived
        assert "are not in it" in text


async def test_pressing_b_again_asks_afresh_instead_of_showing_the_last_result(standin) -> None:
    app = ObserverConsole(standin.target, token=TOKEN, sample_rates=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await eventually(lambda: app.state.status is not None)
        await pilot.press("b", "y")
        await eventually(lambda: "Backup done" in screen_text(app), within=15)
        await pilot.press("escape")
        await eventually(lambda: "Back up now [y]" not in screen_text(app))
        await pilot.press("b")
        await eventually(lambda: "Back up the data volume now?" in screen_text(app))
        await pilot.pause()
        assert "Backup done" not in screen_text(app)
        assert not app.screen.query_one("#backup-confirm").disabled
