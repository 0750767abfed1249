"""`doctor` without --manifests: the startup contract run against this environment."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

from observer.daemon.config import load_config
from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.errors import ConfigError

_SEVERITY = {"CRITICAL": Severity.CRITICAL, "HIGH": Severity.HIGH, "WARNING": Severity.WARNING}


def check_live(
    environ: Mapping[str, str] | None = None, *, cwd: Path | None = None
) -> list[Finding]:
    """Load the settings as ``run`` would and report what the startup contract finds.

    Nothing is created: a missing directory is reported, not made.
    """
    try:
        loaded = load_config({}, environ, cwd=cwd)
    except ConfigError as e:
        return [Finding(Severity.CRITICAL, "environment", "", f"the daemon refuses these "
                        f"settings and exits at start: {e}", "fix the setting the message names.")]  # fmt: skip
    try:
        # Imported late: the contract belongs to the daemon core and doctor must still load
        # (and check manifests) where it is absent or broken.
        contract = importlib.import_module("observer.daemon.contract")
    except ImportError as e:
        return [Finding(Severity.HIGH, "environment", "", f"the startup contract is not "
                        f"available in this build ({e}); nothing was checked.",
                        "install a complete observer build.")]  # fmt: skip
    cfg = loaded.config
    mode = contract.container_mode(cfg)
    container = bool(mode.on)
    problems = contract.check(cfg, container=container, create=False)
    out = [
        Finding(
            Severity.INFO, "OBSERVER_CONTAINER", "environment", str(mode.explain()),
            "nothing to do if that is right.", "OBSERVER_CONTAINER",
        )
    ]  # fmt: skip
    out += [
        Finding(
            Severity.WARNING, u.name, u.source, u.message(),
            f"rename it to {u.closest}." if u.closest else "remove it.", u.name,
        )
        for u in loaded.unknown
    ]  # fmt: skip
    for p in problems:
        fix = str(p.fix)
        if p.container_rule and mode.detected:
            fix += f" Or, {contract.OPT_OUT} ({mode.why()})."
        out.append(
            Finding(
                _SEVERITY.get(str(p.severity), Severity.WARNING),
                f"{p.variable}={p.path}",
                "environment" + (" (container mode)" if container else ""),
                str(p.message),
                fix,
                str(p.variable),
            )
        )
    return out
