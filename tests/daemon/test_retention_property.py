"""Property: over random histories, retention deletes a raw file only when a verified
snapshot off the data volume holds it with the same size and sha256 (and its Parquet file
is complete), and it does delete the old files that are safe."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observer.daemon.backup.manifest import FileEntry, Manifest, save_snapshot
from observer.daemon.backup.stage import state_dir
from observer.daemon.config import load_config
from observer.daemon.status.model import RetentionAction
from observer.daemon.stores.parquet import convert_segment
from observer.daemon.stores.retention import Retention
from tests.daemon.test_retention import DAY, NOW, OFF_VOLUME
from tests.storedata import scalp_path, ticks, write_lines

OURS = OFF_VOLUME["OBSERVER_BACKUP_REPOSITORY"]

copy_kind = st.sampled_from(["exact", "other-sha", "shorter", "absent"])
snapshot_st = st.fixed_dictionaries(
    {
        "verified": st.sampled_from([True, False, None]),
        "repository": st.sampled_from([OURS, OURS, "s3:http://127.0.0.1:9/other/repo"]),
        "copies": st.lists(copy_kind, min_size=6, max_size=6),
        "proven": st.lists(st.booleans(), min_size=6, max_size=6),
    }
)
history_st = st.fixed_dictionaries(
    {
        "files": st.integers(min_value=1, max_value=5),
        "parquet": st.lists(st.booleans(), min_size=6, max_size=6),
        "rotted": st.lists(st.booleans(), min_size=6, max_size=6),
        "snapshots": st.lists(snapshot_st, max_size=4),
    }
)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=history_st)
def test_retention_never_deletes_a_raw_file_without_a_verified_off_volume_copy(
    tmp_path_factory: pytest.TempPathFactory, history: dict
) -> None:
    root = tmp_path_factory.mktemp("history")
    env = {
        "OBSERVER_DATA_DIR": str(root / "data"),
        "OBSERVER_LOG_DIR": str(root / "logs"),
        "OBSERVER_RETAIN_RAW_DAYS": "2",
        "OBSERVER_RETAIN_DATASET_DAYS": "0",
        **OFF_VOLUME,
    }
    cfg = load_config(environ=env, cwd=root).config
    data = cfg.data_dir
    paths = []
    for i in range(history["files"]):
        seg = scalp_path(data, "20261101", 9 + i)
        write_lines(seg, ticks("20261101", 9 + i, 5 + i, start_seq=1 + 100 * i))
        if history["parquet"][i]:
            convert_segment(seg, data / "datasets")
        paths.append(seg)
    write_lines(scalp_path(data, "20261124", 9), ticks("20261124", 9, 3))  # the open one
    original = {p: (p.stat().st_size, _sha(p)) for p in paths}

    for n, snap in enumerate(history["snapshots"]):
        files, proven = [], []
        for i, p in enumerate(paths):
            rel = p.relative_to(data).as_posix()
            size, sha = original[p]
            kind = snap["copies"][i]
            if kind == "absent":
                continue
            entry = FileEntry(
                rel,
                size - 1 if kind == "shorter" else size,
                "f" * 64 if kind == "other-sha" else sha,
            )
            files.append(entry)
            if snap["proven"][i]:
                proven.append(rel)
        save_snapshot(
            state_dir(data),
            Manifest(
                id=f"h{n}", created_at=NOW - DAY, daemon_version="t", archive="", files=files,
                verified_ok=snap["verified"], snapshot_id=f"{n:08x}",
                repository=snap["repository"], verified_files=proven,
            ),
        )  # fmt: skip

    # bit rot after the snapshots: the file no longer matches any copy
    for i, p in enumerate(paths):
        if history["rotted"][i]:
            b = bytearray(p.read_bytes())
            b[len(b) // 2] ^= 0x01
            p.write_bytes(bytes(b))
    now_sha = {p: _sha(p) for p in paths}

    r = Retention(cfg, clock=lambda: NOW)
    report = r.apply(r.plan(NOW))
    deleted = {i.path for i in report.items if i.action is RetentionAction.DELETED}

    def held(p: Path) -> bool:
        rel = p.relative_to(data).as_posix()
        size = p.stat().st_size if p.exists() else original[p][0]
        return any(
            snap["verified"] is True
            and snap["repository"] == OURS
            and snap["copies"][i] == "exact"
            and snap["proven"][i]
            and original[p] == (size, now_sha[p])
            for snap in history["snapshots"]
            for i, q in enumerate(paths)
            if q == p and rel
        )

    for i, p in enumerate(paths):
        rel = p.relative_to(data).as_posix()
        safe = held(p) and history["parquet"][i] and not history["rotted"][i]
        if rel in deleted:
            assert not p.exists()
            assert safe, f"{rel} deleted without a verified off-volume copy of its sha256"
        else:
            assert p.exists()
            assert not safe, f"{rel} is old, derived and held, yet was kept"
    assert scalp_path(data, "20261124", 9).exists()
