"""A doctor finding, its severity, the exit code the worst one maps to, and the two outputs.

Exit codes (documented in manifests/README.md): 0 clean or INFO only, 1 WARNING, 2 HIGH,
3 CRITICAL; 64 when doctor itself was used wrongly (bad arguments, unreadable path).
"""

from __future__ import annotations

import json
import re
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
    detail: str = ""  # a long list the table leaves out (in --json only)

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


def to_json(findings: Sequence[Finding], *, source: str, collectors: Sequence[str] = ()) -> str:
    w = worst(findings)
    doc = {
        "source": source,
        "collectors": list(collectors),
        "worst": w.name if w is not None else None,
        "exit_code": exit_code(findings),
        "counts": {s.name: sum(1 for f in findings if f.severity is s) for s in Severity},
        "findings": [f.as_dict() for f in sort_findings(findings)],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


#: Pod spec prefixes shown once per object in the table instead of on every field.
_POD_PREFIXES = ("spec.jobTemplate.spec.template.spec.", "spec.template.spec.")


_NBSP = "\u00a0"
#: A short YAML value (``{port: 50051, service: observer.startup}``) stays on one line.
_SNIPPET = re.compile(r"\{[^{}]{1,60}\}")


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    """Wrap at spaces only: a path or a field name is never split across lines, nor a
    short YAML value."""
    text = _SNIPPET.sub(lambda m: m.group(0).replace(" ", _NBSP), text)
    lines = textwrap.wrap(
        text, width, initial_indent=first, subsequent_indent=rest,
        break_long_words=False, break_on_hyphens=False,
    )  # fmt: skip
    return [ln.replace(_NBSP, " ") for ln in lines] or [first.rstrip()]


def to_table(
    findings: Sequence[Finding],
    *,
    source: str,
    collectors: Sequence[str] = (),
    width: int | None = None,
) -> str:
    """Findings grouped by object, the worst object first; one line per finding (wrapped
    only where the terminal is too narrow), its fix on the next, then a summary line."""
    cols = width or shutil.get_terminal_size((100, 24)).columns
    cols = max(60, min(cols, 200))
    out = _wrap(f"doctor: {source}", cols, "", "    ")
    for c in collectors:
        out += _wrap(f"collector: {c}", cols, "", "    ")
    if not findings:
        out.append("no findings: nothing contradicts the environment table.")
        return "\n".join(out)
    groups: dict[str, list[Finding]] = {}
    for f in sort_findings(findings):
        groups.setdefault(f.object, []).append(f)
    for obj, group in sorted(groups.items(), key=lambda kv: (-kv[1][0].severity, kv[0])):
        prefix = next((p for p in _POD_PREFIXES if any(f.field.startswith(p) for f in group)), "")
        out.append("")
        out.append(obj + (f"  (pod spec at {prefix.rstrip('.')})" if prefix else ""))
        for f in group:
            field = f.field[len(prefix) :] if prefix and f.field.startswith(prefix) else f.field
            head = f"  {f.severity.name:<8} "
            pad = " " * len(head)
            text = f"{field}: {f.message}" if field else f.message
            out += _wrap(text, cols, head, pad + "  ")
            out += _wrap(f"fix: {f.fix}", cols, pad, pad + "     ")
    counts = ", ".join(
        f"{sum(1 for f in findings if f.severity is s)} {s.name}"
        for s in sorted(Severity, reverse=True)
        if any(f.severity is s for f in findings)
    )
    out.append("")
    n = len(findings)
    out.append(f"{n} finding{'s' if n > 1 else ''}: {counts}; exit code {exit_code(findings)}.")
    return "\n".join(out)
