"""Regenerate what is derived from the tables in the code: the README's configuration table
(environment table), its line schema table (schema table) and manifests/base/configmap.yaml
(``make docs``; tests fail while any of them is stale)."""

from __future__ import annotations

from pathlib import Path

from observer.daemon.config import markdown_table
from observer.daemon.doctor.expected import configmap_yaml
from observer.daemon.schema.fields import markdown_table as schema_table

ROOT = Path(__file__).resolve().parents[1]
#: The README's generated sections: marker name -> generator.
SECTIONS = {"config-table": markdown_table, "schema-table": schema_table}


def section(text: str, name: str) -> str:
    """The text between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    return text[text.index(start) + len(start) : text.index(end)]


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    for name, make in SECTIONS.items():
        old = f"<!-- {name}:start -->{section(text, name)}<!-- {name}:end -->"
        text = text.replace(old, f"<!-- {name}:start -->\n{make()}\n<!-- {name}:end -->")
    readme.write_text(text, encoding="utf-8")
    (ROOT / "manifests" / "base" / "configmap.yaml").write_text(configmap_yaml(), encoding="utf-8")


if __name__ == "__main__":
    main()
