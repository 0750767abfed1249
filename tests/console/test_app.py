"""Pilot tests of the console against the real daemon on the simulator over loopback.

``tests.harness.daemon_process`` runs ``observer-daemon run`` in a tmp dir with a control
token; the console talks to it through its own gRPC client exactly as an operator's would.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from observer.console.app import ObserverConsole
from observer.daemon import fingerprints
from tests.console.helpers import eventually
from tests.console.screen_text import screen_text
from tests.harness import DaemonProcess, daemon_process, start_daemon

SIZE = (120, 36)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with daemon_process(tmp_path_factory.mktemp("daemon"), OBSERVER_SIM_SEED="7") as d:
        yield d


async def test_live_ticks_of_subscribed_symbols_appear_on_the_dashboard(daemon) -> None:
    app = ObserverConsole(daemon.target, token=daemon.token)
    async with app.run_test(size=SIZE):
        await eventually(lambda: len(app.state.latest) >= 3 and app.state.status is not None)
        await eventually(
            lambda: app.state.status is not None and app.state.status.collector.subscriptions
        )
        symbol = sorted(app.state.latest)[0]
        await eventually(lambda: symbol in screen_text(app))
        assert app.state.ticks_seen > 0


async def test_volumes_rotation_secrets_and_backups_panels_fill_from_real_status(daemon) -> None:
    app = ObserverConsole(daemon.target, token=daemon.token)
    async with app.run_test(size=SIZE):
        # A usage bar with used of capacity, once the daemon measured its volume, and
        # Observer's own bytes on it (a walk of its files, every few seconds).
        await eventually(
            lambda: re.search(
                r"\d (B|[KMGT]iB) used of \d+\.\d [KMGT]iB \(\d+%\) · .* free", screen_text(app)
            )
        )
        await eventually(lambda: re.search(r"observer \d+(\.\d)? [KMG]?i?B", screen_text(app)))
        text = screen_text(app)
        fps = fingerprints.existing(daemon.data_dir)  # the installation's key, made at start
        assert fps is not None
        fingerprint = fps(daemon.token)
        assert "OBSERVER_DATA_DIR" in text
        assert ".jsonl" in text and "lines" in text  # rotation: the current segment
        assert "OBSERVER_CONTROL_TOKEN" in text and fingerprint in text
        assert daemon.token not in text
        assert "daily off" in text  # backups: OBSERVER_BACKUP_TIME is empty in the harness
        assert "RPO " in text and "repo " in text  # the age off the volume, the repository
        assert "startup ●" in text and "readiness ●" in text


async def test_backup_triggered_from_the_ui_shows_the_snapshot_and_its_manifest_sha256(
    daemon,
) -> None:
    app = ObserverConsole(daemon.target, token=daemon.token)
    async with app.run_test(size=SIZE) as pilot:
        await eventually(lambda: app.state.status is not None)
        await pilot.press("b")
        await pilot.press("y")
        await eventually(lambda: app.state.backup_manifest is not None, within=30)
        manifest = app.state.backup_manifest
        assert manifest is not None
        await eventually(lambda: manifest.manifest_sha256 in screen_text(app))
        assert manifest.snapshot_id.startswith(manifest.id) and manifest.id in screen_text(app)
        # the checksum shown is the sha256 of the manifest stored inside the snapshot
        repo, snapshot = manifest.repository, manifest.snapshot_id
        assert manifest.archive == f"{repo}#{snapshot}"  # the deprecated field, for old clients
        assert manifest.archive_sha256 == manifest.manifest_sha256
        dumped = await asyncio.to_thread(
            subprocess.run,
            ["restic", "dump", "--no-lock", snapshot, "/.observer-manifest.json"],
            env={"PATH": os.environ["PATH"], "RESTIC_REPOSITORY": repo,
                 "RESTIC_PASSWORD_FILE": repo + ".password", "HOME": str(daemon.root)},
            capture_output=True, check=True, timeout=60,
        )  # fmt: skip
        assert hashlib.sha256(dumped.stdout).hexdigest() == manifest.manifest_sha256
        assert "Snapshot done" in screen_text(app) and "manifest sha256" in screen_text(app)


async def test_a_wrong_control_token_shows_the_refusal_plainly(daemon) -> None:
    app = ObserverConsole(daemon.target, token="not-the-token")
    async with app.run_test(size=SIZE) as pilot:
        await eventually(lambda: app.state.status is not None)
        await pilot.press("b")
        await pilot.press("y")
        await eventually(lambda: "refused the control token" in app.state.control_error)
        await eventually(lambda: "Backup failed" in screen_text(app))


async def test_without_a_token_control_actions_say_how_to_give_one(daemon) -> None:
    app = ObserverConsole(daemon.target, token=None)
    async with app.run_test(size=SIZE) as pilot:
        await eventually(lambda: app.state.status is not None)
        await pilot.press("v")
        await eventually(lambda: "no control token" in app.state.control_error)
        assert "--token-file" in app.state.control_error


async def test_daemon_restart_shows_the_banner_marks_values_stale_then_recovers(
    tmp_path: Path,
) -> None:
    d = start_daemon(tmp_path / "restart", OBSERVER_SIM_SEED="7")
    try:
        app = ObserverConsole(d.target, token=d.token)
        async with app.run_test(size=SIZE):
            await eventually(lambda: "OBSERVER_DATA_DIR" in screen_text(app))
            await asyncio.to_thread(d.stop, signal.SIGKILL)
            await eventually(lambda: "DAEMON UNREACHABLE" in screen_text(app))
            assert "stale" in screen_text(app)
            assert app.state.stale
            d = await asyncio.to_thread(
                start_daemon,
                tmp_path / "restart",
                SERVICE_PORT=d.env["SERVICE_PORT"],
                OBSERVER_METRICS_PORT=d.env["OBSERVER_METRICS_PORT"],
            )
            await eventually(lambda: app.state.connected and not app.state.stale, within=20)
            await eventually(lambda: "DAEMON UNREACHABLE" not in screen_text(app))
            assert app.state.reconnects >= 1
            seen = app.state.ticks_seen
            await eventually(lambda: app.state.ticks_seen > seen)
    finally:
        if not d.stopped:
            d.stop()
