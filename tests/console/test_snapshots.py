"""Snapshot tests (pytest-textual-snapshot) of the console's screens.

Screenshots need every number fixed, which a live simulator cannot give (times, sizes,
prices move). So these run the console against the daemon STAND-IN (tests/console/standin.py:
canned Status, a fixed tick batch) through the same gRPC client code path, on an abstract
unix socket so the target shown in the header is the same on every run, with a frozen clock
and a fixed ticks/s history. Update with ``pytest --snapshot-update tests/console``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
from textual.pilot import Pilot

from observer.console.app import ObserverConsole
from observer.v1 import observer_pb2 as pb
from tests.console.helpers import eventually
from tests.console.standin import TOKEN, StandIn, canned_status, run_standin

ADDRESS = "unix-abstract:observer-console-snapshots"
RATES = [float((i * 37) % 230 + 20) for i in range(60)]


@dataclass
class Served:
    standin: StandIn
    stop: threading.Event
    loop: asyncio.AbstractEventLoop | None = None


def _serve(status: pb.Status) -> Iterator[Served]:
    ready = threading.Event()
    served = Served(StandIn(address=ADDRESS, status=status), threading.Event())

    async def main() -> None:
        served.loop = asyncio.get_running_loop()
        async with run_standin(served.standin):
            ready.set()
            while not served.stop.is_set():  # noqa: ASYNC110 (a threading.Event)
                await asyncio.sleep(0.02)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "stand-in did not start"
    try:
        yield served
    finally:
        served.stop.set()
        thread.join(10)


@pytest.fixture
def standin() -> Iterator[Served]:
    yield from _serve(canned_status())


@pytest.fixture
def ephemeral_standin() -> Iterator[Served]:
    yield from _serve(canned_status(ephemeral=True))


@pytest.fixture
def late_standin() -> Iterator[Served]:
    """The newest snapshot is 3h05m old at 10:15 KST: over the 90-minute RPO bound."""
    yield from _serve(canned_status(rpo_seconds=3 * 3600 + 300))


def _app() -> ObserverConsole:
    app = ObserverConsole(ADDRESS, token=TOKEN, sample_rates=False, clock=lambda: 1000.0)
    app.state.rates.extend(RATES)
    return app


async def _settled(pilot: Pilot[object]) -> None:
    """Wait until the canned status, ticks, probes and backup list are in (each arrives on
    its own worker, so under load any may come last), then draw once and let it render."""
    app = pilot.app
    assert isinstance(app, ObserverConsole)
    await eventually(
        lambda: (
            app.state.status is not None
            and len(app.state.latest) == 8
            and bool(app.state.probes)
            and bool(app.state.backup_list)
        )
    )
    app.workers.cancel_group(app, "probes")
    app.flush()
    app.clear_notifications()
    await pilot.pause()


def test_dashboard_at_120x36(snap_compare, standin) -> None:
    assert snap_compare(_app(), terminal_size=(120, 36), run_before=_settled)


def test_dashboard_at_80x24(snap_compare, standin) -> None:
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_settled)


def test_ephemeral_volume_is_a_red_warning(snap_compare, ephemeral_standin) -> None:
    assert snap_compare(_app(), terminal_size=(120, 36), run_before=_settled)


def test_an_rpo_over_its_bound_is_red_in_the_backup_panel(snap_compare, late_standin) -> None:
    assert snap_compare(_app(), terminal_size=(120, 36), run_before=_settled)


def test_backup_dialog_shows_progress_then_the_checksum(snap_compare, standin) -> None:
    async def backup(pilot: Pilot[object]) -> None:
        await _settled(pilot)
        app = pilot.app
        assert isinstance(app, ObserverConsole)
        await pilot.press("b", "y")
        await eventually(lambda: app.state.backup_manifest and not app.state.backup_running)
        app.workers.cancel_group(app, "control")
        app.state.backup_list = []
        app.flush()
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(120, 36), run_before=backup)


def test_backup_dialog_streams_restics_files_bytes_and_percent(snap_compare, standin) -> None:
    standin.standin.hold_backup = asyncio.Event()  # the stand-in holds after 3 of 5 files
    standin.standin.hold_after_files = 3

    async def uploading(pilot: Pilot[object]) -> None:
        await _settled(pilot)
        app = pilot.app
        assert isinstance(app, ObserverConsole)
        await pilot.press("b", "y")

        def last_file_read() -> bool:
            p = app.state.backup_progress
            return p is not None and p.phase == pb.BACKUP_PHASE_ARCHIVING and p.files_done == 3

        await eventually(last_file_read)
        app.flush()
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(120, 36), run_before=uploading)


def test_disconnected_shows_the_banner_and_stale_panels(snap_compare, standin) -> None:
    async def disconnect(pilot: Pilot[object]) -> None:
        await _settled(pilot)
        app = pilot.app
        assert isinstance(app, ObserverConsole)
        standin.stop.set()  # the stand-in daemon goes away
        await eventually(lambda: not app.state.connected)
        app.workers.cancel_all()
        # Whichever stream noticed first words the reason, and grpc's transport detail
        # varies per run: fix the text, keep everything else as the workers left it.
        assert "does not answer" in app.state.error
        app.state.error = f"status stream: the daemon at {ADDRESS} does not answer."
        app.state.touch()
        app.flush()
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(120, 36), run_before=disconnect)


def _pressing(*keys: str) -> Callable[[Pilot[object]], Awaitable[None]]:
    """Settle, press ``keys``, draw once more and let it render."""

    async def run_before(pilot: Pilot[object]) -> None:
        await _settled(pilot)
        await pilot.press(*keys)
        app = pilot.app
        assert isinstance(app, ObserverConsole)
        app.state.touch()
        app.flush()
        await pilot.pause()

    return run_before


def test_dashboard_at_80x24_shows_one_panel_at_a_time(snap_compare, standin) -> None:
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_pressing("3"))


def test_tail_paused_with_a_filter_it_half_understood(snap_compare, standin) -> None:
    keys = ("t", "slash", *"005930,00066", "enter", "p")
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_pressing(*keys))


def test_backup_dialog_asks_first_and_says_what_a_backup_holds(snap_compare, standin) -> None:
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_pressing("b"))
