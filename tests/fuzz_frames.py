"""Coverage-guided fuzzing of the realtime frame parser, C scanner and pattern paths.

Each input becomes one frame: a few valid records (46, 47 or 43 columns, the regular and
the after-hours TRs) that the fuzzer then mutates where it likes — a column's value from
a dictionary of troublesome spellings or from raw bytes, the record count, the separators,
the header. The frame goes through two parsers, one on the C scanner and one on the
regular expression, and four things are counted:

* escaped: an exception out of ``parse`` (it must never raise);
* crashes: the process dying (a fault in the C scanner);
* disagreements: the two parsers giving other ticks, other lines or other verdicts;
* out of domain: an accepted record whose values break the schema table's domains,
  checked here independently of the parser (times, dates, ranges, choices, codes), or a
  line that is not the JSON of its record.

``python -m tests.fuzz_frames --seconds 60`` runs atheris (libFuzzer) for that long and
prints ``fuzz: N inputs in S s, 0 escaped, 0 crashes, 0 disagreements, 0 out-of-domain
accepted``; it exits non-zero when any count is not 0. :func:`run` does the same for
callers (the fault suite, the test in tests/daemon/test_fuzz.py). Without atheris it falls
back to hypothesis, which is not coverage-guided but explores the same inputs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: A fixed arrival time: 2026-11-20 11:00 KST (the records' trade date).
ARRIVAL = 1_795_140_000.25
TRADE_DATE = "20261120"
#: Spellings that have hurt parsers: out of range, other shapes, other alphabets.
TOKENS = (
    "", "0", "-0", "00", "01", "1", "5", "6", "9", "-1", "+1", " 1", "1 ", "1_0", "1e3",
    "nan", "inf", "-inf", "0.0", "0.00001", "0.0001", "-0.0", "1.50", "100.0", "-100.5",
    "99999", "9999999999", "10000000000", "10000000001", str(2**63 - 1), str(2**63),
    "-" + str(2**63 + 1), "1" * 40, "245959", "240000", "235959", "096000", "090060",
    "000000", "09a001", "20261120", "20261399", "20261131", "20260229", "20280229",
    "20261117", "20261124", "19700101", "99999999", "N", "Y", "X", "y", "20", "2a", "A",
    "Q530036", "q53003", "005930", "0000J0", "Q5300361", "00593", "٣", "²", "ÿ", "\x00",
    "^", "|", "\n", "0|H0STCNT0|001|", "H0STOUP0", "K", "KRX",
)  # fmt: skip


def _record(symbol: str, price: int, time_: str, width: int) -> list[str]:
    f = [
        symbol, time_, str(price), "2", "100", "0.14", f"{price}.25", str(price - 500),
        str(price + 500), str(price - 900), str(price), str(price - 100), "3", "1234567",
        "89012345678", "3456", "4567", "1111", "103.52", "1234567", "2345678", "1", "0.55",
        "87.12", "090000", "5", "-500", "091512", "5", "-700", "093015", "2", "200",
        TRADE_DATE, "20", "N", "1234", "5678", "456789", "567890", "0.02", "1100000",
        "112.3", "0", "", str(price - 200), "2",
    ]  # fmt: skip
    return (f + ["x"] * width)[:width]


@dataclass
class Counts:
    inputs: int = 0
    escaped: int = 0
    crashes: int = 0
    disagreements: int = 0
    out_of_domain: int = 0
    accepted: int = 0
    seconds: float = 0.0
    engine: str = ""
    first_problem: str = ""

    def line(self) -> str:
        return (
            f"fuzz: {self.inputs:,} inputs in {self.seconds:.0f} s ({self.engine}), "
            f"{self.escaped} escaped, {self.crashes} crashes, {self.disagreements} "
            f"disagreements, {self.out_of_domain} out-of-domain accepted "
            f"({self.accepted:,} frames accepted)"
        )

    @property
    def clean(self) -> bool:
        return not (self.escaped or self.crashes or self.disagreements or self.out_of_domain)


class Harness:
    """The check of one input; keeps the counts."""

    def __init__(self) -> None:
        from observer.daemon.kis.parser import FrameParser

        self.counts = Counts()
        quiet = logging.getLogger("observer.fuzz")  # rejections are the point: not logged
        quiet.propagate, quiet.disabled = False, True
        self.c = FrameParser(clock=lambda: ARRIVAL, log=quiet, use_scanner=True)
        self.rx = FrameParser(clock=lambda: ARRIVAL, log=quiet, use_scanner=False)
        self._dates = _window()

    def frame(self, take: Any) -> str:
        """A frame built from the fuzzer's choices (``take`` is a FuzzedDataProvider-like)."""
        tr = ("H0STCNT0", "H0STOUP0", "H0NXCNT0")[take.ConsumeIntInRange(0, 2)]
        width = (46, 47, 43, 48)[take.ConsumeIntInRange(0, 3)]
        n = take.ConsumeIntInRange(1, 4)
        recs = [
            _record(("005930", "000660", "Q530036", "0000J0")[k % 4], 50_000 + 50 * k,
                    f"0930{k * 7 % 60:02d}", width)
            for k in range(n)
        ]  # fmt: skip
        for _ in range(take.ConsumeIntInRange(0, 6)):
            r = recs[take.ConsumeIntInRange(0, n - 1)]
            i = take.ConsumeIntInRange(0, width - 1)
            if take.ConsumeBool():
                r[i] = TOKENS[take.ConsumeIntInRange(0, len(TOKENS) - 1)]
            else:
                r[i] = take.ConsumeUnicodeNoSurrogates(take.ConsumeIntInRange(0, 12))
        count = n
        if take.ConsumeIntInRange(0, 7) == 0:
            count = take.ConsumeIntInRange(0, 12)
        payload = "^".join(x for r in recs for x in r)
        if take.ConsumeIntInRange(0, 15) == 0:  # a separator lost or doubled
            at = take.ConsumeIntInRange(0, max(0, len(payload) - 1))
            payload = payload[:at] + ("^^" if take.ConsumeBool() else "") + payload[at + 1 :]
        head = f"0|{tr}|{count:03d}|"
        if take.ConsumeIntInRange(0, 15) == 0:
            head = take.ConsumeUnicodeNoSurrogates(take.ConsumeIntInRange(0, 20))
        return head + payload

    def check(self, frame: str) -> None:
        c = self.counts
        c.inputs += 1
        try:
            a = self.c.parse(frame)
            b = self.rx.parse(frame)
            lines_a = _lines(a)
            lines_b = _lines(b)
        except Exception as e:  # the parser must never raise
            c.escaped += 1
            self._note(f"escaped {type(e).__name__}: {e} on {frame[:200]!r}")
            return
        if (
            list(a) != list(b)
            or lines_a != lines_b
            or dict(self.c.reasons) != dict(self.rx.reasons)
        ):
            c.disagreements += 1
            self._note(f"C and pattern disagree on {frame[:200]!r}")
            return
        if a:
            c.accepted += 1
            problem = _domain_problem(list(a), lines_a, self._dates)
            if problem:
                c.out_of_domain += 1
                self._note(f"{problem} accepted from {frame[:200]!r}")

    def _note(self, what: str) -> None:
        if not self.counts.first_problem:
            self.counts.first_problem = what


def _lines(ticks: Any) -> str:
    from observer.daemon.schema.lines import FrameBatch, LineFormatter

    if isinstance(ticks, FrameBatch):
        ticks.number(1)
        return ticks.lines()
    for i, t in enumerate(ticks, 1):
        t.seq = i
    return "".join(LineFormatter().tick_lines(ticks))


def _window() -> frozenset[str]:
    from datetime import timedelta

    from observer.daemon.clock import to_kst
    from observer.daemon.kis.parser import DATE_WINDOW_DAYS

    day = to_kst(ARRIVAL).date()
    span = range(-DATE_WINDOW_DAYS, DATE_WINDOW_DAYS + 1)
    return frozenset(f"{day + timedelta(days=d):%Y%m%d}" for d in span)


_TIME = re.compile(r"([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]")
_SYMBOL = re.compile(r"[0-9A-Z]{6}|Q[0-9A-Z]{6}")


def _domain_problem(ticks: list[Any], lines: str, dates: frozenset[str]) -> str:
    """What breaks the schema table's domains in accepted records (checked from the table,
    not with the parser's code), or ""."""
    rows = [json.loads(x) for x in lines.splitlines()]
    if len(rows) != len(ticks):
        return f"{len(ticks)} ticks but {len(rows)} lines"
    for t, row in zip(ticks, rows, strict=True):
        problem = line_problem(row, dates)
        if problem:
            return problem
        for f in dataclasses.fields(t):
            if (
                f.name in row
                and f.name not in ("trade_date", "received_at")
                and row[f.name] != getattr(t, f.name)
            ):
                return f"{f.name}: line {row[f.name]!r} but record {getattr(t, f.name)!r}"
        if t.time != row["ts"][11:19].replace(":", "") or t.trade_date != row["trade_date"].replace(
            "-", ""
        ):
            return f"record {t.trade_date} {t.time} but line {row['ts']}"
    return ""


def line_problem(row: dict[str, Any], dates: frozenset[str]) -> str:
    """What in one written scalp line breaks the schema table (keys, symbol, time, trade
    date within ``dates``, and each field's domain), or ""."""
    from observer.daemon.schema.fields import INT64_MAX, SCALP, Kind

    if list(row) != list(SCALP.names):
        return f"a line with keys {list(row)}"
    day, ts = row["trade_date"].replace("-", ""), row["ts"]
    hms = ts[11:19].replace(":", "")
    if not _SYMBOL.fullmatch(row["symbol"]) or not _TIME.fullmatch(hms):
        return f"symbol {row['symbol']!r} / time {ts!r}"
    if day not in dates or ts[:10] != row["trade_date"] or not ts.endswith("+09:00"):
        return f"trade date {row['trade_date']!r} / ts {ts!r}"
    for f in SCALP:
        v = row[f.name]
        if f.name in ("seq", "ts", "trade_date", "received_at", "symbol"):
            continue
        if v is None:
            if not f.nullable:
                return f"{f.name} null"
            continue
        if f.choices and v not in f.choices:
            return f"{f.name}={v!r} outside {f.choices}"
        if f.kind in (Kind.INT, Kind.FLOAT):
            if isinstance(v, bool) or not isinstance(v, int | float):
                return f"{f.name}={v!r} not a number"
            if isinstance(v, float) and not math.isfinite(v):
                return f"{f.name}={v!r} not finite"
            lo = -INT64_MAX - 1 if f.lo is None else f.lo
            hi = INT64_MAX if f.hi is None else f.hi
            if not lo <= v <= hi:
                return f"{f.name}={v!r} outside {lo}..{hi}"
        if f.length and not re.fullmatch(f"[0-9A-Z]{{0,{f.length}}}", str(v)):
            return f"{f.name}={v!r} not a code"
    return ""


# --- engines ---------------------------------------------------------------------------


def _atheris_child(seconds: float, out: Path) -> None:
    """Run inside the fuzzing subprocess: atheris until ``seconds``, counts to ``out``."""
    import atheris

    with atheris.instrument_imports(include=["observer.daemon.kis", "observer.daemon.schema"]):
        import observer.daemon.kis.parser
        import observer.daemon.schema.lines  # noqa: F401

    h = Harness()
    started = time.monotonic()

    def save() -> None:
        h.counts.seconds = time.monotonic() - started
        h.counts.engine = "atheris, coverage-guided"
        out.write_text(json.dumps(h.counts.__dict__))

    def one(data: bytes) -> None:
        h.check(h.frame(atheris.FuzzedDataProvider(data)))
        if h.counts.inputs % 1000 == 0:
            save()  # the counts so far survive a crash
            if time.monotonic() - started >= seconds:
                os._exit(0)  # libFuzzer's own exit would skip the interpreter's shutdown

    atheris.Setup(
        [sys.argv[0], f"-max_total_time={int(seconds) + 30}", "-rss_limit_mb=2048",
         "-print_final_stats=0", f"-artifact_prefix={out.parent}/"],
        one,
    )  # fmt: skip
    atheris.Fuzz()


class _Draw:
    """hypothesis's ``data.draw`` behind the FuzzedDataProvider methods the harness uses."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self._d, self._st = data, st

    def ConsumeIntInRange(self, lo: int, hi: int) -> int:
        return int(self._d.draw(self._st.integers(lo, hi)))

    def ConsumeBool(self) -> bool:
        return bool(self._d.draw(self._st.booleans()))

    def ConsumeUnicodeNoSurrogates(self, n: int) -> str:
        return str(self._d.draw(self._st.text(max_size=n)))


def _hypothesis(seconds: float) -> Counts:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    h = Harness()
    started = time.monotonic()

    @settings(max_examples=500, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.data())
    def explore(data: Any) -> None:
        h.check(h.frame(_Draw(data)))

    while time.monotonic() - started < seconds:
        explore()
    h.counts.seconds = time.monotonic() - started
    h.counts.engine = "hypothesis"
    return h.counts


def run(seconds: float = 60.0, engine: str = "auto") -> Counts:
    """Fuzz the parser for about ``seconds``; the counts (``.line()`` prints them)."""
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    if engine == "hypothesis":
        return _hypothesis(seconds)
    with tempfile.TemporaryDirectory(prefix="observer-fuzz-") as d:
        out = Path(d) / "counts.json"
        proc = subprocess.run(
            [sys.executable, "-m", "tests.fuzz_frames", "--child", str(out),
             "--seconds", str(seconds)],
            cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
        counts = Counts(**json.loads(out.read_text())) if out.exists() else Counts()
        if proc.returncode != 0:
            counts.crashes += 1
            tail = (proc.stderr or "")[-600:]
            counts.first_problem = counts.first_problem or f"exit {proc.returncode}: {tail}"
        return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child is not None:
        _atheris_child(a.seconds, a.child)
        return 0
    counts = run(a.seconds, a.engine)
    print(counts.line())
    if counts.first_problem:
        print(f"first problem: {counts.first_problem}")
    return 0 if counts.clean else 1


if __name__ == "__main__":
    sys.exit(main())
