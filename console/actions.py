"""Every console action in one table: its key, its palette title, its footer label and its
help line.

The bindings, the command palette, the footer and the help screen are all generated from
these tables, so an action cannot exist on a key without being in the palette and the help,
or vice versa. ``ACTIONS`` work on every screen; ``TAIL_ACTIONS`` on the tail screen (and
in the palette while it is open).
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
    #: What the footer says (short: the footer must fit 80 columns); "" = not in the footer.
    footer: str = ""

    @property
    def shown_key(self) -> str:
        return self.label or self.key


#: The dashboard's panels in the order the panel keys (1-5) name them; at 80x24 one shows
#: at a time below the header, at 120x36 all of them.
PANELS: tuple[tuple[str, str], ...] = (
    ("ticks", "Ticks"), ("volumes", "Volumes"), ("rotation", "Rotation"),
    ("secrets", "Secrets"), ("backups", "Backups"),
)  # fmt: skip

ACTIONS: tuple[Action, ...] = (
    Action("b", "backup", "Back up now", "Take a backup now (asks first); restic's progress, then the snapshot id and its manifest's sha256", footer="Back up"),
    Action("v", "verify", "Verify newest backup", "Restore the newest snapshot to scratch space and compare every file's sha256 with its manifest", footer="Verify"),
    Action("t", "tail", "Tail ticks", "Tail screen: filter by symbol, pause/follow, dropped counter", footer="Tail"),
    Action("d", "dashboard", "Dashboard", "Back to the dashboard"),
    Action("o", "rotate", "Rotate segments now", "Close the current tick files and open new ones", footer="Rotate"),
    Action("r", "reconnect", "Reconnect now", "Restart the streams and the port-forward without waiting for the backoff", footer="Reconnect"),
    *(
        Action(str(n), f"panel('{name}')", f"Show the {title} panel",
               f"Dashboard: show {title} (in a small terminal one panel shows at a time)")
        for n, (name, title) in enumerate(PANELS, 1)
    ),
    Action("T", "change_theme", "Change theme", "Pick a colour theme", "shift+t"),
    Action("question_mark", "help", "Help", "Keys, colours and what each panel shows", "?", footer="Help"),
    Action("q", "quit", "Quit", "Leave the console (the daemon keeps running)", footer="Quit"),
)  # fmt: skip

#: The tail screen's own actions: keys that work wherever the focus is on that screen
#: except inside the filter, which Enter, Escape and Tab leave (the palette reaches them
#: from anywhere, the filter included).
TAIL_ACTIONS: tuple[Action, ...] = (
    Action("p,space", "pause", "Pause or follow the tail", "pause or follow", "p / space", footer="Pause/follow"),
    Action("slash", "filter", "Filter the tail by symbol", "filter by symbol (comma separated: 6 digits, or Q and 6 for an ETN; empty = all)", "/", footer="Filter"),
    Action("c", "clear", "Clear the tail's filter", "clear the filter", footer="Clear"),
    Action("escape", "back", "Back to the dashboard", "back to the dashboard (from the filter: leave it)", footer="Back"),
)  # fmt: skip
