"""``observer-console status [--json]``: the daemon's status once, for scripts.

Exit code: 0 healthy, 1 unhealthy (the reasons are printed), 2 daemon unreachable.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from google.protobuf.json_format import MessageToDict

from observer.console import format as fmt
from observer.console.client import PROBES, ConsoleError, ObserverClient
from observer.v1 import observer_pb2 as pb

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
EXIT_UNREACHABLE = 2


def problems(status: pb.Status, probes: dict[str, bool]) -> list[str]:
    """Why the daemon is unhealthy; empty when it is healthy (degraded is not unhealthy)."""
    out = [f"{name} is NOT_SERVING" for name, ok in probes.items() if not ok]
    if status.collector.state in (pb.COLLECTOR_STATE_FAILED, pb.COLLECTOR_STATE_STOPPED):
        state = fmt.collector_label(status.collector.state)
        out.append(f"collector {state}: {status.collector.last_error or 'no error given'}")
    for v in status.volumes:
        where = ", ".join(v.variables) or v.mount_point
        if fmt.is_ephemeral(v.kind):
            out.append(
                f"{where} on {fmt.volume_kind_label(v.kind)} {v.mount_point}: lost on restart"
            )
        if v.nearly_full:
            out.append(f"{where}: nearly full ({fmt.size(v.free_bytes)} free)")
        if not v.writable:
            out.append(f"{where}: not writable")
    for w in status.warnings:
        if w.severity == pb.SEVERITY_ERROR:
            out.append(f"{w.variable or w.path}: {w.message}")
    return out


def render_text(target: str, status: pb.Status, probes: dict[str, bool]) -> str:
    c = status.collector
    lines = [
        f"observer-daemon {status.daemon_version} at {target} ({status.host}, {status.app_env})",
        f"  uptime {fmt.duration(status.uptime_seconds)}, source {fmt.enum_label(pb.Source, status.source)}"
        f" {status.source_detail}",
        "  probes " + ", ".join(f"{n.removeprefix('observer.')} {'ok' if probes.get(n) else 'NOT SERVING'}" for n in PROBES),
        f"  collector {fmt.collector_label(c.state)}, KIS {fmt.session_label(c.session.state)},"
        f" {len(c.subscriptions)} symbols",
    ]  # fmt: skip
    for r in c.rates:
        track = fmt.enum_label(pb.Track, r.track)
        lines.append(f"  {track}: {r.rate_1s:.0f}/s (1m {r.rate_1m:.1f}/s), {r.today:,} today")
    for v in status.volumes:
        where = ", ".join(v.variables) or v.mount_point
        own = "measuring" if not v.HasField("observer_bytes") else fmt.size(v.observer_bytes)
        if v.observer_growth_bytes_per_second:
            own += f" {v.observer_growth_bytes_per_second / 1024:+,.1f} KiB/s"
        if v.HasField("seconds_until_full"):
            own += f", full in {fmt.duration(v.seconds_until_full)}"
        lines.append(
            f"  volume {where}: observer {own}; {fmt.size(v.used_bytes)} used of "
            f"{fmt.size(v.capacity_bytes)}, {fmt.size(v.free_bytes)} free"
            f" ({fmt.volume_kind_label(v.kind)} {v.mount_point})"
        )
    for s in status.streams:
        lines.append(f"  stream {s.name}: {s.current_file or 'none open'} {s.lines:,} lines")
    b = status.backups
    lines.append(
        f"  backups: last {fmt.enum_label(pb.BackupResult, b.last_result)} {b.last_id}, {b.count} kept"
    )
    if b.repository:
        rpo = fmt.duration(b.rpo_seconds) if b.HasField("rpo_seconds") else "nothing off the volume"
        size = fmt.size(b.repository_bytes) if b.HasField("repository_bytes") else "not measured"
        over = " OVER ITS BOUND" if b.rpo_over_bound else ""
        lines.append(
            f"  RPO {rpo}{over} (bound {fmt.duration(b.rpo_bound_seconds)}), repository "
            f"{b.repository} ({size}{'' if b.off_volume else ', on the data disk'}), verified "
            f"{b.last_verified_snapshot or 'none'}"
        )
    for d in status.degraded:
        lines.append(f"  degraded: {d}")
    bad = problems(status, probes)
    lines.append("UNHEALTHY:" if bad else "healthy")
    lines.extend(f"  - {p}" for p in bad)
    return "\n".join(lines)


def to_json(target: str, status: pb.Status, probes: dict[str, bool]) -> dict[str, Any]:
    return {
        "target": target,
        "healthy": not problems(status, probes),
        "problems": problems(status, probes),
        "probes": probes,
        "status": MessageToDict(status, preserving_proto_field_name=True),
    }


async def run_status(target: str, as_json: bool, out: TextIO, err: TextIO) -> int:
    async with ObserverClient(target) as client:
        try:
            status = await client.get_status()
            probes = await client.probes()
        except ConsoleError as exc:
            if as_json:
                print(json.dumps({"target": target, "healthy": False, "error": str(exc)}), file=out)
            print(f"observer-console: {exc}", file=err)
            return EXIT_UNREACHABLE
    if as_json:
        print(json.dumps(to_json(target, status, probes), indent=2, ensure_ascii=False), file=out)
    else:
        print(render_text(target, status, probes), file=out)
    return EXIT_UNHEALTHY if problems(status, probes) else EXIT_HEALTHY
