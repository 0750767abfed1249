"""Figures for backups: restic snapshots in an object store vs full .tar.gz archives.

    .venv/bin/python bench/backup.py [--days 30] [--ticks-per-day 2000000] [--work DIR]

Simulates trading days (not in real time) on the default settings: the project's own
SegmentWriter writes each day's ticks in hourly segments (09..15 KST); each rotation is
followed by the segment's Parquet conversion and a snapshot (as the schedule takes them
within OBSERVER_BACKUP_AFTER_ROTATION_MINUTES), the day ends with the daily snapshot, the
repository policy (forget + prune) and retention, all with the simulated clock. The
repository is a real SeaweedFS S3 bucket on loopback (off the data volume, so retention
may delete what verified snapshots hold).

The baseline, measured in the same run: the design being replaced, a full .tar.gz of the
volume every day, 30 kept, raw files kept forever. Each day's new files are archived once
with the legacy archive writer; archive N holds days 1..N, so its size is the sum of those
(gzip streams add up; the first days are checked against a real cumulative archive).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import astuple
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from observer.daemon.backup.archive import Source, write_archive  # noqa: E402
from observer.daemon.backup.engine import new_id  # noqa: E402
from observer.daemon.backup.manifest import Manifest  # noqa: E402
from observer.daemon.backup.service import BackupService  # noqa: E402
from observer.daemon.clock import KST  # noqa: E402
from observer.daemon.config import Config, load_config  # noqa: E402
from observer.daemon.ingest.writer import SegmentWriter  # noqa: E402
from observer.daemon.kis.parser import FrameParser  # noqa: E402
from observer.daemon.model import Tick, Track  # noqa: E402
from observer.daemon.segments import count_lines, segment_date  # noqa: E402
from observer.daemon.simulator.market import Market, frame, load_universe  # noqa: E402
from observer.daemon.status import capacity  # noqa: E402
from observer.daemon.stores.parquet import convert_segment, dataset_path  # noqa: E402
from observer.daemon.stores.retention import Retention  # noqa: E402
from tests.seaweed import BUCKET, SeaweedS3, skip_reason  # noqa: E402

GIB = 1024**3
VOLUME = 20 * GIB
TR_ID = "H0STCNT0"
#: Minutes of trading in each hourly segment (KRX 09:00-15:30).
HOURS = {9: 60, 10: 60, 11: 60, 12: 60, 13: 60, 14: 60, 15: 30}


def trading_days(start: date, n: int) -> list[date]:
    out: list[date] = []
    d = start
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


#: Symbols traded (one KIS session's realtime limit).
SYMBOLS = 41


#: A pool trade: its symbol, the Tick fields from price to halted, and schema 2's fields.
Pool = list[tuple[str, tuple[object, ...], tuple[object, ...]]]
#: Where those run in a Tick's fields (after symbol, date and time; received_at and seq are
#: the simulated day's).
_TRADE, _V2 = slice(3, 19), slice(21, None)


def market_pool(n: int, seed: int = 5) -> Pool:
    """``n`` trades from the project's simulator market (a random walk on KRX tick sizes over
    41 symbols, as the demo's feed), parsed as the daemon parses them (schema 2's fields
    included), keeping what follows symbol, date and time.

    Built once: an hour's ticks are the pool's trades with that hour's date, times and seqs
    (lines differ in every chunk, so nothing deduplicates that would not in a real feed).
    The parser's clock is the market's: a trade date is checked against the date it arrives.
    """
    universe = load_universe()
    symbols = list(universe)[:SYMBOLS]
    clock = [datetime(2026, 11, 2, 9, 0, tzinfo=KST).timestamp()]
    market = Market(universe, random.Random(seed), lambda: clock[0])
    parser = FrameParser(frozenset({TR_ID}), lines=False, clock=lambda: clock[0])
    out: Pool = []
    for _ in range(10 * n // 50 + 100):  # bounded: a frame of 50 records a simulated second
        if len(out) >= n:
            break
        clock[0] += 1.0
        for t in parser.parse(frame(TR_ID, market.records(symbols, 50))):
            fields = astuple(t)
            out.append((t.symbol, fields[_TRADE], fields[_V2]))
    if len(out) < n or parser.malformed:
        raise RuntimeError(
            f"the simulator's frames gave {len(out):,} of {n:,} trades ({parser.malformed:,} "
            "frames malformed): the pool would not be the feed the daemon writes"
        )
    return out[:n]


def hour_ticks(day: str, hour: int, n: int, seq0: int, pool: Pool) -> list[Tick]:
    """``n`` ticks in ``hour`` of ``day``: the pool's trades, this day's times and seqs."""
    minutes = HOURS[hour]
    base = datetime(int(day[:4]), int(day[4:6]), int(day[6:]), hour, tzinfo=KST).timestamp()
    span = minutes * 60
    times = [f"{hour:02d}{s // 60:02d}{s % 60:02d}" for s in range(span)]
    size = len(pool)
    out = []
    for i in range(n):
        sec = (i * span) // n
        sym, fields, v2 = pool[i % size]
        out.append(Tick(sym, day, times[sec], *fields, base + sec + 0.25, seq0 + i, *v2))  # type: ignore[arg-type, call-arg]
    return out


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def bucket_bytes(s3: SeaweedS3, prefix: str) -> int:
    return sum(
        o.size or 0 for o in s3.client().list_objects(BUCKET, prefix=prefix + "/", recursive=True)
    )


class Run:
    def __init__(self, cfg: Config, s3: SeaweedS3, prefix: str) -> None:
        self.cfg = cfg
        self.s3 = s3
        self.prefix = prefix
        self.now = 0.0
        self.svc = BackupService(cfg, clock=lambda: self.now)
        self.snapshot_seconds: list[tuple[int, str, float]] = []  # day, kind, seconds
        self.peak = 0
        self.raw_days_peak = 0  # most trading days of raw segments on the volume at once
        self.baseline_days: list[int] = []  # legacy archive bytes of each day's new files
        self.check: tuple[int, int] | None = None
        self.spent: dict[str, float] = {}  # where the wall-clock time went, by phase
        self.baseline_seconds = 0.0  # in the worker thread, alongside the phases above
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="baseline")
        self._baseline: Future[None] | None = None

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - t0

    def snapshot(self, day_no: int, kind: str) -> None:
        t0 = time.perf_counter()
        with self.phase("snapshots (restic, verified at birth)"):
            self.svc.run_sync(now=self.now)
        self.snapshot_seconds.append((day_no, kind, time.perf_counter() - t0))
        self.peak = max(self.peak, du(self.cfg.data_dir))
        dates = {p.name[:8] for p in (self.cfg.data_dir / "assets" / "scalp").glob("*.jsonl")}
        self.raw_days_peak = max(self.raw_days_peak, len(dates))

    def _archive(self, files: list[Path], out: Path, now: float) -> int:
        """Bytes of a legacy .tar.gz of ``files`` (the writer being replaced), then removed."""
        t0 = time.perf_counter()
        data = self.cfg.data_dir
        srcs = [Source(p, p.relative_to(data).as_posix()) for p in files if p.exists()]
        m = Manifest(id=new_id(now), created_at=now, daemon_version="baseline", archive="")
        out.mkdir(exist_ok=True)
        write_archive(out, srcs, m, lambda p: None)
        shutil.rmtree(out, ignore_errors=True)
        self.baseline_seconds += time.perf_counter() - t0
        return m.archive_bytes

    def baseline_day(self, files: list[Path], work: Path) -> None:
        """Today's new files archived once with the legacy writer, in a worker thread while
        the next day is simulated (gzip and sha256 run outside the GIL); one at a time."""
        self.join_baseline()
        now = self.now

        def day() -> None:
            self.baseline_days.append(self._archive(files, work / "baseline", now))

        self._baseline = self._worker.submit(day)

    def baseline_check(self, files: list[Path], work: Path) -> None:
        """A real cumulative archive of the first days, against the sum of their parts."""
        self.join_baseline()
        now = self.now

        def check() -> None:
            self.check = (
                self._archive(files, work / "baseline-check", now),
                sum(self.baseline_days),
            )

        self._baseline = self._worker.submit(check)

    def join_baseline(self) -> None:
        """Wait for the baseline archive in flight (before the measured snapshots, too)."""
        if self._baseline is not None:
            self._baseline.result()
            self._baseline = None


async def simulate(run: Run, days: list[date], per_day: int, work: Path) -> list[Path]:
    cfg = run.cfg
    data = cfg.data_dir
    writer = SegmentWriter(Track.SCALP, data, commit_interval=0.05, commit_records=50_000)
    closed: asyncio.Queue[Path] = asyncio.Queue()
    writer.add_close_listener(closed.put_nowait)
    await writer.start()
    total_min = sum(HOURS.values())
    with run.phase("synthetic ticks (simulator market)"):
        pool = market_pool(max(1, per_day * max(HOURS.values()) // total_min))
    seq = 1
    day_files: list[Path] = []
    cumulative_check: list[Path] = []
    try:
        for n, d in enumerate(days, 1):
            key = d.strftime("%Y%m%d")
            if n == len(days):
                run.join_baseline()  # the last day's snapshots are measured: nothing alongside
            new_files: list[Path] = []
            for hour, minutes in HOURS.items():
                count = per_day * minutes // total_min
                with run.phase("synthetic ticks (simulator market)"):
                    batch = hour_ticks(key, hour, count, seq, pool)
                seq += count
                with run.phase("segment writer (JSONL, fsync)"):
                    for i in range(0, len(batch), 20_000):
                        await writer.put(batch[i : i + 20_000])
                    if n == 1 and hour == 9:
                        continue  # nothing closed yet
                    # the previous segment closes when this hour's first ticks are committed
                    seg = await asyncio.wait_for(closed.get(), timeout=60)
                run.now = datetime(d.year, d.month, d.day, hour, 5, tzinfo=KST).timestamp()
                with run.phase("Parquet conversion"):
                    convert_segment(seg, data / "datasets")
                new_files.append(seg)
                run.snapshot(n, "rotation")
            # 16:00: the daily snapshot (the 15:00 segment is still open: cut at its last line)
            run.now = datetime(d.year, d.month, d.day, 16, 0, tzinfo=KST).timestamp()
            run.snapshot(n, "daily")
            with run.phase("repository policy (forget + prune)"):
                run.svc.policy_sync()
            run.now = datetime(d.year, d.month, d.day, 17, 0, tzinfo=KST).timestamp()
            with run.phase("retention"):
                r = Retention(cfg, clock=lambda: run.now)
                r.apply(r.plan(run.now))
            run.peak = max(run.peak, du(data))
            # the baseline: today's new files archived once with the legacy writer
            run.baseline_day(new_files, work)
            day_files += new_files
            if n <= 2:
                cumulative_check += new_files
                if n == 2:
                    run.baseline_check(cumulative_check, work)
            print(
                f"day {n:2d} {d}: data volume {du(data) / GIB:.2f} GiB, repository "
                f"{bucket_bytes(run.s3, run.prefix) / GIB:.2f} GiB",
                flush=True,
            )
        run.join_baseline()
    finally:
        await writer.close()
    return day_files


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--ticks-per-day", type=int, default=2_000_000)
    ap.add_argument(
        "--work", type=Path, default=None, help="scratch directory (default: a temp dir)"
    )
    args = ap.parse_args()
    reason = skip_reason()
    if reason:
        print(f"bench/backup.py needs restic and SeaweedFS: {reason}")
        return 2
    work = Path(tempfile.mkdtemp(prefix="observer-bench-backup-", dir=args.work))
    # The store holds the repository (about 60 B a tick after restic's compression) and,
    # until SeaweedFS vacuums them, the packs prune deleted: room for 3 times the run's
    # ticks at 60 B, in volumes of 256 MB that take disk only as they are written (the
    # tests' 1.25 GiB filled on day 8 at 2 million ticks a day).
    need = 3 * 60 * args.days * args.ticks_per_day
    s3 = SeaweedS3(work / "seaweed", volume_mb=256, volumes=max(20, -(-need // (256 << 20))))
    s3.start()
    started = time.monotonic()
    try:
        env = {
            "OBSERVER_DATA_DIR": str(work / "data"),
            "OBSERVER_CONFIG_DIR": str(work / "config"),
            "OBSERVER_LOG_DIR": str(work / "logs"),
            "OBSERVER_BACKUP_SCRATCH_DIR": str(work / "scratch"),
            **s3.env("bench"),
        }
        cfg = load_config(environ=env, cwd=work).config
        run = Run(cfg, s3, "bench")
        days = trading_days(date(2026, 11, 2), args.days)
        asyncio.run(simulate(run, days, args.ticks_per_day, work))

        repo = bucket_bytes(s3, "bench")
        stats = run.svc.engine.restic.run(["stats", "--mode", "raw-data", "--json", "--no-lock"])
        held = int(stats.json_value()["total_size"])
        base_archives = [sum(run.baseline_days[: i + 1]) for i in range(len(run.baseline_days))]
        base_total, base_held = sum(base_archives), base_archives[-1]
        rot = [(d, s) for d, k, s in run.snapshot_seconds if k == "rotation"]
        day1 = [s for d, s in rot if d == 1][1:]  # not the very first (repository init)
        dayn = [s for d, s in rot if d == len(days)]
        t1, tn = sorted(day1)[len(day1) // 2], sorted(dayn)[len(dayn) // 2]

        into = work / "restore"
        t0 = time.perf_counter()
        svc = run.svc
        with svc.engine.lock():
            _m, nfiles, nbytes = svc.engine.restore_into("latest", into)
        restore_s = time.perf_counter() - t0
        run.spent["full restore"] = restore_s
        # the newest snapshot holds every tick of the run: Parquet of every closed hour of
        # all the days, and raw JSONL of the last ones (the open segment only there)
        minutes = sum(HOURS.values())
        written = len(days) * sum(args.ticks_per_day * m // minutes for m in HOURS.values())
        restored, restored_dates = _restored_ticks(into)
        shutil.rmtree(into, ignore_errors=True)
        assert restored == written, f"restored {restored:,} ticks, the run wrote {written:,}"
        # the weekly drill as the schedule runs it: restic check reading
        # OBSERVER_BACKUP_VERIFY_READ_PERCENT of the packs, then every file of the newest
        # snapshot restored to scratch in batches and compared with the manifest
        t0 = time.perf_counter()
        drill = svc.drill_sync()
        drill_s = time.perf_counter() - t0
        run.spent["weekly drill"] = drill_s
        assert drill.ok, drill.mismatches[:3]
        cache = du(svc.state / "restic-cache")

        assets = du(cfg.data_dir / "assets")
        raw_tick = assets / max(1, _lines(cfg.data_dir))
        raw_day = args.ticks_per_day * raw_tick
        parquet = du(cfg.data_dir / "datasets")
        pq_day = parquet / len(days)
        c = cfg
        raw_days_max = capacity.kept_trading_days(c.retain_raw_days)
        pq_days_max = capacity.kept_trading_days(c.retain_dataset_days)
        used = du(cfg.data_dir)
        other = used - assets - parquet
        # the steady state, with the arithmetic the daemon's status and doctor use
        proj = capacity.project(
            VOLUME, used, c.min_free_mb << 20,
            [capacity.ClassUse("raw", c.retain_raw_days, assets, raw_day, 5),
             capacity.ClassUse("parquet", c.retain_dataset_days, parquet, pq_day, 5)],
            days[-1], transient=capacity.stage_copy_bytes(raw_day),
        )  # fmt: skip
        projected = float(proj.peak_bytes or 0)
        wall = time.monotonic() - started

        print()
        print(
            f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}, "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at the end); {wall / 60:.0f} min"
        )
        print(
            f"Command: .venv/bin/python bench/backup.py --days {args.days} --ticks-per-day {args.ticks_per_day}"
        )
        print(
            f"{len(days)} trading days x {args.ticks_per_day:,} ticks, {len(run.snapshot_seconds)} snapshots "
            f"(after each rotation and daily), policy and retention daily; repository: SeaweedFS S3"
        )
        print()
        print(
            "| figure | snapshots (restic, object store) | baseline: daily full .tar.gz | target |"
        )
        print("|---|---:|---:|---|")
        print(
            f"| repository bytes after {len(days)} days | {repo / GIB:.2f} GiB | {base_total / GIB:.2f} GiB | |"
        )
        print(f"| compressed data it holds | {held / GIB:.2f} GiB | {base_held / GIB:.2f} GiB | |")
        print(f"| ratio | {repo / held:.2f} | {base_total / base_held:.1f} | <= 1.2 |")
        print(f"| snapshot after one new hourly segment, day 1 (s, median) | {t1:.2f} | | |")
        print(f"| same on day {len(days)} (s, median) | {tn:.2f} | | |")
        print(f"| ratio day {len(days)} / day 1 | {tn / t1:.2f} | | <= 1.5 |")
        print(
            f"| full restore of the newest snapshot, every sha256 checked | {nbytes / restore_s / 1e6:.0f} MB/s "
            f"({nfiles} files, {nbytes / GIB:.2f} GiB, {restore_s:.0f} s) | | |"
        )
        print(
            f"| ticks in the restored snapshot / ticks written | {restored:,} of {restored_dates} trade "
            f"dates / {written:,} | | all |"
        )
        base_volume = len(days) * raw_day + base_total  # raw kept forever + archives on the volume
        print(
            f"| weekly drill: check {c.backup_verify_read_percent:g} % of the packs, restore every file to "
            f"scratch, sha256 | {drill_s:.0f} s ({drill.files_checked} files, "
            f"{drill.bytes_checked / GIB:.2f} GiB, batches of {c.backup_scratch_mb} MiB) | | |"
        )
        print(
            f"| data volume peak during the run | {run.peak / GIB:.2f} GiB ({run.peak / VOLUME:.0%} of 20 GiB) | "
            f"{base_volume / GIB:.1f} GiB ({base_volume / VOLUME:.0%}) | |"
        )
        print(
            f"| projected steady state at the default policy | {projected / GIB:.2f} GiB ({projected / VOLUME:.0%}) "
            f"| grows every day | < 70 % |"
        )
        fills = "never" if proj.days_until_full is None else f"{proj.days_until_full:.0f} days"
        print(
            f"| days until a 20 GiB volume fills | {fills} | {_days_to_fill(run.baseline_days, raw_day)} | never |"
        )
        print()
        print(
            f"raw JSONL per trading day {raw_day / 1e9:.3f} GB ({raw_tick:.1f} B a tick), Parquet "
            f"{pq_day / 1e9:.3f} GB ({pq_day / args.ticks_per_day:.1f} B a tick); raw kept {c.retain_raw_days} "
            f"days: at most {raw_days_max} trading days on the volume (the run's peak held "
            f"{run.raw_days_peak} days of segments), Parquet {c.retain_dataset_days} days: at most {pq_days_max}; "
            f"other files {other / 1e6:.0f} MB (restic's cache {cache / 1e6:.0f} MB); the open segment's stage copy "
            f"{capacity.stage_copy_bytes(raw_day) / 1e9:.2f} GB"
        )
        print(f"projection: {proj.text}")
        if run.check is not None:
            real, parts = run.check
            print(
                f"baseline check: real archive of days 1-2 {real:,} B, sum of the daily parts {parts:,} B "
                f"({(parts - real) / real:+.3%})"
            )
        accounted = sum(run.spent.values())
        spent = sorted(run.spent.items(), key=lambda kv: -kv[1])
        spent.append(("other (SeaweedFS start, measuring)", max(0.0, wall - accounted)))
        print(
            "where the time went: "
            + ", ".join(f"{k} {v / 60:.1f} min" for k, v in spent)
            + f"; alongside them, the baseline archives {run.baseline_seconds / 60:.1f} min"
        )
        return 0
    finally:
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)


def _lines(data: Path) -> int:
    return sum(count_lines(p) for p in (data / "assets").rglob("*.jsonl"))


def _restored_ticks(into: Path) -> tuple[int, int]:
    """Ticks a restored tree holds, each counted once, and their trade dates.

    Parquet rows of every dataset file, plus the lines of raw segments that have no Parquet
    file (the open segment, cut at its last complete line).
    """
    ticks, dates = 0, set()
    for p in (into / "datasets").rglob("*.parquet"):
        ticks += pq.read_metadata(p).num_rows
        dates.add(p.parent.name.removeprefix("date="))
    for seg in (into / "assets").rglob("*.jsonl"):
        if not dataset_path(seg, into / "datasets").is_file():
            ticks += count_lines(seg)
            dates.add(segment_date(seg))
    return ticks, len(dates)


def _days_to_fill(daily_archives: list[int], raw_day: float) -> str:
    """Baseline: raw kept forever plus 30 daily archives of everything (day N holds N days)."""
    used, d = 0.0, 0
    per_day = sum(daily_archives) / len(daily_archives)  # archive bytes of one day's files
    while used < VOLUME and d < 10_000:
        d += 1
        used = d * raw_day + sum(k * per_day for k in range(max(1, d - 29), d + 1))
    return f"{d} trading days"


if __name__ == "__main__":
    raise SystemExit(main())
