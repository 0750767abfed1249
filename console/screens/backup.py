"""Backup dialog: confirm, then a progress bar fed by the streamed progress, then the checksum."""

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
from observer.v1 import observer_pb2 as pb

#: What the dialog says a backup holds when the daemon does not say (no status yet).
_UNKNOWN_CONTENTS = "the daemon's data (the daemon did not say what)"


def describe(state: ConsoleState) -> str:
    """What pressing "Back up now" does, with what a backup holds as the daemon says it."""
    contents = state.status.backups.contents if state.status is not None else ""
    return (
        f"A backup holds {contents or _UNKNOWN_CONTENTS}. It carries a manifest (a sha256 per "
        "file) and is verified before it is reported done. Collection continues meanwhile."
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
            yield Static("Back up the data volume now?", id="backup-title")
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
        if progress is not None:
            total = progress.bytes_total or progress.files_total or 1
            done = progress.bytes_done if progress.bytes_total else progress.files_done
            bar.update(total=total, progress=done)
            phase = fmt.enum_label(pb.BackupPhase, progress.phase)
            text = Text(
                f"{phase}: {progress.files_done}/{progress.files_total} files, "
                f"{fmt.size(progress.bytes_done)}/{fmt.size(progress.bytes_total)}"
            )
            if progress.current_file:
                text.append(f"\n{progress.current_file}", "dim")
            detail.update(text)
        if state.backup_running:
            title.update("Backing up…")
        elif state.backup_manifest is not None and progress is not None:
            m = state.backup_manifest
            title.update(Text("Backup done ✔", "bold green"))
            bar.update(total=1, progress=1)
            detail.update(
                Text.assemble(
                    ("id      ", "dim"),
                    (m.id, "bold"),
                    "\n",
                    ("archive ", "dim"),
                    f"{m.archive} ({fmt.size(m.archive_bytes)}, {len(m.files)} files, {m.duration_seconds:.1f}s)\n",
                    ("sha256  ", "dim"),
                    (m.archive_sha256, "bold green"),
                )
            )
        elif state.control_error:
            title.update(Text("Backup failed", "bold red"))
            detail.update(Text(state.control_error, "red"))
