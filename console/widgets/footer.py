"""The key footer: Textual's own, rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeysFooter(Footer):
    """Textual's footer rebuilds itself (a widget per key, styled, then a layout pass of
    the whole screen) on every bindings signal: each screen switch and focus change, even
    when the keys stay the same. That rebuild sat on every key press that opens or closes
    a screen; this one rebuilds only when what it would show differs."""

    def __init__(self) -> None:
        super().__init__()
        self._shown: object = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        rebuilds = screen.app.app_focus and self.is_attached and screen is self.screen
        if not rebuilds:
            super().bindings_changed(screen)
            return
        keys = tuple(
            (key, b.key, b.description, b.action, b.show, b.group, enabled, tooltip)
            for key, (_, b, enabled, tooltip) in screen.active_bindings.items()
        )
        shown = (keys, self.show_command_palette, self.compact, self.app.ENABLE_COMMAND_PALETTE)
        if shown == self._shown:
            return
        self._shown = shown
        super().bindings_changed(screen)
