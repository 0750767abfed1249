"""Backup dialog: confirm, then restic's progress as the daemon streams it (files, bytes,
percent), then the snapshot id and the sha256 of Observer's manifest in the snapshot."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, ProgressBar, Static

from observer.console import format as fmt
from observer.console.messages import BackupRequested
from observer.console.state import ConsoleState
from observer.console.widgets.backups import added_bytes, backup_name, checksum, shorten
from observer.v1 import observer_pb2 as pb

#: What each phase is, in the operator's words.
PHASES = {
    pb.BACKUP_PHASE_SCANNING: "staging the files",
    pb.BACKUP_PHASE_ARCHIVING: "restic: reading and uploading",
    pb.BACKUP_PHASE_FINALIZING: "recording the snapshot",
    pb.BACKUP_PHASE_VERIFYING: "verifying: new files restored and re-hashed",
    pb.BACKUP_PHASE_DONE: "done",
}
_WIDTH = 70  # the dialog's text width (76 columns less the padding)


def progress_text(p: pb.BackupProgress) -> Text:
    """``phase: files, bytes · percent`` and the file being read."""
    phase = PHASES.get(p.phase) or fmt.enum_label(pb.BackupPhase, p.phase)
    text = Text(f"{phase}\n", "bold")
    text.append(
        f"{p.files_done:,}/{p.files_total:,} files · "
        f"{fmt.size(p.bytes_done)}/{fmt.size(p.bytes_total)}"
    )
    if p.percent > 0:
        text.append(f" · {p.percent:.0f} %", "bold")
    if p.current_file:
        text.append(f"\n{shorten(p.current_file, _WIDTH)}", "dim")
    return text


def done_text(m: pb.BackupManifest) -> Text:
    """The snapshot id and the manifest's sha256 (an archive's id and sha256 for a daemon
    that still writes them)."""
    kind, name = backup_name(m)
    what, digest = checksum(m)
    rows = [(kind, Text(name, "bold"))]
    if m.repository:
        rows.append(("repository", Text(shorten(m.repository, _WIDTH - 12))))
    new = f", {fmt.size(added_bytes(m))} new" if m.snapshot_id else ""
    size = m.total_file_bytes or sum(f.bytes for f in m.files)
    rows.append(
        ("files", Text(f"{len(m.files)} ({fmt.size(size)}){new} · {m.duration_seconds:.1f}s"))
    )
    if m.verification == pb.VERIFICATION_STATE_VERIFIED:
        check = Text("verified: the new files restored and re-hashed", "green")
    else:
        verified = fmt.enum_label(pb.VerificationState, m.verification)
        check = Text(verified, "bold red" if verified == "failed" else "yellow")
    rows.append(("check", check))
    out = Text()
    for label, value in rows:
        out.append(f"{label:<11}", "dim")
        out.append_text(value)
        out.append("\n")
    out.append(f"{what}\n", "dim")
    out.append(digest, "bold green")
    return out


#: What the dialog says a backup holds when the daemon does not say (no status yet).
_UNKNOWN_CONTENTS = "the daemon's data (the daemon did not say what)"


def describe(state: ConsoleState) -> str:
    """What pressing "Back up now" does, with what a backup holds as the daemon says it."""
    contents = state.status.backups.contents if state.status is not None else ""
    return (
        f"A backup holds {contents or _UNKNOWN_CONTENTS}. It carries Observer's manifest (a "
        "sha256 per file). Only what the repository does not hold yet is sent, and the new "
        "files are restored and re-hashed before it counts. Collection continues meanwhile."
    )


class BackupDialog(ModalScreen[None]):
    """Asks first; the app runs the backup and this dialog draws its progress."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Back up now"),
        Binding("escape,n", "close", "Close"),
    ]

    def __init__(self) -> None:
        super().__init__()
        #: A backup was asked for from this dialog: its progress and result are shown.
        self._asked = False

    def compose(self) -> ComposeResult:
        with Vertical(id="backup-dialog"):
            yield Static("Take a snapshot of the data volume now?", id="backup-title")
            yield Static("", id="backup-detail")
            yield ProgressBar(total=100, show_eta=False, id="backup-bar")
            with Horizontal(id="backup-buttons"):
                yield Button("Back up now [y]", id="backup-confirm", variant="primary")
                yield Button("Close [esc]", id="backup-close")

    def on_mount(self) -> None:
        self.query_one("#backup-bar", ProgressBar).display = False
        self.query_one("#backup-confirm", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "backup-confirm":
            self.action_confirm()
        else:
            self.action_close()

    def action_confirm(self) -> None:
        # The app owns the backup worker; the dialog only asks for it and draws its progress.
        self._asked = True
        # At once, not at the next draw: a second y cannot ask twice, and the focus is on
        # Close whether or not a draw came while the backup ran (a short one may be done
        # before the next one).
        self.query_one("#backup-confirm", Button).disabled = True
        self.query_one("#backup-close", Button).focus()
        self.post_message(BackupRequested())

    def action_close(self) -> None:
        self.dismiss(None)

    def draw(self, state: ConsoleState) -> None:
        if not (self._asked or state.backup_running):
            # A fresh question: what an earlier backup from this console did is in the
            # backups panel, not above these buttons.
            self.query_one("#backup-detail", Static).update(describe(state))
            return
        progress = state.backup_progress
        if progress is None and not state.backup_running and not state.control_error:
            return
        bar = self.query_one("#backup-bar", ProgressBar)
        detail = self.query_one("#backup-detail", Static)
        title = self.query_one("#backup-title", Static)
        confirm = self.query_one("#backup-confirm", Button)
        confirm.disabled = state.backup_running
        if state.backup_running or progress is not None:
            bar.display = True
        if progress is None and state.backup_running:
            # restic opens (the first time: creates) the repository before the first file
            detail.update(Text("opening the repository…", "bold"))
        if progress is not None:
            if progress.phase == pb.BACKUP_PHASE_ARCHIVING and progress.percent > 0:
                bar.update(total=100, progress=progress.percent)  # restic's own estimate
            else:
                total = progress.bytes_total or progress.files_total or 1
                done = progress.bytes_done if progress.bytes_total else progress.files_done
                bar.update(total=total, progress=done)
            detail.update(progress_text(progress))
        if state.backup_running:
            title.update("Taking a snapshot…")
        elif state.backup_manifest is not None and progress is not None:
            title.update(Text("Snapshot done ✔", "bold green"))
            bar.update(total=1, progress=1)
            detail.update(done_text(state.backup_manifest))
        elif state.control_error:
            title.update(Text("Backup failed", "bold red"))
            detail.update(Text(state.control_error, "red"))
