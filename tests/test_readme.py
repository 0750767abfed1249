"""The README opens with the two commands and carries the tables of the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.regenerate import SECTIONS, section

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_opens_with_make_demo_and_make_test() -> None:
    head = README.read_text(encoding="utf-8").splitlines()[:8]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_readme_tables_match_the_tables_in_the_code(name: str) -> None:
    text = README.read_text(encoding="utf-8")
    assert section(text, name).strip() == SECTIONS[name](), (
        f"README section {name} is stale: regenerate it with `make docs`"
    )
