"""Segment file names: what they say, how they parse, how they order.

A scalp segment holds one hour of trade time (KST) of one trade date:
``YYYYMMDD_HH.jsonl``; a swing segment one trade date: ``YYYYMMDD.jsonl``. A rotation on
request inside the same hour or day starts a part, ``<key>_p<N>.jsonl`` (N >= 1), so a
closed file is never appended to again. The *key* is the name without part and suffix.

Segments order by (trade date, hour, part) — never by the file name as a string, which
puts ``_p10`` before ``_p2``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from observer.daemon.clock import KST

SUFFIX = ".jsonl"
_NAME = re.compile(r"^(\d{8})(?:_(\d{2}))?(?:_p([1-9]\d{0,5}))?\.jsonl$", re.ASCII)


@dataclass(frozen=True)
class SegmentName:
    """A parsed segment file name."""

    trade_date: str  # YYYYMMDD
    hour: int | None  # 0..23 for scalp (hourly) segments, None for daily ones
    part: int = 0  # 0 for the first file of a key, N for <key>_pN

    @property
    def key(self) -> str:
        return self.trade_date if self.hour is None else f"{self.trade_date}_{self.hour:02d}"

    @property
    def filename(self) -> str:
        return segment_name(self.key, self.part)

    @property
    def iso_date(self) -> str:
        d = self.trade_date
        return f"{d[:4]}-{d[4:6]}-{d[6:8]}"

    @property
    def order(self) -> tuple[str, int, int]:
        return (self.trade_date, -1 if self.hour is None else self.hour, self.part)

    def start(self) -> datetime:
        """When the segment's window starts (KST)."""
        return segment_start(self.key)

    def end(self) -> datetime:
        """When the window ends: the next scheduled rotation (KST)."""
        return segment_end(self.key)


def parse_name(name: str) -> SegmentName | None:
    """The parsed name, or None when ``name`` is not a segment file name (a real date, an
    hour 00..23, an optional part >= 1)."""
    m = _NAME.match(name)
    if m is None:
        return None
    day, hour, part = m.group(1), m.group(2), m.group(3)
    try:
        date(int(day[:4]), int(day[4:6]), int(day[6:8]))
    except ValueError:
        return None
    if hour is not None and int(hour) > 23:
        return None
    return SegmentName(day, None if hour is None else int(hour), int(part or 0))


def is_segment_name(name: str) -> bool:
    return parse_name(name) is not None


def _parsed(name: str | Path) -> SegmentName:
    text = name.name if isinstance(name, Path) else name
    parsed = parse_name(text)
    if parsed is None:
        raise ValueError(
            f"{text!r} is not a segment file name (YYYYMMDD_HH[_pN].jsonl or YYYYMMDD[_pN].jsonl)"
        )
    return parsed


def order_key(name: str | Path) -> tuple[str, int, int]:
    """Sort key of a segment (trade date, hour, part); ValueError for other names."""
    return _parsed(name).order


def segment_date(name: str | Path) -> str:
    """``YYYY-MM-DD`` of a segment from its file name; ValueError for other names."""
    return _parsed(name).iso_date


def segment_key(trade_date: str, hhmmss: str | None) -> str:
    """The key of the segment a record belongs in: ``YYYYMMDD_HH`` (scalp, from the trade
    time) or ``YYYYMMDD`` (swing, ``hhmmss`` None)."""
    return trade_date if hhmmss is None else f"{trade_date}_{hhmmss[:2]}"


def segment_name(key: str, part: int = 0) -> str:
    return f"{key}{SUFFIX}" if part == 0 else f"{key}_p{part}{SUFFIX}"


def segment_start(key: str) -> datetime:
    """When the window of segment ``key`` starts (KST)."""
    d = datetime(int(key[:4]), int(key[4:6]), int(key[6:8]), tzinfo=KST)
    return d.replace(hour=int(key[9:11])) if len(key) > 8 else d


def segment_end(key: str) -> datetime:
    """When the window of segment ``key`` ends, i.e. the next scheduled rotation (KST)."""
    return segment_start(key) + (timedelta(hours=1) if len(key) > 8 else timedelta(days=1))
