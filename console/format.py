"""Plain-text formatting of status values for the console (sizes, durations, times, enums).

Pure functions without Textual so the ``status`` command and the widgets agree on wording.
Times are shown in KST (UTC+09:00, fixed offset), never in the machine's time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.timestamp_pb2 import Timestamp

from observer.v1 import observer_pb2 as pb

KST = timezone(timedelta(hours=9), "KST")

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(n: float) -> str:
    """Bytes as a short human figure: ``512 B``, ``1.5 MiB``."""
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover - loop always returns


def duration(seconds: float | None) -> str:
    """Seconds as ``45s``, ``12m05s``, ``3h04m``, ``2d03h``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def ts_seconds(ts: Timestamp, present: bool = True) -> float | None:
    """A protobuf Timestamp as POSIX seconds; ``None`` when absent (``never``)."""
    if not present or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return ts.seconds + ts.nanos / 1e9


def kst_time(seconds: float | None, with_date: bool = False) -> str:
    """POSIX seconds as KST wall time ``HH:MM:SS`` (optionally with the date)."""
    if seconds is None:
        return "never"
    dt = datetime.fromtimestamp(seconds, tz=UTC).astimezone(KST)
    return dt.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def rate(per_second: float) -> str:
    """A rate as ``1.2k/s`` or ``87/s``."""
    if per_second >= 1000:
        return f"{per_second / 1000:.1f}k/s"
    return f"{per_second:.0f}/s"


def price(won: int) -> str:
    return f"{won:,}"


def enum_label(enum_type: EnumTypeWrapper, value: int) -> str:
    """``SESSION_STATE_CONNECTED`` -> ``connected``: the enum's own prefix removed."""
    try:
        name: str = enum_type.Name(value)
    except ValueError:
        return f"unknown({value})"
    prefix = str(enum_type.Name(0)).removesuffix("UNSPECIFIED")
    return name.removeprefix(prefix).lower().replace("_", " ")


def session_label(state: int) -> str:
    return enum_label(pb.SessionState, state)


def collector_label(state: int) -> str:
    return enum_label(pb.CollectorState, state)


_SHORT_KIND: dict[int, str] = {
    pb.VOLUME_KIND_PERSISTENT_VOLUME: "PV",
    pb.VOLUME_KIND_LOCAL_DISK: "local disk",
    pb.VOLUME_KIND_NETWORK: "network",
}


def volume_kind_label(kind: int, short: bool = False) -> str:
    """``persistent volume`` (or ``PV`` when short); ephemeral kinds are never shortened."""
    if short and kind in _SHORT_KIND:
        return _SHORT_KIND[kind]
    return enum_label(pb.VolumeKind, kind)


def middle(text: str, width: int) -> str:
    """Shorten ``text`` to ``width`` by cutting its middle (paths keep both ends)."""
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2) :]


def is_ephemeral(kind: int) -> bool:
    """Kinds whose data is lost when the pod or container restarts."""
    return kind in (
        pb.VOLUME_KIND_CONTAINER_ROOT_FS,
        pb.VOLUME_KIND_TMPFS,
        pb.VOLUME_KIND_EPHEMERAL,
    )
