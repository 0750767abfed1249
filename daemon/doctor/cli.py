"""`observer-daemon doctor [--manifests PATH] [--dockerfile PATH] [--json]`.

With --manifests: render the kustomization (or read the YAML) and check it against the
environment table. Without: run the startup contract against this environment. Exit code
by the worst finding: 0 clean/INFO, 1 WARNING, 2 HIGH, 3 CRITICAL; 64 on a usage error.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from observer.daemon.doctor.findings import EXIT_USAGE, exit_code, to_json, to_table
from observer.daemon.doctor.live import check_live
from observer.daemon.doctor.manifests import check_manifests
from observer.daemon.errors import UsageError
from observer.daemon.usage import ArgumentParser


def _parser() -> ArgumentParser:
    # argparse's own exit 2 would here mean "HIGH finding".
    p = ArgumentParser(
        prog="observer-daemon doctor",
        description="Check manifests (or this environment) against the environment table.",
        epilog="Exit code: 0 clean or INFO only, 1 WARNING, 2 HIGH, 3 CRITICAL, 64 usage error.",
    )
    p.add_argument("--manifests", type=Path, metavar="PATH",
                   help="kustomization directory, YAML directory or YAML file to check")  # fmt: skip
    p.add_argument("--dockerfile", type=Path, metavar="PATH",
                   help="the image's Dockerfile (default: nearest one above --manifests)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    return p


def main(
    argv: list[str],
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except UsageError as e:
        print(f"observer-daemon: {e}", file=err)
        return EXIT_USAGE
    if args.manifests is not None:
        if not args.manifests.exists():
            print(f"observer-daemon doctor: {args.manifests} does not exist; pass a "
                  "kustomization directory or a YAML file.", file=err)  # fmt: skip
            return EXIT_USAGE
        if args.dockerfile is not None and not args.dockerfile.is_file():
            print(f"observer-daemon doctor: Dockerfile {args.dockerfile} does not exist.", file=err)
            return EXIT_USAGE
        report = check_manifests(args.manifests, dockerfile=args.dockerfile)
        source, findings = report.source, report.findings
    else:
        findings = check_live(environ)
        source = "this environment (startup contract)"
    print(to_json(findings, source=source) if args.json else to_table(findings, source=source),
          file=out)  # fmt: skip
    return exit_code(findings)
