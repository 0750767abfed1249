"""The README opens with the two commands and carries the configuration table of the code."""

from __future__ import annotations

from pathlib import Path

from observer.daemon.config import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_opens_with_make_demo_and_make_test() -> None:
    head = README.read_text(encoding="utf-8").splitlines()[:8]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_readme_configuration_table_matches_the_environment_table() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- config-table:start -->") + len("<!-- config-table:start -->")
    end = text.index("<!-- config-table:end -->")
    assert text[start:end].strip() == markdown_table(), (
        "README configuration table is stale: regenerate it with `make docs`"
    )
