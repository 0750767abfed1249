"""Where segments live: ``$OBSERVER_DATA_DIR/assets/<track>/``, and which are closed.

Every function takes the data directory (OBSERVER_DATA_DIR) as its root. A segment is
closed once a newer one exists for its track: the writer only opens a new file after
finishing the old one.
"""

from __future__ import annotations

import os
from pathlib import Path

from observer.daemon.model import Track
from observer.daemon.segments.names import parse_name


def assets_dir(data_dir: Path) -> Path:
    return data_dir / "assets"


def track_dir(data_dir: Path, track: Track) -> Path:
    return data_dir / "assets" / track.value


def quarantine_dir(data_dir: Path, track: Track | None = None) -> Path:
    """Where files with corrupt lines in the middle are moved at start."""
    q = data_dir / "assets" / "quarantine"
    return q if track is None else q / track.value


def track_of(path: Path) -> Track:
    """The track of a segment path (its parent folder name)."""
    try:
        return Track(path.parent.name)
    except ValueError:
        raise ValueError(f"{path} is not under assets/scalp or assets/swing") from None


def segment_files(data_dir: Path, track: Track) -> list[Path]:
    """Every segment of ``track``, oldest first (by trade date, hour, part)."""
    folder = track_dir(data_dir, track)
    found = []
    try:
        with os.scandir(folder) as it:
            for e in it:
                parsed = parse_name(e.name)
                if parsed is not None and e.is_file(follow_symlinks=False):
                    found.append((parsed.order, e.name))
    except FileNotFoundError:
        return []
    found.sort()
    return [folder / name for _, name in found]


def closed_segments(data_dir: Path, track: Track) -> list[Path]:
    """All segments but the newest, which the writer may still be appending to."""
    return segment_files(data_dir, track)[:-1]
