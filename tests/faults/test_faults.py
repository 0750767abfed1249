"""The fault suite's small versions, in make test: each scenario's verdict must hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.scenarios import SCENARIOS


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fault_scenario_holds_in_its_small_version(name: str, tmp_path: Path) -> None:
    r = SCENARIOS[name](tmp_path, True)
    if r.skipped:
        pytest.skip(r.skipped)
    assert r.ok, f"{r.scenario}: {r.figure_text()}"
