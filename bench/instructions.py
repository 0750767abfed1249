"""Instructions the ingest hot path executes, counted by valgrind's callgrind: repeatable
under load (the machine is shared), and comparable across two versions of the code.

  .venv/bin/python bench/instructions.py [--frames 20000] [--tree DIR ...]

Each ``--tree`` is a checkout of this repository (default: this one), e.g. one made with
``git worktree add /tmp/before <commit>``. For each, its C frame scanner is compiled with
gcc, its packages are imported from that checkout, and the same frames (bench/ingest.py's,
5 records each) go through two workloads under callgrind:

* parse: ``FrameParser.parse`` and the frame's file lines, as the daemon's writer renders
  them (numbered, joined);
* end to end: parse -> hub -> JSONL writer (group commit, fsync), as bench/ingest.py runs.

The figure is instructions per tick: callgrind's total, minus that of the same process
making the same frames and doing nothing with them, divided by the ticks.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKLOAD = r"""
import asyncio, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])  # the import root of the tree measured
sys.path.insert(1, sys.argv[2])  # this repository's bench/, for the frames
from ingest import make_frames
from observer.daemon.kis.parser import FrameParser
from observer.daemon.ingest.hub import Hub
from observer.daemon.ingest.recovery import SeqState
from observer.daemon.ingest.writer import SegmentWriter
from observer.daemon.model import Track
n, mode = int(sys.argv[3]), sys.argv[4]
frames = make_frames(n)
if mode == "parse":
    parse = FrameParser().parse
    seq = 1
    for f in frames:
        b = parse(f)
        b.number(seq)
        b.lines()
        seq += len(b)
elif mode == "e2e":
    async def run(root):
        hub = Hub(seq=SeqState())
        w = SegmentWriter(Track.SCALP, root, commit_interval=0.2, commit_records=20000)
        hub.attach_sink(Track.SCALP, w)
        await w.start()
        parse = FrameParser().parse
        for f in frames:
            await hub.publish(Track.SCALP, parse(f))
        await w.close()
    with tempfile.TemporaryDirectory() as d:
        asyncio.run(run(Path(d)))
"""


def import_root(tree: Path, into: Path) -> Path:
    """A folder where ``observer.daemon`` is ``tree``'s daemon/, with its scanner built."""
    pkg = into / "observer"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "daemon").symlink_to(tree / "daemon")
    (pkg / "v1").symlink_to(tree / "protos" / "observer" / "v1")
    return into


def build_scanner(tree: Path) -> Path:
    """Compile ``tree``'s _scan.c in place (the extension Python imports from the tree)."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    out = tree / "daemon" / "kis" / f"_scan{suffix}"
    include = sysconfig.get_paths()["include"]
    subprocess.run(
        ["gcc", "-O2", "-shared", "-fPIC", f"-I{include}", str(tree / "daemon/kis/_scan.c"),
         "-o", str(out)],
        check=True,
    )  # fmt: skip
    return out


def count(root: Path, frames: int, mode: str) -> int:
    """callgrind's instruction total for one run of the workload."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "callgrind.out"
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, "-c", WORKLOAD, str(root), str(ROOT / "bench"), str(frames), mode],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
        m = re.search(r"Collected : (\d+)", proc.stderr)
        if proc.returncode != 0 or m is None:
            raise SystemExit(f"callgrind failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--tree", type=Path, action="append")
    args = ap.parse_args()
    trees = [t.resolve() for t in (args.tree or [ROOT])]
    ticks = args.frames * 5
    rows = []
    for tree in trees:
        if tree != ROOT:
            build_scanner(tree)
        with tempfile.TemporaryDirectory() as d:
            root = import_root(tree, Path(d))
            cells = []
            # The same process making the same frames and doing nothing with them.
            idle = count(root, args.frames, "none")
            for mode in ("parse", "e2e"):
                cells.append((count(root, args.frames, mode) - idle) / ticks)
            rows.append((tree, cells))
    print(f"\n`{' '.join(['python', *sys.argv])}`; {ticks:,} ticks, instructions per tick\n")
    print("| tree | parse + lines | end to end |")
    print("|---|---:|---:|")
    base = rows[0][1]
    for tree, (p, e) in rows:
        first = tree == rows[0][0]
        print(
            f"| {tree} | {p:,.0f}{'' if first else f' ({p / base[0]:.2f}x)'} "
            f"| {e:,.0f}{'' if first else f' ({e / base[1]:.2f}x)'} |"
        )


if __name__ == "__main__":
    main()
