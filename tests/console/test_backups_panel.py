"""The backup panel and dialog: the RPO red when over its bound, the repository and its
size, the last verified snapshot and drill; snapshots named by id and checked by their
manifest's sha256 (legacy archives by their own), restic's percent in the dialog."""

from __future__ import annotations

from rich.text import Text

from observer.console.screens.backup import done_text, progress_text
from observer.console.widgets.backups import (
    OVER,
    WITHIN,
    holdings_line,
    listed_line,
    repository_line,
    rpo_line,
    schedule_line,
    status_lines,
)
from observer.v1 import observer_pb2 as pb
from tests.console.standin import NOW, REPOSITORY, TOKEN, canned_status, manifest, ts


def _styled(text: Text, style: str) -> list[str]:
    return [text.plain[s.start : s.end] for s in text.spans if s.style == style]


def test_an_rpo_within_its_bound_is_green_and_names_the_snapshot() -> None:
    b = canned_status(rpo_seconds=1500).backups
    line = rpo_line(b)
    assert line.plain == "RPO 25m00s (bound 1h30m in market hours) since 1a2b3c4d"
    assert _styled(line, WITHIN) == ["25m00s"] and not _styled(line, OVER)
    assert "since 1a2b3c4d" in line.plain


def test_an_rpo_over_its_bound_is_red() -> None:
    b = canned_status(rpo_seconds=3 * 3600 + 300).backups
    assert b.rpo_over_bound
    line = rpo_line(b)
    assert _styled(line, OVER) == ["3h05m over its bound 1h30m"]


def test_nothing_off_the_volume_during_market_hours_is_red_and_outside_them_yellow() -> None:
    b = canned_status(backups=0).backups
    assert not b.HasField("rpo_seconds") and b.rpo_over_bound
    assert _styled(rpo_line(b), OVER) == ["nothing off the volume yet"]
    b.rpo_over_bound = False
    assert _styled(rpo_line(b), "yellow") == ["nothing off the volume yet"]


def test_snapshots_on_the_data_disk_are_nothing_off_the_volume() -> None:
    b = canned_status().backups  # snapshots, but the daemon says none of them is off it
    b.off_volume, b.rpo_over_bound = False, True
    b.ClearField("rpo_seconds")
    assert _styled(rpo_line(b), OVER) == ["nothing off the volume"]


def test_the_repository_line_says_size_and_count_and_warns_when_on_the_data_disk() -> None:
    b = canned_status().backups
    assert repository_line(b, 70).plain == f"repo {REPOSITORY}"
    assert holdings_line(b, NOW).plain.startswith("holds 1.0 GiB in 2 snapshots · verified")
    b.ClearField("repository_bytes")
    assert holdings_line(b, NOW).plain.startswith("size not measured yet in 2 snapshots")
    b.off_volume = False
    b.repository = "/home/op/observer-runtime/backup-repo"
    assert _styled(repository_line(b, 70), "bold yellow") == [" · on the data's own disk"]
    b.repository = (
        "s3:https://ns.compat.objectstorage.ap-seoul-1.oraclecloud.com/bucket/observer-prod"
    )
    cut = repository_line(b, 60).plain
    assert len(cut) <= 60 and cut.startswith("repo s3:https://ns.") and "…" in cut
    assert cut.split(" · ")[0].endswith("observer-prod")


def test_the_panel_says_the_last_verified_snapshot_the_drill_and_the_next_snapshot() -> None:
    b = canned_status().backups
    text = "\n".join(x.plain for x in status_lines(b, NOW))
    assert "holds 1.0 GiB in 2 snapshots · verified 1a2b3c4d 24m40s ago" in text
    assert "drill ok 2d01h ago · next in 55m00s · daily 16:20 KST · keep 14 daily" in text
    b.last_drill_ok = False
    assert any(_styled(x, "bold red") == ["FAILED"] for x in status_lines(b, NOW))
    b.next_retry_at.CopyFrom(ts(NOW + 60))
    assert "retry in 1m00s" in "\n".join(x.plain for x in status_lines(b, NOW))


def test_the_schedule_line_leaves_out_the_policy_rather_than_wrap_in_a_narrow_panel() -> None:
    # A banner makes the right column scroll: its scrollbar takes two of the panel's cells.
    b = canned_status().backups
    line = schedule_line(b, NOW, 68).plain
    assert line == "drill ok 2d01h ago · next in 55m00s · daily 16:20 KST"
    b.next_retry_at.CopyFrom(ts(NOW + 60))
    b.legacy_archives = 3
    wide = schedule_line(b, NOW, 200).plain
    assert wide.endswith("keep 14 daily · retry in 1m00s · 3 legacy .tar.gz")
    line = schedule_line(b, NOW, 68).plain
    assert len(line) <= 68 and "retry in 1m00s" in line and "next in 55m00s" in line
    assert "keep" not in line


def test_snapshots_are_listed_by_id_and_manifest_sha256_legacy_archives_as_archives() -> None:
    m = manifest("1a2b3c4d" + "7e" * 28)
    line = listed_line(m).plain
    assert line.startswith("  1a2b3c4d  +84.0 MiB  manifest " + m.manifest_sha256[:12])
    assert "archive" not in line and "legacy" not in line
    legacy = pb.BackupManifest(
        id="20261119-160000-1a2b", archive="backups/archives/20261119-160000-1a2b.tar.gz",
        archive_bytes=3_300_000, archive_sha256="ab" * 32,
        verification=pb.VERIFICATION_STATE_VERIFIED,
    )  # fmt: skip
    assert listed_line(legacy).plain.startswith("  20261119-160000-1a2b  3.1 MiB  archive abab")
    assert "(legacy .tar.gz)" in listed_line(legacy).plain


def test_the_dialog_shows_restics_percent_and_ends_with_snapshot_and_manifest_sha256() -> None:
    p = pb.BackupProgress(
        phase=pb.BACKUP_PHASE_ARCHIVING, files_done=3, files_total=7, bytes_done=3 << 20,
        bytes_total=7 << 20, percent=42.4, current_file="assets/scalp/20261120_10.jsonl",
    )  # fmt: skip
    text = progress_text(p).plain
    assert text == (
        "restic: reading and uploading\n3/7 files · 3.0 MiB/7.0 MiB · 42 %\n"
        "assets/scalp/20261120_10.jsonl"
    )
    m = manifest("5e1f0c01" + "9a" * 28)
    done = done_text(m).plain
    assert done.splitlines()[0] == "snapshot   5e1f0c01"
    assert "repository s3:https://objectstorage.exa…bserver-backups/observer-prod" in done
    assert "files      5 (512.0 MiB), 84.0 MiB new · 14.2s" in done
    assert done.endswith(f"manifest sha256\n{m.manifest_sha256}")
    assert "archive" not in done


def test_a_daemon_before_snapshots_is_still_shown_by_its_archive_fields() -> None:
    old = pb.BackupManifest(id="20261119-160000-1a2b", archive_sha256="cd" * 32, archive_bytes=9)
    done = done_text(old).plain
    assert done.startswith("archive    20261119-160000-1a2b")
    assert done.endswith("archive sha256\n" + "cd" * 32)


def test_the_backup_actions_speak_of_snapshots_not_archives() -> None:
    from observer.console.actions import ACTIONS

    helps = {a.key: a.help for a in ACTIONS}
    assert "archive" not in helps["b"] + helps["v"]
    assert "snapshot" in helps["b"] and "manifest" in helps["b"] and "snapshot" in helps["v"]


async def test_the_dialog_says_the_repository_is_being_opened_before_restic_reports() -> None:
    import asyncio

    from observer.console.app import ObserverConsole
    from tests.console.helpers import eventually
    from tests.console.screen_text import screen_text
    from tests.console.standin import TOKEN, StandIn, run_standin

    s = StandIn(hold_backup=asyncio.Event(), hold_after_files=-1)
    async with run_standin(s):
        app = ObserverConsole(s.target, token=TOKEN, sample_rates=False)
        async with app.run_test(size=(120, 36)) as pilot:
            await eventually(lambda: app.state.status is not None)
            await pilot.press("b", "y")
            await eventually(lambda: "opening the repository…" in screen_text(app))
            assert "Taking a snapshot…" in screen_text(app)
            s.hold_backup.set()  # type: ignore[union-attr]
            await eventually(lambda: "Snapshot done" in screen_text(app), within=10)


def test_v_verifies_the_daemons_newest_snapshot_not_the_last_one_taken_here() -> None:
    from observer.console.app import ObserverConsole

    app = ObserverConsole("127.0.0.1:9", token=TOKEN, sample_rates=False)
    app.state.backup_manifest = manifest("5e1f0c01" + "9a" * 28)  # taken from this console
    app.state.status = canned_status()
    app.state.status.backups.newest_snapshot = "86730088"  # a rotation's snapshot since
    assert app._newest_backup_id() == "86730088"
    app.state.status.backups.newest_snapshot = ""  # a daemon from before snapshots
    assert app._newest_backup_id() == "5e1f0c01"
