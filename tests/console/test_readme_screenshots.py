"""The README's console screenshots are the snapshot tests' own pictures, never stale copies."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests" / "console" / "__snapshots__" / "test_snapshots"


def test_every_readme_screenshot_equals_its_snapshot() -> None:
    shots = sorted((ROOT / "docs" / "console").glob("*.svg"))
    assert shots, "docs/console holds the README screenshots"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for shot in shots:
        snap = SNAPSHOTS / f"test_{shot.name}"
        assert shot.read_bytes() == snap.read_bytes(), (
            f"{shot} is stale: copy {snap} over it after `pytest --snapshot-update`"
        )
        assert f"docs/console/{shot.name}" in readme, f"README does not show {shot.name}"


def test_readme_screenshots_keep_their_blanks_in_any_svg_renderer() -> None:
    # Without it, renderers that strip a text element's edge blanks (librsvg, image
    # viewers) drew "postgres1,840 rows/9s" and "startup ●liveness".
    for shot in sorted((ROOT / "docs" / "console").glob("*.svg")):
        head = shot.read_text(encoding="utf-8")[:400]
        assert '<svg xml:space="preserve"' in head, shot.name
