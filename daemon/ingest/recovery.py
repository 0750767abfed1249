"""Crash recovery of the segment files, and the ``seq`` numbering state.

Two parts, so that a large open segment never delays the start:

* :func:`recover_start` (before collecting) reads only the end of each segment: the last
  complete line gives the last ``seq`` per track and trade date (and the time of the last
  durable tick); a torn final line (no trailing newline, or one unparsable last line) is
  truncated away, fsynced and recorded as a ``repair`` event. Quarantined files are read
  too, so no seq they hold is ever given again. A quarantine that a crash interrupted is
  completed first (its steps are ordered so that every intermediate state is recoverable).
* :func:`check_deep` (in the background, once the daemon serves) reads in full the files
  the previous run may have had open; corruption in the middle (an unparsable line followed
  by good lines) is never skipped silently: the file is moved to
  ``assets/quarantine/<track>/`` with a ``.report.json`` beside it naming the bad line
  numbers, the good lines are written back under the original name, a ``quarantine`` event
  is emitted and the report lists it. The writer never appends to a file of a previous run
  (it starts a new part), so the check never races it; the derived stores start reading
  once it is done.

:func:`recover` does both at once (tests, tools).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from observer.daemon.clock import iso, to_kst
from observer.daemon.ingest.events import EventBus
from observer.daemon.model import Track
from observer.daemon.segments import (
    fsync_dir,
    quarantine_dir,
    segment_files,
    track_dir,
)

#: Bytes read from the end of a segment (in steps, up to TAIL_LIMIT) to find its last line.
TAIL_BYTES = 64 * 1024
#: How far back the start path looks for a good line before it reads the whole file.
TAIL_LIMIT = 16 << 20
SAMPLE_CHARS = 120
_RECOVERING = ".recovering"


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
    #: Per track, ``received_at`` of the newest durable line (POSIX seconds).
    last_received_at: dict[Track, float] = field(default_factory=dict)
    #: Files the full check reads (those a previous run may have had open).
    to_check: list[Path] = field(default_factory=list)
    #: Quarantines a crash had interrupted, completed at start.
    completed: list[str] = field(default_factory=list)
    #: The previous run ended without a clean stop; then, when its last durable tick was.
    unclean_stop: bool = False
    last_durable_at: float | None = None

    def note_unclean_stop(self) -> None:
        self.unclean_stop = True
        self.last_durable_at = max(self.last_received_at.values(), default=None)

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
        if self.unclean_stop:
            at = iso(to_kst(self.last_durable_at)) if self.last_durable_at else "unknown"
            out.append(
                "the previous run ended without a clean stop (killed, crashed or its node "
                f"lost); its last durable tick was received at {at}: ticks it had received "
                "after that and not yet written are lost, and a gap record (reason "
                '"unclean stop") covers the hole.'
            )
        return out


@dataclass
class _Scan:
    good_end: int = 0  # byte offset just past the last good line
    good: int = 0
    bad: list[int] = field(default_factory=list)  # 1-based line numbers
    bad_after_good: bool = False  # a bad line is followed by a good one
    trailing: int = 0  # pieces (lines or a partial line) after the last good line
    samples: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Line:
    trade_date: str  # YYYYMMDD
    seq: int
    received_at: float | None


def _parse(raw: bytes) -> _Line | None:
    """The seq fields of a well-formed line, else None."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    seq, date = obj.get("seq"), obj.get("trade_date")
    if type(seq) is not int or not isinstance(date, str) or len(date) != 10:
        return None
    received: float | None = None
    text = obj.get("received_at")
    if isinstance(text, str):
        try:
            received = datetime.fromisoformat(text).timestamp()
        except ValueError:
            received = None
    return _Line(date.replace("-", ""), seq, received)


def _scan(data: bytes, track: Track, seq: SeqState) -> _Scan:
    s = _Scan()
    pos = 0
    n = 0
    size = len(data)
    while pos < size:
        nl = data.find(b"\n", pos)
        end = size if nl < 0 else nl + 1
        n += 1
        got = _parse(data[pos:end]) if nl >= 0 else None
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
            seq.raise_to(track, got.trade_date, got.seq)
        pos = end
    return s


@dataclass
class _Tail:
    """The end of a file as the start path reads it."""

    last: _Line | None = None  # the last good line
    good_end: int = 0  # just past it
    bad: int = 0  # pieces after it (a torn line, unparsable lines)
    sample: str = ""
    size: int = 0


def _read_tail(path: Path, track: Track, seq: SeqState, limit: int = TAIL_LIMIT) -> _Tail:
    """The last good line of ``path`` and what follows it, reading backwards in steps.

    Every good line read raises the seq state (seqs only grow through a file; the largest
    is near the end). Stops at the first good line found from the end.
    """
    out = _Tail()
    with path.open("rb") as fh:
        size = out.size = os.fstat(fh.fileno()).st_size
        want = TAIL_BYTES
        while True:
            start = max(0, size - want)
            fh.seek(start)
            block = fh.read(size - start)
            pieces = block.split(b"\n")
            # pieces[-1] is what follows the last newline: empty, or a torn line
            ends: list[int] = []
            pos = start
            for piece in pieces[:-1]:
                pos += len(piece) + 1
                ends.append(pos)
            bad = 1 if pieces[-1] else 0
            complete = pieces[:-1]
            first = 1 if start > 0 else 0  # a block's first piece may be cut: skip it
            for i in range(len(complete) - 1, first - 1, -1):
                got = _parse(complete[i])
                if got is not None:
                    out.last, out.good_end, out.bad = got, ends[i], bad
                    seq.raise_to(track, got.trade_date, got.seq)
                    return out
                bad += 1
                out.sample = complete[i][:SAMPLE_CHARS].decode("utf-8", "replace")
            if pieces[-1] and not out.sample:
                out.sample = pieces[-1][:SAMPLE_CHARS].decode("utf-8", "replace")
            if start == 0 or want >= limit:
                out.bad = bad
                return out
            want *= 4


def _seq_of_quarantined(data_dir: Path, track: Track, seq: SeqState) -> None:
    """Quarantined originals keep their seqs: none of them is ever given again."""
    qdir = quarantine_dir(data_dir, track)
    if not qdir.is_dir():
        return
    for q in qdir.iterdir():
        if q.is_file() and ".jsonl." in q.name and not q.name.endswith(".report.json"):
            _read_tail(q, track, seq)


def _complete_interrupted(
    data_dir: Path, track: Track, events: EventBus | None, log: logging.Logger
) -> list[str]:
    """Finish the quarantines a crash interrupted (see :func:`_quarantine` for the steps)."""
    done: list[str] = []
    for leftover in track_dir(data_dir, track).glob(f"*.jsonl{_RECOVERING}"):
        original = leftover.with_name(leftover.name.removesuffix(_RECOVERING))
        if original.exists():
            # Stopped before the original moved: it is intact; the check will redo it.
            leftover.unlink()
            continue
        # The original is in quarantine already: put the good lines in its place.
        os.replace(leftover, original)
        fsync_dir(original.parent)
        log.warning("completed the quarantine of %s that a crash had interrupted", original)
        if events is not None:
            events.emit("quarantine_completed", file=str(original))
        done.append(str(original))
    return done


#: Test hook: called with each step's name as the quarantine takes it (a test raises there).
StepHook = Callable[[str], None]


def recover_start(
    data_dir: Path,
    events: EventBus | None,
    *,
    clock: Callable[[], float] = time.time,
    log: logging.Logger | None = None,
) -> RecoveryReport:
    """The start path: last seqs from the files' ends, torn tails repaired (reads only ends)."""
    log = log or logging.getLogger(__name__)
    started = time.monotonic()
    report = RecoveryReport(seq=SeqState())
    for track in Track:
        report.completed += _complete_interrupted(data_dir, track, events, log)
        _seq_of_quarantined(data_dir, track, report.seq)
        files = segment_files(data_dir, track)
        for i, path in enumerate(files):
            report.files += 1
            newest = i == len(files) - 1
            tail = _read_tail(path, track, report.seq)
            if newest:
                report.to_check.append(path)
                if tail.last is not None and tail.last.received_at is not None:
                    report.last_received_at[track] = tail.last.received_at
            if tail.last is None and tail.size:
                # No good line near the end: the whole file decides the seq (rare).
                _scan(path.read_bytes(), track, report.seq)
                if path not in report.to_check:
                    report.to_check.append(path)
            elif tail.bad == 1 and newest:
                report.repairs.append(_truncate(path, tail, events, log))
            elif tail.bad and path not in report.to_check:
                report.to_check.append(path)  # more than a torn line: the full check decides
    report.seconds = time.monotonic() - started
    return report


def check_deep(
    data_dir: Path,
    events: EventBus | None,
    report: RecoveryReport,
    *,
    clock: Callable[[], float] = time.time,
    log: logging.Logger | None = None,
    step: StepHook | None = None,
) -> RecoveryReport:
    """The background part: read ``report.to_check`` in full and quarantine corruption."""
    log = log or logging.getLogger(__name__)
    for path in report.to_check:
        track = Track(path.parent.name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        scan = _scan(data, track, report.seq)
        if not scan.bad:
            continue
        if not scan.bad_after_good and scan.trailing <= 1:
            tail = _Tail(None, scan.good_end, 1, next(iter(scan.samples.values()), ""), len(data))
            report.repairs.append(_truncate(path, tail, events, log, line=scan.bad[-1]))
            continue
        report.quarantined.append(
            _quarantine(path, data, scan, quarantine_dir(data_dir, track), events, clock, log, step)
        )
    return report


def recover(
    data_dir: Path,
    events: EventBus | None,
    *,
    clock: Callable[[], float] = time.time,
    log: logging.Logger | None = None,
) -> RecoveryReport:
    """Both parts at once: the start path, then the full check."""
    report = recover_start(data_dir, events, clock=clock, log=log)
    return check_deep(data_dir, events, report, clock=clock, log=log)


def _truncate(
    path: Path,
    tail: _Tail,
    events: EventBus | None,
    log: logging.Logger,
    *,
    line: int | None = None,
) -> Repair:
    removed = tail.size - tail.good_end
    with path.open("r+b") as fh:
        fh.truncate(tail.good_end)
        fh.flush()
        os.fsync(fh.fileno())
    log.warning("repaired %s: removed a torn last line (%d bytes)", path, removed)
    if events is not None:
        fields: dict[str, object] = {"line": line} if line is not None else {}
        events.emit(
            "repair", file=str(path), kept_bytes=tail.good_end, removed_bytes=removed,
            sample=tail.sample, **fields,
        )  # fmt: skip
    return Repair(str(path), tail.good_end, removed, tail.sample)


def _quarantine(
    path: Path,
    data: bytes,
    scan: _Scan,
    qdir: Path,
    events: EventBus | None,
    clock: Callable[[], float],
    log: logging.Logger,
    step: StepHook | None = None,
) -> Quarantine:
    """Move a corrupt file aside and put its good lines in its place, crash-safely.

    Steps: (1) the good lines to ``<name>.recovering``, fsynced; (2) a hard link of the
    original into quarantine, then the folder fsynced; (3) the report; (4) the good lines
    renamed over the original (atomic), the folder fsynced. After a crash at any point the
    next start finds either the original in place (and redoes the check) or, once it was
    replaced, the good lines and the quarantined copy; the quarantined copy's seqs are read
    at every start, so none is given again.
    """
    hook = step or (lambda _name: None)
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
    tmp = path.with_name(path.name + _RECOVERING)
    with tmp.open("wb") as fh:
        fh.write(good)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(path.parent)
    hook("recovering written")
    try:
        os.link(path, moved)  # the original stays where it is until step 4
    except OSError:  # another filesystem: a full copy, fsynced
        with moved.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    fsync_dir(qdir)
    hook("original quarantined")
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
    hook("report written")
    os.replace(tmp, path)
    fsync_dir(path.parent)
    hook("good lines in place")
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
