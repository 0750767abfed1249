"""The distribution lists every package folder, so normal (non-editable) installs are complete."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {
    "observer.daemon": "daemon",
    "observer.console": "console",
    "observer.v1": "protos/observer/v1",
}


def _declared() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(data["tool"]["setuptools"]["packages"])


def test_every_package_folder_is_declared_in_pyproject() -> None:
    found: set[str] = set()
    for pkg, folder in MAPPING.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    assert found - _declared() == set(), "add these to [tool.setuptools] packages"
    assert _declared() - found == set(), "these declared packages have no folder"


def test_package_dir_maps_the_three_import_roots() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["tool"]["setuptools"]["package-dir"] == MAPPING
