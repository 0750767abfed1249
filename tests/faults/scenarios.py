"""Every scenario of the fault suite, in the order of the table."""

from __future__ import annotations

from tests.faults import crashes, feed, readers, secrets, storage
from tests.faults.common import Scenario

SCENARIOS: dict[str, Scenario] = {
    "crash-loop": crashes.crash_loop,
    "big-open-segment": crashes.big_open_segment,
    "postgres": storage.postgres_immediate,
    "disk-full": storage.disk_full,
    "feed": feed.drops_and_malformed,
    "poison": feed.poison_frames,
    "fuzz": feed.fuzz,
    "replay-flood": readers.replay_flood,
    "connections": readers.abandoned_connections,
    "archives": secrets.malicious_archives,
    "canaries": secrets.canaries,
}
