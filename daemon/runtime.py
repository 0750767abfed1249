"""Process-wide runtime tuning applied once by the composition root (and by the benchmarks,
so they measure what the daemon runs).

The ingest path allocates many short-lived objects (a list per frame, a tick per record)
that never form reference cycles; the default generation-0 threshold of 700 makes the cyclic
collector scan young objects thousands of times per second. Everything alive at the end of
start-up is long-lived, so it is frozen out of the collector's view, and young collections
are made much rarer. Reference counting still frees the per-tick garbage immediately.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, 50, 100)
