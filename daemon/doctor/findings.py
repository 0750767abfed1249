"""A doctor finding, its severity, the exit code the worst one maps to, and the two outputs.

Exit codes (documented in manifests/README.md): 0 clean or INFO only, 1 WARNING, 2 HIGH,
3 CRITICAL; 64 when doctor itself was used wrongly (bad arguments, unreadable path).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import IntEnum

from observer.daemon import errors


class Severity(IntEnum):
    """Ordered so that ``max()`` is the worst; the value is the exit code."""

    INFO = 0
    WARNING = 1
    HIGH = 2
    CRITICAL = 3


#: Exit code when doctor could not run (usage error, unreadable manifests path): the same
#: 64 as every observer-daemon command.
EXIT_USAGE = errors.EXIT_USAGE


@dataclass(frozen=True)
class Finding:
    """One problem: where it is, what will happen at runtime, and how to fix it."""

    severity: Severity
    object: str  # "Deployment/observer" (namespace-qualified when known), or a file
    field: str  # field path inside the object, e.g. spec.template.spec.volumes[data]
    message: str  # what happens at runtime
    fix: str
    variable: str = ""  # the environment variable concerned, when there is one

    def as_dict(self) -> dict[str, str]:
        d = asdict(self)
        d["severity"] = self.severity.name
        return d


def worst(findings: Iterable[Finding]) -> Severity | None:
    return max((f.severity for f in findings), default=None)


def exit_code(findings: Iterable[Finding]) -> int:
    """0 clean/INFO, 1 WARNING, 2 HIGH, 3 CRITICAL."""
    w = worst(findings)
    return int(w) if w is not None else 0


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity, f.object, f.field, f.variable))


def to_json(findings: Sequence[Finding], *, source: str) -> str:
    w = worst(findings)
    doc = {
        "source": source,
        "worst": w.name if w is not None else None,
        "exit_code": exit_code(findings),
        "counts": {s.name: sum(1 for f in findings if f.severity is s) for s in Severity},
        "findings": [f.as_dict() for f in sort_findings(findings)],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def to_table(findings: Sequence[Finding], *, source: str, width: int | None = None) -> str:
    """A readable report: one block per finding, the worst first, then a summary line."""
    cols = width or shutil.get_terminal_size((100, 24)).columns
    cols = max(60, min(cols, 140))
    out = [f"doctor: {source}"]
    if not findings:
        out.append("no findings: nothing contradicts the environment table.")
        return "\n".join(out)
    for f in sort_findings(findings):
        head = f"{f.severity.name:<8} {f.object}  {f.field}"
        if f.variable:
            head += f"  ({f.variable})"
        out.append("")
        out.append(head)
        for label, text in (("what", f.message), ("fix", f.fix)):
            # A path is never cut (at a hyphen or mid-word): it moves to the next line whole,
            # so it can be copied as printed.
            wrapped = textwrap.wrap(
                text, cols - 14, break_long_words=False, break_on_hyphens=False
            ) or [""]
            out.append(f"  {label:<5}  {wrapped[0]}")
            out.extend(f"         {line}" for line in wrapped[1:])
    counts = ", ".join(
        f"{sum(1 for f in findings if f.severity is s)} {s.name}"
        for s in sorted(Severity, reverse=True)
        if any(f.severity is s for f in findings)
    )
    out.append("")
    out.append(f"{len(findings)} finding(s): {counts}; exit code {exit_code(findings)}.")
    return "\n".join(out)
