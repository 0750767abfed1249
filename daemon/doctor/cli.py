"""`observer-daemon doctor [--manifests PATH|-] [--dockerfile PATH] [--json]`.

With --manifests: render the kustomization (or read the YAML; ``-`` reads rendered YAML
from standard input, e.g. ``helm template … | observer-daemon doctor --manifests -``) and
check it against the environment table. Without: run the startup contract against this
environment. Exit code by the worst finding: 0 clean/INFO, 1 WARNING, 2 HIGH, 3 CRITICAL;
64 on a usage error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from observer.daemon.doctor.findings import EXIT_USAGE, exit_code, to_json, to_table
from observer.daemon.doctor.live import check_live
from observer.daemon.doctor.manifests import check_manifests, check_text
from observer.daemon.errors import UsageError
from observer.daemon.usage import ArgumentParser


def _parser() -> ArgumentParser:
    # argparse's own exit 2 would here mean "HIGH finding".
    p = ArgumentParser(
        prog="observer-daemon doctor",
        description="Check manifests (or this environment) against the environment table.",
        epilog="Exit code: 0 clean or INFO only, 1 WARNING, 2 HIGH, 3 CRITICAL, 64 usage error.",
    )
    p.add_argument("--manifests", metavar="PATH",
                   help="kustomization directory, YAML directory or file to check; - reads "
                   "rendered YAML from standard input")  # fmt: skip
    p.add_argument("--dockerfile", type=Path, metavar="PATH",
                   help="the image's Dockerfile (default: the nearest one above --manifests; "
                   "none for standard input)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    return p


def main(
    argv: list[str],
    *,
    stdin: TextIO | None = None,
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
    if args.dockerfile is not None and not args.dockerfile.is_file():
        print(f"observer-daemon doctor: Dockerfile {args.dockerfile} does not exist.", file=err)
        return EXIT_USAGE
    collectors: list[str] = []
    if args.manifests == "-":
        source = stdin or sys.stdin
        if source.isatty():
            print("observer-daemon doctor: --manifests - reads rendered YAML from standard "
                  "input; pipe it in (kubectl kustomize DIR | observer-daemon doctor "
                  "--manifests -).", file=err)  # fmt: skip
            return EXIT_USAGE
        try:
            text = source.read()
        except (OSError, UnicodeDecodeError) as e:
            print(f"observer-daemon doctor: standard input cannot be read ({e}); pipe in "
                  "rendered YAML (UTF-8).", file=err)  # fmt: skip
            return EXIT_USAGE
        report = check_text(text, source="standard input", dockerfile=args.dockerfile)
        source_name, findings, collectors = report.source, report.findings, report.collectors
    elif args.manifests is not None:
        path = Path(args.manifests)
        if not path.exists():
            print(f"observer-daemon doctor: {path} does not exist; pass a kustomization "
                  "directory, a YAML file or - for standard input.", file=err)  # fmt: skip
            return EXIT_USAGE
        report = check_manifests(path, dockerfile=args.dockerfile)
        source_name, findings, collectors = report.source, report.findings, report.collectors
    else:
        findings = check_live(environ)
        source_name = "this environment (startup contract)"
    shown = (to_json if args.json else to_table)(
        findings, source=source_name, collectors=collectors
    )
    try:
        print(shown, file=out)
        out.flush()
    except BrokenPipeError:  # `doctor ... | head`: the reader left; the exit code still counts
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return exit_code(findings)
