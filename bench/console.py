"""Console under load: the dashboard headless against a daemon streaming 5,000 ticks/s.

Starts ``observer-daemon run`` on the simulator (OBSERVER_SIM_RATE) on loopback, runs the
console app headless in this process (``App.run_test``, 120x36) for the given time, and
prints the console's own CPU share, peak RSS, redraws per second, ticks it took in, and
key-press-to-screen latency (``?`` opens help, ``escape`` closes it; measured from posting
the key to the first frame of the new screen handed to the display). The headless driver
skips turning frames into terminal output, so the bench does that work itself for every
frame, as a terminal driver would, and counts its CPU. The daemon runs in its own process,
so its CPU is not counted. Targets: <= 50 % of one core, <= 150 MB RSS, key latency p99
<= 100 ms.

    python bench/console.py [--seconds 30] [--rate 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402
from textual._compositor import CompositorUpdate  # noqa: E402
from textual.screen import Screen  # noqa: E402

from observer.console.app import ObserverConsole  # noqa: E402
from observer.console.screens.help import HelpScreen  # noqa: E402
from tests.harness import daemon_process  # noqa: E402


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Frames:
    """Wraps ``App._display``: renders each frame to terminal output like a real driver
    (the headless one skips that) and remembers when each screen last got a frame."""

    def __init__(self, app: ObserverConsole) -> None:
        self.app = app
        self.count = 0
        self.out_bytes = 0
        #: Set when a frame of the awaited kind (help shown or not) reaches the display.
        self.shown = asyncio.Event()
        self.awaited: bool | None = None
        self.shown_at = 0.0
        self.shown_cpu = 0.0
        self._display = app._display
        app._display = self.display  # type: ignore[method-assign]

    def display(self, screen: Screen[object], renderable: object) -> None:
        if isinstance(renderable, CompositorUpdate):
            self.out_bytes += len(renderable.render_segments(self.app.console))
            self.count += 1
            if self.awaited is not None and isinstance(screen, HelpScreen) == self.awaited:
                self.shown_at = time.perf_counter()
                self.shown_cpu = time.thread_time()
                self.awaited = None
                self.shown.set()
        self._display(screen, renderable)  # type: ignore[arg-type]


async def _key_latency(
    app: ObserverConsole, frames: Frames, key: str, char: str, help_shown: bool
) -> tuple[float, float]:
    """Milliseconds from a key event entering the app to the first frame of the new screen:
    wall clock, and CPU of the event loop's thread meanwhile (what the console itself did,
    whatever else the machine runs)."""
    frames.shown.clear()
    frames.awaited = help_shown
    start, start_cpu = time.perf_counter(), time.thread_time()
    app.post_message(events.Key(key, char))
    async with asyncio.timeout(10):
        await frames.shown.wait()
    return (frames.shown_at - start) * 1000, (frames.shown_cpu - start_cpu) * 1000


async def bench(seconds: float, rate: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        daemon_process(Path(tmp), OBSERVER_SIM_RATE=str(rate), OBSERVER_SIM_SEED="11") as daemon,
    ):
        # As the command line runs it (freeze_gc), minus the replay of old ticks.
        app = ObserverConsole(daemon.target, token=daemon.token, replay_last=0, freeze_gc=True)
        async with app.run_test(size=(120, 36)):
            frames = Frames(app)
            async with asyncio.timeout(20):
                while app.state.ticks_seen == 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            latencies: list[float] = []
            loop_cpu: list[float] = []
            peak_rss = _rss_mb()
            seen0, redraws0, dropped0 = app.state.ticks_seen, app.redraws, app.state.dropped_total
            frames0 = frames.count
            # First two thirds: the dashboard alone (what an operator leaves running).
            cpu0, t0 = _cpu(), time.monotonic()
            while time.monotonic() - t0 < seconds * 2 / 3:
                await asyncio.sleep(0.5)
                peak_rss = max(peak_rss, _rss_mb())
            watch_cpu = (_cpu() - cpu0) / (time.monotonic() - t0)
            # Last third: also open and close help, timing each key. The pauses vary so
            # the presses land at every phase of the 0.25 s refresh timer.
            pauses = itertools.cycle((0.21, 0.29, 0.37, 0.13, 0.45, 0.33))
            while time.monotonic() - t0 < seconds:
                await asyncio.sleep(next(pauses))
                for key, char, shown in (("question_mark", "?", True), ("escape", "\x1b", False)):
                    wall, busy = await _key_latency(app, frames, key, char, shown)
                    latencies.append(wall)
                    loop_cpu.append(busy)
                assert not isinstance(app.screen, HelpScreen)
                peak_rss = max(peak_rss, _rss_mb())
            elapsed = time.monotonic() - t0
            cpu = _cpu() - cpu0
            return {
                "seconds": elapsed,
                "cpu_share_pct": cpu / elapsed * 100,
                "watch_cpu_pct": watch_cpu * 100,
                "rss_mb": peak_rss,
                "redraws_per_s": (app.redraws - redraws0) / elapsed,
                "frames_per_s": (frames.count - frames0) / elapsed,
                "kb_per_frame": frames.out_bytes / max(frames.count, 1) / 1024,
                "ticks_per_s": (app.state.ticks_seen - seen0) / elapsed,
                "dropped": app.state.dropped_total - dropped0,
                "key_p50_ms": statistics.median(latencies),
                "key_p99_ms": _pct(latencies, 0.99),
                "key_presses": len(latencies),
                "key_cpu_p50_ms": statistics.median(loop_cpu),
                "key_cpu_p99_ms": _pct(loop_cpu, 0.99),
            }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--rate", type=int, default=5000, help="OBSERVER_SIM_RATE of the daemon")
    args = p.parse_args()
    r = asyncio.run(bench(args.seconds, args.rate))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"`python bench/console.py --seconds {args.seconds:g} --rate {args.rate}`: console "
        f"vs daemon at OBSERVER_SIM_RATE={args.rate} for {r['seconds']:.0f} s (120x36, "
        f"headless); {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load} at the end\n"
    )
    rows = [
        ("console CPU, watching (% of one core)", f"{r['watch_cpu_pct']:.1f}", "<= 50"),
        ("console CPU, with keys (%)", f"{r['cpu_share_pct']:.1f}", ""),
        ("console RSS peak (MB)", f"{r['rss_mb']:.0f}", "<= 150"),
        ("redraws per second", f"{r['redraws_per_s']:.1f}", "timer, 4/s max"),
        ("frames to the terminal per second", f"{r['frames_per_s']:.1f}", ""),
        ("terminal output per frame (KiB)", f"{r['kb_per_frame']:.1f}", ""),
        ("ticks taken in per second", f"{r['ticks_per_s']:.0f}", ""),
        ("ticks dropped by the daemon", f"{r['dropped']:.0f}", ""),
        ("key-to-screen p50 (ms)", f"{r['key_p50_ms']:.1f}", ""),
        ("key-to-screen p99 (ms)", f"{r['key_p99_ms']:.1f}", "<= 100"),
        ("event-loop CPU per key, p50 (ms)", f"{r['key_cpu_p50_ms']:.1f}", ""),
        ("event-loop CPU per key, p99 (ms)", f"{r['key_cpu_p99_ms']:.1f}", ""),
        ("key presses measured", f"{r['key_presses']:.0f}", ""),
    ]
    print("| metric | measured | target |")
    print("|---|---:|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
