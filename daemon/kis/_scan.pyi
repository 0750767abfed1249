class Scanner:
    """The C twin of the fast-path record pattern for one layout (see daemon/kis/frames.py)."""

    def __init__(
        self,
        columns: bytes,
        roles: bytes,
        widths: bytes,
        nwidths: bytes,
        masks: bytes,
        end_group: bool,
    ) -> None: ...
    def scan(self, text: str, start: int, count: int, width: int, /) -> tuple[str, ...] | None:
        """The fast-path groups of a frame's payload ``text[start:]``, or None."""
