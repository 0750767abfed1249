"""Shared helpers for the deployment tests: where the manifests are, and rendering them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
OVERLAYS = {
    "base": MANIFESTS / "base",
    "dev": MANIFESTS / "overlays" / "dev",
    "prod": MANIFESTS / "overlays" / "prod",
}
FIXTURES = Path(__file__).resolve().parent / "fixtures"
KUBECTL = shutil.which("kubectl")

needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with kustomize) not on PATH")


def render(path: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize path` as a list of objects."""
    assert KUBECTL is not None
    proc = subprocess.run(
        [KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def one(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    same_kind = [o for o in objs if o["kind"] == kind]
    found = [o for o in same_kind if name is None or o["metadata"]["name"] == name]
    if not found and name is not None:  # generated objects carry a hash suffix
        found = [o for o in same_kind if o["metadata"]["name"].startswith(name + "-")]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]
