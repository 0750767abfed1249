"""``observer-console``: the command line.

    observer-console [--target HOST:PORT]                 the dashboard (default localhost:50051)
    observer-console --port-forward svc/observer -n NS    run and supervise kubectl port-forward
    observer-console status [--json] [--target HOST:PORT] print the status once; non-zero if unhealthy

Control token (backup, verify, rotate): --token-file FILE, OBSERVER_CONTROL_TOKEN, or
--token-from-secret NAME[:KEY] (read through the Kubernetes API with your kubeconfig).

Exit codes: 0 ok (``status``: healthy), 1 unhealthy (``status``), 2 the daemon or the
cluster does not answer, 64 usage error (an unknown flag, a token that cannot be read),
130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import NoReturn

from observer.console.client import ConsoleError

DEFAULT_TARGET = "localhost:50051"
#: A command line that cannot be run as given (sysexits.h EX_USAGE; argparse's own 2 would
#: read as "unreachable").
EXIT_USAGE = 64
EPILOG = (
    "Exit codes: 0 ok (status: healthy), 1 unhealthy (status), 2 the daemon or the cluster "
    "does not answer, 64 usage error, 130 interrupted."
)


class UsageError(Exception):
    """The command line cannot be run as given."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}; see `{self.prog} --help`.")


def _port(zero_ok: bool) -> Callable[[str], int]:
    """An argparse type for a TCP port: 1-65535 (0 too where it means "a free one")."""

    def parse(text: str) -> int:
        try:
            port = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
        if not (0 if zero_ok else 1) <= port <= 65535:
            also = " (0 = a free one)" if zero_ok else ""
            raise argparse.ArgumentTypeError(f"{port} is not a port: use 1-65535{also}")
        return port

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="observer-console", description="Operations console for observer-daemon.",
        epilog=EPILOG,
    )  # fmt: skip
    p.add_argument(
        "--target", default=DEFAULT_TARGET, help="daemon gRPC address (default %(default)s)"
    )
    p.add_argument(
        "--token-file", type=Path, help="file holding the daemon's OBSERVER_CONTROL_TOKEN"
    )
    p.add_argument(
        "--token-from-secret",
        metavar="NAME[:KEY]",
        help="read the token from this Kubernetes Secret",
    )
    p.add_argument(
        "--port-forward",
        metavar="RESOURCE",
        help="run `kubectl port-forward RESOURCE` and keep it alive, e.g. svc/observer",
    )
    p.add_argument(
        "-n", "--namespace", help="Kubernetes namespace for --port-forward / --token-from-secret"
    )
    p.add_argument("--context", help="kubeconfig context for --port-forward / --token-from-secret")
    p.add_argument(
        "--local-port",
        type=_port(zero_ok=True),
        default=0,
        help="local port of the tunnel (default: a free one)",
    )
    p.add_argument(
        "--remote-port",
        type=_port(zero_ok=False),
        default=50051,
        help="daemon port in the pod (default %(default)s)",
    )
    p.add_argument("--kubectl", default="kubectl", help="kubectl executable (default %(default)s)")
    p.add_argument("--theme", help="Textual theme, e.g. textual-dark, nord, gruvbox")
    sub = p.add_subparsers(dest="command")
    st = sub.add_parser(
        "status",
        help="print the daemon's status once; exit 1 when unhealthy, 2 when unreachable",
        epilog=EPILOG,
    )
    st.add_argument("--json", action="store_true", help="machine-readable output")
    # Also accepted after the subcommand (`status --json --target X`), as scripts write it.
    st.add_argument("--target", default=argparse.SUPPRESS, help="daemon gRPC address")
    return p  # fmt: skip


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    try:
        args = build_parser().parse_args(argv)
        if args.command == "status":
            from observer.console.status_cmd import run_status

            return asyncio.run(run_status(args.target, args.json, sys.stdout, sys.stderr))
        return _run_app(args, env)
    except UsageError as err:
        print(f"observer-console: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ConsoleError as err:
        print(f"observer-console: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


def _run_app(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from observer.console.app import ObserverConsole
    from observer.console.portforward import PortForward
    from observer.console.token import resolve

    token = resolve(
        token_file=args.token_file,
        secret=args.token_from_secret,
        namespace=args.namespace,
        context=args.context,
        environ=env,
    )
    tunnel = None
    if args.port_forward:
        tunnel = partial(
            PortForward,
            args.port_forward,
            namespace=args.namespace,
            context=args.context,
            remote_port=args.remote_port,
            local_port=args.local_port,
            kubectl=args.kubectl,
        )
    app = ObserverConsole(
        args.target,
        token=token.value if token else None,
        tunnel=tunnel,
        theme=args.theme,
        freeze_gc=True,
    )
    app.run()
    return app.return_code or 0
