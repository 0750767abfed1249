"""The volumes panel: Observer's own use and growth beside the volume's capacity and free."""

from __future__ import annotations

from observer.console.widgets.volumes import volume_lines
from observer.v1 import observer_pb2 as pb

GIB = 1024**3


def _volume(**kw: object) -> pb.Volume:
    v = pb.Volume(
        mount_point="/",
        variables=["OBSERVER_DATA_DIR", "OBSERVER_LOG_DIR", "OBSERVER_SYSTEM_LOG_DIR",
                   "OBSERVER_MAINTENANCE_LOG_DIR", "OBSERVER_SNAPSHOT_DIR", "KIS_TOKEN_CACHE_DIR"],
        kind=pb.VOLUME_KIND_LOCAL_DISK, fs_type="ext4", capacity_bytes=252 * GIB,
        used_bytes=int(63 * GIB), free_bytes=int(189 * GIB),
        growth_bytes_per_second=1.8 * 1024**2, writable=True,  # another tenant writes to it
    )  # fmt: skip
    for k, val in kw.items():
        setattr(v, k, val)
    return v


def test_the_panel_shows_observers_bytes_and_growth_apart_from_the_disks() -> None:
    v = _volume(observer_bytes=int(1.5 * 1024**2), observer_growth_bytes_per_second=73 * 1024)
    v.seconds_until_full = 189 * GIB / (73 * 1024)
    head, own, disk = (line.plain for line in volume_lines(v))
    assert head.startswith("OBSERVER_DATA_DIR + 5 more paths  on / (local disk, ext4)")
    assert own == "  observer 1.5 MiB  +73.0 KiB/s  full in 31d10h"
    assert "63.0 GiB used of 252.0 GiB (25%) · 189.0 GiB free" in disk
    assert "1.8 MiB/s" not in " ".join((head, own, disk))  # the tenant's writes drive nothing


def test_before_the_first_walk_observers_use_is_being_measured() -> None:
    own = volume_lines(_volume())[1].plain
    assert own == "  observer measuring…"


def test_one_path_on_a_volume_says_no_more() -> None:
    v = _volume(observer_bytes=0)
    del v.variables[1:]
    assert volume_lines(v)[0].plain.startswith("OBSERVER_DATA_DIR  on /")


def test_a_narrow_panel_drops_the_bar_rather_than_wrap_the_figures() -> None:
    v = _volume(observer_bytes=0)
    disk = volume_lines(v, width=66)[2].plain
    assert "█" not in disk and "░" not in disk and len(disk) <= 66
    assert disk.endswith("189.0 GiB free")
