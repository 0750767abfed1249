"""The event bus: rare, important happenings appended to ``$OBSERVER_DATA_DIR/observer.jsonl``.

Starts, subscriptions, rotations, repairs, quarantines, backups. One JSON object per line
``{"ts": "...+09:00", "event": name, ...fields}``, flushed and fsynced as it is emitted
(events are rare, and the point of writing them is that they survive a crash). Listeners
(the API's event stream, tests) get every event as a dict after it is written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from observer.daemon.clock import iso, to_kst
from observer.daemon.segments import complete_length, count_lines

EventListener = Callable[[dict[str, Any]], object]


class Emit(Protocol):
    """The event bus's ``emit(event, **fields)``, as the components that report take it."""

    def __call__(self, event: str, /, **fields: Any) -> object: ...


def emit_safely(emit: Emit | None, event: str, **fields: Any) -> None:
    """Send an event if there is a bus; a failing bus never stops the caller."""
    if emit is None:
        return
    try:
        emit(event, **fields)
    except Exception:
        logging.getLogger(__name__).exception("event %s could not be emitted", event)


def _repair_tail(path: Path) -> int:
    """Cut a last record that has no newline (torn by a crash) so that the next event does
    not glue onto it; returns the bytes removed."""
    with path.open("r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        keep = complete_length(fh, size)
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return size - keep


class EventBus:
    """Appends events to one JSONL file and tells listeners about them."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        log: logging.Logger | None = None,
    ) -> None:
        self.path = path
        self._clock = clock
        self._log = log or logging.getLogger(__name__)
        self._listeners: list[EventListener] = []
        # Rotation runs in the writer's thread; emit may come from there or the loop.
        self._lock = threading.Lock()
        self.emitted = 0
        self.last_error: str | None = None
        #: Bytes of a torn last record removed at start (a crash mid-append), or 0.
        self.repaired = 0
        with contextlib.suppress(OSError):
            self.repaired = _repair_tail(path)
        # The file as it stands (for status): events are few, so counting once is cheap.
        self.lines, self.bytes = 0, 0
        with contextlib.suppress(OSError):
            self.bytes = path.stat().st_size
            self.lines = count_lines(path)
        if self.repaired:
            self._log.warning(
                "%s: removed a torn last event (%d bytes) left by a crash", path, self.repaired
            )
            self.emit("repair", file=str(path), removed_bytes=self.repaired)

    def emit(self, event: str, /, **fields: Any) -> dict[str, Any]:
        """Write one event (fsynced) and notify listeners; returns the record.

        A failure to write is logged and kept in ``last_error`` but never raised: losing an
        event must not stop collection (the tick files are the source of truth).
        """
        record: dict[str, Any] = {"ts": iso(to_kst(self._clock())), "event": event}
        record.update(fields)
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    data = line.encode()
                    while data:
                        data = data[os.write(fd, data) :]
                    os.fsync(fd)
                    self.bytes = os.fstat(fd).st_size
                finally:
                    os.close(fd)
                self.emitted += 1
                self.lines += 1
                self.last_error = None
            except OSError as e:
                self.last_error = f"cannot append to {self.path}: {e.strerror} (errno {e.errno})"
                self._log.error("event %s not recorded: %s", event, self.last_error)
            listeners = list(self._listeners)
        for cb in listeners:
            try:
                cb(record)
            except Exception:
                self._log.exception("event listener %r failed on %s", cb, event)
        return record

    def subscribe(self, cb: EventListener) -> Callable[[], None]:
        """Call ``cb(record)`` after every event; returns a function that unsubscribes."""
        with self._lock:
            self._listeners.append(cb)

        def unsubscribe() -> None:
            with self._lock:
                if cb in self._listeners:
                    self._listeners.remove(cb)

        return unsubscribe

    def read(self, limit: int = 100) -> list[dict[str, Any]]:
        """The last ``limit`` events from the file (for status and post-mortems)."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 256 * limit))
                tail = fh.read()
        except FileNotFoundError:
            return []
        out: list[dict[str, Any]] = []
        lines = tail.split(b"\n")
        if size > 256 * limit:
            lines = lines[1:]  # the first is probably cut
        for raw in lines:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out[-limit:]
