"""Which containers run observer-daemon, recognised the way an operator would: by the
command or args, the image, gRPC probes that ask for the daemon's health services, and an
environment of the daemon's own variables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from observer.daemon import probes
from observer.daemon.config import BY_NAME
from observer.daemon.doctor.pod import Pod, image_name, is_postgres
from observer.daemon.doctor.render import Obj

_DAEMON = re.compile(r"observer[-.]daemon\b")
_OTHER_PROGRAM = re.compile(r"observer[-.]console\b")
#: Subcommands that collect (a container running them is a collector).
_COLLECTING = frozenset({"", "run", "demo"})
_SUBCOMMANDS = frozenset(
    {"run", "demo", "config", "simulate", "backup", "verify", "restore", "doctor"}
)


@dataclass(frozen=True)
class Recognition:
    """Why a container is taken for observer-daemon, and what it runs."""

    reasons: tuple[str, ...]
    subcommand: str  # "" when the image's entrypoint decides (observer-daemon run)
    strong: bool  # command, image or probes; False when only the environment says so

    @property
    def collects(self) -> bool:
        return self.subcommand in _COLLECTING

    def because(self) -> str:
        return ", ".join(self.reasons)


def _argv(c: Obj) -> tuple[list[str], list[str]]:
    return [str(x) for x in c.get("command") or []], [str(x) for x in c.get("args") or []]


def _subcommand(argv: list[str]) -> str:
    words = " ".join(argv).replace("'", " ").replace('"', " ").split()
    for i, w in enumerate(words):
        if _DAEMON.search(w):  # observer-daemon, /opt/venv/bin/observer-daemon, -m observer.daemon
            first = next((x for x in words[i + 1 :] if not x.startswith("-")), "")
            return first if first in _SUBCOMMANDS else "run"
    first = next((x for x in words if not x.startswith("-")), "")
    return first if first in _SUBCOMMANDS else ""


def recognise(pod: Pod, c: Obj, env_names: set[str]) -> Recognition | None:
    """The evidence that ``c`` runs observer-daemon, or None when there is none."""
    if is_postgres(c):
        return None
    command, args = _argv(c)
    argv = command + args
    joined = " ".join(argv)
    reasons: list[str] = []
    strong = False
    if _DAEMON.search(joined):
        reasons.append(f"command {' '.join(argv)[:60]!r}")
        strong = True
    elif command or _OTHER_PROGRAM.search(joined):
        # The image's entrypoint is replaced by another program (a shell, the console, ...).
        return None
    img = image_name(c)
    if "observer" in img and "console" not in img:
        reasons.append(f"image {c.get('image')}")
        strong = True
    asked = sorted(
        {
            str((c.get(p) or {}).get("grpc", {}).get("service") or "")
            for p in ("startupProbe", "livenessProbe", "readinessProbe")
            if isinstance((c.get(p) or {}).get("grpc"), dict)
        }
        & set(probes.ALL[1:])
    )
    if asked:
        reasons.append("gRPC probes for observer." + "/".join(a.split(".", 1)[1] for a in asked))
        strong = True
    own = [n for n in BY_NAME if n in env_names and n.startswith(("OBSERVER_", "KIS_"))]
    if own:
        more = f" and {len(own) - 2} more" if len(own) > 2 else ""
        reasons.append(f"settings {', '.join(own[:2])}{more}")
    if not reasons:
        return None
    return Recognition(tuple(reasons), _subcommand(argv), strong)
