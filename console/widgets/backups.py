"""Backups region: last result, next scheduled, the list, the last run from this console."""

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
        lines: list[Text] = []
        last = Text("last ")
        last.append(
            fmt.enum_label(pb.BackupResult, b.last_result), _RESULT_STYLE.get(b.last_result, "")
        )
        if b.last_id:
            last.append(f" {b.last_id}", "bold")
        ok_at = fmt.ts_seconds(b.last_success_at)
        if ok_at is not None:
            last.append(
                f" · ok {fmt.duration(now - ok_at)} ago in {b.last_duration_seconds:.1f}s", "dim"
            )
        last.append(" · ")
        last.append(
            fmt.enum_label(pb.VerificationState, b.verification),
            _VERIFY_STYLE.get(b.verification, ""),
        )
        lines.append(last)
        if b.last_error:
            lines.append(Text(f"error: {b.last_error}", "bold red"))
        nxt = fmt.ts_seconds(b.next_scheduled_at)
        sched = (
            "schedule off"
            if nxt is None
            else f"next {fmt.kst_time(nxt)} KST (in {fmt.duration(nxt - now)})"
        )
        lines.append(
            Text(
                f"{sched} · {b.count} kept, {fmt.size(b.total_bytes)} · retain {b.retain_days}d",
                "dim",
            )
        )
        for m in state.backup_list[:3]:
            verified = fmt.enum_label(pb.VerificationState, m.verification)
            lines.append(
                Text.assemble(
                    ("  " + m.id, ""),
                    (f"  {fmt.size(m.archive_bytes)}  {m.archive_sha256[:12]}…  ", "dim"),
                    (verified, _VERIFY_STYLE.get(m.verification, "")),
                )
            )
        if state.backup_manifest is not None:
            m = state.backup_manifest
            lines.append(Text.assemble(("this console: ", "dim"), (m.id, "bold green")))
            lines.append(Text.assemble(("sha256 ", "dim"), (m.archive_sha256, "green")))
        if state.verify_result is not None:
            v = state.verify_result
            if v.ok:
                lines.append(Text(f"verify {v.id}: ok, {v.files_checked} files", "green"))
            else:
                bad = "; ".join(f"{x.path}: {x.reason}" for x in v.mismatches[:2])
                lines.append(Text(f"verify {v.id}: FAILED {bad}", "bold red"))
        if state.control_error:
            lines.append(Text(state.control_error, "bold red"))
        return Text("\n").join(lines)
