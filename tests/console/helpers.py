"""Small helpers shared by the console tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(
    check: Callable[[], object], within: float = 10.0, every: float = 0.02
) -> None:
    """Wait until ``check()`` is truthy, failing after ``within`` seconds."""
    async with asyncio.timeout(within):
        # Polling on purpose: the conditions are plain attributes with no event to await.
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(every)
