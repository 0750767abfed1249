"""Console under load: the dashboard headless against a daemon streaming 5,000 ticks/s.

Starts ``observer-daemon run`` on the simulator (OBSERVER_SIM_RATE) on loopback, runs the
console app headless in this process (``App.run_test``, 120x36) for the given time, and
prints the console's own CPU share, peak RSS, redraws per second, ticks it took in, and
key-press-to-screen latency (``?`` opens help, ``escape`` closes it; measured until the new
screen has processed its messages). The daemon runs in its own process, so its CPU is not
counted. Targets: <= 50 % of one core, <= 150 MB RSS, key latency p99 <= 100 ms.

    python bench/console.py [--seconds 30] [--rate 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402

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


async def _key_latency(app: ObserverConsole, key: str, char: str, help_shown: bool) -> float:
    """Milliseconds from a key event entering the app to the new screen laid out."""
    start = time.perf_counter()
    app.post_message(events.Key(key, char))

    def shown() -> bool:
        screen = app.screen
        if isinstance(screen, HelpScreen) != help_shown or screen.size.height == 0:
            return False
        return not help_shown or any(w.size.height > 0 for w in screen.query("#help"))

    async with asyncio.timeout(10):
        while not shown():  # noqa: ASYNC110 (no event marks "laid out")
            await asyncio.sleep(0.0005)
    return (time.perf_counter() - start) * 1000


async def bench(seconds: float, rate: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        daemon_process(Path(tmp), OBSERVER_SIM_RATE=str(rate), OBSERVER_SIM_SEED="11") as daemon,
    ):
        app = ObserverConsole(daemon.target, token=daemon.token, replay_last=0)
        async with app.run_test(size=(120, 36)):
            async with asyncio.timeout(20):
                while app.state.ticks_seen == 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            latencies: list[float] = []
            peak_rss = _rss_mb()
            seen0, redraws0, dropped0 = app.state.ticks_seen, app.redraws, app.state.dropped_total
            # First two thirds: the dashboard alone (what an operator leaves running).
            cpu0, t0 = _cpu(), time.monotonic()
            while time.monotonic() - t0 < seconds * 2 / 3:
                await asyncio.sleep(0.5)
                peak_rss = max(peak_rss, _rss_mb())
            watch_cpu = (_cpu() - cpu0) / (time.monotonic() - t0)
            # Last third: also open and close help every half second, timing each key.
            while time.monotonic() - t0 < seconds:
                await asyncio.sleep(0.5)
                for key, char, shown in (("question_mark", "?", True), ("escape", "\x1b", False)):
                    latencies.append(await _key_latency(app, key, char, shown))
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
                "ticks_per_s": (app.state.ticks_seen - seen0) / elapsed,
                "dropped": app.state.dropped_total - dropped0,
                "key_p50_ms": statistics.median(latencies),
                "key_p99_ms": _pct(latencies, 0.99),
                "key_presses": len(latencies),
            }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--rate", type=int, default=5000, help="OBSERVER_SIM_RATE of the daemon")
    args = p.parse_args()
    r = asyncio.run(bench(args.seconds, args.rate))
    print(
        f"console vs daemon at OBSERVER_SIM_RATE={args.rate} for {r['seconds']:.0f} s (120x36, headless)"
    )
    print(f"  {'metric':<28}{'measured':>12}  target")
    rows = [
        ("console CPU, watching (%)", f"{r['watch_cpu_pct']:.1f}", "<= 50 (of one core)"),
        ("console CPU, with keys (%)", f"{r['cpu_share_pct']:.1f}", "whole run"),
        ("console RSS peak (MB)", f"{r['rss_mb']:.0f}", "<= 150"),
        ("redraws per second", f"{r['redraws_per_s']:.1f}", "timer, 4/s max"),
        ("ticks taken in per second", f"{r['ticks_per_s']:.0f}", ""),
        ("ticks dropped by the daemon", f"{r['dropped']:.0f}", ""),
        ("key-to-screen p50 (ms)", f"{r['key_p50_ms']:.1f}", ""),
        ("key-to-screen p99 (ms)", f"{r['key_p99_ms']:.1f}", "<= 100"),
        ("key presses measured", f"{r['key_presses']:.0f}", ""),
    ]
    for name, value, target in rows:
        print(f"  {name:<28}{value:>12}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
