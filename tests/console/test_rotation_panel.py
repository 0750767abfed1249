"""The rotation panel says when a derived sink failed: red, with the error."""

from __future__ import annotations

from observer.console.widgets.rotation import stream_lines
from observer.v1 import observer_pb2 as pb


def test_a_failed_parquet_conversion_is_a_red_line_with_the_error() -> None:
    error = "converting 20261202_03_p1.jsonl failed: JSON parse error"
    stream = pb.Stream(
        name="scalp",
        current_file="/data/assets/scalp/20261202_04.jsonl",
        last_closed_file="/data/assets/scalp/20261202_03_p1.jsonl",
        sinks=[
            pb.SinkLag(name="parquet", state=pb.SINK_STATE_FAILED, lag_rows=1, last_error=error)
        ],
    )
    lines = stream_lines(stream, now=0.0)
    summary = lines[1]
    assert "parquet failed" in summary.plain
    assert any(span.style == "bold red" for span in summary.spans)
    problem = next(line for line in lines if error in line.plain)
    assert any(span.style == "bold red" and error in problem.plain[span.start : span.end]
               for span in problem.spans)  # fmt: skip
