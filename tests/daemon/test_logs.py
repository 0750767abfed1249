"""Logging: category folders by KST day, text or JSON lines, and secrets never written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from observer.daemon import logs


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    root = logging.getLogger("observer")
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()


def _files(log_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(log_dir).parent): p.read_text() for p in sorted(log_dir.rglob("*.log"))
    }


def test_records_go_to_system_and_to_their_category_folder(tmp_path: Path) -> None:
    logs.setup(level="INFO", fmt="text", log_dir=tmp_path, stream=None)
    logging.getLogger("observer.daemon.kis.swing").info("swing sweep done")
    logging.getLogger("observer.daemon.kis.session").info("subscribed 8 symbols")
    logging.getLogger("observer.daemon.backup.service").info("backup finished")
    logging.getLogger("observer.daemon.app").info("started")
    files = _files(tmp_path)
    assert set(files) == {"system", "swing", "scalp", "maintenance"}
    assert all(m in files["system"] for m in ("swing sweep", "subscribed", "backup", "started"))
    assert "swing sweep done" in files["swing"] and "subscribed" not in files["swing"]
    assert "subscribed 8 symbols" in files["scalp"]
    assert "backup finished" in files["maintenance"]
    day_files = [p.name for p in tmp_path.rglob("*.log")]
    assert all(name.split("_")[1][:8].isdigit() for name in day_files)


def test_json_format_writes_one_object_per_line_with_kst_time(tmp_path: Path) -> None:
    stream = io.StringIO()
    logs.setup(level="INFO", fmt="json", log_dir=tmp_path, stream=stream)
    logging.getLogger("observer.daemon.app").warning("disk at %d%%", 91)
    obj = json.loads(stream.getvalue().splitlines()[0])
    assert obj["level"] == "WARNING" and obj["msg"] == "disk at 91%"
    assert obj["ts"].endswith("+09:00")


def test_secret_values_are_redacted_in_messages_arguments_and_tracebacks(tmp_path: Path) -> None:
    canary = "canary-secret-value-93c1"
    stream = io.StringIO()
    redactor = logs.setup(
        level="INFO", fmt="text", log_dir=tmp_path, secrets=[canary], stream=stream
    )
    late = "token-issued-later-5f2e"
    redactor.add(late)
    log = logging.getLogger("observer.daemon.kis.auth")
    log.info("key is %s", canary)
    log.info(f"token {late}")
    try:
        raise RuntimeError(f"server echoed {canary}")
    except RuntimeError:
        log.exception("request failed")
    written = stream.getvalue() + "".join(_files(tmp_path).values())
    assert canary not in written and late not in written
    assert written.count("[redacted]") >= 4


def test_the_modules_own_loggers_reach_their_category_folders(tmp_path: Path) -> None:
    from observer.daemon.backup import service
    from observer.daemon.ingest import recovery
    from observer.daemon.ingest.writer import SegmentWriter
    from observer.daemon.model import Track

    logs.setup(level="INFO", fmt="text", log_dir=tmp_path, stream=None)
    service.log.info("a backup from the service")
    logging.getLogger(recovery.__name__).info("a repair at start")
    SegmentWriter(Track.SWING, tmp_path / "data")._log.info("a swing write")
    SegmentWriter(Track.SCALP, tmp_path / "data")._log.info("a scalp write")
    files = _files(tmp_path)
    assert "a backup from the service" in files["maintenance"]
    assert "a repair at start" in files["maintenance"]
    assert "a swing write" in files["swing"] and "a swing write" not in files["scalp"]
    assert "a scalp write" in files["scalp"]
