"""Backups region: the RPO (red when over its bound), the repository, the last verified
snapshot and the drill, the schedule, the newest snapshots, the last run from this console.

A snapshot is named by its short id and checked by the sha256 of Observer's manifest in it;
a legacy ``.tar.gz`` archive (or a daemon from before snapshots) by its id and the archive's
own sha256.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from observer.console import format as fmt
from observer.console.state import ConsoleState
from observer.console.widgets.panel import Panel
from observer.v1 import observer_pb2 as pb

_RESULT_STYLE = {
    pb.BACKUP_RESULT_OK: "bold green",
    pb.BACKUP_RESULT_FAILED: "bold red",
    pb.BACKUP_RESULT_RUNNING: "bold yellow",
    pb.BACKUP_RESULT_NONE: "yellow",
}
_VERIFY_STYLE = {
    pb.VERIFICATION_STATE_VERIFIED: "green",
    pb.VERIFICATION_STATE_FAILED: "bold red",
    pb.VERIFICATION_STATE_UNVERIFIED: "yellow",
}
#: Style of an RPO over its bound (during market hours), and of one within it.
OVER = "bold red"
WITHIN = "green"


def backup_name(m: pb.BackupManifest) -> tuple[str, str]:
    """("snapshot", short id) for a snapshot; ("archive", id) for a legacy archive."""
    if m.snapshot_id:
        return "snapshot", m.id or m.snapshot_id[:8]
    return "archive", m.id


def checksum(m: pb.BackupManifest) -> tuple[str, str]:
    """What proves the backup's content: the manifest's sha256 of a snapshot, or the legacy
    archive's own sha256 (the deprecated fields, for an archive or an older daemon)."""
    if m.manifest_sha256:
        return "manifest sha256", m.manifest_sha256
    return "archive sha256", m.archive_sha256  # deprecated field: the legacy meaning


def added_bytes(m: pb.BackupManifest) -> int:
    """What the backup added to the repository (a snapshot) or weighs (an archive)."""
    return m.data_added if m.snapshot_id else m.archive_bytes


def shorten(text: str, width: int) -> str:
    """``text`` cut in the middle to ``width`` cells (a repository URL keeps its ends)."""
    if width <= 1 or len(text) <= width:
        return text
    keep = width - 1
    return text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2) :]


def rpo_line(b: pb.BackupStatus) -> Text:
    """The age of the newest data off the volume against its bound; red when over it."""
    bound = f"bound {fmt.duration(b.rpo_bound_seconds)}" if b.rpo_bound_seconds else "no bound"
    line = Text("RPO ")
    if not b.HasField("rpo_seconds"):
        what = "nothing off the volume" + ("" if b.repository and not b.off_volume else " yet")
        line.append(what, OVER if b.rpo_over_bound else "yellow")
        line.append(f" ({bound} in market hours)", "dim")
        return line
    age = fmt.duration(b.rpo_seconds)
    if b.rpo_over_bound:
        line.append(f"{age} over its {bound}", OVER)
        line.append(" · take a snapshot (b) or see the error", "dim")
    else:
        line.append(age, WITHIN)
        line.append(f" ({bound} in market hours) since {b.newest_snapshot}", "dim")
    return line


def repository_line(b: pb.BackupStatus, width: int) -> Text:
    """Where the snapshots are (cut in the middle to fit), and a warning when that is the
    data volume's own disk."""
    if not b.repository:
        return Text("repository unusable: see the error", "bold red")
    warn = "" if b.off_volume else " · on the data's own disk"
    room = max(12, width - len("repo ") - len(warn))
    line = Text.assemble(("repo ", "dim"), (shorten(b.repository, room), ""))
    if warn:
        line.append(warn, "bold yellow")
    return line


def holdings_line(b: pb.BackupStatus, now: float) -> Text:
    """How big the repository is, and the newest verified snapshot."""
    if b.HasField("repository_bytes"):
        size = f"holds {fmt.size(b.repository_bytes)}"
    else:
        size = "size not measured yet"
    line = Text(f"{size} in {b.snapshots} snapshot{'s' if b.snapshots != 1 else ''} · ", "dim")
    at = fmt.ts_seconds(b.last_verified_at)
    if b.last_verified_snapshot:
        line.append("verified ", "dim")
        line.append(b.last_verified_snapshot, "green")
        if at is not None:
            line.append(f" {fmt.duration(now - at)} ago", "dim")
    else:
        line.append("no verified snapshot yet", "yellow")
    return line


def schedule_line(b: pb.BackupStatus, now: float, width: int = 70) -> Text:
    """The weekly restore drill, the next snapshot, a retry, the daily one and the policy, in
    one line of ``width`` cells: what does not fit is left out whole (first the policy, then
    the daily time and the legacy archives), never wrapped onto a line of its own."""
    line = Text("drill ", "dim")
    drill = fmt.ts_seconds(b.last_drill_at)
    if drill is None:
        line.append("not run yet", "dim")
    elif b.last_drill_ok:
        line.append("ok", "green")
        line.append(f" {fmt.duration(now - drill)} ago", "dim")
    else:
        line.append("FAILED", "bold red")
        line.append(f" {fmt.duration(now - drill)} ago", "dim")
    # (text, style, rank): the lowest rank is left out first when the line is too wide
    parts: list[tuple[str, str, int]] = []
    soon = fmt.ts_seconds(b.next_snapshot_at)
    if soon is not None:
        parts.append((f"next in {fmt.duration(soon - now)}", "dim", 4))
    nxt = fmt.ts_seconds(b.next_scheduled_at)
    parts.append(("daily off" if nxt is None else f"daily {fmt.kst_time(nxt)[:5]} KST", "dim", 1))
    parts.append((f"keep {b.retain_days} daily", "dim", 0))
    retry = fmt.ts_seconds(b.next_retry_at)
    if retry is not None:
        parts.append((f"retry in {fmt.duration(retry - now)}", "yellow", 5))
    if b.legacy_archives:
        parts.append((f"{b.legacy_archives} legacy .tar.gz", "dim", 2))
    while parts and line.cell_len + sum(3 + len(t) for t, _, _ in parts) > width:
        parts.remove(min(parts, key=lambda p: p[2]))
    for text, style, _ in parts:
        line.append(" · ", "dim")
        line.append(text, style)
    return line


def status_lines(b: pb.BackupStatus, now: float, width: int = 70) -> list[Text]:
    """The panel's lines drawn from the daemon's backup status."""
    last = Text("last ")
    last.append(
        fmt.enum_label(pb.BackupResult, b.last_result), _RESULT_STYLE.get(b.last_result, "")
    )
    if b.last_id:
        last.append(f" {b.last_id}", "bold")
    ok_at = fmt.ts_seconds(b.last_success_at)
    if ok_at is not None:
        last.append(f" · {fmt.duration(now - ok_at)} ago in {b.last_duration_seconds:.1f}s", "dim")
    last.append(" · ")
    last.append(
        fmt.enum_label(pb.VerificationState, b.verification),
        _VERIFY_STYLE.get(b.verification, ""),
    )
    lines = [last]
    if b.last_error:
        lines.append(Text(f"error: {b.last_error}", "bold red"))
    lines += [rpo_line(b), repository_line(b, width), holdings_line(b, now),
              schedule_line(b, now, width)]  # fmt: skip
    return lines


def listed_line(m: pb.BackupManifest) -> Text:
    kind, name = backup_name(m)
    what, digest = checksum(m)
    verified = fmt.enum_label(pb.VerificationState, m.verification)
    size = f"+{fmt.size(added_bytes(m))}" if kind == "snapshot" else fmt.size(added_bytes(m))
    return Text.assemble(
        ("  " + name, ""),
        (f"  {size}  {what.split()[0]} {digest[:12]}…  ", "dim"),
        (verified, _VERIFY_STYLE.get(m.verification, "")),
        ("" if kind == "snapshot" else "  (legacy .tar.gz)", "dim"),
    )


class Backups(Panel):
    TITLE = "Backups · b back up · v verify"

    def redraw_key(self, state: ConsoleState) -> object:
        # Besides the status: the backups and verifications run from this console.
        return (
            state.status_at, state.control_error, state.backup_manifest, state.verify_result,
            len(state.backup_list),
        )  # fmt: skip

    def render_state(self, state: ConsoleState) -> RenderableType:
        if state.status is None:
            return Text("no status yet", "dim")
        b = state.status.backups
        now = fmt.ts_seconds(state.status.generated_at) or 0.0
        lines = status_lines(b, now, max(40, self.content_size.width))
        # one line of what this console did last (the dialog has the whole checksum), else
        # the newest snapshots: the panel shares the column with three others
        if state.verify_result is not None:
            v = state.verify_result
            if v.ok:
                lines.append(Text(f"verify {v.id}: ok, {v.files_checked} files re-hashed", "green"))
            else:
                bad = "; ".join(f"{x.path}: {x.reason}" for x in v.mismatches[:2])
                lines.append(Text(f"verify {v.id}: FAILED {bad}", "bold red"))
        elif state.backup_manifest is not None:
            m = state.backup_manifest
            kind, name = backup_name(m)
            what, digest = checksum(m)
            lines.append(
                Text.assemble(
                    (f"this console: {kind} ", "dim"),
                    (name, "bold green"),
                    (f" · {what} ", "dim"),
                    (f"{digest[:16]}…", "green"),
                )
            )
        else:
            lines += [listed_line(m) for m in state.backup_list[:2]]
        if state.control_error:
            lines.append(Text(state.control_error, "bold red"))
        return Text("\n").join(lines)
