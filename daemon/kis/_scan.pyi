def scan(text: str, start: int, count: int, width: int, /) -> tuple[str, ...] | None:
    """The fast-path groups of a frame's payload ``text[start:]`` (see parser.py), or None."""
