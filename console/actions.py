"""Every console action in one table: its key, its palette title and its help line.

The bindings, the command palette and the help screen are all generated from this table,
so an action cannot exist on a key without being in the palette and the help, or vice versa.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    key: str
    action: str
    title: str
    help: str
    #: Key as shown to people (``?`` rather than ``question_mark``).
    label: str = ""

    @property
    def shown_key(self) -> str:
        return self.label or self.key


ACTIONS: tuple[Action, ...] = (
    Action("b", "backup", "Back up now", "Take a backup now (asks first); restic's progress, then the snapshot id and its manifest's sha256"),
    Action("v", "verify", "Verify newest backup", "Restore the newest snapshot to scratch space and compare every file's sha256 with its manifest"),
    Action("t", "tail", "Tail ticks", "Tail screen: filter by symbol, pause/follow, dropped counter"),
    Action("d", "dashboard", "Dashboard", "Back to the dashboard"),
    Action("o", "rotate", "Rotate segments now", "Close the current tick files and open new ones"),
    Action("r", "reconnect", "Reconnect now", "Restart the streams and the port-forward without waiting for the backoff"),
    Action("T", "change_theme", "Change theme", "Pick a colour theme", "shift+t"),
    Action("question_mark", "help", "Help", "Keys, colours and what each panel shows", "?"),
    Action("q", "quit", "Quit", "Leave the console (the daemon keeps running)"),
)  # fmt: skip

#: Keys of the tail screen (shown in the help).
TAIL_KEYS: tuple[tuple[str, str], ...] = (
    ("/", "filter by symbol (comma separated 6-digit codes; empty = all)"),
    ("space / p", "pause or follow"),
    ("c", "clear the filter"),
    ("escape", "back to the dashboard"),
)
