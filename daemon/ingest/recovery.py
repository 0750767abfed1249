"""Crash recovery of the segment files at start, and the ``seq`` numbering state.

For each track, the newest segment (the one that may have been open at a crash) is read
in full and every line is checked; older segments were fsynced and closed, so only their
tail is read to learn the last ``seq`` (seeking from the end keeps start fast).

* A torn final line (no trailing newline, or one unparsable last line) is truncated
  away, fsynced, and recorded as a ``repair`` event with the byte counts.
* Corruption in the middle (an unparsable line followed by good lines) is never skipped
  silently: the file is moved to ``assets/quarantine/<track>/`` with a ``.report.json`` beside it
  naming the bad line numbers, the good lines are written back under the original name so
  collection can go on, a ``quarantine`` event is emitted and the report lists it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from observer.daemon.clock import iso, to_kst
from observer.daemon.ingest.events import EventBus
from observer.daemon.model import Track
from observer.daemon.segments import fsync_dir, quarantine_dir, segment_files, track_dir

#: Bytes read from the end of a closed segment to find its last seq.
TAIL_BYTES = 64 * 1024
SAMPLE_CHARS = 120


class SeqState:
    """Last ``seq`` written per (track, trade date ``YYYYMMDD``)."""

    def __init__(self, initial: Mapping[tuple[Track, str], int] | None = None) -> None:
        self._last: dict[tuple[Track, str], int] = dict(initial or {})

    def last(self, track: Track, trade_date: str) -> int:
        return self._last.get((track, trade_date), 0)

    def set(self, track: Track, trade_date: str, seq: int) -> None:
        self._last[(track, trade_date)] = seq

    def advance(self, track: Track, trade_date: str, n: int) -> int:
        """Take the next ``n`` seqs of (track, trade date); returns the first of them."""
        key = (track, trade_date)
        first = self._last.get(key, 0) + 1
        self._last[key] = first + n - 1
        return first

    def raise_to(self, track: Track, trade_date: str, seq: int) -> None:
        """Keep the larger of the known and the given seq."""
        if seq > self._last.get((track, trade_date), 0):
            self._last[(track, trade_date)] = seq

    def items(self) -> dict[tuple[Track, str], int]:
        return dict(self._last)


@dataclass
class Repair:
    path: str
    kept_bytes: int
    removed_bytes: int
    sample: str


@dataclass
class Quarantine:
    path: str
    moved_to: str
    report: str
    bad_lines: list[int]
    good_lines: int


@dataclass
class RecoveryReport:
    seq: SeqState
    repairs: list[Repair] = field(default_factory=list)
    quarantined: list[Quarantine] = field(default_factory=list)
    files: int = 0
    seconds: float = 0.0

    def warnings(self) -> list[str]:
        """Operator-facing lines for status (the contract warnings)."""
        out = [
            f"{q.path}: {len(q.bad_lines)} corrupt line(s) (line {', '.join(map(str, q.bad_lines[:10]))}"
            f"{', ...' if len(q.bad_lines) > 10 else ''}); original moved to {q.moved_to}, "
            f"report {q.report}; {q.good_lines} good lines kept. Inspect and restore from a backup."
            for q in self.quarantined
        ]
        out += [
            f"{r.path}: torn last line removed at start ({r.removed_bytes} bytes, {r.kept_bytes} kept)."
            for r in self.repairs
        ]
        return out


@dataclass
class _Scan:
    good_end: int = 0  # byte offset just past the last good line
    good: int = 0
    bad: list[int] = field(default_factory=list)  # 1-based line numbers
    bad_after_good: bool = False  # a bad line is followed by a good one
    trailing: int = 0  # pieces (lines or a partial line) after the last good line
    samples: dict[int, str] = field(default_factory=dict)


def _seq_of(raw: bytes) -> tuple[str, int] | None:
    """(trade date YYYYMMDD, seq) of a well-formed line, else None."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    seq, date = obj.get("seq"), obj.get("trade_date")
    if type(seq) is not int or not isinstance(date, str) or len(date) != 10:
        return None
    return date.replace("-", ""), seq


def _scan(data: bytes, track: Track, seq: SeqState) -> _Scan:
    s = _Scan()
    pos = 0
    n = 0
    size = len(data)
    while pos < size:
        nl = data.find(b"\n", pos)
        end = size if nl < 0 else nl + 1
        n += 1
        got = _seq_of(data[pos:end]) if nl >= 0 else None
        if got is None:
            s.bad.append(n)
            s.trailing += 1
            if len(s.samples) < 20:
                s.samples[n] = data[pos:end][:SAMPLE_CHARS].decode("utf-8", "replace")
        else:
            if s.trailing:
                s.bad_after_good = True
            s.trailing = 0
            s.good += 1
            s.good_end = end
            seq.raise_to(track, got[0], got[1])
        pos = end
    return s


def _tail_seq(path: Path, track: Track, seq: SeqState) -> bool:
    """Learn the last seq from the end of a closed segment; False when none was found."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        start = max(0, size - TAIL_BYTES)
        fh.seek(start)
        block = fh.read()
    lines = block.split(b"\n")
    if start > 0:
        lines = lines[1:]  # cut in the middle
    found = False
    for raw in reversed(lines):
        got = _seq_of(raw)
        if got is not None:
            seq.raise_to(track, got[0], got[1])
            found = True
    return found


def recover(
    data_dir: Path,
    events: EventBus | None,
    *,
    full_scan: bool = False,
    clock: Callable[[], float] = time.time,
    log: logging.Logger | None = None,
) -> RecoveryReport:
    """Repair torn tails, quarantine corrupt files and learn the last seq of every file."""
    log = log or logging.getLogger(__name__)
    started = time.monotonic()
    report = RecoveryReport(seq=SeqState())
    for track in Track:
        # A crash during a quarantine leaves the original in place and this behind.
        for leftover in track_dir(data_dir, track).glob("*.jsonl.recovering"):
            leftover.unlink()
        files = segment_files(data_dir, track)
        for i, path in enumerate(files):
            report.files += 1
            newest = i == len(files) - 1
            if not (newest or full_scan) and _tail_seq(path, track, report.seq):
                continue
            data = path.read_bytes()
            scan = _scan(data, track, report.seq)
            if not scan.bad:
                continue
            if not scan.bad_after_good and scan.trailing <= 1:
                report.repairs.append(_truncate(path, data, scan, events, log))
            else:
                report.quarantined.append(
                    _quarantine(
                        path, data, scan, quarantine_dir(data_dir, track), events, clock, log
                    )
                )
    report.seconds = time.monotonic() - started
    return report


def _truncate(
    path: Path, data: bytes, scan: _Scan, events: EventBus | None, log: logging.Logger
) -> Repair:
    removed = len(data) - scan.good_end
    sample = next(iter(scan.samples.values()), "")
    with path.open("r+b") as fh:
        fh.truncate(scan.good_end)
        fh.flush()
        os.fsync(fh.fileno())
    log.warning("repaired %s: removed a torn last line (%d bytes)", path, removed)
    if events is not None:
        events.emit(
            "repair", file=str(path), kept_bytes=scan.good_end, removed_bytes=removed,
            line=scan.bad[-1], sample=sample,
        )  # fmt: skip
    return Repair(str(path), scan.good_end, removed, sample)


def _quarantine(
    path: Path,
    data: bytes,
    scan: _Scan,
    qdir: Path,
    events: EventBus | None,
    clock: Callable[[], float],
    log: logging.Logger,
) -> Quarantine:
    now = clock()
    stamp = to_kst(now).strftime("%Y%m%dT%H%M%S")
    qdir.mkdir(parents=True, exist_ok=True)
    moved = qdir / f"{path.name}.{stamp}"
    n = 1
    while moved.exists():
        moved = qdir / f"{path.name}.{stamp}.{n}"
        n += 1
    report_path = moved.with_name(moved.name + ".report.json")
    bad = set(scan.bad)
    # Line numbers match _scan: the n-th piece between newlines (a final partial one too).
    good = b"".join(
        line + b"\n" for no, line in enumerate(data.split(b"\n"), 1) if line and no not in bad
    )
    # Good lines first to a temporary file, so a crash here leaves the original in place.
    tmp = path.with_name(path.name + ".recovering")
    with tmp.open("wb") as fh:
        fh.write(good)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.replace(path, moved)
    except OSError:  # another filesystem
        shutil.copy2(path, moved)
        path.unlink()
    os.replace(tmp, path)
    fsync_dir(path.parent)
    rep = {
        "file": str(path),
        "moved_to": str(moved),
        "detected_at": iso(to_kst(now)),
        "bytes": len(data),
        "good_lines": scan.good,
        "bad_lines": scan.bad,
        "samples": {str(k): v for k, v in scan.samples.items()},
        "action": "good lines rewritten to the original name; the original kept here",
    }
    report_path.write_text(json.dumps(rep, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    fsync_dir(qdir)
    log.error(
        "%s has %d corrupt line(s) in the middle (lines %s); moved to %s, report %s, "
        "%d good lines kept",
        path, len(scan.bad), scan.bad[:10], moved, report_path, scan.good,
    )  # fmt: skip
    if events is not None:
        events.emit(
            "quarantine", file=str(path), moved_to=str(moved), report=str(report_path),
            bad_lines=scan.bad[:100], good_lines=scan.good,
        )  # fmt: skip
    return Quarantine(str(path), str(moved), str(report_path), scan.bad, scan.good)
