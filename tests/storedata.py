"""Deterministic tick and snapshot segments for the store tests and bench/stores.py.

Lines are built with ``observer.daemon.schema.lines.reference_line`` (the schema's definition).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from observer.daemon.clock import KST
from observer.daemon.model import Snapshot, Tick
from observer.daemon.schema.lines import reference_line

SYMBOLS = ("005930", "000660", "035420", "035720", "005380", "051910", "006400", "068270")


def ticks(day: str, hour: int, n: int, start_seq: int = 1, seed: int = 1) -> Iterator[Tick]:
    """``n`` scalp ticks on ``day`` (YYYYMMDD) during ``hour``, seq from ``start_seq``."""
    rnd = random.Random(seed * 1_000_003 + start_seq)
    base = datetime(int(day[:4]), int(day[4:6]), int(day[6:]), hour, tzinfo=KST).timestamp()
    for i in range(n):
        sec = (i * 3600) // max(n, 1)
        price = 50_000 + rnd.randint(-3000, 3000)
        change = rnd.randint(-2500, 2500)
        yield Tick(
            symbol=SYMBOLS[i % len(SYMBOLS)],
            trade_date=day,
            time=f"{hour:02d}{sec // 60:02d}{sec % 60:02d}",
            price=price,
            sign=2 if change > 0 else (5 if change < 0 else 3),
            change=change,
            change_pct=round(change / 500.0, 2),
            vwap=round(price + rnd.random(), 2),
            open=49_800,
            high=price + 700,
            low=price - 900,
            ask1=price + 100,
            bid1=price - 100,
            volume=rnd.randint(1, 5000),
            cum_volume=1000 * (start_seq + i),
            cum_value=price * 1000 * (start_seq + i),
            strength=round(rnd.uniform(50, 150), 2),
            side=rnd.choice((1, 5)),
            halted=(i % 97 == 0),
            received_at=base + sec + rnd.random(),
            seq=start_seq + i,
        )


def snapshots(day: str, n: int, start_seq: int = 1, seed: int = 2) -> Iterator[Snapshot]:
    rnd = random.Random(seed * 7919 + start_seq)
    base = datetime(int(day[:4]), int(day[4:6]), int(day[6:]), 9, tzinfo=KST).timestamp()
    for i in range(n):
        sec = i * 7
        price = 70_000 + rnd.randint(-5000, 5000)
        yield Snapshot(
            symbol=SYMBOLS[i % len(SYMBOLS)],
            trade_date=day,
            time=f"{9 + sec // 3600:02d}{sec // 60 % 60:02d}{sec % 60:02d}",
            price=price,
            sign=rnd.choice((2, 3, 5)),
            change=rnd.randint(-900, 900),
            change_pct=round(rnd.uniform(-3, 3), 2),
            open=69_000,
            high=price + 1000,
            low=price - 1000,
            upper_limit=91_000,
            lower_limit=49_000,
            cum_volume=rnd.randint(0, 10**8),
            cum_value=rnd.randint(0, 10**12),
            per=round(rnd.uniform(1, 40), 2),
            pbr=round(rnd.uniform(0.1, 5), 2),
            eps=round(rnd.uniform(-500, 9000), 1),
            bps=round(rnd.uniform(1000, 90000), 1),
            w52_high=95_000,
            w52_low=48_000,
            market_cap=rnd.randint(100, 5_000_000),
            halted=False,
            vi=rnd.choice(("N", "S", "D")),
            received_at=base + sec + rnd.random(),
            seq=start_seq + i,
        )


def write_lines(path: Path, items: Iterator[Tick] | Iterator[Snapshot], append: bool = True) -> int:
    """Append the reference lines of ``items`` to ``path``; returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [reference_line(x) for x in items]
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        f.write("".join(lines))
    return len(lines)


def scalp_path(data_dir: Path, day: str, hour: int) -> Path:
    return data_dir / "assets" / "scalp" / f"{day}_{hour:02d}.jsonl"


def swing_path(data_dir: Path, day: str) -> Path:
    return data_dir / "assets" / "swing" / f"{day}.jsonl"


def append_text(path: Path, text: str) -> None:
    """Append raw text (torn or malformed lines in tests)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
