"""``observer-console``: the command line.

    observer-console [--target HOST:PORT]                 the dashboard (default localhost:50051)
    observer-console --port-forward svc/observer -n NS    run and supervise kubectl port-forward
    observer-console status [--json]                      print the status once; non-zero if unhealthy

Control token (backup, verify, rotate): --token-file FILE, OBSERVER_CONTROL_TOKEN, or
--token-from-secret NAME[:KEY] (read through the Kubernetes API with your kubeconfig).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from functools import partial
from pathlib import Path

from observer.console.client import ConsoleError

DEFAULT_TARGET = "localhost:50051"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="observer-console", description="Operations console for observer-daemon."
    )
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
        "--local-port", type=int, default=0, help="local port of the tunnel (default: a free one)"
    )
    p.add_argument(
        "--remote-port",
        type=int,
        default=50051,
        help="daemon port in the pod (default %(default)s)",
    )
    p.add_argument("--kubectl", default="kubectl", help="kubectl executable (default %(default)s)")
    p.add_argument("--theme", help="Textual theme, e.g. textual-dark, nord, gruvbox")
    sub = p.add_subparsers(dest="command")
    st = sub.add_parser(
        "status", help="print the daemon's status once; exit 1 when unhealthy, 2 when unreachable"
    )
    st.add_argument("--json", action="store_true", help="machine-readable output")
    return p  # fmt: skip


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        if args.command == "status":
            from observer.console.status_cmd import run_status

            return asyncio.run(run_status(args.target, args.json, sys.stdout, sys.stderr))
        return _run_app(args, env)
    except ConsoleError as err:
        print(f"observer-console: {err}", file=sys.stderr)
        return 2
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
