"""``observer-daemon``: the command line.

    observer-daemon [run]          collect (default: on the built-in simulator)
    observer-daemon demo           run in the foreground with a one-line status every few seconds
    observer-daemon config         print the effective settings and where each came from
    observer-daemon simulate       serve the KIS protocol on loopback (the simulator alone)
    observer-daemon backup         take a snapshot of the data volume now (restic, verified)
    observer-daemon verify [SNAPSHOT]  restic check + restore to scratch + sha256 of every file
    observer-daemon restore SNAPSHOT --into DIR
    observer-daemon doctor [--manifests PATH|-] [--json]

A foreseeable failure prints one paragraph (what failed, the value, what to do) and exits
non-zero; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from observer.daemon import __version__, fingerprints
from observer.daemon.config import ENV_TABLE, Loaded, display_value, load_config
from observer.daemon.errors import ObserverError
from observer.daemon.usage import ArgumentParser

_FLAG_VARS = [v for v in ENV_TABLE if v.flag]
#: The settings the backup commands read: where the data (and its backups) are.
_BACKUP_FLAGS = ("OBSERVER_DATA_DIR", "OBSERVER_ENV_FILE")


def _add_setting_flags(p: argparse.ArgumentParser, only: Sequence[str] | None = None) -> None:
    for v in _FLAG_VARS:
        assert v.flag is not None
        if only is not None and v.name not in only:
            continue
        first = v.help.split(". ")[0].rstrip(".")
        p.add_argument(v.flag, dest=v.name, metavar=v.kind.value.upper(), help=f"{v.name}: {first}")


def _flags(ns: argparse.Namespace) -> dict[str, str]:
    return {v.name: str(getattr(ns, v.name)) for v in _FLAG_VARS if getattr(ns, v.name, None)}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="observer-daemon",
        description="Realtime KRX tick collector for the KIS Open API.",
        epilog="Exit codes: 0 ok, 1 an operation failed, 2 configuration error, 3 startup "
        "contract failed, 4 another daemon holds the data directory, 5 a backup failed "
        "verification, 64 usage error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"observer-daemon {__version__}")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="collect ticks (the default command)")
    _add_setting_flags(run)
    demo = sub.add_parser("demo", help="run in the foreground with a one-line status")
    _add_setting_flags(demo)
    demo.add_argument("--every", type=float, default=3.0, help="seconds between status lines")

    cfg = sub.add_parser("config", help="print the effective settings and their sources")
    _add_setting_flags(cfg)
    cfg.add_argument("--json", action="store_true")

    sub.add_parser("simulate", help="serve the KIS protocol on loopback", add_help=False)

    snapshot_help = "a snapshot id as ListBackups shows it, or the path of a legacy .tar.gz archive"
    # The backup commands read only where the data is: no collector flags in their --help.
    backup = {
        name: sub.add_parser(name, help=short, description=long)
        for name, short, long in (
            ("backup", "take a snapshot now",
             "Take a restic snapshot of the data volume now, verified before it is reported "
             "done."),
            ("verify", "verify a snapshot (default: the newest) or archive",
             "Check a snapshot (restic check, restore to scratch, sha256 of every file) or a "
             "legacy archive; exit 5 on a mismatch."),
            ("restore", "restore a snapshot (or legacy archive), re-hashed",
             "Restore a snapshot or a legacy archive into an empty directory, then re-hash "
             "every file against its manifest."),
        )
    }  # fmt: skip
    for p in backup.values():
        _add_setting_flags(p, only=_BACKUP_FLAGS)
    backup["verify"].add_argument(
        "archive", nargs="?", default="latest", metavar="SNAPSHOT",
        help=f"{snapshot_help} (default: latest, the newest snapshot)",
    )  # fmt: skip
    backup["restore"].add_argument("archive", metavar="SNAPSHOT", help=snapshot_help)
    backup["restore"].add_argument(
        "--into", required=True, type=Path, metavar="DIR",
        help="an empty or new directory to write the files into (never over live data)",
    )  # fmt: skip

    sub.add_parser("doctor", help="check manifests or this environment", add_help=False)
    return parser


def _resolved(loaded: Loaded) -> dict[str, str]:
    """What the ``auto`` settings resolve to on this machine, and why."""
    from observer.daemon.api.server import listen_host
    from observer.daemon.contract import OPT_OUT, container_mode

    cfg = loaded.config
    out = {}
    mode = container_mode(cfg)
    if mode.detected:
        found = f"detected a container: {mode.evidence}; {OPT_OUT}" if mode.on else "no container"
        out["OBSERVER_CONTAINER"] = f"-> {'true' if mode.on else 'false'} ({found})"
    if cfg.listen_address == "auto":
        out["OBSERVER_LISTEN_ADDRESS"] = f"-> {listen_host(cfg)}"
    return out


def print_config(loaded: Loaded, as_json: bool) -> None:
    resolved = _resolved(loaded)
    rows = []
    fps = fingerprints.existing(loaded.config.data_dir)  # shown once the daemon made its key
    for v in ENV_TABLE:
        value = display_value(v, loaded.raw[v.name], fps)
        if v.is_path and value:
            value = str(getattr(loaded.config, v.attr))
        if v.name in resolved:
            value = f"{value} {resolved[v.name]}"
        rows.append((v.name, value, str(loaded.origins[v.name])))
    if as_json:
        print(json.dumps([{"name": n, "value": val, "source": s} for n, val, s in rows], indent=2))
        for unknown in loaded.unknown:
            print(f"warning: {unknown.message()}", file=sys.stderr)
        return
    w0 = max(len(r[0]) for r in rows)
    w1 = min(60, max(len(r[1]) for r in rows))
    for n, val, s in rows:
        print(f"{n:<{w0}}  {val:<{w1}}  {s}")
    src = (
        "built-in KIS simulator"
        if loaded.config.uses_simulator
        else "KIS " + (loaded.config.kis_env or "custom URLs")
    )
    print(f"\nsource: {src}")
    for unknown in loaded.unknown:
        print(f"warning: {unknown.message()}")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # Subcommands with their own parsers take the rest of the line untouched.
    if args and args[0] == "simulate":
        from observer.daemon.simulator.cli import main as simulate

        return _guard(lambda: simulate(args[1:]))
    if args and args[0] == "doctor":
        from observer.daemon.doctor.cli import main as doctor

        return _guard(lambda: doctor(args[1:]))
    parser = build_parser()
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help", "--version")):
        args = ["run", *args]
    return _guard(lambda: _dispatch(parser.parse_args(args)))


def _dispatch(ns: argparse.Namespace) -> int:
    cmd = ns.command or "run"
    flags = _flags(ns)
    if (
        cmd == "demo"
        and "OBSERVER_CONTAINER" not in flags
        and "OBSERVER_CONTAINER" not in os.environ
    ):
        # The demo is a laptop run: don't apply container rules unless asked to.
        flags["OBSERVER_CONTAINER"] = "false"
    loaded = load_config(flags)
    if cmd == "config":
        print_config(loaded, ns.json)
        return 0
    if cmd in ("run", "demo"):
        from observer.daemon.app import run_daemon

        return run_daemon(loaded, status_every=ns.every if cmd == "demo" else None)
    from observer.daemon.backup import cli as backup_cli

    if cmd == "backup":
        return backup_cli.backup_main(loaded.config)
    if cmd == "verify":
        return backup_cli.verify_main(loaded.config, ns.archive)
    if cmd == "restore":
        return backup_cli.restore_main(loaded.config, ns.archive, ns.into)
    raise AssertionError(cmd)


def _guard(fn: object) -> int:
    assert callable(fn)
    try:
        return int(fn())
    except ObserverError as e:
        print(f"observer-daemon: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
