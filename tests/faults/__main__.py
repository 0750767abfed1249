"""``python -m tests.faults [--short] [--only NAME ...]``: run the fault suite, print the
table (markdown, as the README carries it) and exit 1 when a scenario fails."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from tests.faults.common import Result
from tests.faults.scenarios import SCENARIOS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.faults")
    ap.add_argument("--short", action="store_true", help="the small versions (as make test)")
    ap.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), default=None)
    args = ap.parse_args(argv)
    names = args.only or list(SCENARIOS)
    results: list[Result] = []
    t0 = time.monotonic()
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"faults-{name}-") as td:
            started = time.monotonic()
            print(f"running {name} ...", file=sys.stderr, flush=True)
            r = SCENARIOS[name](Path(td), args.short)
            print(
                f"  {r.verdict} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True
            )
            results.append(r)
    print(
        f"\n`python -m tests.faults{' --short' if args.short else ''}` on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}; "
        f"{time.monotonic() - t0:.0f} s in all\n"
    )
    print("| scenario | what was done | figures | verdict |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r.scenario} | {r.done} | {r.figure_text()} | {r.verdict} |")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
