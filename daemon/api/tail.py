"""Tail's stream as plain generators: the replay from the files, then the live records.

:func:`live_batches` turns a hub subscription into an async iterator of batches;
:func:`replay_then_live` sends the replayed records first (in chunks), then the live ones,
skipping live records the replay already sent — the subscription is taken before the files
are read, so nothing falls between the two, and what both saw is sent once. The servicer
only encodes what these yield.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from observer.daemon.api.ports import Item, SubscriptionLike, TailBatchLike


@dataclass(frozen=True)
class TailChunk:
    """One message's worth of records."""

    items: Sequence[Item]
    replay: bool
    dropped_since_last: int = 0
    dropped_total: int = 0
    #: The items are one unbroken stretch of the subscription's stream (the encoder may
    #: then reuse encodings other subscribers with the same filter already made).
    contiguous: bool = True


async def live_batches(sub: SubscriptionLike, max_items: int) -> AsyncIterator[TailBatchLike]:
    """The subscription's batches until it is closed."""
    while True:
        # No timeout: a plain event wait (wait_for would cost a task per batch); close()
        # wakes it, and a cancelled call cancels this coroutine.
        batch = await sub.next_batch(max_items)
        if batch is None:
            if sub.closed:
                return
            continue
        yield batch


def _key(item: Item) -> tuple[type, str]:
    return type(item), item.trade_date


async def replay_then_live(
    replayed: Sequence[Item], live: AsyncIterator[TailBatchLike], max_batch: int
) -> AsyncIterator[TailChunk]:
    """The replayed records in chunks of ``max_batch``, then every live batch, with the live
    records the replay already sent (same track, trade date and seq) left out."""
    seen: dict[tuple[type, str], int] = {}
    for item in replayed:
        k = _key(item)
        seen[k] = max(seen.get(k, 0), item.seq)
    for start in range(0, len(replayed), max_batch):
        yield TailChunk(replayed[start : start + max_batch], replay=True)
    dropped_total = 0
    async for batch in live:
        items: Sequence[Item] = batch.items
        contiguous = True
        if seen:
            items = [i for i in items if i.seq > seen.get(_key(i), 0)]
            if len(items) == len(batch.items):
                seen.clear()  # the live stream has moved past the replay
            else:
                contiguous = False
        dropped_total += batch.dropped
        if items or batch.dropped:
            yield TailChunk(items, False, batch.dropped, dropped_total, contiguous)
