"""Logging: text or JSON lines (LOG_FORMAT), files rotated by KST day into
``logs/{system,scalp,swing,maintenance}``, and secrets redacted everywhere.

Every record goes to ``system/``; records of the scalp path (websocket session, parser,
hub, writer), of the swing poller, and of maintenance work (backups, retention, recovery)
also go to their own folder. Standard error gets the same records for ``kubectl logs``.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from observer.daemon.clock import to_kst

#: Logger-name prefixes routed to each category folder (besides system/).
ROUTES: dict[str, tuple[str, ...]] = {
    "scalp": (
        "observer.daemon.kis.session",
        "observer.daemon.kis.parser",
        "observer.daemon.kis.gaps",
        "observer.daemon.ingest.hub",
        "observer.daemon.ingest.overflow",
        "observer.daemon.ingest.writer.scalp",
    ),
    "swing": ("observer.daemon.kis.swing", "observer.daemon.ingest.writer.swing"),
    "maintenance": (
        "observer.daemon.backup",
        "observer.daemon.stores.retention",
        "observer.daemon.ingest.recovery",
    ),
}


class Redactor(logging.Filter):
    """Replaces every known secret value in a record's final message with a marker."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        for s in secrets:
            self.add(s)

    def add(self, secret: str) -> None:
        # Very short values would redact ordinary words; secrets of that size are not secrets.
        if secret and len(secret) >= 6:
            self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        for s in self._secrets:
            if s in text:
                text = text.replace(s, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = self.scrub(msg)
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.scrub(exc_text)
            record.exc_info = None
        if clean != msg or record.args:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, object] = {
            "ts": to_kst(record.created).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_text:
            obj["exc"] = record.exc_text
        elif record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        return json.dumps(obj, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # KST with its offset, as every time an operator reads (the machine's zone may differ).
        return to_kst(record.created).isoformat(sep=" ", timespec="milliseconds")


class DailyFileHandler(logging.Handler):
    """Writes ``<dir>/<stem>_YYYYMMDD.log``, switching files at KST midnight."""

    def __init__(self, directory: Path, stem: str, prefixes: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.directory, self.stem, self.prefixes = directory, stem, prefixes
        self._day = ""
        self._stream: TextIO | None = None
        self._lock2 = threading.Lock()

    def _open(self, day: str) -> TextIO:
        if self._stream is not None:
            self._stream.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stream = open(self.directory / f"{self.stem}_{day}.log", "a", encoding="utf-8")  # noqa: SIM115
        self._day = day
        return self._stream

    def emit(self, record: logging.LogRecord) -> None:
        if self.prefixes and not record.name.startswith(self.prefixes):
            return
        try:
            line = self.format(record)
            day = to_kst(record.created).strftime("%Y%m%d")
            with self._lock2:
                stream = self._stream if day == self._day and self._stream else self._open(day)
                stream.write(line + "\n")
                stream.flush()
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        with self._lock2:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
        super().close()


def setup(
    *,
    level: str,
    fmt: str,
    log_dir: Path | None,
    system_dir: Path | None = None,
    maintenance_dir: Path | None = None,
    secrets: Iterable[str] = (),
    stream: TextIO | None = sys.stderr,
) -> Redactor:
    """Configure the ``observer`` logger tree; returns the redactor so more secrets can be added."""
    root = logging.getLogger("observer")
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    root.setLevel(level)
    root.propagate = False
    redactor = Redactor(secrets)
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handlers: list[logging.Handler] = []
    if stream is not None:
        handlers.append(logging.StreamHandler(stream))
    if log_dir is not None:
        dirs = {
            "system": system_dir or log_dir / "system",
            "scalp": log_dir / "scalp",
            "swing": log_dir / "swing",
            "maintenance": maintenance_dir or log_dir / "maintenance",
        }
        handlers.append(DailyFileHandler(dirs["system"], "system"))
        for cat, prefixes in ROUTES.items():
            handlers.append(DailyFileHandler(dirs[cat], cat, prefixes))
    for h in handlers:
        h.addFilter(redactor)
        h.setFormatter(formatter)
        root.addHandler(h)
    return redactor
