"""Regenerate what is derived from the environment table: the README's configuration table
and manifests/base/configmap.yaml (``make docs``; tests fail while either is stale)."""

from __future__ import annotations

from pathlib import Path

from observer.daemon.config import markdown_table
from observer.daemon.doctor.expected import configmap_yaml

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    a, b = text.index(START) + len(START), text.index(END)
    readme.write_text(text[:a] + "\n" + markdown_table() + "\n" + text[b:], encoding="utf-8")
    (ROOT / "manifests" / "base" / "configmap.yaml").write_text(configmap_yaml(), encoding="utf-8")


if __name__ == "__main__":
    main()
