"""A short coverage-guided fuzz of the frame parser inside the test run (the long one is
``python -m tests.fuzz_frames --seconds N``, for the fault suite)."""

from __future__ import annotations

import pytest

from observer.daemon.kis import parser as parser_module
from tests import fuzz_frames

SECONDS = 5.0


def test_a_short_fuzz_finds_no_escape_crash_disagreement_or_out_of_domain_record() -> None:
    if parser_module._Scanner is None:
        pytest.skip("the C frame scanner was not built: nothing to compare the pattern with")
    counts = fuzz_frames.run(SECONDS)
    print(counts.line())
    assert counts.clean, counts.first_problem
    assert counts.inputs > 1000 and counts.accepted > 50, counts.line()


def test_the_harness_counts_what_it_is_meant_to_catch(monkeypatch: pytest.MonkeyPatch) -> None:
    # A parser that lets a bad hour through and one that raises: both must be counted.
    h = fuzz_frames.Harness()
    good = "0|H0STCNT0|001|" + "^".join(fuzz_frames._record("005930", 50_000, "093000", 46))
    h.check(good)
    assert h.counts.accepted == 1 and h.counts.clean
    monkeypatch.setattr(parser_module, "_TIME", lambda s: True)
    monkeypatch.setattr(parser_module, "_TIME_RX", r"[0-9]{6}")
    loose = fuzz_frames.Harness()
    for p in (loose.c, loose.rx):
        p._builders.clear()
    loose.check(good.replace("^093000^", "^253000^", 1))
    assert loose.counts.disagreements + loose.counts.out_of_domain >= 1

    def boom(frame: str) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.setattr(h.c, "parse", boom)
    h.check(good)
    assert h.counts.escaped == 1 and "boom" in h.counts.first_problem
